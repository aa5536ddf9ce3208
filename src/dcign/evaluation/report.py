"""``dcign evaluate``: the report of a trained run, on test identities only.

Writes ``RUN_DIR/report/``:

* ``fig6.png`` + numbers -- inferred latent vs ground truth for azimuth, elevation and light
  azimuth over >= 20 test identities (paper Fig. 6), Pearson and Spearman r per factor pooled
  over the identities, the Spearman r within identity (``spearman_within``: median over
  identities of each one's sweep; pooled r also counts per-identity offsets) and, for
  azimuth, Spearman r against |azimuth|, which exposes a code that folds at 0 degrees;
* ``traversal_<factor>.png`` -- latent traversals (paper Fig. 4/5): input, reconstruction,
  then the decoded image as the factor's latent sweeps its calibrated range;
* ``reconstructions.png`` and the test reconstruction MSE per pixel (grey in [0, 1]);
* the angles read back from the code through each factor's degrees <-> latent map
  (:func:`dcign.inference.latent_to_degrees`) on the same random test scenes: median and mean
  absolute error in degrees, the short way round for a factor that turns all the way
  (chairs' azimuth);
* ``fig8.png`` (chairs) -- Fig. 8 (paper §4.2): unseen chairs turned by the azimuth latent(s);
* ``metrics.json`` and ``report.md`` (every figure with a one-line caption).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..atomic import atomic_write_json, atomic_write_text  # noqa: E402
from ..export import load_model  # noqa: E402
from ..factors import ANGLE_FACTORS  # noqa: E402
from ..images import save_png, tile  # noqa: E402
from ..inference import (  # noqa: E402
    angular_error, correlations, decode, encode, engine_for, factor_groups, factor_latents,
    factor_sweep, fit_angle_maps, latent_to_degrees, latent_traversal, map_latents, within_identity_spearman, wrap_degrees,
)
from .novel_view import group_sweep, rotation_grid  # noqa: E402

UNITS = {"azimuth": "azimuth (deg)", "elevation": "elevation (deg)", "light_azimuth": "light azimuth (deg)"}


def fig6(net, engine, latent_of: dict[str, int], n_identities: int, n_values: int, out_dir: Path,
         angle_maps: dict | None = None) -> dict:
    """Fig. 6 on test identities: per factor, the inferred latent against the true angle.

    A factor whose map sets a group of latents (``angle_maps``, e.g. chairs' azimuth on
    z1, z2) is plotted as the angle read back from the group (:func:`latent_to_degrees`),
    unwrapped to the side of the true angle it is nearer; its entry adds ``latent_indices``
    and ``median_abs_error_deg``.
    """
    ids = engine.space.identities("test")[:n_identities]
    results = {}
    factors_here = [f for f in ANGLE_FACTORS if f in latent_of]
    fig, axes = plt.subplots(1, len(factors_here), figsize=(4.2 * len(factors_here), 3.8), squeeze=False)
    for ax, f in zip(axes[0], factors_here):
        fs = factor_sweep(engine, f, ids, n_values)
        codes = encode(net.encode, engine.render(fs))
        truth = fs[f]
        m = (angle_maps or {}).get(f)
        grouped = m is not None and len(map_latents(m)) > 1
        if grouped:
            est = latent_to_degrees(m, codes)
            err = angular_error(est, truth, circular=engine.space.ranges[f].full_turn)
            z = truth + wrap_degrees(est - truth) if engine.space.ranges[f].full_turn else est  # the side nearer the truth
        else:
            z = codes[:, latent_of[f]]
        r = correlations(z, truth)
        r["spearman_within"] = within_identity_spearman(z, truth, n_values)
        if f == "azimuth":
            r["spearman_vs_abs"] = correlations(z, np.abs(truth))["spearman"]
        r["latent_index"] = int(latent_of[f])
        if grouped:
            r["latent_indices"] = map_latents(m)
            r["median_abs_error_deg"] = float(np.median(err))
        results[f] = r
        for k in range(len(ids)):
            sl = slice(k * n_values, (k + 1) * n_values)
            ax.plot(truth[sl], z[sl], "-", color="0.6", lw=0.6, alpha=0.7)
        ax.scatter(truth, z, s=6, c="tab:blue")
        ax.set_xlabel(UNITS[f])
        ax.set_ylabel(f"{f} read back from z{', z'.join(str(k + 1) for k in map_latents(m))} (deg)" if grouped
                      else f"inferred z{latent_of[f] + 1}")
        ax.set_title(f"{f}: Spearman {r['spearman']:.3f} (within identity {r['spearman_within']:.3f}), "
                     f"Pearson {r['pearson']:.3f}", fontsize=8)
    fig.suptitle(f"Fig. 6: inferred latent vs ground truth, {len(ids)} test identities")
    fig.tight_layout()
    save_png(out_dir / "fig6.png", fig)
    plt.close(fig)
    return results


def traversals(net, engine, angle_maps: dict, latent_of: dict[str, int], out_dir: Path, n_inputs: int = 4,
               n_steps: int = 9) -> dict[str, list[float] | None]:
    """Write ``traversal_<factor>.png`` (paper Fig. 4/5) for each factor of ``latent_of``.

    Each row: a random test image, its reconstruction, then ``n_steps`` decodings with the
    factor's latent (or latent group) swept over its calibrated range.  Returns
    ``{factor: the angle (degrees) the factor's map gives each swept column}``, or None for a
    factor without a map (swept over its latent's observed range +- 2).
    """
    rng = np.random.default_rng(3)
    fs = engine.space.sample(rng, n_inputs, "test")
    images = engine.render(fs)
    mu = encode(net.encode, images)
    recon = decode(net, mu)
    swept_degrees = {}
    for f, k in latent_of.items():
        m = angle_maps.get(f)
        if m is not None and len(map_latents(m)) > 1:  # a latent group: driven through its map, angle by angle
            latents, values = map_latents(m), group_sweep(m, n_steps)
        else:
            lo, hi = (min(m["latent"]), max(m["latent"])) if m else (float(mu[:, k].min()) - 2, float(mu[:, k].max()) + 2)
            latents, values = [k], np.linspace(lo, hi, n_steps)[:, None]
        swept = latent_traversal(net, mu, latents, values)
        rows = [np.concatenate([images[i : i + 1], recon[i : i + 1], swept[i]]) for i in range(n_inputs)]
        save_png(out_dir / f"traversal_{f}.png", tile(np.concatenate(rows), n_inputs, n_steps + 2))
        full = np.zeros((n_steps, mu.shape[1]))  # only the swept latents are read by the map
        full[:, latents] = values
        swept_degrees[f] = [round(float(d), 1) for d in latent_to_degrees(m, full)] if m is not None else None
    return swept_degrees


def reconstructions(net, engine, out_dir: Path, angle_maps: dict | None = None, n_mse: int = 500,
                    n_show: int = 16) -> tuple[float, dict]:
    """Test MSE per pixel over ``n_mse`` random test scenes, and the angles read back from their codes.

    Returns:
        (MSE, {factor: {"median_abs_error_deg", "mean_abs_error_deg", "circular", "n_images"}}):
        each factor of ``angle_maps`` read back with :func:`latent_to_degrees` against the
        scene's true angle (wrap-aware for a factor whose range is a full turn).
    """
    rng = np.random.default_rng(4)
    fs = engine.space.sample(rng, n_mse, "test")
    images = engine.render(fs)
    mu = encode(net.encode, images)
    recon = decode(net, mu)
    mse = float(np.mean((recon - images) ** 2))
    pairs = np.concatenate([np.stack([images[i], recon[i]]) for i in range(n_show)])
    save_png(out_dir / "reconstructions.png", tile(pairs, n_show // 4, 8))
    readback = {}
    for f, m in (angle_maps or {}).items():
        if f not in ANGLE_FACTORS:
            continue
        err = angular_error(latent_to_degrees(m, mu), fs[f], circular=engine.space.ranges[f].full_turn)
        readback[f] = {"median_abs_error_deg": float(np.median(err)), "mean_abs_error_deg": float(np.mean(err)),
                       "circular": engine.space.ranges[f].full_turn, "latent_indices": map_latents(m), "n_images": int(n_mse)}
    return mse, readback


def evaluate(run_dir: str | Path, n_identities: int = 20, n_values: int = 19, progress=print, metrics: bool = True,
             dataset: str | None = None, dataset_options: dict | None = None) -> dict:
    """Evaluate a run on test identities and write ``run_dir/report``; returns metrics.

    A run trained on a user's data set (``NAME:PATH``), or any run given ``dataset`` =
    ``NAME:PATH``, is evaluated on that data set's test split instead
    (:func:`dcign.evaluation.files.evaluate_files`; ``dataset_options`` go to its reader).

    With ``metrics`` the report adds the disentanglement metrics (beta-VAE, FactorVAE, MIG,
    DCI, SAP, modularity; :func:`dcign.evaluation.disentanglement.disentanglement_metrics`
    with its fast, documented settings).

    Raises:
        ValueError: the run has no exported model, n_identities exceeds the test split, or
            ``dataset_options`` are given for a built-in data set.
    """
    run_dir = Path(run_dir)
    net, cfg, meta = load_model(run_dir)
    if dataset_options and dataset is None and not cfg.is_file_data:
        raise ValueError(f"--data-option sets a reader option of a data set of files, but {run_dir} was trained on the "
                         f"built-in {cfg.data.dataset!r} renderer; drop it, or give --dataset NAME:PATH")
    if dataset is not None or cfg.is_file_data:
        from ..data.sources import open_dataset
        from .files import evaluate_files

        here = dataset is None or dataset == cfg.data.dataset
        data = cfg.open_data() if here and dataset_options is None else open_dataset(dataset or cfg.data.dataset, **(dataset_options or {}))
        return evaluate_files(run_dir, net, cfg, data, progress, metrics, trained_here=here and cfg.is_file_data)
    engine = engine_for(cfg)
    if not 1 <= n_identities <= cfg.data.num_test_identities:
        raise ValueError(f"--identities must be in 1..{cfg.data.num_test_identities} (the test split), got {n_identities}")
    out_dir = run_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    progress("choosing factor latents")
    saved = meta.get("latent_of")  # chosen at export time; the angle maps belong to these latents
    latent_of = {f: int(k) for f, k in saved.items()} if saved else factor_latents(net.encode, engine, cfg.method.latent_layout, cfg.method.name)
    angle_maps = meta.get("angle_maps") or fit_angle_maps(
        net.encode, engine, factor_groups(cfg.method.latent_layout, cfg.method.name, latent_of))
    progress("Fig. 6 sweeps")
    f6 = fig6(net, engine, latent_of, n_identities, n_values, out_dir, angle_maps)
    progress("latent traversals")
    traversed = traversals(net, engine, angle_maps, latent_of, out_dir)
    if cfg.data.dataset == "chairs" and "azimuth" in angle_maps:
        progress("Fig. 8 rotations of unseen chairs")
        save_png(out_dir / "fig8.png", rotation_grid(net, angle_maps["azimuth"], engine))
    progress("reconstructions")
    mse, readback = reconstructions(net, engine, out_dir, angle_maps)
    result = {
        "run": str(run_dir), "method": cfg.method.name, "dataset": cfg.data.dataset, "preset": cfg.model.preset,
        "fig6": f6, "test_mse": mse, "latent_of": latent_of, "angle_readback": readback, "traversal_degrees": traversed,
        "settings": {"n_test_identities": n_identities, "n_values": n_values, "mse_images": 500},
    }
    if metrics:
        from .disentanglement import disentanglement_metrics

        progress("disentanglement metrics (fast settings)")
        # Models without a DC-IGN layout are grouped by the latents the variance rule chose.
        grouping_layout = None if cfg.method.name == "dcign" else {f: [k] for f, k in latent_of.items()}
        result["disentanglement"] = disentanglement_metrics(net, cfg, engine, random_state=0, fast=True,
                                                            grouping_layout=grouping_layout)
    atomic_write_json(out_dir / "metrics.json", result)
    atomic_write_text(out_dir / "report.md", render_markdown(result, traversed, fig8=(out_dir / "fig8.png").is_file()))
    return result


def render_markdown(m: dict, traversed: dict[str, list[float] | None], fig8: bool = False) -> str:
    lines = [
        f"# dcign report: {m['method']} on {m['dataset']} ({m['preset']})", "",
        f"Test identities only ({m['settings']['n_test_identities']} for Fig. 6). Test reconstruction MSE per pixel "
        f"(grey in [0, 1], {m['settings']['mse_images']} images): **{m['test_mse']:.5f}**.", "",
        "Spearman r *pooled* over all test identities also counts offsets between identities; *within "
        "identity* is the median over identities of each identity's own sweep.", "",
        "| factor | latent | Pearson r | Spearman r pooled | Spearman r within identity |", "|---|---|---|---|---|",
    ]
    for f, r in m["fig6"].items():
        within = r.get("spearman_within")  # absent in reports written before it was added
        zs = ", ".join(f"z{k + 1}" for k in r.get("latent_indices", [r["latent_index"]]))
        lines.append(f"| {f} | {zs} | {r['pearson']:.3f} | {r['spearman']:.3f} | {_fmt(within)} |")
    if "azimuth" in m["fig6"]:
        lines += ["", f"Azimuth latent vs |azimuth| (a folded code scores high here): Spearman {m['fig6']['azimuth']['spearman_vs_abs']:.3f}."]
    lines += ["", "![Fig. 6](fig6.png)", "",
              "Fig. 6: each test identity's sweep of one factor, encoded; inferred latent against the true angle "
              "(a factor on a group of latents: the angle read back from the group through its map).", ""]
    rb = m.get("angle_readback") or {}
    if rb:
        lines += [f"Angles read back from the code through the degrees <-> latent maps ({m['settings']['mse_images']} random "
                  "test scenes; the short way round for a factor that turns all the way):", "",
                  "| factor | latents | median abs error (deg) | mean abs error (deg) |", "|---|---|---|---|"]
        lines += [f"| {f} | {', '.join(f'z{k + 1}' for k in r['latent_indices'])} | {r['median_abs_error_deg']:.1f} "
                  f"| {r['mean_abs_error_deg']:.1f} |" for f, r in rb.items()]
        lines.append("")
    for f, degrees in traversed.items():
        angles = f" (columns 3 to {len(degrees) + 2}: {', '.join(f'{d:g}' for d in degrees)} degrees through the map)" if degrees else ""
        lines += [f"![traversal {f}](traversal_{f}.png)", "",
                  f"Latent traversal of {f}: input, reconstruction, then the {f} latent swept across its calibrated range{angles}.", ""]
    if fig8:
        lines += ["![Fig. 8](fig8.png)", "",
                  "Fig. 8 (paper §4.2): unseen chairs (input, leftmost) re-rendered as the azimuth latent(s) are driven "
                  "round the fitted map (a full turn for a circular map).", ""]
    lines += ["![reconstructions](reconstructions.png)", "", "Test images (left of each pair) and their reconstructions (right).", ""]
    d = m.get("disentanglement")
    if d:
        lines += ["## Disentanglement metrics", "",
                  "Locatello et al. (2019) protocol on test identities, angles in 10 bins, fast settings "
                  "(see `metrics.json` for every estimator setting). *grouped*: the code as the paper groups it "
                  "(z1, z2, z3 and the first principal components of the intrinsic latents; for models without "
                  "a DC-IGN layout, the latents Fig. 6 uses, chosen by the largest-variance rule, stand in for "
                  "z1..z3).", "",
                  "| metric | full code | grouped |", "|---|---|---|"]
        head = d.get("headline", {})
        for name in sorted(k for k in head if not k.endswith("_grouped")):
            g = head.get(f"{name}_grouped")
            lines.append(f"| {name} | {_fmt(head[name])} | {_fmt(g)} |")
        lines.append("")
    return "\n".join(lines)


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"
