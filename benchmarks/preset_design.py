"""Screen 64-px network designs for the CPU preset: fidelity per training step and step cost.

Every design keeps the paper's shape (conv + max-pool encoder, nearest-upsample + conv
decoder, 200-d code, Bernoulli likelihood, the clamp unchanged); they differ in where the
FLOPs go.  All designs train on the SAME rendered stream (the main job's: seed 0, 4 one-factor
groups of 20 per step, ratio 1:1:1:10), rendered once and cached under --cache, for the same
number of steps, with Adam at --lr.  Quality is measured on VALIDATION identities only (never
the test identities of the reports): reconstruction MSE per pixel (grey in [0, 1]) on 500
images, and Fig. 6 |Spearman r| of z1, z2, z3 against azimuth, elevation and light azimuth
over 20 identities x 19 angles, pooled and within identity (median over identities).

The step cost (forward + backward + Adam on a cached batch, rendering excluded) is the median
over every step of a design's training; it is measured on whatever load the machine has, so
compare designs by the quality columns at equal steps and read the cost column as
"seconds per step here, now".  ``--cost-only`` times the designs interleaved (A, B, C, A, B,
C, ...), which is fairer on a shared machine, and trains nothing.

``--seconds S`` compares designs at EQUAL TRAINING TIME instead of equal steps: the designs'
step costs are first timed interleaved (as ``--cost-only``), then each design trains for
``S / its step cost`` steps (its cosine schedule, if any, decays over those steps).  A design
(or setting, ``--variant``) that is better per step but slower per step can lose here.

Usage:
    python benchmarks/preset_design.py --steps 400 [--designs small-64,wide-64,...] [--json out.json]
    python benchmarks/preset_design.py --seconds 300 --designs small-64,dec-64 --variant lr=0.002
    python benchmarks/preset_design.py --cost-only [--repeats 15]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from dcign import model
from dcign.allocator import keep_freed_memory
from dcign.config import TrainConfig, lr_factor
from dcign.data import RenderedSteps
from dcign.data.engine import SceneEngine
from dcign.inference import correlations, decode, encode, factor_sweep
from dcign.factors import ANGLE_FACTORS
from dcign.images import save_png, tile
from dcign.model import Preset
from dcign.training import DisentanglingVAE

# Candidate designs (name -> Preset).  Presets already in dcign.model.PRESETS are used as they are.
CANDIDATES = {
    # the main job's CPU preset: 16/32/64 encoder, decoder 64 -> 32 -> 16 -> 1 (16 channels at 32 px)
    "small-64": None,
    # twice the channels everywhere
    "wide-64": None,  # in PRESETS: Preset("wide-64", 64, (32, 64, 128), 3, 1, (128, 8, 8), (64, 32, 1), 3, 1)
    # today's encoder, a decoder with 4x the channels at 16 and 32 px
    "dec-64": Preset("dec-64", 64, (16, 32, 64), 3, 1, (128, 8, 8), (64, 32, 1), 3, 1),
    # four pools to 4x4 (channels grow as resolution falls), decoder 256@4 -> 128 -> 64 -> 32 -> 1
    "deep-64": Preset("deep-64", 64, (32, 64, 128, 256), 3, 1, (256, 4, 4), (128, 64, 32, 1), 3, 1),
    # today's widths with the paper's 5x5 encoder kernels and 5x5 decoder kernels
    "k5-64": Preset("k5-64", 64, (16, 32, 64), 5, 2, (64, 8, 8), (32, 16, 1), 5, 2),
    # wide-64 with 5x5 kernels
    "widek5-64": Preset("widek5-64", 64, (32, 64, 128), 5, 2, (128, 8, 8), (64, 32, 1), 5, 2),
}


def register(names: list[str]) -> None:
    for n in names:
        if n not in CANDIDATES:
            raise ValueError(f"unknown design {n!r}; choose from {', '.join(CANDIDATES)}")
        if CANDIDATES[n] is not None and n not in model.PRESETS:
            model.PRESETS[n] = CANDIDATES[n]


def faces_version() -> str:
    """Hash of the face model's source, so a cache never outlives a change of the faces."""
    import dcign.render.faces as faces

    return hashlib.sha1(Path(faces.__file__).read_bytes()).hexdigest()[:10]


