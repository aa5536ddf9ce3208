"""Fold statistic of the face engines: how much of an azimuth sweep tells +a from -a.

For each test identity, an azimuth sweep a_1..a_N symmetric about 0 (elevation 0, the light
fixed) is rendered; per pixel the sweep is split into its part even in the angle,
(I(a) + I(-a)) / 2 - mean, and its odd part, (I(a) - I(-a)) / 2.  The two are orthogonal, so
their energies add up to the sweep's variance; the odd share is the fraction of image variance
that differs between a view and its opposite.  An odd share near 0 means +a and -a look alike
(the encoder cannot recover the sign of azimuth: the Fig. 6a fold); the paper-faces concern is
whether that share comes from the face itself, hence light 0 (frontal) is reported next to a
side light.  The mirror-odd share compares each view with the mirror image of its opposite:
only left/right asymmetry counts there (the cartoon heads' side-swept hair; the v2 faces' small
asymmetric identity modes, or a side light).

Usage: python benchmarks/face_fold.py [--identities 20] [--values 19] [--size 64]
"""

from __future__ import annotations

import argparse

import numpy as np

from dcign.data import EngineConfig, SceneEngine
from dcign.factors import Factors


def odd_share(images: np.ndarray) -> float:
    """Odd share of an azimuth sweep: images (N, H, W) at angles symmetric about 0, in order."""
    x = images.reshape(len(images), -1).astype(np.float64)
    odd = (x - x[::-1]) / 2
    centred = x - x.mean(axis=0)
    return float((odd**2).sum() / (centred**2).sum())


def mirror_odd_share(images: np.ndarray) -> float:
    """The same against the *mirrored* opposite view: only left/right asymmetry (of the object or
    the light) counts, so 0 for a mirror-symmetric object under a frontal light."""
    return odd_share(np.concatenate([images[: len(images) // 2 + 1], images[len(images) // 2 + 1 :, :, ::-1]]))


def fold_statistic(dataset: str, identities: int, values: int, size: int, light: float) -> tuple[float, float, float]:
    engine = SceneEngine(EngineConfig(dataset, size, num_train_identities=10, num_test_identities=identities))
    az = np.linspace(-90.0, 90.0, values)
    shares, mirrored = [], []
    for identity in engine.space.identities("test"):
        f = Factors(az, np.zeros(values), np.full(values, light), np.full(values, identity))
        images = engine.render(f)[:, 0]
        shares.append(odd_share(images))
        mirrored.append(mirror_odd_share(images))
    return float(np.median(shares)), float(np.min(shares)), float(np.median(mirrored))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--identities", type=int, default=20)
    ap.add_argument("--values", type=int, default=19, help="azimuths in -90..90 (odd: includes 0)")
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    print(f"{'dataset':8s} {'light':>6s} {'odd share (median)':>19s} {'min':>6s} {'mirror-odd share':>17s}")
    for dataset in ("faces", "heads"):
        for light in (0.0, 60.0):
            med, lo, mir = fold_statistic(dataset, args.identities, args.values, args.size, light)
            print(f"{dataset:8s} {light:6.0f} {med:19.3f} {lo:6.3f} {mir:17.3f}", flush=True)


if __name__ == "__main__":
    main()
