"""Compare evaluated runs side by side: Fig. 6 correlations, test MSE, disentanglement metrics.

:func:`compare_runs` reads each run's ``report/metrics.json`` (written by ``dcign evaluate``)
and writes three files into ``out_dir``:

* ``compare.md``: one table row per run: method, Fig. 6 Spearman r per factor (paper §4.1,
  test identities), test reconstruction MSE per pixel, and the headline number of each
  disentanglement metric (Locatello et al. 2019 protocol, see
  :mod:`dcign.evaluation.disentanglement`), also of the grouped DC-IGN code when any run
  has one. A value a run does not have shows as "–".
* ``compare.json``: the same numbers (missing ones as ``null``).
* ``compare.png``: grouped bar chart, one group per quantity, one bar per run. Fig. 6
  correlations are drawn as |Spearman r| (a latent's sign is arbitrary); the MSE is left
  out (another scale; it is in the table).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..atomic import atomic_write_json, atomic_write_text, check_writable_dir  # noqa: E402
from ..checks import finite_or_none  # noqa: E402
from ..factors import ANGLE_FACTORS  # noqa: E402
from ..images import save_png  # noqa: E402

__all__ = ["MISSING", "METRIC_LABELS", "compare_runs", "evaluated_on", "load_run_metrics"]

MISSING = "–"
"""How a value a run does not have is shown in ``compare.md``."""

METRIC_LABELS: dict[str, str] = {
    "beta_vae_score": "β-VAE",
    "factor_vae_score": "FactorVAE",
    "mig": "MIG",
    "dci": "DCI-D",
    "sap": "SAP",
    "modularity": "modularity",
}
"""Metric name -> column label (the headline number of each, see dcign.metrics.HEADLINE_KEYS)."""

FACTOR_LABELS = {"azimuth": "azimuth", "elevation": "elevation", "light_azimuth": "light az."}


def load_run_metrics(run_dir: str | Path) -> dict[str, Any]:
    """The parsed ``RUN_DIR/report/metrics.json``.

    Raises:
        ValueError: the file is missing (run ``dcign evaluate RUN_DIR`` first), unreadable,
            or not a JSON object.
    """
    path = Path(run_dir) / "report" / "metrics.json"
    if not path.is_file():
        raise ValueError(f"{run_dir} has no report/metrics.json; run `dcign evaluate {run_dir}` first")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not readable JSON ({exc}); re-run `dcign evaluate {run_dir}`") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object; re-run `dcign evaluate {run_dir}`")
    return data


def check_distinct(run_dirs: Iterable[str | Path]) -> None:
    """Refuse a run listed twice (also as another spelling of the same folder, e.g. ``A`` and ``./A``).

    Raises:
        ValueError: naming the run given twice.
    """
    seen: dict[Path, Path] = {}
    for d in map(Path, run_dirs):
        key = d.resolve()
        if key in seen:
            same = f"{d}" if str(seen[key]) == str(d) else f"{seen[key]} and {d} (the same folder)"
            raise ValueError(f"run {same} is listed twice; list each run once")
        seen[key] = d


def evaluated_on(metrics: dict[str, Any], dataset: str) -> bool:
    """Whether a run's ``metrics.json`` was computed on ``dataset`` (``NAME``, or ``NAME:PATH`` for a user's data set)."""
    name, sep, path = dataset.partition(":")
    if metrics.get("dataset") != name:
        return False
    if not sep:
        return True
    where = metrics.get("evaluated_on") if isinstance(metrics.get("evaluated_on"), dict) else {}
    here = [str(where.get("path", "")), str(metrics.get("trained_on", ""))]
    return any(h and (h == path or Path(h) == Path(path) or Path(h).parent == Path(path)) for h in here) or metrics.get("trained_on") == dataset


def compare_runs(run_dirs: Iterable[str | Path], out_dir: str | Path) -> dict[str, Any]:
    """Tabulate and plot several evaluated runs; write ``compare.md``, ``.json``, ``.png``.

    Args:
        run_dirs: run directories, each holding ``report/metrics.json``.
        out_dir: folder for the three files (created if needed; files replaced atomically).

    Returns:
        The content of ``compare.json``: ``{"runs": [row, ...], "fig6_factors": [...],
        "metrics": [...], "grouped_metrics": [...]}``; each row holds ``run`` (label),
        ``path``, ``method``, ``dataset``, ``preset``, ``metric_settings`` ("fast", "field"
        or None), ``spearman`` {factor: r}, ``test_mse`` and ``headline`` {metric: score};
        values a run lacks are None.

    Raises:
        ValueError: no run given, a run listed twice, a run without ``report/metrics.json`` (the message names
            it and says to run ``dcign evaluate RUN_DIR`` first), unreadable JSON, or an
            ``out_dir`` that cannot be written.
    """
    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise ValueError("compare_runs needs at least one run directory")
    check_distinct(run_dirs)
    loaded = [(d, load_run_metrics(d)) for d in run_dirs]
    labels = _labels(run_dirs)
    factors = list(ANGLE_FACTORS)  # then the factors of users' data sets, in order of appearance
    for _, m in loaded:
        fig6 = m.get("fig6") if isinstance(m.get("fig6"), dict) else {}
        factors += [f for f in fig6 if isinstance(f, str) and f not in factors]
    if all("evaluated_on" in m for _, m in loaded):  # only users' data sets: only the factors they have
        factors = [f for f in factors if any(isinstance(m.get("fig6"), dict) and f in m["fig6"] for _, m in loaded)]
    rows = [_row(label, d, m, factors) for label, (d, m) in zip(labels, loaded)]
    grouped = [f"{name}_grouped" for name in METRIC_LABELS
               if any(r["headline"].get(f"{name}_grouped") is not None for r in rows)]
    for r in rows:
        for key in grouped:
            r["headline"].setdefault(key, None)
    result = {
        "runs": rows,
        "fig6_factors": factors,
        "metrics": list(METRIC_LABELS),
        "grouped_metrics": grouped,
    }
    out_dir = check_writable_dir(out_dir)
    atomic_write_json(out_dir / "compare.json", result)
    atomic_write_text(out_dir / "compare.md", render_markdown(result))
    _plot(result, out_dir / "compare.png")
    return result


# ---------------------------------------------------------------------------- rows
def _labels(run_dirs: list[Path]) -> list[str]:
    names = [d.name or str(d) for d in run_dirs]
    return [str(d) if names.count(n) > 1 else n for d, n in zip(run_dirs, names)]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _row(label: str, run_dir: Path, m: dict[str, Any], factors=ANGLE_FACTORS) -> dict[str, Any]:
    fig6 = m.get("fig6") if isinstance(m.get("fig6"), dict) else {}
    spearman = {}
    for f in factors:
        entry = fig6.get(f)
        spearman[f] = finite_or_none(entry.get("spearman")) if isinstance(entry, dict) else None
    dis = m.get("disentanglement") if isinstance(m.get("disentanglement"), dict) else {}
    head = dis.get("headline") if isinstance(dis.get("headline"), dict) else {}
    headline = {name: finite_or_none(head.get(name)) for name in METRIC_LABELS}
    headline.update({k: finite_or_none(v) for k, v in head.items() if k.endswith("_grouped") and k[:-8] in METRIC_LABELS})
    settings = dis.get("settings") if isinstance(dis.get("settings"), dict) else {}
    fast = settings.get("fast")
    return {
        "run": label,
        "path": str(run_dir),
        "method": _text(m.get("method")),
        "dataset": _text(m.get("dataset")),
        "preset": _text(m.get("preset")),
        "metric_settings": ("fast" if fast else "field") if isinstance(fast, bool) else None,
        "spearman": spearman,
        "test_mse": finite_or_none(m.get("test_mse")),
        "headline": headline,
    }


# ---------------------------------------------------------------------------- markdown
def _fmt(value: float | None, spec: str = ".3f") -> str:
    return MISSING if value is None else format(value, spec)


def _cell(value: str | None) -> str:
    return MISSING if value is None else value.replace("|", "\\|")


def render_markdown(result: dict[str, Any]) -> str:
    """The ``compare.md`` text for :func:`compare_runs`'s result."""
    grouped = result["grouped_metrics"]
    header = (["run", "method", "data", "metrics"]
              + [f"Spearman {FACTOR_LABELS.get(f, f)}" for f in result["fig6_factors"]]
              + ["test MSE"]
              + [METRIC_LABELS[n] for n in result["metrics"]]
              + [f"{METRIC_LABELS[k[: -len('_grouped')]]} (grouped)" for k in grouped])
    lines = [
        "# dcign: run comparison", "",
        "Fig. 6 columns: Spearman r between each factor's latent and the true angle on test identities "
        "(paper §4.1; the sign of a latent is arbitrary). Test MSE: reconstruction error per pixel, grey in [0, 1]. "
        "Metric columns: headline score of each disentanglement metric (Locatello et al. 2019 protocol) on the "
        "posterior means of all latents; \"(grouped)\" columns score the code summarised by the paper's latent "
        "groups: one latent per angle (DC-IGN: z1, z2, z3; other methods: the latents Fig. 6 uses, chosen by the "
        "largest-variance rule) and principal components of the rest. The \"metrics\" column says whether "
        "they used the reduced fast settings or the field's; compare like with like. "
        f"{MISSING} = not available for that run.", "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for r in result["runs"]:
        data = "/".join(x for x in (r["dataset"], r["preset"]) if x) or None
        cells = ([_cell(r["run"]), _cell(r["method"]), _cell(data), _cell(r["metric_settings"])]
                 + [_fmt(r["spearman"].get(f)) for f in result["fig6_factors"]]
                 + [_fmt(r["test_mse"], ".3e")]
                 + [_fmt(r["headline"].get(n)) for n in result["metrics"]]
                 + [_fmt(r["headline"].get(k)) for k in grouped])
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "![comparison](compare.png)", "",
              "Grouped bars: |Spearman r| of Fig. 6 per factor, then each metric's headline score; one bar per run; "
              "a missing value has no bar.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- figure
def _plot(result: dict[str, Any], path: Path) -> None:
    groups: list[tuple[str, list[float | None]]] = []
    runs = result["runs"]
    for f in result["fig6_factors"]:
        vals = [r["spearman"].get(f) for r in runs]
        groups.append((f"|Spearman|\n{FACTOR_LABELS.get(f, f)}", [None if v is None else abs(v) for v in vals]))
    for n in result["metrics"]:
        groups.append((METRIC_LABELS[n], [r["headline"].get(n) for r in runs]))
    for k in result["grouped_metrics"]:
        groups.append((f"{METRIC_LABELS[k[: -len('_grouped')]]}\n(grouped)", [r["headline"].get(k) for r in runs]))
    n_runs = len(runs)
    width = 0.8 / n_runs
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(groups) + 2), 4.2))
    colors = plt.get_cmap("tab10")
    for i, r in enumerate(runs):
        vals = [g[1][i] for g in groups]
        xs = [xi + (i - (n_runs - 1) / 2) * width for xi, v in zip(x, vals) if v is not None]
        ax.bar(xs, [v for v in vals if v is not None], width=width * 0.95, color=colors(i % 10),
               label=f"{r['run']} ({r['method'] or MISSING})")
    ax.set_xticks(x)
    ax.set_xticklabels([g[0] for g in groups], fontsize=8)
    lo = min([0.0] + [v for g in groups for v in g[1] if v is not None])
    ax.set_ylim(min(lo * 1.1, 0.0), 1.05)
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_ylabel("score")
    ax.set_title("dcign runs: Fig. 6 |Spearman r| and disentanglement metrics (higher is better)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    save_png(path, fig)
    plt.close(fig)
