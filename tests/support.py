"""Helpers shared by the test modules: a tiny training config, checkpoint comparisons, an
exported random model, and the CLI's bad-input contract (one ``error:`` line, exit code 2).

Everything trains a tiny network (latent_dim 8, 4 images a step, 16 steps) on one CPU
thread, so a whole run takes seconds on 2 cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import torch
from typer.testing import CliRunner

from dcign.cli import app
from dcign.config import TrainConfig
from dcign.export import export_model
from dcign.model import DCIGN, get_preset
from dcign.checkpoints import load_checkpoint_file
from dcign.training import train

STEPS = 16
#: A constant rate: the resume tests stop a run at N/2 steps (standing in for a kill) and resume it to
#: N, which under the cosine default would have decayed over N/2 first (test_training covers cosine).
TINY = dict(steps=STEPS, batch_size=4, groups_per_step=1, latent_dim=8, num_workers=0, checkpoint_every=2,
            eval_every=1000, num_train_identities=5, num_test_identities=8, lr_schedule="constant")
#: Environment of training subprocesses: one thread, the same arithmetic as the tests' process.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
#: A degrees -> latent table per angle factor: latent k = degrees / 90 for factor k.
ANGLE_MAPS = {f: {"latent_index": i, "degrees": [-90.0, 0.0, 90.0], "latent": [-1.0, 0.0, 1.0], "monotone": True}
              for i, f in enumerate(("azimuth", "elevation", "light_azimuth"))}

DDS_FUZZ_CASE = (  # found by fuzzing: Pillow raised NotImplementedError, which escaped load_image
    b"DDS |\x00\x00\x00\x0f\x10\x00\x00\x06\x00\x00\x00\x06\x00\x00\x00\x06" + b"\x00" * 41 + b"\xb2" + b"\x00" * 15
    + b" \x00\x00\x00\x00\x00\xa4\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\xff\xd1\x00\x00\xff\x00\x00"
    b"\x00\xff\x00\x00\x00\x00\x00\x10" + b"\x00" * 18 + b"\xd6\xc8Zx\x99\xc4g\xbd\x94\xb9\xe3\xa2dO\xaeMf<\xb2\x8f"
    b"VT\x9f\x86:'u\x81K\xab\xb5\xbcxiR\xd1"
)


def tiny(**overrides) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, **overrides})


def run_train(run_dir, resume=False, **overrides):
    return train(tiny(**overrides), run_dir, resume=resume, progress=False)


def ckpt_state(path) -> dict:
    return load_checkpoint_file(path)


def assert_same_tensors(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"tensor {k} differs"


def assert_same_training_state(a: dict, b: dict):
    """Weights, optimiser state and RNG state of two checkpoints are bitwise equal."""
    assert a["global_step"] == b["global_step"]
    assert_same_tensors(a["state_dict"], b["state_dict"])
    sa, sb = a["optimizer_states"][0]["state"], b["optimizer_states"][0]["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        assert_same_tensors(sa[i], sb[i])
    assert torch.equal(a["torch_rng_state"], b["torch_rng_state"])


def all_finite(state_dict: dict) -> bool:
    return all(torch.isfinite(v).all() for v in state_dict.values() if v.is_floating_point())


def temp_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp")) if folder.is_dir() else []


def exported(run_dir: Path, net: DCIGN | None = None, angle_maps: dict | None = None, cfg=None) -> Path:
    """Export a (seeded, untrained) small-64 network with 8 latents and :data:`ANGLE_MAPS` (config: ``cfg`` or :func:`tiny`)."""
    if net is None:
        torch.manual_seed(0)
        net = DCIGN(get_preset("small-64", 8))
    export_model(net, cfg or tiny(), run_dir, ANGLE_MAPS if angle_maps is None else angle_maps)
    return run_dir


def invoke(args) -> str:
    """Run the CLI in-process on bad input: exit code 2, one ``error:`` line; returns that line."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, (args, result.exit_code, result.output[-1500:])
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]


def invoke_ok(args):
    """Run the CLI in-process on good input; returns the result (exit code 0 asserted)."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (args, result.exit_code, result.output[-3000:], result.exception)
    return result


def snapshot(folder: Path) -> dict:
    """Every path under ``folder`` with its modification time (to prove nothing was written)."""
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


def dcign(*args, check=True):
    """Run ``python -m dcign ARGS`` in a subprocess (the real entry point); returns the process."""
    proc = subprocess.run([sys.executable, "-m", "dcign", *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"dcign {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


# Crash safety: stop a real training process at a chosen moment (never after a wall-clock wait)

#: Runs ``dcign train`` and pauses it, forever, at the moment named by DCIGN_TEST_HOLD:
#:   renamed:GLOB  right after a file whose name matches GLOB is renamed into place;
#:   step:N        right after this process's N-th optimiser step;
#:   fsync         inside a checkpoint write (temp file written, not yet renamed).
#: On reaching it, it prints "@@HOLD@@ <what>" on a line of its own; the test then kills it.
HOLD_AND_TRAIN = r"""
import fnmatch, os, sys, threading
kind, _, arg = os.environ["DCIGN_TEST_HOLD"].partition(":")

def pause(what):
    sys.__stdout__.write(f"\n@@HOLD@@ {what}\n")
    sys.__stdout__.flush()
    threading.Event().wait()  # until SIGKILL

if kind == "renamed":
    _replace = os.replace
    def replace(src, dst, *a, **k):
        _replace(src, dst, *a, **k)
        if fnmatch.fnmatch(os.path.basename(os.fspath(dst)), arg):
            pause(os.fspath(dst))
    os.replace = replace
elif kind == "step":
    from torch.optim.optimizer import register_optimizer_step_post_hook
    done = [0]
    def after_step(optimizer, args, kwargs):
        done[0] += 1
        if done[0] == int(arg):
            pause(f"after step {done[0]} of this process")
    register_optimizer_step_post_hook(after_step)
elif kind == "fsync":
    _fsync = os.fsync
    def fsync(fd):
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if name.endswith(".tmp") and ".ckpt." in name:
            pause(name)
        _fsync(fd)
    os.fsync = fsync
sys.argv = ["dcign", *sys.argv[1:]]
from dcign.cli import main
main()
"""
GUARD_S = 300  # only a guard against a hung process; nothing waits for it to pass


def train_until(run: Path, hold: str, *args, log) -> str:
    """Start ``dcign train --out RUN ARGS``, wait until it reaches ``hold``, SIGKILL it."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_AND_TRAIN, "train", "--out", str(run), *map(str, args)],
                            env={**ENV, "DCIGN_TEST_HOLD": hold}, stdout=subprocess.PIPE, stderr=log, text=True)
    guard = threading.Timer(GUARD_S, proc.kill)
    guard.start()
    try:
        reached = next((line.strip() for line in proc.stdout if line.startswith("@@HOLD@@ ")), None)
    finally:
        guard.cancel()
        proc.kill()  # SIGKILL, this process only
        proc.wait(timeout=60)
        proc.stdout.close()
    assert reached, f"the run ended (exit code {proc.returncode}) before reaching {hold!r}; see stderr.txt"
    return reached
