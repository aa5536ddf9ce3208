"""``dcign evaluate`` on a user's data set (``--dataset NAME:PATH``): the report without a renderer.

With no engine to render sweeps, everything comes from the data set's own images and labels,
on its test split (held-out objects where the data set has them, see each reader):

* ``fig6`` (the paper's Fig. 6 made from data): for each factor with a latent of its own,
  ``n_groups`` one-factor batches of test images; inferred latent against the factor's
  value (its physical value where the data set gives one, else its index), Pearson and
  Spearman r over all of them, and the scatter in ``fig6.png``;
* ``active_variance_share`` (DC-IGN runs): for each batch type, the share of the within-batch
  variance of the posterior means that falls in that type's active latents; 1 means every
  change of the varied factor shows up in its own group.  This needs no factor values, so
  it is the disentanglement measure the DC-IGN Torch7 batches allow;
* latent traversals, reconstructions (grey or colour) and the test reconstruction MSE per
  pixel and channel;
* the six disentanglement_lib metrics (fast settings of
  :data:`dcign.evaluation.disentanglement.FAST_SETTINGS`) on the data set's ground truth
  (:meth:`~dcign.data.sources.base.LabelledImages.ground_truth`), for the full code and the
  code grouped by the latent layout; a metric the data cannot support (e.g. β-VAE on a
  sparse labelled folder) is reported with its reason instead of a number.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..data.file_stream import file_layout  # noqa: E402
from ..data.sources import DataSourceError  # noqa: E402
from ..images import save_png, tile  # noqa: E402
from ..inference import correlations, decode, encode, net_device, own_latents, variance_latents  # noqa: E402


def factor_correlations(net, data, latent_of: dict[str, int], n_groups: int, batch_size: int, out_dir: Path) -> dict:
    """Fig. 6 from data: latent vs factor value over one-factor test batches; writes fig6.png."""
    if not latent_of or data.factors_num_values is None:
        return {}
    rng = np.random.default_rng(0)
    results, panels = {}, []
    for f, k in latent_of.items():
        try:
            idx = np.concatenate([data.one_factor_batch(rng, f, batch_size, "test") for _ in range(n_groups)])
        except DataSourceError as exc:
            results[f] = {"skipped": str(exc)}
            continue
        z = encode(net.encode, data.images(idx, net.channels, net.preset.image_size), device=net_device(net))[:, k]
        col = data.labels[idx, data.factor_index(f)]
        values = data.factor_values.get(f)
        truth = np.asarray(values, dtype=float)[col] if values is not None and len(values) == data.factors_num_values[data.factor_index(f)] else col.astype(float)
        r = correlations(z, truth)
        r["latent_index"] = int(k)
        results[f] = r
        panels.append((f, truth, z, r))
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 3.6), squeeze=False)
        for ax, (f, truth, z, r) in zip(axes[0], panels):
            ax.scatter(truth, z, s=6)
            ax.set_xlabel(f)
            ax.set_ylabel(f"inferred z{r['latent_index'] + 1}")
            ax.set_title(f"{f}: Spearman {r['spearman']:.3f}, Pearson {r['pearson']:.3f}", fontsize=9)
        fig.suptitle(f"inferred latent vs factor on {n_groups} one-factor test batches per factor")
        fig.tight_layout()
        save_png(out_dir / "fig6.png", fig)
        plt.close(fig)
    return results


def active_variance_share(net, data, layout: dict[str, list[int]], n_groups: int, batch_size: int) -> dict[str, float]:
    """Per batch type: within-batch variance of the active latents / of all latents (test split)."""
    rng = np.random.default_rng(1)
    out = {}
    for f, active in layout.items():
        try:
            batches = [data.one_factor_batch(rng, f, batch_size, "test") for _ in range(n_groups)]
        except DataSourceError:
            continue
        z = encode(net.encode, data.images(np.concatenate(batches), net.channels, net.preset.image_size), device=net_device(net))
        var = z.reshape(n_groups, batch_size, -1).var(axis=1).mean(axis=0)
        out[f] = float(var[active].sum() / max(var.sum(), 1e-12))
    return out


def traversals_and_reconstructions(net, data, latent_of: dict[str, int], out_dir: Path, n_mse: int = 500,
                                   n_inputs: int = 4, n_steps: int = 9) -> tuple[float, list[str]]:
    """Write traversal_<factor>.png and reconstructions.png; return the test MSE per pixel and channel."""
    rng = np.random.default_rng(4)
    S, C = net.preset.image_size, net.channels
    idx = data.random_batch(rng, n_mse, "test")
    images = data.images(idx, C, S)
    mu = encode(net.encode, images, device=net_device(net))
    recon = decode(net, mu)
    mse = float(np.mean((recon - images) ** 2))
    n_show = min(16, len(idx))
    pairs = np.concatenate([np.stack([images[i], recon[i]]) for i in range(n_show)])
    save_png(out_dir / "reconstructions.png", tile(pairs, -(-2 * n_show // 8), 8))
    names = []
    for f, k in latent_of.items():
        lo, hi = np.percentile(mu[:, k], [2, 98])
        pad = 0.25 * (hi - lo) + 0.5
        grid = np.linspace(lo - pad, hi + pad, n_steps)
        rows = []
        for i in range(min(n_inputs, len(idx))):
            z = np.repeat(mu[i:i + 1], n_steps, axis=0)
            z[:, k] = grid
            rows.append(np.concatenate([images[i:i + 1], recon[i:i + 1], decode(net, z)]))
        save_png(out_dir / f"traversal_{f}.png", tile(np.concatenate(rows), len(rows), n_steps + 2))
        names.append(f)
    return mse, names


def file_metrics(net, cfg, data, layout: dict[str, list[int]] | None, progress, seed: int = 0, num_points: int | None = None) -> dict:
    """The six metrics on the data set's ground truth (full code, and grouped when a layout is given)."""
    from ..metrics import HEADLINE_KEYS, METRICS
    from .disentanglement import METRIC_ORDER, GroupedCode, metric_settings_for

    gt = data.ground_truth(data.metrics_split, net.channels, net.preset.image_size)
    device = net_device(net)
    settings = metric_settings_for(True, num_points)
    full = lambda x: encode(net.encode, x, device=device).astype(np.float64)  # noqa: E731
    variants = {"full": full}
    grouping = None
    if layout:
        extrinsic = {f: idx for f, idx in layout.items() if f not in data.intrinsic_factors}
        taken = {i for idx in extrinsic.values() for i in idx}
        if extrinsic and len(taken) < cfg.model.latent_dim:
            rng = np.random.default_rng([seed, 0x9CA])
            train = data.images(data.random_batch(rng, 500, "train"), net.channels, net.preset.image_size)
            grouping = GroupedCode(extrinsic, cfg.model.latent_dim, factors=tuple(extrinsic)).fit(full(train))
            variants["grouped"] = lambda x: grouping.transform(full(x))
    results: dict = {v: {} for v in variants}
    headline: dict = {}
    for variant, rep in variants.items():
        for name in METRIC_ORDER:
            progress(f"{name} ({variant} code)")
            try:
                r = METRICS[name](gt, rep, seed, **settings[name])
            except ValueError as exc:
                results[variant][name] = {"error": str(exc).splitlines()[0]}
                continue
            results[variant][name] = r
            key = name if variant == "full" else f"{name}_grouped"
            headline[key] = float(r[HEADLINE_KEYS[name]])
    out = dict(results["full"])
    out["grouped"] = results.get("grouped")
    out["headline"] = headline
    out["settings"] = {"protocol": "Locatello et al. 2019 (ICML), disentanglement_lib: same integer seed for every metric",
                       "fast": True, "seed": seed, "metric_settings": settings, "ground_truth": gt.describe(),
                       "representation": "posterior mean mu of the encoder",
                       "grouping": grouping.describe() if grouping else None}
    return out


