"""Server-side time of one ``dcign app`` slider move at 64 px (target: under 200 ms).

Times :meth:`dcign.app.Renderer.rerender`, the work behind every slider event: set the angle
latents from the degrees -> latent tables, add the principal-component offset, decode, write the
PNGs, and for an engine image render the true image at the chosen angles and its error.  The
input is a test-identity gallery image; each request moves one slider to a new random value.

    PYTHONPATH=src python benchmarks/app_latency.py RUN_DIR [--requests 200]
    PYTHONPATH=src python benchmarks/app_latency.py          # trains a 4-step 64-px run first

Figures depend on the machine's load: on a shared machine quote them with that caveat.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def tiny_run(out: Path) -> Path:
    from dcign.config import TrainConfig
    from dcign.training import train_and_export

    cfg = TrainConfig.from_dict(dict(steps=4, batch_size=4, groups_per_step=2, num_workers=0, num_train_identities=50,
                                     num_test_identities=20))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_and_export(cfg, out, log=lambda *_: None, progress=False)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path, help="an exported 64-px run (default: train a tiny one)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the app's, dcign.app.TORCH_THREADS)")
    args = parser.parse_args()

    import torch

    from dcign.app import TORCH_THREADS

    torch.set_num_threads(args.threads or TORCH_THREADS)

    from dcign.app import Renderer, Session

    run_dir = args.run_dir or tiny_run(Path(tempfile.mkdtemp(prefix="app-latency-")) / "run")
    renderer = Renderer()
    run = renderer.run(run_dir)
    session = Session(run=run)
    png, factors = run.gallery[0]
    renderer.select(session, png, factors)
    rng = np.random.default_rng(args.seed)
    degrees = {f: float(factors[f][0]) for f in run.angle_maps}
    pcs = [0.0] * len(run.components)
    for _ in range(5):  # warm-up
        renderer.rerender(session, degrees, pcs)
    times = []
    for i in range(args.requests):
        slider = i % (len(degrees) + len(pcs))
        if slider < len(degrees):
            f = list(degrees)[slider]
            lo, hi = run.angle_range(f)
            degrees[f] = float(np.round(rng.uniform(lo, hi)))
        else:
            pcs[slider - len(degrees)] = float(np.round(rng.uniform(-3, 3), 1))
        t0 = time.perf_counter()
        renderer.rerender(session, degrees, pcs)
        times.append(time.perf_counter() - t0)
    ms = 1000 * np.asarray(times)
    print(f"run {run_dir} ({run.cfg.image_size} px, preset {run.cfg.model.preset}, latent_dim {run.cfg.model.latent_dim}); "
          f"torch threads {torch.get_num_threads()}")
    print(f"slider request, server side, {args.requests} requests: median {np.median(ms):.1f} ms, "
          f"p95 {np.percentile(ms, 95):.1f} ms, max {ms.max():.1f} ms (target < 200 ms)")


if __name__ == "__main__":
    main()
