"""Peak memory of each file-backed data set while it serves one-factor batches.

Writes synthetic files in each published layout (hundreds of MB each, in a scratch folder),
then, in a fresh process per data set: opens it, draws ``--batches`` one-factor batches of
20 images and reads their pixels.  Prints, per loader, the file size, the resident-set
peak above the process's baseline after imports (``ru_maxrss``; memory-mapped pages that
were touched count here, though the kernel can drop them), and the peak of Python heap
allocations (``tracemalloc``; memory maps are not in it).

    python benchmarks/data_memory.py --scratch /tmp/dcign-mem [--batches 50]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

CASES = {
    # name: (spec template, writer description)
    "dsprites": "dsprites:{d}/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
    "dsprites-stored": "dsprites:{d}/stored/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
    "3dshapes": "3dshapes:{d}/3dshapes.h5",
    "mpi3d": "mpi3d:{d}/mpi3d_toy.npz",
    "smallnorb": "smallnorb:{d}/norb",
    "cars3d": "cars3d:{d}/cars",
    "chairs3d": "chairs3d:{d}/chairs",
    "folder": "folder:{d}/folder",
    "dcign-t7": "dcign-t7:{d}/t7",
}
MPI3D_SIZES = (6, 6, 2, 3, 3, 20, 20)  # 259200 images, 3.2 GB of pixels (a quarter of the real grid)


def write_all(d: Path) -> None:
    import h5py
    import published_layouts as pl

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    if not (d / CASES["dsprites"].split("/")[-1]).is_file():
        sizes = (1, 3, 6, 40, 32, 32)  # the real grid: 737280 images, 3.0 GB of pixels
        classes = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1).astype(np.int64)
        imgs = np.zeros((len(classes), 64, 64), dtype=np.uint8)  # mostly background, as real sprites
        pos = rng.integers(0, 56, size=(len(classes), 2))
        for i, (y, x) in enumerate(pos):
            imgs[i, y:y + 8, x:x + 8] = 1
        np.savez_compressed(d / CASES["dsprites"].split("/")[-1], imgs=imgs, latents_classes=classes)
        (d / "stored").mkdir(exist_ok=True)
        np.savez(d / "stored" / CASES["dsprites"].split("/")[-1], imgs=imgs, latents_classes=classes)
        del imgs
    if not (d / "3dshapes.h5").is_file():
        sizes = (10, 10, 10, 8, 4, 15)  # the real grid: 480000 images, 5.9 GB
        grid = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1).astype(np.float64)
        with h5py.File(d / "3dshapes.h5", "w") as f:
            ds = f.create_dataset("images", shape=(len(grid), 64, 64, 3), dtype=np.uint8)
            for s in range(0, len(grid), 20000):
                ds[s:s + 20000] = rng.integers(0, 256, size=(min(20000, len(grid) - s), 64, 64, 3), dtype=np.uint8)
            f.create_dataset("labels", data=grid)
    if not (d / "mpi3d_toy.npz").is_file():
        n = int(np.prod(MPI3D_SIZES))
        images = np.lib.format.open_memmap(d / "images.npy", mode="w+", dtype=np.uint8, shape=(n, 64, 64, 3))
        for s in range(0, n, 20000):
            images[s:s + 20000] = rng.integers(0, 256, size=(min(20000, n - s), 64, 64, 3), dtype=np.uint8)
        images.flush()
        del images
        import zipfile

        with zipfile.ZipFile(d / "mpi3d_toy.npz", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            z.write(d / "images.npy", "images.npy")
        (d / "images.npy").unlink()
    if not (d / "norb").is_dir():
        pl.write_smallnorb(d / "norb", categories=5, instances=5, elevations=9, azimuths=18, lightings=6)
    if not (d / "cars").is_dir():
        pl.write_cars3d(d / "cars", cars=60)
    if not (d / "chairs").is_dir():
        pl.write_chairs(d / "chairs", chairs=40, elevations=(20, 30), azimuths=tuple(range(0, 360, 12)), size=600)
    if not (d / "folder").is_dir():
        from PIL import Image

        (d / "folder").mkdir()
        lines = ["file,azimuth,identity"]
        for i in range(400):
            for a in range(10):
                name = f"{i}_{a}.png"
                Image.fromarray(rng.integers(0, 256, size=(128, 128, 3), dtype=np.uint8)).save(d / "folder" / name)
                lines.append(f"{name},{a * 10},{i}")
        (d / "folder" / "factors.csv").write_text("\n".join(lines) + "\n")
    if not (d / "t7").is_dir():
        pl.write_dcign_t7(d / "t7", train=50, test=5)


def measure(spec: str, batches: int, cache: str) -> dict:
    import os
    import resource
    import tracemalloc

    os.environ["DCIGN_CACHE_DIR"] = cache
    from dcign.data.sources import open_dataset

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t0 = time.perf_counter()
    data = open_dataset(spec, **({"factor_sizes": MPI3D_SIZES} if spec.startswith("mpi3d:") else {}))
    rng = np.random.default_rng(0)
    t_open = time.perf_counter() - t0
    t0 = time.perf_counter()
    factors = list(data.factor_names)
    for b in range(batches):
        idx = data.one_factor_batch(rng, factors[b % len(factors)], 20)
        x = data.images(idx, size=64)
    t_batches = (time.perf_counter() - t0) / batches
    _, heap = tracemalloc.get_traced_memory()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"open_s": t_open, "batch_ms": 1000 * t_batches, "rss_peak_mb": (peak - base) / 1024,
            "heap_peak_mb": heap / 2**20, "images": len(data), "shape": list(x.shape)}


def size_of(p: Path) -> float:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scratch", type=Path, required=True)
    ap.add_argument("--batches", type=int, default=50)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.batches, str(args.scratch / "cache"))))
        return
    write_all(args.scratch)
    print(f"{'loader':16s} {'file MB':>9s} {'open s':>7s} {'ms/batch':>9s} {'RSS peak MB':>12s} {'heap peak MB':>13s}")
    for name, tmpl in CASES.items():
        if args.only and name not in args.only:
            continue
        spec = tmpl.format(d=args.scratch)
        path = Path(spec.split(":", 1)[1])
        out = subprocess.run([sys.executable, __file__, "--scratch", str(args.scratch), "--batches", str(args.batches),
                              "--child", spec], capture_output=True, text=True)
        if out.returncode:
            print(f"{name:16s} failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:16s} {size_of(path) / 1e6:9.0f} {r['open_s']:7.2f} {r['batch_ms']:9.1f} {r['rss_peak_mb']:12.0f} {r['heap_peak_mb']:13.1f}")


if __name__ == "__main__":
    main()
