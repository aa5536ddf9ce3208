"""The Python part of benchmarks/gpu_check.sh: one summary table of the GPU path's numbers.

Measures, on the first CUDA device (or, with --dry-run, on the CPU with small sizes, to
check the code path):

1. matrix-multiply peak TFLOP/s (fp32 and bf16), measured here, as the reference;
2. training images/s of ``--preset`` (paper-150) at fp32 and bf16-mixed, DC-IGN step
   (clamp + invariance targeting) against a plain VAE step on the same network, steps
   alternating so both see the same conditions; achieved TFLOP/s of the DC-IGN step;
3. bf16 DC-IGN step with channels_last and with torch.compile (does each help?);
4. render throughput at the preset's image size through the stream's DataLoader with the
   workers ``dcign train`` would use, on the EGL device the renderer picks; its ratio to
   the bf16 training demand;
5. a 1-device DDP sanity run of ``dcign.training.train`` (strategy 'ddp', a few steps).

Targets (issue 14): >= 3,000 training images/s for paper-150 with bf16 on one H200-class
GPU; DC-IGN step <= 1.05x the VAE step; rendering >= 10x the training demand.

Usage: python benchmarks/gpu_check.py [--dry-run] [--budget-s 270] [--groups 16]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dcign.config import TrainConfig  # noqa: E402
from dcign.gpu import FastPath, apply_fast_path, suggest_workers  # noqa: E402
from dcign.training import DisentanglingVAE  # noqa: E402

TARGET_IMAGES_PER_S = 3000.0
TARGET_STEP_RATIO = 1.05
TARGET_RENDER_RATIO = 10.0


class Clock:
    """Wall-clock timing that waits for the device."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def time(self, fn) -> float:
        self.sync()
        t = time.perf_counter()
        fn()
        self.sync()
        return time.perf_counter() - t


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def matmul_peak(clock: Clock, dtype: torch.dtype, n: int, repeats: int) -> float:
    """Median TFLOP/s of an n x n x n matrix product in ``dtype`` (TF32 off for float32)."""
    a = torch.randn(n, n, device=clock.device, dtype=dtype)
    b = torch.randn(n, n, device=clock.device, dtype=dtype)
    for _ in range(2):
        a @ b
    times = [clock.time(lambda: a @ b) for _ in range(repeats)]
    return 2 * n**3 / median(times) / 1e12


def make_setup(preset: str, method: str, groups: int, device: torch.device, fast: FastPath, batch_size: int = 20):
    cfg = TrainConfig.from_dict(dict(preset=preset, method=method, groups_per_step=groups, batch_size=batch_size))
    torch.manual_seed(0)
    module = DisentanglingVAE(cfg).to(device)
    apply_fast_path(module.net, fast)
    n = groups * cfg.data.batch_size
    batch = {"images": torch.rand(n, 1, cfg.image_size, cfg.image_size, device=device),
             "varied": (torch.arange(groups) % 4).to(device)}
    return module, module.optimiser(), batch


def train_step(module, opt, batch, autocast) -> None:
    with autocast():
        loss = module.losses(batch)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def step_flops(module, batch, autocast) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        with autocast():
            loss = module.losses(batch)["loss"]
        loss.backward()
    module.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def interleaved(clock: Clock, setups: dict, autocast, warmup: int, repeats: int) -> dict[str, float]:
    """Median seconds per step of each setup, steps alternating between the setups."""
    times = {k: [] for k in setups}
    for i in range(warmup + repeats):
        for k, (module, opt, batch) in setups.items():
            t = clock.time(lambda: train_step(module, opt, batch, autocast))
            if i >= warmup:
                times[k].append(t)
    return {k: median(v) for k, v in times.items()}


def autocast_for(device: torch.device, precision: str):
    if precision == "bf16-mixed":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def render_rate(size: int, workers: int, seconds: float, groups: int) -> tuple[float, str]:
    """Images/s of the training stream (faces, one-factor groups of 20) and the GL renderer used."""
    from dcign.data import EngineConfig, RenderedSteps, make_loader
    from dcign.render.renderer import Renderer

    probe = Renderer(size)
    renderer = probe.ctx.info.get("GL_RENDERER", "?")
    probe.release()
    ds = RenderedSteps(EngineConfig("faces", size), batch_size=20, groups_per_step=groups, seed=0)
    it = iter(make_loader(ds, workers))
    for _ in range(max(2, 2 * workers)):  # start the workers, warm their mesh caches a little
        next(it)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += next(it)["images"].shape[0]
    rate = n / (time.perf_counter() - t0)
    del it
    return rate, renderer