def run_layout(cfg, data, trained_here: bool) -> dict[str, list[int]] | None:
    """The active latents of each of the data set's factors for a run (None for non-DC-IGN methods).

    A run trained on this data set uses its own groups (:meth:`dcign.config.TrainConfig.file_groups`);
    a run trained elsewhere (e.g. an engine model evaluated on the DC-IGN Torch7 faces) keeps
    the entries of its layout that name factors of this data set.
    """
    if cfg.method.name != "dcign":
        return None
    if trained_here:
        return cfg.file_groups(data)
    kept = {f: list(idx) for f, idx in cfg.method.latent_layout.items() if f in data.factor_names}
    return file_layout(data.factor_names, data.intrinsic_factors, cfg.model.latent_dim, kept or None)


def evaluate_files(run_dir: str | Path, net, cfg, data, progress=print, metrics: bool = True, trained_here: bool = True,
                   n_groups: int = 20, batch_size: int = 20) -> dict:
    """Evaluate a trained network on a file-backed data set; writes ``run_dir/report`` (see the module docstring).

    ``trained_here``: the run was trained on ``data`` (else its layout is matched to the data
    set's factor names, see :func:`run_layout`).

    Raises:
        DataSourceError: the data set has no test images, or none of its factors forms
            one-factor test batches.
    """
    from ..atomic import atomic_write_json, atomic_write_text

    out_dir = Path(run_dir) / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    if len(data.split_indices("test")) == 0:
        raise DataSourceError(f"{data.name}: the test split holds no images")
    batch_size = min(batch_size, getattr(data, "per_file", batch_size))
    layout = run_layout(cfg, data, trained_here)
    latent_of = own_latents(layout, data.intrinsic_factors) if layout else variance_latents(net, data)
    progress("factor correlations on one-factor test batches")
    fig6 = factor_correlations(net, data, latent_of, n_groups, batch_size, out_dir)
    skipped = {f: r["skipped"] for f, r in fig6.items() if "skipped" in r}
    fig6 = {f: r for f, r in fig6.items() if "skipped" not in r}
    share = active_variance_share(net, data, layout, n_groups, batch_size) if layout else {}
    progress("latent traversals and reconstructions")
    mse, traversed = traversals_and_reconstructions(net, data, latent_of, out_dir)
    result = {
        "run": str(run_dir), "method": cfg.method.name, "dataset": data.name, "trained_on": str(cfg.data.dataset),
        "evaluated_on": data.describe(),
        "preset": cfg.model.preset, "channels": int(net.channels), "fig6": fig6, "fig6_skipped": skipped,
        "active_variance_share": share,
        "test_mse": mse, "latent_of": latent_of, "latent_layout": layout,
        "settings": {"n_groups": n_groups, "batch_size": batch_size, "mse_images": 500, "split": "test"},
    }
    if metrics:
        try:
            gt_ok = data.ground_truth(None, net.channels, net.preset.image_size) is not None
        except DataSourceError as exc:
            gt_ok, result["disentanglement_note"] = False, str(exc)
        if gt_ok:
            progress("disentanglement metrics (fast settings)")
            grouping = layout if layout else ({f: [k] for f, k in latent_of.items()} or None)
            result["disentanglement"] = file_metrics(net, cfg, data, grouping, progress)
    atomic_write_json(out_dir / "metrics.json", result)
    atomic_write_text(out_dir / "report.md", render_markdown(result, traversed))
    return result