def cached_stream(cfg: TrainConfig, steps: int, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """(steps, N, 1, S, S) uint8 images and (steps, G) varied indices of the training stream."""
    stem = f"stream_{cfg.data.dataset}_{faces_version()}_s{cfg.run.seed}_g{cfg.data.groups_per_step}_"
    path = cache / f"{stem}{steps}.npz"
    longer = sorted((int(q.stem[len(stem):]), q) for q in cache.glob(f"{stem}*.npz") if q.stem[len(stem):].isdigit())
    for n, q in longer:  # the stream is a pure function of (seed, step): a longer one starts with this one
        if n >= steps:
            d = np.load(q)
            return d["images"][:steps], d["varied"][:steps]
    t = time.perf_counter()
    engine = cfg.engine_config()
    data = RenderedSteps(engine, cfg.data.batch_size, cfg.data.groups_per_step, cfg.data.batch_weights, "one_factor", seed=cfg.run.seed)
    images, varied = [], []
    for i, item in zip(range(steps), data):
        images.append(np.round(item["images"].numpy() * 255).astype(np.uint8))
        varied.append(item["varied"].numpy())
    n = steps * images[0].shape[0]
    print(f"rendered {n} training images in {time.perf_counter() - t:.0f} s ({n / (time.perf_counter() - t):.0f} img/s, in-process)", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, images=np.stack(images), varied=np.stack(varied))
    tmp.rename(path)
    return np.stack(images), np.stack(varied)


def validation_set(cfg: TrainConfig, n_identities: int = 20, n_values: int = 19, n_mse: int = 500) -> dict:
    """Rendered validation images: random scenes for MSE and one sweep per angle factor."""
    engine = SceneEngine(cfg.engine_config())
    ids = engine.space.identities("validation")[:n_identities]
    out = {"mse_images": engine.render(engine.space.sample(np.random.default_rng(4), n_mse, "validation"))}
    for f in ANGLE_FACTORS:
        fs = factor_sweep(engine, f, ids, n_values, seed=1)
        out[f] = (engine.render(fs), fs[f], n_values)
    return out


def quality(net, cfg: TrainConfig, val: dict) -> dict:
    net.eval()
    x = val["mse_images"]
    mse = float(np.mean((decode(net, encode(net.encode, x)) - x) ** 2))
    row = {"val_mse": mse}
    for f in ANGLE_FACTORS:
        images, truth, n_values = val[f]
        z = encode(net.encode, images)[:, cfg.method.latent_layout[f][0]]
        row[f] = abs(correlations(z, truth)["spearman"])
        within = [abs(correlations(z[i:i + n_values], truth[i:i + n_values])["spearman"]) for i in range(0, len(z), n_values)]
        row[f + "_within"] = float(np.median(within))
    net.train()
    return row


def make_module(name: str, lr: float, seed: int = 0, **settings) -> DisentanglingVAE:
    cfg = TrainConfig.from_dict(dict(preset=name, lr=lr, seed=seed, **settings))
    torch.manual_seed(seed)
    return DisentanglingVAE(cfg)


def batch_of(images: np.ndarray, varied: np.ndarray, i: int) -> dict:
    return {"images": torch.from_numpy(images[i]).float().div_(255.0), "varied": torch.from_numpy(varied[i])}


def step(module, opt, batch, i: int = 0) -> float:
    for group in opt.param_groups:
        group["lr"] = module.cfg.run.lr * lr_factor(module.cfg.run, i)
    t = time.perf_counter()
    loss = module.losses(batch)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - t


def forward_gflops_per_image(module: DisentanglingVAE) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    s = module.cfg.image_size
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        mu, _ = module.net.encode(torch.rand(1, 1, s, s))
        module.net.decoder(mu)
    return counter.get_total_flops() / 1e9


def step_costs(mods: dict[str, DisentanglingVAE], repeats: int, images, varied) -> dict[str, float]:
    """Median seconds per training step of each design's module, timed interleaved (A, B, C, A, ...)."""
    opts = {n: m.optimiser() for n, m in mods.items()}
    times = {n: [] for n in mods}
    for r in range(repeats + 2):
        for n, m in mods.items():
            t = step(m, opts[n], batch_of(images, varied, r % len(images)))
            if r >= 2:
                times[n].append(t)
    return {n: float(np.median(t)) for n, t in times.items()}


def cost_only(names: list[str], lr: float, repeats: int, images, varied) -> None:
    mods = {n: make_module(n, lr) for n in names}
    costs = step_costs(mods, repeats, images, varied)
    base = costs[names[0]]
    print(f"{'design':10s} {'params':>9s} {'GFLOP/img':>9s} {'s/step':>7s} {'img/s':>6s} {'x ' + names[0]:>10s}")
    for n in names:
        t = costs[n]
        p = sum(q.numel() for q in mods[n].parameters())
        print(f"{n:10s} {p:9d} {forward_gflops_per_image(mods[n]):9.4f} {t:7.3f} {images.shape[1] / t:6.0f} {t / base:10.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--designs", default=",".join(CANDIDATES))
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/dcign_preset_design"))
    ap.add_argument("--json", type=Path, default=None, help="append one JSON line per design here")
    ap.add_argument("--cost-only", action="store_true")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--lr-schedule", default="constant", help="constant or cosine (as dcign train --lr-schedule)")
    ap.add_argument("--invariance-lambda", type=float, default=None, help="as dcign train (default: the config's)")
    ap.add_argument("--tag", default="", help="label printed with each row")
    ap.add_argument("--seconds", type=float, default=None,
                    help="train each design for this many seconds of step time (steps = seconds / its step cost) instead of --steps")
    ap.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE[;KEY=VALUE]",
                    help="also train every design with these TrainConfig settings (repeatable), e.g. lr=0.002 or beta=0.5")
    ap.add_argument("--variants-only", action="store_true", help="train only the --variant runs, not each design as it is")
    ap.add_argument("--pictures", type=Path, default=None,
                    help="write each run's reconstructions of 16 validation images here (input / reconstruction pairs)")
    args = ap.parse_args()
    settings = {"lr_schedule": args.lr_schedule}
    if args.invariance_lambda is not None:
        settings["invariance_lambda"] = args.invariance_lambda
    keep_freed_memory()  # as dcign train does
    names = args.designs.split(",")
    try:
        register(names)
        runs = ([] if args.variants_only else [(n, "", {}) for n in names]) + [(n, v, parse_variant(v)) for v in args.variant for n in names]
        check_args(args, runs, settings)
    except ValueError as exc:
        ap.error(str(exc))
    cfg = TrainConfig.from_dict(dict(lr=args.lr))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; faces {faces_version()}; "
          f"{cfg.data.groups_per_step} groups x {cfg.data.batch_size} images per step, lr {args.lr}", flush=True)
    if args.cost_only:
        images, varied = cached_stream(cfg, max(args.repeats + 2, 20), args.cache)
        cost_only(names, args.lr, args.repeats, images, varied)
        return
    if args.seconds is None:
        steps_of = {(n, v): args.steps for n, v, _ in runs}
    else:
        probe_images, probe_varied = cached_stream(cfg, max(args.repeats + 2, 20), args.cache)
        costs = step_costs({n: make_module(n, args.lr) for n in names}, args.repeats, probe_images, probe_varied)
        print("step cost (s, interleaved): " + ", ".join(f"{n} {c:.3f}" for n, c in costs.items()), flush=True)
        steps_of = {(n, v): max(1, int(args.seconds / costs[n])) for n, v, _ in runs}
    images, varied = cached_stream(cfg, max(steps_of.values()), args.cache)
    val = validation_set(cfg)
    head = (f"{'design':24s} {'params':>9s} {'GFLOP/img':>9s} {'steps':>5s} {'s/step':>7s} {'train s':>7s} {'val MSE':>8s} "
            + " ".join(f"{f[:5]:>5s} {'(w)':>5s}" for f in ANGLE_FACTORS))
    print(head, flush=True)
    for n, variant, extra in runs:
        steps = steps_of[(n, variant)]
        run_settings = {**settings, "lr": args.lr, **extra}
        module = make_module(n, run_settings.pop("lr"), steps=steps, **run_settings)
        opt = module.optimiser()  # dcign train's optimiser; step() applies its schedule
        times = [step(module, opt, batch_of(images, varied, i), i) for i in range(steps)]
        q = quality(module.net, module.cfg, val)
        label = n + (f" {variant}" if variant else "") + args.tag
        row = {"design": n, "variant": variant, "preset": asdict(model.PRESETS[n]), "params": sum(p.numel() for p in module.parameters()),
               "gflop_per_image_forward": forward_gflops_per_image(module), "steps": steps, "lr": module.cfg.run.lr, "tag": args.tag,
               **settings, **extra, "budget_seconds": args.seconds, "train_seconds": float(np.sum(times)),
               "seconds_per_step_median": float(np.median(times)), "faces": faces_version(), **q}
        print(f"{label:24s} {row['params']:9d} {row['gflop_per_image_forward']:9.4f} {steps:5d} "
              f"{row['seconds_per_step_median']:7.3f} {row['train_seconds']:7.0f} {q['val_mse']:8.5f} "
              + " ".join(f"{q[f]:5.3f} {q[f + '_within']:5.3f}" for f in ANGLE_FACTORS), flush=True)
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps(row) + "\n")
        if args.pictures:
            save_reconstructions(module.net, val["mse_images"][:16], args.pictures / (label.replace(" ", "_").replace(";", "_") + ".png"))


