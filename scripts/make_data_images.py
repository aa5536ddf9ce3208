"""Render the README's data pictures into docs/images/: one row per factor at 64 and 150 px,
and a grid of identities at 150 px (test identities, never seen in training).

Usage: python scripts/make_data_images.py [--out docs/images] [--dataset faces]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from dcign.data import EngineConfig, SceneEngine
from dcign.factors import Factors

SWEEPS = {"azimuth": (-90, 90), "elevation": (-25, 25), "light_azimuth": (-80, 80)}


def grid(images: np.ndarray, cols: int, gap: int = 2) -> Image.Image:
    n, _, s, _ = images.shape
    rows = -(-n // cols)
    out = np.ones((rows * (s + gap) - gap, cols * (s + gap) - gap), np.float32)
    for i, im in enumerate(images[:, 0]):
        r, c = divmod(i, cols)
        out[r * (s + gap) : r * (s + gap) + s, c * (s + gap) : c * (s + gap) + s] = im
    return Image.fromarray((out * 255).round().astype(np.uint8))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("docs/images"))
    ap.add_argument("--dataset", default="faces")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for size, n in ((64, 10), (150, 7)):
        engine = SceneEngine(EngineConfig(args.dataset, size))
        test = engine.space.identities("test")
        suffix = "" if size == 64 else f"_{size}"
        for factor, (lo, hi) in SWEEPS.items():
            values = np.linspace(lo, hi, n)
            angles = {f: np.zeros(n) for f in SWEEPS}
            angles[factor] = values
            f = Factors(angles["azimuth"], angles["elevation"], angles["light_azimuth"], np.full(n, test[0]))
            grid(engine.render(f), n).save(args.out / f"{args.dataset}_{factor}{suffix}.png")
        k = 10 if size == 64 else 12
        f = Factors(np.full(k, 15.0), np.full(k, 5.0), np.full(k, 20.0), test[:k])
        grid(engine.render(f), 10 if size == 64 else 6).save(args.out / f"{args.dataset}_identity{suffix}.png")


if __name__ == "__main__":
    main()
