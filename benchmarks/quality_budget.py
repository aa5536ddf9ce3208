"""Time to quality: the main job's config trained for fixed wall-clock budgets (issue 11, item 7).

For each budget (minutes of training wall clock, ``dcign train --time-limit``) it prints one row:
the optimiser steps reached, the test reconstruction MSE per pixel, Fig. 6 |Spearman r| of the
azimuth, elevation and light azimuth latents pooled over 20 test identities and within identity
(median over identities of each one's sweep), and the azimuth novel-view MSE as a ratio to the
entangled baseline's and to copying the input (targets: <= 0.5 both).  Everything is measured
with the library's own functions on TEST identities: ``dcign evaluate``'s
(:func:`dcign.evaluation.report.evaluate`, which writes a full report per budget) and
:func:`dcign.evaluation.novel_view.novel_view_mse` with ``dcign reproduce``'s sizes
(:class:`dcign.reproduce.ReproduceSettings`: 10 test identities, 7 angles).

How the budgets are trained.  One DC-IGN run (``OUT/dcign``) with ``dcign train``'s defaults
(the main job's config at a constant rate, see :data:`BUDGET_KEYS`; ``--set KEY=VALUE`` changes
a config key, e.g. ``preset=wide-64``) is
trained to the first budget, its exported model copied to ``OUT/dcign-<B>min`` and evaluated
there, then resumed with the next, larger ``--time-limit`` (Lightning's clock is saved in the
checkpoints, so the minutes add up over resumes), and so on.  A 20-min row is thus the run a
20-min budget gives, without training 5 + 10 + 20 minutes; the evaluation between budgets is
not counted (only training time is).  Its step cap is :data:`STEP_CAP` (the time limit stops it).

The baseline of the ratio.  By default the entangled baseline (plain SGVB, ``--method
baseline``, the same network, images per step and optimiser) is trained the same way, for the
same budgets, after the DC-IGN run: at each row both models had the same wall clock, as
``dcign reproduce`` gives both the same steps.  This doubles the benchmark's time (5,10,20:
about 2 x 20 min of training plus about 2 min of evaluation per budget and model on 2 cores).
``--baseline RUN_DIR`` instead reuses one exported baseline for every row (e.g.
``runs/reproduce/faces-baseline``, the CPU plan's, 2,500 steps): a fixed yardstick, half the
time, but then the ratio also measures the baseline's budget, not only DC-IGN's.

Runs on a shared machine are slower than alone: a budget reaches fewer steps, so say so with
the numbers.  Killed, it continues: finished budgets (their ``report/metrics.json``) are
reused and the run resumes from its last checkpoint.

Usage::

    python benchmarks/quality_budget.py --budgets 5,10,20 --out runs/quality-budget
    python benchmarks/quality_budget.py --plan long --out runs/quality-budget-long   # 120 min (the longer CPU plan)
    python benchmarks/quality_budget.py --budgets 0.5 --out /tmp/qb                  # a smoke test of the script
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from dcign.atomic import atomic_write_json
from dcign.config import TrainConfig, check_resumable
from dcign.evaluation.novel_view import novel_view_mse
from dcign.evaluation.report import evaluate
from dcign.export import MODEL_CONFIG, MODEL_WEIGHTS, load_model
from dcign.factors import ANGLE_FACTORS
from dcign.inference import engine_for
from dcign.reproduce import ReproduceSettings
from dcign.training import train_and_export

PLANS = {"short": (5.0, 10.0, 20.0), "long": (120.0,)}
"""Budgets in minutes: the default plan and the documented longer CPU plan (2 h, one row)."""
STEP_CAP = 10_000_000
"""Optimiser steps of a budgeted run: far more than any budget reaches, so the time limit stops it."""
RESULTS = "quality_budget.json"


def parse_budgets(text: str) -> tuple[float, ...]:
    """'5,10,20' -> (5.0, 10.0, 20.0): positive, strictly increasing minutes (ValueError otherwise)."""
    try:
        budgets = tuple(float(b) for b in text.split(",") if b.strip())
    except ValueError:
        raise ValueError(f"--budgets takes minutes like 5,10,20, got {text!r}") from None
    if not budgets or any(not 0 < b < float("inf") for b in budgets) or list(budgets) != sorted(set(budgets)):
        raise ValueError(f"--budgets must be positive minutes in increasing order, got {text!r}")
    return budgets


BUDGET_KEYS = ("steps", "time_limit", "lr_schedule")
"""Config keys the budgets set (a --set of them would be overridden, so it is refused): a run
cut by a time limit has no step count known in advance for a decay to end at, so the budgeted
runs keep a constant rate (``dcign train``'s default cosine decays over ``--steps``)."""


def parse_sets(items: list[str]) -> dict:
    """['preset=wide-64', 'groups_per_step=8'] -> config keys (values read as JSON, else strings)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        if key.strip() in BUDGET_KEYS:
            raise ValueError(f"--set {item!r}: the budgets set {', '.join(BUDGET_KEYS)} (time-cut runs keep a constant rate); "
                             "give --budgets for the minutes")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def check_baseline(run_dir: Path, cfg: TrainConfig) -> None:
    """Refuse a --baseline that is not an exported entangled baseline of the same network and faces (ValueError)."""
    _, base, _ = load_model(run_dir)
    if base.method.name != "baseline":
        raise ValueError(f"--baseline {run_dir} was trained with --method {base.method.name}; give a `dcign train --method baseline` run")
    ours, theirs = cfg.to_dict(), base.to_dict()
    for key in ("preset", "dataset", "channels"):
        if ours[key] != theirs[key]:
            raise ValueError(f"--baseline {run_dir} has {key} {theirs[key]!r}, the benchmark's DC-IGN {ours[key]!r}; "
                             f"train the baseline with the same {key}")


def check_out(out: Path, cfgs: dict[str, TrainConfig]) -> None:
    """Refuse an --out that is a file, or whose runs were trained with another config (ValueError)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot make that folder ({exc.strerror}); give a folder path") from None
    for name, cfg in cfgs.items():
        if (out / name / "config.json").is_file():
            try:
                check_resumable(out / name, cfg.updated(steps=STEP_CAP).with_data_version())
            except ValueError as exc:
                raise ValueError(f"{exc}; --out {out} holds an earlier benchmark: give a new --out, or the same --set") from None


def train_budget(cfg: TrainConfig, run_dir: Path, minutes: float, snapshot: Path, log) -> Path:
    """Train (or resume) ``run_dir`` until ``minutes`` of training in all, export, copy the model to ``snapshot``."""
    if (snapshot / MODEL_CONFIG).is_file():
        return snapshot  # this budget was trained before (the script was killed later)
    resume = (run_dir / "config.json").is_file()
    run_dir.mkdir(parents=True, exist_ok=True)
    train_and_export(cfg.updated(steps=STEP_CAP, time_limit=minutes), run_dir, resume=resume, log=log, progress=False)
    tmp = snapshot.with_name(snapshot.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in (MODEL_WEIGHTS, "config.json", MODEL_CONFIG):  # model.json last: it marks the copy whole
        shutil.copy2(run_dir / name, tmp / name)
    tmp.rename(snapshot)
    return snapshot


def evaluated(run_dir: Path, settings: ReproduceSettings, log) -> dict:
    """``dcign evaluate``'s metrics of an exported run (reused from its report/metrics.json if there)."""
    path = run_dir / "report" / "metrics.json"
    if path.is_file():
        return json.loads(path.read_text())
    return evaluate(run_dir, settings.eval_identities, settings.eval_values, progress=log, metrics=False)


def novel_views(run_dir: Path, settings: ReproduceSettings) -> dict[str, dict]:
    """Novel-view MSE and copy-input MSE per angle factor of an exported faces run (dcign reproduce's sizes)."""
    net, cfg, meta = load_model(run_dir)
    engine = engine_for(cfg)
    out = {}
    for f in ANGLE_FACTORS:
        if f in meta.get("angle_maps", {}):
            r = novel_view_mse(net, meta["angle_maps"], engine, f, settings.novel_view_identities, settings.novel_view_angles)
            out[f] = {"mse": r["mse"], "copy_input_mse": r["copy_input_mse"]}
    return out


def budget_row(minutes: float, dcign_dir: Path, baseline_dir: Path, settings: ReproduceSettings, log) -> dict:
    """One row: steps, test MSE, Fig. 6 r (pooled, within identity), novel-view MSE and ratios."""
    m = evaluated(dcign_dir, settings, log)
    nv, nv_base = novel_views(dcign_dir, settings), novel_views(baseline_dir, settings)
    meta = json.loads((dcign_dir / MODEL_CONFIG).read_text())
    base_meta = json.loads((baseline_dir / MODEL_CONFIG).read_text())
    ratios = {}
    for f in nv:
        ratios[f] = {"vs_baseline": nv[f]["mse"] / nv_base[f]["mse"] if f in nv_base else None,
                     "vs_copy_input": nv[f]["mse"] / nv[f]["copy_input_mse"]}
    return {
        "minutes": minutes, "steps": meta.get("trained_steps"), "baseline_steps": base_meta.get("trained_steps"),
        "run": str(dcign_dir), "baseline": str(baseline_dir), "test_mse": m["test_mse"],
        "fig6": {f: {"spearman": r["spearman"], "spearman_within": r["spearman_within"]} for f, r in m["fig6"].items()},
        "novel_view": nv, "baseline_novel_view": nv_base, "novel_view_ratio": ratios,
    }


def _num(v, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def print_table(rows: list[dict]) -> None:
    head = (f"{'min':>6s} {'steps':>6s} {'base st':>7s} {'test MSE':>8s} "
            + " ".join(f"{f[:9]:>13s}" for f in ANGLE_FACTORS) + f" {'az NV/base':>10s} {'az NV/copy':>10s}")
    print("|Spearman r| per factor: pooled over 20 test identities / within identity (median)")
    print(head)
    for r in rows:
        corr = " ".join(f"{abs(r['fig6'][f]['spearman']):6.3f}/{abs(r['fig6'][f]['spearman_within']):6.3f}"
                        if f in r["fig6"] else f"{'–':>13s}" for f in ANGLE_FACTORS)
        az = r["novel_view_ratio"].get("azimuth", {})
        print(f"{r['minutes']:6g} {_num(r['steps'], '6d')} {_num(r['baseline_steps'], '7d')} {r['test_mse']:8.5f} {corr} "
              f"{_num(az.get('vs_baseline'), '10.3f')} {_num(az.get('vs_copy_input'), '10.3f')}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train the main job's config for fixed wall-clock budgets; print quality per budget.")
    ap.add_argument("--budgets", default=None, help="minutes of training, increasing (default: the plan's, 5,10,20)")
    ap.add_argument("--plan", choices=sorted(PLANS), default="short",
                    help="short: 5,10,20 min; long: 120 min (the longer CPU plan); --budgets overrides it")
    ap.add_argument("--out", type=Path, required=True, help="folder for the runs, one evaluated copy per budget, and results")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="an exported faces baseline run to reuse for every budget (default: train one per budget)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="change a config key of both runs (default: dcign train's defaults, the main job's, at a constant rate)")
    args = ap.parse_args(argv)
    try:
        budgets = parse_budgets(args.budgets) if args.budgets is not None else PLANS[args.plan]
        cfg = TrainConfig.from_dict({**parse_sets(args.set), "lr_schedule": "constant"})
        if cfg.is_file_data or cfg.method.name != "dcign":
            raise ValueError("the benchmark trains a DC-IGN on a built-in engine (novel views need its renderer)")
        baseline_cfg = cfg.updated(method="baseline")
        if args.baseline is not None:
            check_baseline(args.baseline, cfg)  # refuse a missing, broken or unlike run before training anything
        check_out(args.out, {"dcign": cfg, "baseline": baseline_cfg})
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out
    settings = ReproduceSettings()

    def log(msg):
        print(f"  [{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    rows = []
    dirs = {}
    for minutes in budgets:
        log(f"DC-IGN to {minutes:g} min")
        dirs[minutes] = [train_budget(cfg, out / "dcign", minutes, out / f"dcign-{minutes:g}min", log)]
    for minutes in budgets:
        if args.baseline is None:
            log(f"baseline to {minutes:g} min")
            dirs[minutes].append(train_budget(baseline_cfg, out / "baseline", minutes, out / f"baseline-{minutes:g}min", log))
        else:
            dirs[minutes].append(args.baseline)
    for minutes in budgets:
        log(f"evaluating the {minutes:g}-min models")
        rows.append(budget_row(minutes, *dirs[minutes], settings, log))
        atomic_write_json(out / RESULTS, {"config": cfg.to_dict(), "baseline": str(args.baseline or "trained per budget"),
                                          "rows": rows})
    print_table(rows)
    print(f"results: {out / RESULTS}; reports: {out}/dcign-<B>min/report/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