def save_reconstructions(net, images: np.ndarray, path: Path) -> None:
    """(16, C, S, S) validation images -> a 4 x 8 grid of input / reconstruction pairs (decoded from mu)."""
    net.eval()
    recon = decode(net, encode(net.encode, images))
    net.train()
    save_png(path, tile(np.concatenate([np.stack([a, b]) for a, b in zip(images, recon)]), 4, 8))


FIXED_BY_THE_SCREEN = ("preset", "steps", "seed")
"""Config keys a --variant may not set: the design, --steps / --seconds and the seed define each run."""


def check_args(args, runs: list[tuple[str, str, dict]], settings: dict) -> None:
    """Refuse bad options before any work (ValueError naming the problem and the fix; main() exits 2 with it)."""
    if args.steps < 1 or args.repeats < 1:
        raise ValueError(f"--steps and --repeats must be positive integers, got {args.steps} and {args.repeats}")
    if args.seconds is not None and not 0 < args.seconds < float("inf"):
        raise ValueError(f"--seconds must be a positive, finite number of seconds, got {args.seconds}")
    for n, variant, extra in runs:
        fixed = sorted(set(extra) & set(FIXED_BY_THE_SCREEN))
        if fixed:
            raise ValueError(f"--variant {variant!r} sets {', '.join(fixed)}: use --designs, --steps or --seconds instead")
        try:
            TrainConfig.from_dict(dict(preset=n, **{**settings, "lr": args.lr, **extra}))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"--variant {variant!r}: {exc}" if variant else str(exc)) from None
    if args.pictures is not None:
        try:
            args.pictures.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"--pictures {args.pictures}: cannot make that folder ({exc.strerror}); give a folder path") from None


def parse_variant(text: str) -> dict:
    """'lr=0.002;beta=0.5' -> {'lr': 0.002, 'beta': 0.5} (numbers parsed, other values kept as text)."""
    out = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--variant {text!r}: write KEY=VALUE[;KEY=VALUE], e.g. lr=0.002")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value.strip()
    return out

if __name__ == "__main__":
    main()