def ddp_sanity(accelerator: str, precision: str, steps: int, workers: int, batch_size: int = 20,
               groups: int = 4) -> tuple[bool, str]:
    """Train small-64 for ``steps`` under strategy 'ddp' on 1 device; (ok, detail)."""
    from dcign.checkpoints import load_checkpoint_file
    from dcign.training import train

    cfg = TrainConfig.from_dict(dict(preset="small-64", steps=steps, batch_size=batch_size, groups_per_step=groups,
                                     num_workers=workers, checkpoint_every=max(1, steps), eval_every=10**6,
                                     num_train_identities=50, num_test_identities=10))
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        module = train(cfg, Path(tmp) / "run", accelerator=accelerator, devices=1, strategy="ddp",
                       precision=precision, progress=False)
        wall = time.perf_counter() - t
        ckpt = load_checkpoint_file(Path(tmp) / "run" / "checkpoints" / "last.ckpt")
        finite = all(torch.isfinite(p).all() for p in module.parameters())
        ok = ckpt["global_step"] == steps and finite
        return ok, f"{steps} steps in {wall:.1f} s, last.ckpt at step {ckpt['global_step']}, weights finite: {finite}"


def flops_text(tflops: float) -> str:
    return f"{tflops:.1f} TFLOP/s" if tflops >= 1 else f"{tflops * 1000:.1f} GFLOP/s"


def verdict(value, target, higher_is_better=True) -> str:
    if value is None:
        return "not measured"
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "MISSED"


