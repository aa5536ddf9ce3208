"""Training throughput per preset on this machine.

Prints, for each preset: training images/s (forward + backward + Adam step, synthetic input
so rendering is not counted), the ratio of a DC-IGN step (clamp + invariance targeting) to a
plain VAE step on the same network (target <= 1.05), and achieved GFLOP/s against a float32
matrix-multiply peak measured in the same run.

``--variants`` instead times what could slow a training step on 2 cores, for one preset:
the number of torch threads of the training process (1 or 2, the matmul peak measured at
the same count), ``channels_last`` memory format, ``torch.compile`` (inductor, CPU), and
each of these while a render worker (one spawn-started DataLoader process rendering faces,
as in ``dcign train``) runs beside it.  Variants are timed interleaved (A, B, C, A, ...) so
they share the background load of a shared machine; medians are printed.

Usage: python benchmarks/train_throughput.py [--repeats 21] [--presets small-64,reference-150,paper-150]
       python benchmarks/train_throughput.py --variants [--presets small-64] [--repeats 15] [--render-worker]
"""

from __future__ import annotations

import argparse
import time

import torch

from dcign.allocator import keep_freed_memory
from dcign.config import TrainConfig
from dcign.training import DisentanglingVAE


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / sorted(times)[len(times) // 2] / 1e9


def step_flops(module: DisentanglingVAE, batch: dict) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        module.losses(batch)["loss"].backward()
    return float(counter.get_total_flops())


def one_step(module, opt, batch) -> float:
    t = time.perf_counter()
    loss = module.losses(batch)["loss"]
    opt.zero_grad()
    loss.backward()
    opt.step()
    return time.perf_counter() - t


def interleaved_median_seconds(setups: dict, repeats: int) -> dict[str, float]:
    """Median step time of each (module, opt, batch), steps alternating between them.

    Alternating A, B, A, B ... exposes both to the same background load of a shared
    machine, so their ratio is fairer than timing one block after the other.
    """
    times = {name: [] for name in setups}
    for i in range(repeats + 2):
        for name, (module, opt, batch) in setups.items():
            t = one_step(module, opt, batch)
            if i >= 2:  # warm-up
                times[name].append(t)
    return {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}


def batch_for(cfg: TrainConfig) -> dict:
    g = cfg.data.groups_per_step
    n = g * cfg.data.batch_size
    return {"images": torch.rand(n, 1, cfg.image_size, cfg.image_size), "varied": torch.arange(g) % 4}


def variant_setup(preset: str, channels_last: bool, compiled: bool):
    cfg = TrainConfig.from_dict(dict(preset=preset))
    torch.manual_seed(0)
    module = DisentanglingVAE(cfg)
    batch = batch_for(cfg)
    # 'nchw' is the default layout; 'channels_last' is what --channels-last trains with.
    module.net.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    opt = module.optimiser()
    if compiled:
        module.losses = torch.compile(module.losses)
    return module, opt, batch


def render_worker_running(preset: str):
    """An iterator over a spawn-started render worker (as ``dcign train`` starts it), already busy."""
    from dcign.training import make_dataset
    from dcign.data import make_loader

    it = iter(make_loader(make_dataset(TrainConfig.from_dict(dict(preset=preset))), num_workers=1))
    next(it)
    return it


def variants(preset: str, repeats: int, with_render: bool) -> None:
    """Print median step time per thread count x {NCHW, channels_last, torch.compile of the NCHW step}."""
    names = [("nchw", False, False), ("channels_last", True, False), ("compile_nchw", False, True)]
    loader = render_worker_running(preset) if with_render else None
    flops = None
    for threads in (1, 2):
        torch.set_num_threads(threads)
        peak = matmul_peak_gflops()
        setups = {}
        for name, cl, comp in names:
            try:
                setups[name] = variant_setup(preset, cl, comp)
                one_step(*setups[name])  # compile happens here
            except Exception as exc:  # inductor needs a C++ compiler; report and go on
                print(f"  {name}: failed ({type(exc).__name__}: {str(exc).splitlines()[0][:100]})")
                setups.pop(name, None)
        if flops is None:
            module, _, batch = variant_setup(preset, False, False)
            flops = step_flops(module, batch)
        times = {n: [] for n in setups}
        for i in range(repeats + 2):
            for n, (module, opt, batch) in setups.items():
                if loader is not None:
                    next(loader)  # the worker keeps rendering (prefetch 4), as in training
                t = one_step(module, opt, batch)
                if i >= 2:
                    times[n].append(t)
        n_img = next(iter(setups.values()))[2]["images"].shape[0]
        for n, ts in times.items():
            t = sorted(ts)[len(ts) // 2]
            g = flops / t / 1e9
            print(f"{preset:10s} threads={threads} render_worker={'yes' if with_render else 'no ':3s} {n:14s} "
                  f"{t:6.3f} s/step {n_img / t:7.1f} img/s {g:6.1f} GFLOP/s = {100 * g / peak:5.1f}% of the "
                  f"{peak:.0f} GFLOP/s matmul peak at {threads} thread(s)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--presets", default="small-64,reference-150,paper-150")
    ap.add_argument("--variants", action="store_true", help="thread count x channels_last x torch.compile")
    ap.add_argument("--render-worker", action="store_true", help="with --variants: time beside a render worker")
    args = ap.parse_args()
    keep_freed_memory()  # as dcign train does (dcign.allocator)
    if args.variants:
        for preset in args.presets.split(","):
            variants(preset, args.repeats, args.render_worker)
        return
    peak = matmul_peak_gflops()
    print(f"float32 matmul peak: {peak:.1f} GFLOP/s ({torch.get_num_threads()} threads)")
    print(f"{'preset':14s} {'imgs/step':>9s} {'dcign img/s':>11s} {'vae img/s':>9s} {'ratio':>6s} {'GFLOP/s':>8s} {'% peak':>6s}")
    for preset in args.presets.split(","):
        groups = 4 if preset == "small-64" else 1
        setups = {}
        for method in ("dcign", "baseline"):
            cfg = TrainConfig.from_dict({"preset": preset, "method": method, "groups_per_step": groups})
            torch.manual_seed(0)
            module = DisentanglingVAE(cfg)
            setups[method] = (module, module.optimiser(), batch_for(cfg))
        median = interleaved_median_seconds(setups, args.repeats)
        module, _, batch = setups["dcign"]
        rows = {m: (median[m], step_flops(module, batch), batch["images"].shape[0]) for m in setups}
        (t_d, flops, n), (t_v, _, _) = rows["dcign"], rows["baseline"]
        gflops = flops / t_d / 1e9
        print(f"{preset:14s} {n:9d} {n / t_d:11.1f} {n / t_v:9.1f} {t_d / t_v:6.3f} {gflops:8.1f} {100 * gflops / peak:6.1f}", flush=True)


if __name__ == "__main__":
    main()
