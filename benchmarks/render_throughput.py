"""Rendering throughput of the graphics engine: images/s for faces and chairs at 64 and 150 px,
with 1 and 2 worker processes, each streaming one-factor batches (paper mix 1:1:1:10).

Usage: python benchmarks/render_throughput.py [--seconds 8]
Target (issue 2): >= 2,000 images/s at 64 px and >= 1,000 at 150 px with 2 workers on 2 cores.
"""

from __future__ import annotations

import argparse
import time

from dcign.data import EngineConfig, RenderedSteps, make_loader


def images_per_second(dataset: str, size: int, workers: int, seconds: float, groups: int = 4, batch: int = 20) -> float:
    ds = RenderedSteps(EngineConfig(dataset, size), batch_size=batch, groups_per_step=groups, seed=0)
    loader = make_loader(ds, workers)
    it = iter(loader)
    for _ in range(max(2, workers * 2)):  # warm up: start workers, fill the mesh caches a little
        next(it)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += next(it)["images"].shape[0]
    rate = n / (time.perf_counter() - t0)
    del it, loader
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0, help="measuring time per configuration")
    args = ap.parse_args()
    print(f"{'dataset':8s} {'size':>4s} {'workers':>7s} {'images/s':>9s}")
    for dataset in ("faces", "chairs"):
        for size in (64, 150):
            for workers in (1, 2):
                rate = images_per_second(dataset, size, workers, args.seconds)
                print(f"{dataset:8s} {size:4d} {workers:7d} {rate:9.0f}", flush=True)


if __name__ == "__main__":
    main()