def run(args) -> list[tuple[str, str, str]]:
    """Rows (quantity, value, target / verdict) of the summary table."""
    dry = args.dry_run
    device = torch.device("cpu" if dry else "cuda")
    clock = Clock(device)
    deadline = time.perf_counter() + args.budget_s
    rows: list[tuple[str, str, str]] = []
    preset = args.preset or ("small-64" if dry else "paper-150")
    groups = args.groups or (1 if dry else 16)
    warmup, repeats = (1, 2) if dry else (5, 20)
    group_size = 4 if dry else 20  # images per one-factor group (paper: 20)

    def section(name, fn):
        if time.perf_counter() > deadline:
            rows.append((name, "skipped", "time budget spent"))
            return
        try:
            fn()
        except Exception as exc:  # one failing section must not hide the others' numbers
            traceback.print_exc()
            rows.append((name, "failed", f"{type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}"))

    peaks = {}

    def peaks_section():
        n, reps = (256, 3) if dry else (8192, 10)
        torch.backends.cuda.matmul.allow_tf32 = False
        peaks["fp32"] = matmul_peak(clock, torch.float32, n, reps)
        rows.append(("matmul peak fp32 (TF32 off)", flops_text(peaks["fp32"]), "reference"))
        peaks["bf16"] = matmul_peak(clock, torch.bfloat16, n, reps)
        rows.append(("matmul peak bf16", flops_text(peaks["bf16"]), "reference"))

    section("matmul peak", peaks_section)
    measured = {}

    def training_section(precision):
        def go():
            autocast = autocast_for(device, precision)
            setups = {m: make_setup(preset, m, groups, device, FastPath(), group_size) for m in ("dcign", "baseline")}
            med = interleaved(clock, setups, autocast, warmup, repeats)
            module, _, batch = setups["dcign"]
            n = batch["images"].shape[0]
            flops = step_flops(module, batch, autocast)
            rate, ratio = n / med["dcign"], med["dcign"] / med["baseline"]
            tflops = flops / med["dcign"] / 1e12
            peak = peaks.get("bf16" if precision == "bf16-mixed" else "fp32")
            measured[precision] = (rate, ratio, med["dcign"])
            target = verdict(None if dry else rate, TARGET_IMAGES_PER_S) if precision == "bf16-mixed" else "-"
            rows.append((f"train {preset} {precision} DC-IGN ({n} img/step)", f"{rate:,.0f} img/s",
                         f">= {TARGET_IMAGES_PER_S:,.0f}: {target}" if precision == "bf16-mixed" else "-"))
            rows.append((f"train {preset} {precision} plain VAE", f"{n / med['baseline']:,.0f} img/s", "-"))
            rows.append((f"DC-IGN / VAE step time, {precision}", f"{ratio:.3f}",
                         f"<= {TARGET_STEP_RATIO}: {verdict(None if dry else ratio, TARGET_STEP_RATIO, False)}"))
            share = f" = {100 * tflops / peak:.1f}% of {precision[:4]} peak" if peak else ""
            rows.append((f"achieved, DC-IGN {precision}", f"{flops_text(tflops)}{share}", "-"))
        return go

    section("train fp32", training_section("32-true"))
    section("train bf16-mixed", training_section("bf16-mixed"))

    def fast_section(name, fast):
        def go():
            autocast = autocast_for(device, "bf16-mixed")
            setups = {"plain": make_setup(preset, "dcign", groups, device, FastPath(), group_size),
                      name: make_setup(preset, "dcign", groups, device, fast, group_size)}
            t = time.perf_counter()
            train_step(*setups[name], autocast)  # compile happens here
            first = time.perf_counter() - t
            med = interleaved(clock, setups, autocast, warmup, repeats)
            gain = med["plain"] / med[name]
            rows.append((f"bf16 DC-IGN with {name}", f"{gain:.3f}x the plain step's speed",
                         f"helps: {'yes' if gain > 1.03 else 'no'} (first step {first:.0f} s)"))
        return go

    section("channels_last", fast_section("channels_last", FastPath(channels_last=True)))
    if dry:
        rows.append(("bf16 DC-IGN with torch.compile", "skipped", "dry run: compiling takes minutes on a small CPU"))
    else:
        section("torch.compile", fast_section("torch.compile", FastPath(compile=True)))

    def render_section():
        size = 64 if dry else 150
        workers = 1 if dry else suggest_workers(1)
        rate, renderer = render_rate(size, workers, 1.0 if dry else 20.0, 1 if dry else 16)
        rows.append((f"render faces {size} px, {workers} workers", f"{rate:,.0f} img/s", f"on {renderer[:40]}"))
        demand = measured.get("bf16-mixed", (None,))[0]
        if demand:
            ratio = rate / demand
            rows.append(("render / bf16 training demand", f"{ratio:.2f}x",
                         f">= {TARGET_RENDER_RATIO:.0f}x: {verdict(None if dry else ratio, TARGET_RENDER_RATIO)}"))

    section("render", render_section)

    def ddp_section():
        ok, detail = ddp_sanity("cpu" if dry else "gpu", "32-true" if dry else "bf16-mixed",
                                2 if dry else 30, 0 if dry else 2, group_size, 1 if dry else 4)
        rows.append(("1-device DDP run (train, strategy ddp)", "ok" if ok else "FAILED", detail))

    section("ddp", ddp_section)
    return rows


def table(rows, title: str) -> str:
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [title, "-" * (w0 + w1 + 40)]
    lines += [f"{a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="CPU, small sizes: checks the code path, measures nothing")
    ap.add_argument("--budget-s", type=float, default=270.0, help="skip the remaining sections after this many seconds")
    ap.add_argument("--preset", default=None, help="network preset (default paper-150; dry run small-64)")
    ap.add_argument("--groups", type=int, default=None, help="one-factor groups of 20 per step (default 16; dry run 1)")
    args = ap.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        print("no CUDA GPU visible to torch; run with --dry-run (or through benchmarks/gpu_check.sh)")
        return 2
    where = "CPU DRY RUN (code path only, numbers are not GPU results)" if args.dry_run else torch.cuda.get_device_name(0)
    t0 = time.perf_counter()
    rows = run(args)
    print()
    print(table(rows, f"dcign GPU check: {where}; torch {torch.__version__}; {time.perf_counter() - t0:.0f} s"))
    return 0 if all(r[1] not in ("failed", "FAILED") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
