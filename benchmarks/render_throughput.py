"""Rendering throughput of the graphics engine: images/s at 64 and 150 px with 1 and 2 worker
processes, each streaming one-factor batches (paper mix 1:1:1:10).

Measures the v2 faces next to the v1 heads (``heads``, the engine faces replaced) and chairs in
the same run, so figures taken on a shared machine stay comparable; prints the faces/heads ratio.

Usage: python benchmarks/render_throughput.py [--seconds 8] [--datasets faces,heads,chairs]
Target (issue 10): faces >= 2,000 images/s at 64 px and >= 1,000 at 150 px with 2 workers on
2 cores (the v1 heads measured 1,052 and 756).

Also the median time to build one identity's mesh (per data set, 200 identities), which the
mesh cache pays once per identity; a chair mesh should take under 20 ms (typically ~1 ms).
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


def mesh_build_ms(dataset: str, n: int = 200) -> float:
    """Median milliseconds to build the mesh of one identity (after one warm-up build)."""
    import numpy as np

    from dcign.data.engine import mesh_model

    model = mesh_model(dataset)
    rng = np.random.default_rng(1234)
    identities = [model.sample_identity(rng) for _ in range(n)]
    model.mesh(identities[0])
    times = []
    for identity in identities:
        t0 = time.perf_counter()
        model.mesh(identity)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0, help="measuring time per configuration")
    ap.add_argument("--datasets", default="faces,heads,chairs", help="comma-separated data sets")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = ap.parse_args()
    datasets = args.datasets.split(",")
    for dataset in datasets:
        print(f"{dataset:8s} mesh build {mesh_build_ms(dataset):.2f} ms (median of 200 identities)", flush=True)
    print(f"{'dataset':8s} {'size':>4s} {'workers':>7s} {'images/s':>9s}")
    rates = {}
    for size in (64, 150):
        for workers in (int(w) for w in args.workers.split(",")):
            for dataset in datasets:  # interleaved: the machine's load hits every data set alike
                rates[dataset, size, workers] = rate = images_per_second(dataset, size, workers, args.seconds)
                print(f"{dataset:8s} {size:4d} {workers:7d} {rate:9.0f}", flush=True)
    if "faces" in datasets and "heads" in datasets:
        for (d, size, workers), rate in rates.items():
            if d == "faces":
                print(f"faces / heads at {size} px, {workers} workers: {rate / rates['heads', size, workers]:.2f}x")


if __name__ == "__main__":
    main()
