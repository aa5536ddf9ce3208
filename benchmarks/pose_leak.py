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
(per pixel, grey in [0, 1]).

A full-turn factor (chairs' azimuth) has no "other end", so it is swapped around the circle: each
identity is rendered at ``views`` angles evenly spaced over the turn, and for every ordered pair
(B, A) of different views the script scores, against A's true image, (1) *turn*: B's latents with
the factor's group set to the degrees -> code map at A's angle (Fig. 8's re-rendering); (2)
*swap*: A's own group + B's intrinsics, as above; (3) *turn, view-averaged intrinsics*: as (1)
with the intrinsics averaged over the identity's views (what a view-free intrinsic code would
give); and A's reconstruction and copying B.

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
from dcign.inference import decode, degrees_to_code, encode, engine_for
from dcign.layout import intrinsic_latents


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


def full_turn_swap(run_dir, split: str = "validation", identities: int = 20, views: int = 12,
                   seed: int = 7) -> dict[str, dict[str, float]]:
    """{full-turn angle: {'turn', 'swap', 'turn_view_mean', 'recon', 'copy'}} MSE per pixel
    (module docstring) over the first ``identities`` identities of ``split``, ``views`` angles each."""
    net, cfg, meta = load_model(run_dir)
    engine = engine_for(cfg)
    layout = cfg.method.latent_layout if cfg.method.name == "dcign" else {}
    ids = np.asarray(engine.space.identities(split)[:identities])
    rng = np.random.default_rng(seed)
    out = {}
    for f in ANGLE_FACTORS:
        r = engine.space.ranges[f]
        if f not in layout or not r.full_turn:
            continue
        group, degrees = list(layout[f]), np.linspace(r.low, r.high, views, endpoint=False)
        rest = intrinsic_latents(layout, cfg.model.latent_dim)
        codes = np.stack([degrees_to_code(meta["angle_maps"][f], d) for d in degrees])
        scores = {k: [] for k in ("turn", "swap", "turn_view_mean", "recon", "copy")}
        off = ~np.eye(views, dtype=bool)  # ordered pairs (B, A), B != A
        for ident in ids:
            v = {g: np.full(views, rng.uniform(*engine.space.ranges[g].central_half())) for g in ANGLE_FACTORS}
            v[f] = degrees
            x = engine.render(Factors(v["azimuth"], v["elevation"], v["light_azimuth"], np.full(views, ident)))
            z = encode(net.encode, x)
            err = lambda y: ((y - x[None]) ** 2).reshape(views, views, -1).mean(2)  # noqa: E731  [B, A]
            turned = np.repeat(z[:, None], views, 1)  # [B, A]: B's code ...
            turned[:, :, group] = codes[None]  # ... turned to A's angle
            swapped = np.repeat(z[None], views, 0)  # [B, A]: A's code ...
            swapped[:, :, rest] = z[:, None, rest]  # ... with B's intrinsics
            averaged = turned.copy()
            averaged[:, :, rest] = z[:, rest].mean(0)
            dec = lambda c: decode(net, c.reshape(views * views, -1)).reshape(views, views, *x.shape[1:])  # noqa: E731
            for key, c in (("turn", turned), ("swap", swapped), ("turn_view_mean", averaged)):
                scores[key].append(err(dec(c))[off].mean())
            scores["recon"].append(float(np.mean((decode(net, z) - x) ** 2)))
            scores["copy"].append(err(np.repeat(x[:, None], views, 1))[off].mean())
        out[f] = {k: float(np.mean(s)) for k, s in scores.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--split", choices=SPLITS, default="validation")
    ap.add_argument("--scenes", type=int, default=1000)
    args = ap.parse_args()
    if args.scenes < 10:
        ap.error("--scenes must be at least 10 (5-fold cross-validation)")
    try:
        rows = pose_leak(args.run_dir, args.split, args.scenes)
    except ValueError as exc:
        ap.error(str(exc))
    print(f"{'angle':14s} {'R2 own latents':>15s} {'R2 intrinsic':>13s}   ({args.scenes} {args.split} scenes, 5-fold ridge)")
    for f, r in rows.items():
        print(f"{f:14s} {r['own']:15.3f} {r['intrinsic']:13.3f}")
    print_mse_table(f"view swap: A's own latents + B's intrinsics, decoded, against A ({args.split} identities, MSE per pixel)",
                    view_swap(args.run_dir, args.split), {"swap": "swap", "recon": "recon A", "copy": "copy B"})
    print_mse_table(f"full turn: every ordered pair of 12 views of 20 {args.split} identities, against view A (MSE per pixel)",
                    full_turn_swap(args.run_dir, args.split),
                    {"turn": "turn", "swap": "swap", "turn_view_mean": "turn, view-mean intrinsics", "recon": "recon A",
                     "copy": "copy B"})


def print_mse_table(title: str, rows: dict[str, dict[str, float]], columns: dict[str, str]) -> None:
    """Print ``rows`` ({angle: {key: MSE}}) under ``title``, one column per ``columns`` key (its header); nothing if empty."""
    if not rows:
        return
    widths = {k: max(8, len(h)) for k, h in columns.items()}
    print(f"\n{title}")
    print(f"{'angle':14s}" + "".join(f"  {h:>{widths[k]}s}" for k, h in columns.items()))  # two spaces: headers hold spaces
    for f, r in rows.items():
        print(f"{f:14s}" + "".join(f"  {r[k]:{widths[k]}.4f}" for k in columns))


if __name__ == "__main__":
    main()
