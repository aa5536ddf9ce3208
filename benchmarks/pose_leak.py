"""How much of each angle the intrinsic latents still carry (a diagnostic for issue 11's traversals).

A DC-IGN's intrinsic latents (z4..z200 on faces) should be invariant to azimuth, elevation and
light azimuth: the clamp of paper §3.1 makes the decoder take those from z1..z3.  This script
encodes random scenes of one identity split (validation by default: nothing is tuned on test
identities), then fits, per angle, a ridge regression (scikit-learn, 5-fold cross-validated R^2)
from the factor's own latents and from the intrinsic latents.  An R^2 near 1 from the intrinsics
means the pose is still in them, so a decoder may read it from there: a latent traversal of z1 then
turns the face only partly (ghost features of the input's view).  For a model without a DC-IGN
layout (the entangled baseline), "own latents" are z1..z3.  A factor that turns all the way
(chairs' azimuth, -180..180 degrees) is regressed as its point on the circle (sin, cos; R^2
averaged over the two).

R^2 does not say whether the DECODER uses what the intrinsics hold (a tiny but linear trace scores
as high as a large one), so the script also runs a view swap per angle: for validation identities,
view A sets the angle to the lower end of its range's central half and view B to the upper end
(the other angles shared, drawn from their central halves); A's own latents (z1..z3) with B's
intrinsic latents are decoded and compared with A's true image.  A decoder that takes the view
from z1..z3 alone scores A's reconstruction error; one that reads the view from the intrinsics
scores toward the error of copying B.  Printed: swap MSE, A's reconstruction MSE and copy-B MSE
(per pixel, grey in [0, 1]).  Not for a full-turn factor (chairs' azimuth: no "other end").

Usage::

    python benchmarks/pose_leak.py RUN_DIR [--split validation] [--scenes 1000]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import cross_val_score

from dcign.export import load_model
from dcign.factors import ANGLE_FACTORS, SPLITS, Factors
from dcign.inference import decode, encode, engine_for


def pose_leak(run_dir, split: str = "validation", scenes: int = 1000, seed: int = 5) -> dict[str, dict[str, float]]:
    """{angle: {'own': R^2 from its latents, 'intrinsic': R^2 from the rest}} on ``scenes`` random scenes of ``split``."""
    net, cfg, _ = load_model(run_dir)
    if cfg.is_file_data:
        raise ValueError("pose_leak renders scenes: give a run trained on a built-in engine")
    engine = engine_for(cfg)
    factors = engine.space.sample(np.random.default_rng(seed), scenes, split=split)
    z = encode(net.encode, engine.render(factors))
    layout = cfg.method.latent_layout if cfg.method.name == "dcign" else {f: [i] for i, f in enumerate(ANGLE_FACTORS)}
    own = sorted(i for idx in layout.values() for i in idx)
    rest = [i for i in range(z.shape[1]) if i not in own]
    out = {}
    for f in ANGLE_FACTORS:
        if f not in layout:
            continue
        rad = np.deg2rad(factors[f])
        y = np.stack([np.sin(rad), np.cos(rad)], 1) if engine.space.ranges[f].full_turn else factors[f]  # its point on the circle
        r2 = lambda cols: float(cross_val_score(RidgeCV(alphas=np.logspace(-3, 3, 13)), z[:, cols], y, cv=5, scoring="r2").mean())
        out[f] = {"own": r2(layout[f]), "intrinsic": r2(rest)}
    return out


def view_swap(run_dir, split: str = "validation", identities: int = 50, seed: int = 7) -> dict[str, dict[str, float]]:
    """{angle: {'swap', 'recon', 'copy'}} MSE per pixel of the view swap (module docstring) over
    the first ``identities`` identities of ``split``; full-turn factors are left out."""
    net, cfg, _ = load_model(run_dir)
    engine = engine_for(cfg)
    layout = cfg.method.latent_layout if cfg.method.name == "dcign" else {f: [i] for i, f in enumerate(ANGLE_FACTORS)}
    own = sorted(i for idx in layout.values() for i in idx)
    ids = np.asarray(engine.space.identities(split)[:identities])
    rng = np.random.default_rng(seed)
    shared = {f: rng.uniform(*engine.space.ranges[f].central_half(), len(ids)) for f in ANGLE_FACTORS}
    out = {}
    for f in ANGLE_FACTORS:
        if f not in layout or engine.space.ranges[f].full_turn:
            continue
        views = []
        for end in engine.space.ranges[f].central_half():
            v = dict(shared, **{f: np.full(len(ids), end)})
            views.append(engine.render(Factors(v["azimuth"], v["elevation"], v["light_azimuth"], ids)))
        a, b = views
        za, zb = encode(net.encode, a), encode(net.encode, b)
        mixed = zb.copy()
        mixed[:, own] = za[:, own]
        mse = lambda x, y: float(np.mean((x - y) ** 2))  # noqa: E731
        out[f] = {"swap": mse(decode(net, mixed), a), "recon": mse(decode(net, za), a), "copy": mse(b, a)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--split", choices=SPLITS, default="validation")
    ap.add_argument("--scenes", type=int, default=1000)
    args = ap.parse_args()
    if args.scenes < 10:
        raise SystemExit("error: --scenes must be at least 10 (5-fold cross-validation)")
    try:
        rows = pose_leak(args.run_dir, args.split, args.scenes)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"{'angle':14s} {'R2 own latents':>15s} {'R2 intrinsic':>13s}   ({args.scenes} {args.split} scenes, 5-fold ridge)")
    for f, r in rows.items():
        print(f"{f:14s} {r['own']:15.3f} {r['intrinsic']:13.3f}")
    swaps = view_swap(args.run_dir, args.split)
    if swaps:
        print(f"\nview swap: A's own latents + B's intrinsics, decoded, against A ({args.split} identities, MSE per pixel)")
        print(f"{'angle':14s} {'swap':>8s} {'recon A':>8s} {'copy B':>8s}")
        for f, r in swaps.items():
            print(f"{f:14s} {r['swap']:8.4f} {r['recon']:8.4f} {r['copy']:8.4f}")


if __name__ == "__main__":
    main()
