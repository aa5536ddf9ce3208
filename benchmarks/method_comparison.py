"""MIG and DCI of trained face models at disentanglement_lib's sizes, on the same test points.

`dcign evaluate` scores with fast settings (2,000 points, DCI by extra trees) so that a report
takes about a minute. This script asks the issue's question at the field's sizes: do
DC-IGN's MIG and DCI disentanglement, with its latents grouped as the paper defines them,
exceed those of β-VAE and Ada-GVAE trained for the same number of steps?

For every run (all must be faces models of one image size) it renders the same 10,000
train + 5,000 test scenes of test identities (angles in 10 bins, bin centres; identity over
the first ``--identities`` test identities), encodes them (posterior means) and reports

* grouped code (6 columns; :class:`dcign.evaluation.disentanglement.GroupedCode`): MIG
  (20 bins) and DCI with the field's gradient-boosted trees. DC-IGN: z1, z2, z3 + 3 PCs of
  z4..z200. Other methods: the latents their Fig. 6 uses (chosen by the paper's
  largest-variance rule at export, ``model.json`` ``latent_of``) + 3 PCs of the rest.
  The PCAs are fit on 2,000 scenes of training identities.
* full 200-d code: MIG (20 bins) and DCI with extra trees (the field's GBT on 200 dense
  codes takes hours on a CPU; see dcign.metrics.dci).

Runs trained on a user's data set (``--dataset NAME:PATH``; all runs on the same one) are
scored on that data set's ground truth instead (``LabelledImages.ground_truth``: its test
objects where it holds some out, else all images, as disentanglement_lib does), with the
grouped code built from each run's layout over the data set's own factors.

Usage::

    python benchmarks/method_comparison.py RUN_DIR [RUN_DIR ...] [--points 10000] [--identities 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dcign import metrics
from dcign.evaluation.disentanglement import FULL_PCA_POINTS, GroupedCode
from dcign.inference import encode, engine_for
from dcign.export import load_model
from dcign.data.ground_truth import EngineGroundTruth


def grouping_for(cfg, meta, data=None) -> GroupedCode:
    if data is not None:  # a user's data set: its factors, the run's groups over them
        if cfg.method.name == "dcign":
            layout = {f: idx for f, idx in cfg.file_groups(data).items() if f not in data.intrinsic_factors}
        else:
            layout = {f: [int(k)] for f, k in meta["latent_of"].items()}
        return GroupedCode(layout, cfg.model.latent_dim, 3, factors=tuple(layout))
    if cfg.method.name == "dcign" and cfg.method.latent_layout:
        layout = cfg.method.latent_layout
    else:
        layout = {f: [int(k)] for f, k in meta["latent_of"].items()}
    return GroupedCode(layout, cfg.model.latent_dim, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="trained run folders (faces)")
    ap.add_argument("--points", type=int, default=10_000, help="train points (test: half)")
    ap.add_argument("--identities", type=int, default=20, help="test identities the identity factor spans")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    try:
        compare_runs(args)
    except ValueError as exc:
        ap.error(str(exc))


def score_runs(args, models, f_train, f_test, x_train, x_test, x_pca, data, describe_grouping: bool) -> None:
    """Print one row per run: MIG and DCI of its grouped code (DCI by GBT) and of its full code.

    ``data`` is the users' data set for file-trained runs (None for the engine), used to pick the
    grouped code; ``describe_grouping`` appends the grouped code's first columns to each row.
    """
    print(f"{'run':32s} {'method':9s} {'steps':>6s} {'MIG grp':>8s} {'DCI-D grp':>9s} {'DCI-C grp':>9s} "
          f"{'MIG full':>8s} {'DCI-D full':>10s} {'seconds':>8s}", flush=True)
    for run_dir, net, cfg, meta in models:
        t = time.perf_counter()
        net.eval()
        mu_train, mu_test = encode(net.encode, x_train), encode(net.encode, x_test)
        grouping = grouping_for(cfg, meta, data).fit(encode(net.encode, x_pca))
        g_train, g_test = grouping.transform(mu_train), grouping.transform(mu_test)
        mig_g = metrics.mig_from_codes(f_train, g_train)["discrete_mig"]
        dci_g = metrics.dci_from_codes(f_train, g_train, f_test, g_test, model="gbt", random_state=args.seed)
        mig_f = metrics.mig_from_codes(f_train, mu_train)["discrete_mig"]
        dci_f = metrics.dci_from_codes(f_train, mu_train, f_test, mu_test, model="extra_trees", random_state=args.seed)
        tail = f"   grouped: {', '.join(grouping.describe()['columns'][:3])}" if describe_grouping else ""
        print(f"{str(run_dir)[-32:]:32s} {cfg.method.name:9s} {cfg.run.steps:6d} {mig_g:8.3f} {dci_g['disentanglement']:9.3f} "
              f"{dci_g['completeness']:9.3f} {mig_f:8.3f} {dci_f['disentanglement']:10.3f} "
              f"{time.perf_counter() - t:8.0f}{tail}", flush=True)


def compare_runs(args) -> None:
    if args.points < 20:
        raise ValueError(f"--points must be at least 20 (the field uses 10,000), got {args.points}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    models = [(d, *load_model(d)) for d in args.runs]
    first = models[0][2]
    if first.is_file_data:
        return compare_file_runs(args, models)
    for run_dir, _, cfg, _ in models:  # refuse before rendering anything
        if cfg.data.dataset != "faces" or cfg.image_size != first.image_size:
            raise ValueError(f"{run_dir} is a {cfg.data.dataset} model at {cfg.image_size} px; every run must be a faces "
                             f"model at the size of the first ({first.data.dataset}, {first.image_size} px)")
    engine = engine_for(first)
    data = EngineGroundTruth(engine, "test", num_bins=10, num_identities=args.identities)
    t = time.perf_counter()
    f_train, f_test, x_train, x_test = train_test_points(data, args.points, args.seed)
    pca_scenes = engine.space.sample(np.random.default_rng([args.seed, 0x9CA]), FULL_PCA_POINTS, "train")
    x_pca = engine.render(pca_scenes)
    print(f"rendered {len(x_train) + len(x_test) + len(x_pca)} images in {time.perf_counter() - t:.0f} s "
          f"({args.points} train / {args.points // 2} test points, {args.identities} test identities)", flush=True)

    score_runs(args, models, f_train, f_test, x_train, x_test, x_pca, data=None, describe_grouping=True)


def train_test_points(gt, points: int, seed: int):
    """``points`` train and ``points // 2`` test factor rows of a GroundTruthData and their images,
    drawn in that order from one ``RandomState(seed)`` (disentanglement_lib's protocol)."""
    rs = np.random.RandomState(seed)
    f_train = gt.sample_factors(points, rs)
    f_test = gt.sample_factors(points // 2, rs)
    return f_train, f_test, gt.sample_observations_from_factors(f_train, rs), gt.sample_observations_from_factors(f_test, rs)


def compare_file_runs(args, models) -> None:
    """The same comparison on the ground truth of a user's data set (every run trained on it)."""
    first = models[0][2]
    for run_dir, _, cfg, _ in models:
        if cfg.data.dataset != first.data.dataset or cfg.image_size != first.image_size or cfg.model.channels != first.model.channels:
            raise ValueError(f"{run_dir} was trained on {cfg.data.dataset} ({cfg.image_size} px, {cfg.model.channels} channels); every run "
                             f"must share the first's data set {first.data.dataset} ({first.image_size} px, {first.model.channels} channels)")
    data = first.open_data()
    gt = data.ground_truth(None, first.model.channels, first.image_size)
    t = time.perf_counter()
    f_train, f_test, x_train, x_test = train_test_points(gt, args.points, args.seed)
    pca_idx = data.random_batch(np.random.default_rng([args.seed, 0x9CA]), FULL_PCA_POINTS, "train")
    x_pca = data.images(pca_idx, first.model.channels, first.image_size)
    print(f"read {len(x_train) + len(x_test) + len(x_pca)} images of {data.name} in {time.perf_counter() - t:.0f} s "
          f"({args.points} train / {args.points // 2} test points on the {gt.split} split; factors "
          f"{dict(zip(gt.factor_names, gt.factors_num_values))})", flush=True)
    score_runs(args, models, f_train, f_test, x_train, x_test, x_pca, data=data, describe_grouping=False)


if __name__ == "__main__":
    main()