def render_markdown(m: dict, traversed: list[str]) -> str:
    """``report.md`` of :func:`evaluate_files`."""
    d = m["evaluated_on"]
    pixel = "grey" if m["channels"] == 1 else "RGB"
    lines = [f"# dcign report: {m['method']} on {d['dataset']} ({m['preset']}, {pixel})", "",
             f"Data: `{d['path']}`, {d['num_images']} images, factors "
             + ", ".join(f"{n} ({k})" for n, k in zip(d["factor_names"], d["factors_num_values"] or ["?"] * len(d["factor_names"])))
             + f". Split: {d['split']}.", "",
             f"Test reconstruction MSE per pixel and channel ({pixel} in [0, 1], {m['settings']['mse_images']} test images): "
             f"**{m['test_mse']:.5f}**.", ""]
    if m["fig6"]:
        lines += ["| factor | latent | Pearson r | Spearman r |", "|---|---|---|---|"]
        lines += [f"| {f} | z{r['latent_index'] + 1} | {r['pearson']:.3f} | {r['spearman']:.3f} |" for f, r in m["fig6"].items()]
        lines += [f"| {f} | – | – | – ({why}) |" for f, why in m.get("fig6_skipped", {}).items()]
        lines += ["", "![factor correlations](fig6.png)", "",
                  f"Inferred latent against the factor over {m['settings']['n_groups']} one-factor test batches per factor "
                  "(the paper's Fig. 6 made from the data's own images).", ""]
    if m["active_variance_share"]:
        lines += ["| batch type | share of within-batch variance in its active latents |", "|---|---|"]
        lines += [f"| {f} | {v:.3f} |" for f, v in m["active_variance_share"].items()]
        lines += ["", "1.000 would mean every change of the varied factor lands in its own latent group.", ""]
    for f in traversed:
        lines += [f"![traversal {f}](traversal_{f}.png)", "",
                  f"Latent traversal of {f}: input, reconstruction, then z{m['latent_of'][f] + 1} swept.", ""]
    lines += ["![reconstructions](reconstructions.png)", "", "Test images (left of each pair) and their reconstructions (right).", ""]
    dis = m.get("disentanglement")
    if dis:
        gt = dis["settings"]["ground_truth"]
        lines += ["## Disentanglement metrics", "",
                  f"Locatello et al. (2019) protocol on the {gt['metrics_split']} split, fast settings (see `metrics.json`).", "",
                  "| metric | full code | grouped |", "|---|---|---|"]
        head = dis["headline"]
        for name in ("beta_vae_score", "factor_vae_score", "mig", "dci", "sap", "modularity"):
            full = head.get(name)
            err = dis.get(name, {}).get("error") if isinstance(dis.get(name), dict) else None
            lines.append(f"| {name} | {'–' if full is None else f'{full:.3f}'}{' (' + err + ')' if err else ''} | "
                         f"{'–' if head.get(name + '_grouped') is None else format(head[name + '_grouped'], '.3f')} |")
        lines.append("")
    elif m.get("disentanglement_note"):
        lines += ["## Disentanglement metrics", "", f"Not computed: {m['disentanglement_note']}", ""]
    return "\n".join(lines)
