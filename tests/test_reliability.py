"""Reliability: crash-safe training, bitwise reproducibility, safe model files, numerical
faults, and clear errors for bad input -- plus fuzzing of the image and config loaders.

Everything trains a tiny network (latent_dim 8, 4 images a step, 16 steps) on one CPU
thread, so the whole file stays well under a few minutes on 2 cores.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from dcign.cli import app
from dcign.config import TrainConfig
from dcign.images import load_image
from dcign.export import export_model, load_model, read_model_json
from dcign.atomic import atomic_write_bytes
from dcign.model import DCIGN, get_preset
from dcign.checkpoints import AtomicCheckpointIO, load_checkpoint_file
from dcign.training import DisentanglingVAE, NonFiniteLossError, train

STEPS = 16
TINY = dict(steps=STEPS, batch_size=4, groups_per_step=1, latent_dim=8, num_workers=0, checkpoint_every=2,
            eval_every=1000, num_train_identities=5, num_test_identities=8)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread here and in the subprocesses (ENV): same arithmetic everywhere."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def tiny(**overrides) -> TrainConfig:
    return TrainConfig(**{**TINY, **overrides})


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


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted tiny run of STEPS steps; its last checkpoint."""
    run = tmp_path_factory.mktemp("ref") / "run"
    run_train(run)
    return ckpt_state(run / "checkpoints" / "last.ckpt")


# --------------------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------------------


def test_same_config_and_seed_give_bitwise_identical_weights(tmp_path, reference):
    module = run_train(tmp_path / "again")
    assert_same_training_state(ckpt_state(tmp_path / "again" / "checkpoints" / "last.ckpt"), reference)
    assert_same_tensors(module.state_dict(), reference["state_dict"])
    run_train(tmp_path / "seed1", seed=1)  # the comparison is not vacuous: another seed differs
    other = ckpt_state(tmp_path / "seed1" / "checkpoints" / "last.ckpt")["state_dict"]
    assert not torch.equal(other["net.encoder.mu.weight"], reference["state_dict"]["net.encoder.mu.weight"])


def test_resume_gives_the_same_result_as_not_stopping(tmp_path, reference):
    """N/2 steps, a simulated kill mid-write (temp files left), resume to N: bitwise equal.

    (This failed before the fix: Lightning builds the DataLoader iterator after restoring the
    checkpoint, which draws from the global torch RNG and shifted the sampling noise.)
    """
    run = tmp_path / "run"
    run_train(run, steps=STEPS // 2)
    run_train(run, resume=True, steps=STEPS // 2)  # resuming a finished run changes nothing
    ckpts = run / "checkpoints"
    (ckpts / ".last.ckpt.k1ll3d.tmp").write_bytes((ckpts / "last.ckpt").read_bytes()[:1000])
    (run / ".config.json.x9.tmp").write_text('{"half": ')
    run_train(run, resume=True)
    assert temp_files(ckpts) == [] and temp_files(run) == []  # resume cleans what a kill left
    assert_same_training_state(ckpt_state(ckpts / "last.ckpt"), reference)


def test_resume_before_first_checkpoint_restarts_from_step_zero(tmp_path, reference):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(tiny().with_data_version().to_json())  # killed before its first checkpoint
    run_train(run, resume=True)
    assert_same_training_state(ckpt_state(run / "checkpoints" / "last.ckpt"), reference)


def test_resume_prefers_the_newest_checkpoint(tmp_path, reference):
    """Killed between writing stepN.ckpt and last.ckpt: resume from step N, same result."""
    run = tmp_path / "run"
    run_train(run, steps=6)
    ckpts = run / "checkpoints"
    newest = ckpts / "step0000006.ckpt"
    assert newest.is_file()
    run_train(tmp_path / "older", steps=4)
    (ckpts / "last.ckpt").write_bytes((tmp_path / "older" / "checkpoints" / "last.ckpt").read_bytes())
    run_train(run, resume=True)
    assert_same_training_state(ckpt_state(ckpts / "last.ckpt"), reference)


def test_resume_refuses_a_different_config(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(tiny().to_json())
    with pytest.raises(ValueError, match="lr"):
        run_train(run, resume=True, lr=0.1)
    with pytest.raises(ValueError, match="config.json"):
        run_train(tmp_path / "nothing", resume=True)


# --------------------------------------------------------------------------------------
# Crash safety: a real training process killed with SIGKILL, several times
# --------------------------------------------------------------------------------------

SLOW_FSYNC = """
import os, sys, time
_fsync = os.fsync
def slow_fsync(fd):  # widen the window in which a checkpoint is half-written
    time.sleep(0.3)
    _fsync(fd)
os.fsync = slow_fsync
sys.argv = ["dcign", *sys.argv[1:]]
from dcign.cli import main
main()
"""


def start(run: Path, *args, slow_fsync=False, log=None):
    cmd = [sys.executable, "-c", SLOW_FSYNC] if slow_fsync else [sys.executable, "-m", "dcign"]
    return subprocess.Popen([*cmd, "train", "--out", str(run), *map(str, args)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=log or subprocess.DEVNULL)


def wait_for(proc, predicate, timeout=120.0, poll=0.005):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(poll)
    raise AssertionError("timed out waiting for the training process")


def kill(proc):
    proc.kill()  # SIGKILL, this process only
    proc.wait(timeout=30)


def newest_step(run: Path, load=True) -> int:
    """Newest checkpoint step (load=False: from the file names, safe while training runs)."""
    ckpts = run / "checkpoints"
    if not load:
        return max((int(p.stem[4:]) for p in ckpts.glob("step*.ckpt")), default=0)
    return max((int(ckpt_state(p)["global_step"]) for p in ckpts.glob("*.ckpt")), default=0)


def check_run_dir(run: Path) -> int:
    """After a kill: every file but ``.*.tmp`` is whole. Returns the newest checkpoint step."""
    TrainConfig.load(run / "config.json")
    ckpts = run / "checkpoints"
    for p in ckpts.iterdir() if ckpts.is_dir() else []:
        if p.name.endswith(".tmp"):
            assert p.name.startswith("."), p
            continue
        state = load_checkpoint_file(p)  # raises on a partial file
        assert all_finite(state["state_dict"]), p
    for name in ("model.safetensors", "model.json"):
        assert not (run / name).exists(), "a killed run must not have exported a model"
    return newest_step(run)


@pytest.mark.slow
def test_sigkill_at_any_moment_then_resume_completes_with_identical_weights(tmp_path, reference):
    run, log = tmp_path / "run", open(tmp_path / "stderr.txt", "wb")
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    rng = random.Random(20151207)
    done = []

    # 1. A fresh run, killed right after its first checkpoint appears.
    proc = start(run, "--config", cfg, log=log)
    assert wait_for(proc, lambda: (run / "checkpoints" / "last.ckpt").is_file()), "exited early; see stderr.txt"
    kill(proc)
    done.append(check_run_dir(run))
    assert done[-1] >= 2

    # 2. Killed at a random moment while it starts up.
    proc = start(run, "--resume", log=log)
    time.sleep(rng.uniform(0.2, 2.0))
    kill(proc)
    done.append(check_run_dir(run))

    # 3. Killed at a random moment after it has made progress.
    proc = start(run, "--resume", log=log)
    assert wait_for(proc, lambda: newest_step(run, load=False) > done[-1], poll=0.02), "exited early"
    time.sleep(rng.uniform(0.0, 0.3))
    kill(proc)
    done.append(check_run_dir(run))

    # 4. Killed in the middle of a checkpoint write (fsync slowed to hold the temp file open).
    proc = start(run, "--resume", slow_fsync=True, log=log)
    assert wait_for(proc, lambda: bool(temp_files(run / "checkpoints"))), "no checkpoint write seen"
    kill(proc)
    assert temp_files(run / "checkpoints"), "the kill should have left a half-written temp file"
    done.append(check_run_dir(run))  # ... while every real checkpoint still loads

    print("newest checkpoint step after each kill:", done)
    assert done == sorted(done), f"progress went backwards: {done}"
    assert done[-1] < STEPS, "the run finished before the last kill"

    # 5. Resume to the end: temp files gone, model exported, and the same weights as a run
    #    that was never killed (so nothing was lost beyond redoing at most one interval).
    proc = subprocess.run([sys.executable, "-m", "dcign", "train", "--out", str(run), "--resume"], env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert temp_files(run / "checkpoints") == [] and temp_files(run) == []
    final = ckpt_state(run / "checkpoints" / "last.ckpt")
    assert final["global_step"] == STEPS
    assert_same_training_state(final, reference)
    net, _, _ = load_model(run)
    assert all_finite(net.state_dict())


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    target.write_bytes(b"old, whole")

    def boom(fd):
        raise KeyboardInterrupt  # like a signal arriving mid-write

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new" * 1000)
    assert target.read_bytes() == b"old, whole"
    assert temp_files(tmp_path) == []


# --------------------------------------------------------------------------------------
# Numerical faults
# --------------------------------------------------------------------------------------


def poison_losses(monkeypatch, at_steps, kind="loss"):
    """Make the loss (kind='loss') or its gradient (kind='grad') non-finite at some steps."""
    original = DisentanglingVAE.losses

    class InfGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return g * float("inf")

    def losses(self, batch):
        out = original(self, batch)
        if self.global_step in at_steps:
            out["loss"] = out["loss"] * float("nan") if kind == "loss" else InfGrad.apply(out["loss"])
        return out

    monkeypatch.setattr(DisentanglingVAE, "losses", losses)


def assert_checkpoints_finite(run: Path, max_step: int):
    ckpts = list((run / "checkpoints").glob("*.ckpt"))
    assert ckpts
    for p in ckpts:
        state = load_checkpoint_file(p)
        assert state["global_step"] <= max_step
        assert all_finite(state["state_dict"]), p
    assert not (run / "model.safetensors").exists()


def test_nan_loss_stops_naming_step_and_last_good_checkpoint(tmp_path, monkeypatch):
    poison_losses(monkeypatch, {5})
    with pytest.raises(NonFiniteLossError) as err:
        run_train(tmp_path / "run")
    msg = str(err.value)
    assert "non-finite loss" in msg and "at step 6" in msg, msg
    assert "last.ckpt (step 4)" in msg and "\n" not in msg, msg
    assert_checkpoints_finite(tmp_path / "run", 4)


def test_inf_gradient_with_finite_loss_stops_before_weights_turn_nan(tmp_path, monkeypatch):
    poison_losses(monkeypatch, {3}, kind="grad")
    with pytest.raises(NonFiniteLossError, match=r"non-finite gradient at step 4.*last\.ckpt \(step 2\)"):
        run_train(tmp_path / "run")
    assert_checkpoints_finite(tmp_path / "run", 2)


def test_nan_before_first_checkpoint_says_there_is_none(tmp_path, monkeypatch):
    poison_losses(monkeypatch, {0})
    with pytest.raises(NonFiniteLossError, match="at step 1 .*none yet"):
        run_train(tmp_path / "run")


def test_skip_option_drops_bad_batches_and_completes(tmp_path, monkeypatch):
    poison_losses(monkeypatch, {2, 9}, kind="loss")
    poison_losses(monkeypatch, {5}, kind="grad")
    module = run_train(tmp_path / "run", on_nonfinite="skip")
    assert all_finite(module.state_dict())
    state = load_checkpoint_file(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert state["global_step"] == STEPS and all_finite(state["state_dict"])


def test_nan_weights_are_never_checkpointed_or_exported(tmp_path):
    import lightning as L

    class Poison(L.Callback):  # Lightning runs checkpoint callbacks after this one
        def on_train_batch_end(self, trainer, pl_module, *args):
            if trainer.global_step == 2:
                with torch.no_grad():
                    pl_module.net.decoder.fc.bias[0] = float("nan")

    with pytest.raises(NonFiniteLossError, match="non-finite weights"):
        train(tiny(), tmp_path / "run", callbacks=[Poison()], progress=False)
    assert not list((tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    net = DCIGN(get_preset("small-64", 8))
    with torch.no_grad():
        net.encoder.mu.weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        export_model(net, tiny(), tmp_path / "export")
    assert not (tmp_path / "export" / "model.safetensors").exists()


@pytest.mark.slow
def test_cli_absurd_learning_rate_fails_cleanly(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({**TINY, "checkpoint_every": 1, "lr": 1e10}))
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "dcign", "train", "--out", str(run), "--config", str(cfg)],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr
    assert "non-finite loss" in errors[0] and "at step 2" in errors[0] and "last.ckpt (step 1)" in errors[0]
    assert not (run / "model.safetensors").exists()
    assert_checkpoints_finite(run, 1)


# --------------------------------------------------------------------------------------
# Safe files: no pickled code is ever executed
# --------------------------------------------------------------------------------------


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def evil_checkpoint(path: Path, marker: Path, legacy=False):
    obj = {"global_step": 3, "state_dict": {}, "x": Payload(marker)}
    if legacy:
        path.write_bytes(pickle.dumps(obj))
    else:
        torch.save(obj, path)


def test_payload_is_live_but_never_executed_by_dcign(tmp_path):
    live = tmp_path / "live"
    pickle.loads(pickle.dumps(Payload(live)))  # the payload does run code when unpickled ...
    assert live.exists()

    marker = tmp_path / "pwned"
    for legacy in (False, True):
        ckpt = tmp_path / f"evil{legacy}.ckpt"
        evil_checkpoint(ckpt, marker, legacy)
        with pytest.raises(ValueError, match="cannot load checkpoint .* safely"):
            load_checkpoint_file(ckpt)
        with pytest.raises(ValueError, match="safely"):
            AtomicCheckpointIO().load_checkpoint(ckpt)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(tiny().with_data_version().to_json())
    evil_checkpoint(run / "checkpoints" / "last.ckpt", marker)
    with pytest.raises(ValueError, match="safely"):
        run_train(run, resume=True)
    result = CliRunner().invoke(app, ["train", "--out", str(run), "--resume"])
    assert result.exit_code == 2 and "safely" in result.stderr
    # a pickle dressed up as the exported weights
    model_dir = exported(tmp_path / "model")
    evil_checkpoint(model_dir / "model.safetensors", marker)
    with pytest.raises(ValueError, match="cannot read weights"):
        load_model(model_dir)
    assert not marker.exists()


# --------------------------------------------------------------------------------------
# Exported models: safetensors + JSON, refused on any mismatch
# --------------------------------------------------------------------------------------

ANGLE_MAPS = {f: {"latent_index": i, "degrees": [-90.0, 0.0, 90.0], "latent": [-1.0, 0.0, 1.0], "monotone": True}
              for i, f in enumerate(("azimuth", "elevation", "light_azimuth"))}


def exported(run_dir: Path) -> Path:
    torch.manual_seed(0)
    export_model(DCIGN(get_preset("small-64", 8)), tiny(), run_dir, ANGLE_MAPS)
    return run_dir


def test_exported_model_round_trips_without_pickle(tmp_path, monkeypatch):
    run = exported(tmp_path / "m")
    saved = load_file(str(run / "model.safetensors"))

    def no_unpickling(*a, **k):
        raise AssertionError("model loading must not unpickle")

    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(torch, "load", no_unpickling)
    net, cfg, meta = load_model(run)
    assert cfg.latent_dim == 8 and meta["angle_maps"] == ANGLE_MAPS and not net.training
    assert_same_tensors(net.state_dict(), saved)
    assert json.loads((run / "model.json").read_text())["config"]["latent_dim"] == 8


def _edit_json(run, fn):
    meta = json.loads((run / "model.json").read_text())
    fn(meta)
    (run / "model.json").write_text(json.dumps(meta))


def _edit_weights(run, fn):
    tensors = load_file(str(run / "model.safetensors"))
    fn(tensors)
    save_file(tensors, str(run / "model.safetensors"))


TAMPER = {
    "other preset": (lambda r: _edit_json(r, lambda m: m["config"].update(preset="paper-150")),
                     r"does not match preset paper-150 .*missing tensors \['decoder\.deconv\.10\.bias'"),
    "other latent_dim": (lambda r: _edit_json(r, lambda m: m["config"].update(latent_dim=9)),
                         r"encoder\.mu\.weight has shape \(8, 4096\), preset small-64 with latent_dim 9"),
    "absurd latent_dim": (lambda r: _edit_json(r, lambda m: m["config"].update(latent_dim=10**9)),
                          r"has shape \(8, 4096\).*needs \(1000000000, 4096\)"),
    "reshaped tensor": (lambda r: _edit_weights(r, lambda t: t.update({"decoder.fc.bias": torch.zeros(7)})),
                        r"decoder\.fc\.bias has shape \(7,\)"),
    "missing tensor": (lambda r: _edit_weights(r, lambda t: t.pop("encoder.logvar.bias")),
                       r"missing tensors \['encoder\.logvar\.bias'\]"),
    "extra tensor": (lambda r: _edit_weights(r, lambda t: t.update(backdoor=torch.zeros(1))),
                     r"unexpected \['backdoor'\]"),
    "nan weights": (lambda r: _edit_weights(r, lambda t: t["decoder.fc.bias"].fill_(float("nan"))),
                    r"decoder\.fc\.bias holds NaN"),
    "integer weights": (lambda r: _edit_weights(r, lambda t: t.update({"decoder.fc.bias": torch.zeros(4096, dtype=torch.int32)})),
                        r"decoder\.fc\.bias has dtype torch\.int32"),
    "unknown config key": (lambda r: _edit_json(r, lambda m: m["config"].update(colour="red")),
                           r"unknown config key\(s\) \['colour'\]"),
    "invalid config value": (lambda r: _edit_json(r, lambda m: m["config"].update(preset="huge-512")),
                             r"unknown preset 'huge-512'"),
    "not a model description": (lambda r: _edit_json(r, lambda m: m.update(format="other/2")),
                                r"not a dcign model description"),
    "angle map latent out of range": (lambda r: _edit_json(r, lambda m: m["angle_maps"]["azimuth"].update(latent_index=99)),
                                      r"angle_maps\['azimuth'\] needs a latent_index in 0\.\.7"),
    "angle map table malformed": (lambda r: _edit_json(r, lambda m: m["angle_maps"]["elevation"].update(latent=[1.0])),
                                  r"angle_maps\['elevation'\] needs equal-length"),
    "truncated weights": (lambda r: (r / "model.safetensors").write_bytes((r / "model.safetensors").read_bytes()[:500]),
                          r"cannot read weights"),
    "weights missing": (lambda r: (r / "model.safetensors").unlink(), r"model\.safetensors is missing"),
    "model.json missing": (lambda r: (r / "model.json").unlink(), r"holds no exported model"),
    "model.json not JSON": (lambda r: (r / "model.json").write_text('{"format": '), r"not valid JSON"),
    "model.json absurdly nested": (lambda r: (r / "model.json").write_text("[" * 100_000), r"not valid JSON"),
}


@pytest.mark.parametrize("case", list(TAMPER))
def test_load_model_refuses_mismatches_naming_them(tmp_path, case):
    tamper, message = TAMPER[case]
    run = exported(tmp_path / "m")
    tamper(run)
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=message):
        load_model(run)
    assert time.monotonic() - t0 < 10  # refused from the header: nothing huge is allocated


# --------------------------------------------------------------------------------------
# Bad input through the CLI: one-line error, exit code 2, nothing written
# --------------------------------------------------------------------------------------

DDS_FUZZ_CASE = (  # found by fuzzing: Pillow raised NotImplementedError, which escaped load_image
    b"DDS |\x00\x00\x00\x0f\x10\x00\x00\x06\x00\x00\x00\x06\x00\x00\x00\x06" + b"\x00" * 41 + b"\xb2" + b"\x00" * 15
    + b" \x00\x00\x00\x00\x00\xa4\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\xff\xd1\x00\x00\xff\x00\x00"
    b"\x00\xff\x00\x00\x00\x00\x00\x10" + b"\x00" * 18 + b"\xd6\xc8Zx\x99\xc4g\xbd\x94\xb9\xe3\xa2dO\xaeMf<\xb2\x8f"
    b"VT\x9f\x86:'u\x81K\xab\xb5\xbcxiR\xd1"
)


def _png(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)


def _image(kind: str, path: Path) -> Path:
    if kind == "wrong size":
        _png(path, np.zeros((32, 48), np.uint8))
    elif kind == "wrong mode":
        path = path.with_suffix(".tif")
        Image.new("LAB", (64, 64)).save(path)
    elif kind == "corrupt":
        path.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    elif kind == "truncated":
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(buf, "PNG")
        path.write_bytes(buf.getvalue()[:300])
    elif kind == "fuzz case":
        path.write_bytes(DDS_FUZZ_CASE)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "missing":
        pass
    else:
        _png(path, np.full((64, 64, 3), 200, np.uint8))
    return path


RENDER_CASES = [
    ("wrong size", ["--set", "azimuth=30"], "48x32 pixels; this model needs 64x64"),
    ("wrong mode", ["--set", "azimuth=30"], "pixel mode 'LAB', which cannot be converted to grey"),
    ("corrupt", ["--set", "azimuth=30"], "cannot read image"),
    ("truncated", ["--set", "azimuth=30"], "cannot read image"),
    ("fuzz case", ["--set", "azimuth=30"], "cannot read image"),
    ("empty", ["--set", "azimuth=30"], "is empty"),
    ("missing", ["--set", "azimuth=30"], "does not exist"),
    ("ok", ["--set", "azimuth=300"], "outside the model's range"),
    ("ok", ["--set", "azimuth=nan"], "outside the model's range"),
    ("ok", ["--set", "azimuth=-inf"], "outside the model's range"),
    ("ok", ["--set", "azimuth=left"], "number of degrees"),
    ("ok", ["--set", "azimuth"], "factor=degrees"),
    ("ok", ["--set", "hue=3"], "no latent for 'hue'"),
]


def invoke(args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, (args, result.exit_code, result.output[-1500:])
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]


def snapshot(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.mark.parametrize("kind, args, message", RENDER_CASES, ids=[f"{k}:{a[-1]}" for k, a, _ in RENDER_CASES])
def test_render_bad_input(tmp_path, kind, args, message):
    run = exported(tmp_path / "model")
    img = _image(kind, tmp_path / "in.png")
    out = tmp_path / "out.png"
    before = snapshot(tmp_path)
    assert message in invoke(["render", "--run", run, "--image", img, *args, "--out", out])
    assert snapshot(tmp_path) == before and not out.exists()


def test_render_bad_run_and_output(tmp_path):
    run = exported(tmp_path / "model")
    img = _image("ok", tmp_path / "in.png")
    (tmp_path / "empty_run").mkdir()
    (tmp_path / "taken.png").mkdir()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    before = snapshot(tmp_path)
    cases = [
        (["--run", tmp_path / "empty_run", "--out", tmp_path / "o.png"], "no exported model"),
        (["--run", tmp_path / "nowhere", "--out", tmp_path / "o.png"], "no exported model"),
        (["--run", run, "--out", tmp_path / "missing" / "o.png"], "does not exist"),
        (["--run", run, "--out", blocker / "o.png"], "does not exist"),
        (["--run", run, "--out", tmp_path / "o.jpg"], "must end in .png"),
        (["--run", run, "--out", tmp_path / "taken.png"], "cannot write"),  # a folder is in the way
    ]
    for args, message in cases:
        assert message in invoke(["render", *args, "--image", img, "--set", "azimuth=10"]), args
    assert snapshot(tmp_path) == before


def test_train_bad_input_writes_nothing(tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    configs = {"unknown_key.json": '{"colour": "red"}', "bad_seed.json": '{"seed": -1}', "not_json.json": "{oops",
               "deep.json": "[" * 100_000, "huge_lr.json": '{"lr": 1' + "0" * 400 + "}", "list.json": "[1, 2]"}
    for name, text in configs.items():
        (tmp_path / name).write_text(text)
    before = snapshot(tmp_path)
    out = tmp_path / "new"
    cases = [
        (["--preset", "huge"], "unknown preset 'huge'"),
        (["--dataset", "cars"], "unknown data set 'cars'"),
        (["--method", "magic"], "unknown method 'magic'"),
        (["--optimizer", "sgd"], "unknown optimizer 'sgd'"),
        (["--on-nonfinite", "ignore"], "on_nonfinite"),
        (["--batch-weights", "1,1,1,x"], "must be numbers"),
        (["--batch-weights", "1,1,1,nan"], "finite numbers"),
        (["--latent-layout", "hue=3"], "latent_layout names 'hue'"),
        (["--latent-layout", "azimuth=-1"], "latent_layout['azimuth']"),
        (["--lr", "nan"], "lr must be a finite number"),
        (["--steps", "0"], "steps must be a positive integer"),
        (["--seed", "-5"], "seed must be an integer"),
        (["--config", tmp_path / "unknown_key.json"], "unknown config key(s) ['colour']"),
        (["--config", tmp_path / "bad_seed.json"], "seed must be an integer"),
        (["--config", tmp_path / "not_json.json"], "not valid JSON"),
        (["--config", tmp_path / "deep.json"], "not valid JSON"),
        (["--config", tmp_path / "huge_lr.json"], "lr must be a finite number"),
        (["--config", tmp_path / "list.json"], "must be a JSON object"),
        (["--config", tmp_path / "absent.json"], "cannot read config"),
        (["--resume"], "cannot resume"),
    ]
    for args, message in cases:
        assert message in invoke(["train", "--out", out, *args]), args
        assert not out.exists(), args
    assert "already holds files" in invoke(["train", "--out", existing, "--steps", "2"])
    assert "not a folder" in invoke(["train", "--out", blocker, "--steps", "2"])
    assert "cannot write to output folder" in invoke(["train", "--out", blocker / "sub", "--steps", "2"])
    assert snapshot(tmp_path) == before


def test_train_bad_accelerator_stops_before_writing_the_config(tmp_path):
    out = tmp_path / "run"
    message = invoke(["train", "--out", out, "--steps", "2", "--workers", "0", "--accelerator", "nonsense"])
    assert "cannot set up training with accelerator='nonsense'" in message
    assert not (out / "config.json").exists() and not any(out.rglob("*"))
    for devices in ("abc", "-1", "2.5", "0"):
        message = invoke(["train", "--out", out, "--steps", "2", "--workers", "0", "--devices", devices])
        assert "--devices must be a positive integer or auto" in message, devices
        assert not (out / "config.json").exists()


def test_evaluate_and_data_bad_input(tmp_path):
    before = snapshot(tmp_path)
    assert "no exported model" in invoke(["evaluate", tmp_path])
    assert "unknown data set 'cars'" in invoke(["data", "sample", "--dataset", "cars", "--out", tmp_path / "d"])
    assert "unknown factor 'pose'" in invoke(["data", "sample", "--factor", "pose", "--out", tmp_path / "d"])
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------
# Fuzzing (hypothesis); cases it found are kept as @example
# --------------------------------------------------------------------------------------

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"\xff\xd8\xff", b"RIFF", b"P5\n",
         b"P6\n", b"\x00\x00\x01\x00", b"8BPS", b"DDS ", b"qoif", b"\x0a\x05\x01\x08", b"\x01\xda", b"FORM"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "input"


def check_loaded(path, size):
    try:
        arr = load_image(path, size)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return None
    assert arr.dtype == np.float32 and arr.shape == (1, 1, size, size)
    assert np.all(np.isfinite(arr)) and arr.min() >= 0.0 and arr.max() <= 1.0
    return arr


@FUZZ
@given(prefix=st.sampled_from(MAGIC), body=st.binary(max_size=300), size=st.sampled_from([1, 4, 64]))
@example(prefix=b"", body=DDS_FUZZ_CASE, size=6)
@example(prefix=b"\x89PNG\r\n\x1a\n", body=b"not really", size=64)
@example(prefix=b"P5\n", body=b"4 4\n255\n", size=4)  # header only, no pixels
@example(prefix=b"P5\n", body=b"99999 99999\n255\n", size=64)  # claims a huge image
def test_fuzz_load_image_random_bytes(scratch, prefix, body, size):
    scratch.write_bytes(prefix + body)
    check_loaded(scratch, size)


MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "PA", "I", "I;16", "I;16B", "F", "CMYK", "YCbCr", "LAB", "HSV"]
FORMATS = ["PNG", "BMP", "TIFF", "GIF", "JPEG", "WEBP", "PPM", "ICO", "TGA", "DDS", "QOI"]


@FUZZ
@given(mode=st.sampled_from(MODES), fmt=st.sampled_from(FORMATS), w=st.integers(1, 9), h=st.integers(1, 9),
       size=st.integers(1, 9), seed=st.integers(0, 2**16), damage=st.sampled_from(["none", "truncate", "flip"]),
       where=st.floats(0.0, 1.0))
@example(mode="F", fmt="TIFF", w=4, h=4, size=4, seed=0, damage="none", where=0.0)
@example(mode="I;16", fmt="PNG", w=3, h=3, size=3, seed=1, damage="none", where=0.0)
@example(mode="LAB", fmt="TIFF", w=5, h=5, size=5, seed=0, damage="none", where=0.0)
@example(mode="L", fmt="DDS", w=6, h=6, size=6, seed=3, damage="flip", where=0.5)
def test_fuzz_load_image_random_images(scratch, mode, fmt, w, h, size, seed, damage, where):
    rng = np.random.default_rng(seed)
    if mode in ("I", "I;16", "I;16B", "F"):
        im = Image.new(mode, (w, h))
        values = rng.normal(0, 3e4, (h, w)) if mode in ("I", "F") else rng.integers(0, 65536, (h, w))
        im.putdata([float(v) if mode == "F" else int(v) for v in values.ravel()])
        if mode == "F" and seed % 7 == 0:
            im.putpixel((0, 0), float("nan"))
    else:
        im = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode)
    buf = io.BytesIO()
    try:
        im.save(buf, format=fmt)
    except Exception:  # this format cannot store this mode: nothing to test
        return
    data = bytearray(buf.getvalue())
    k = min(len(data) - 1, int(where * len(data)))
    if damage == "truncate":
        data = data[: max(k, 1)]
    elif damage == "flip":
        data[k] ^= 0xFF
    scratch.write_bytes(bytes(data))
    arr = check_loaded(scratch, size)
    if damage == "none" and (w, h) != (size, size):
        assert arr is None  # a wrong size is always refused


CONFIG_FIELDS = list(json.loads(TrainConfig().to_json()))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
PLAUSIBLE = st.one_of(
    st.sampled_from(["dcign", "baseline", "beta-vae", "ada-gvae", "faces", "chairs", "small-64", "paper-150", "mean",
                     "first", "z", "params", "adam", "rmsprop", "stop", "skip", True, False, 0, 1, 2, 20, 200, -1,
                     0.5, 1e-3, 2**32, 10**400, float("nan"), float("inf")]),
    st.dictionaries(st.sampled_from(["azimuth", "elevation", "light_azimuth", "identity", "hue"]),
                    st.lists(st.integers(-2, 250), max_size=3) | st.floats(allow_nan=True) | st.integers(-1, 5),
                    max_size=4),
)


def check_config(data):
    try:
        cfg = TrainConfig.from_dict(data)
    except ValueError as exc:
        assert str(exc)
        return None
    assert isinstance(cfg, TrainConfig)
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg  # anything accepted survives a round trip
    return cfg


@FUZZ
@given(data=st.dictionaries(st.sampled_from(CONFIG_FIELDS) | st.text(max_size=6), JSON_VALUES | PLAUSIBLE, max_size=6))
@example(data={"preset": []})
@example(data={"latent_layout": []})  # was AttributeError
@example(data={"latent_layout": {"azimuth": 5}})
@example(data={"batch_weights": [1, 2]})
@example(data={"lr": 10**400})  # was OverflowError
@example(data={"beta": 10**400})  # was OverflowError
@example(data={"batch_weights": {"azimuth": 10**400}})  # was OverflowError
@example(data={"seed": "abc"})  # was accepted
@example(data={"seed": -1})  # was accepted, crashed later
@example(data={"seed": 2**40})  # was accepted; Lightning then silently picks a random seed
@example(data={"kl_on_clamped": "no"})  # was accepted
@example(data={"num_workers": True})  # was accepted
@example(data={"latent_layout": {"azimuth": [True]}})  # was accepted as latent 1
def test_fuzz_config_from_dict(data):
    cfg = check_config(data)
    if any(k in data for k in ("seed", "kl_on_clamped", "num_workers")) and cfg is not None:
        assert isinstance(cfg.kl_on_clamped, bool) and 0 <= cfg.seed < 2**32 and type(cfg.num_workers) is int
    if data in ({"lr": 10**400}, {"seed": -1}, {"latent_layout": []}, {"latent_layout": {"azimuth": [True]}}):
        assert cfg is None


@FUZZ
@given(text=st.one_of(st.text(max_size=200), JSON_VALUES.map(json.dumps),
                      st.dictionaries(st.sampled_from(CONFIG_FIELDS), PLAUSIBLE, max_size=4).map(json.dumps),
                      st.binary(max_size=50)))
@example(text="[" * 100_000)  # was RecursionError
@example(text='{"lr": 1' + "0" * 5000 + "}")  # int literal beyond Python's digit limit
@example(text=b"\xff\xfe{")
@example(text='{"lr": NaN}')
def test_fuzz_config_load(scratch, text):
    scratch.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        cfg = TrainConfig.load(scratch)
    except ValueError as exc:
        assert str(exc)
        return
    assert isinstance(cfg, TrainConfig)


@FUZZ
@given(meta=JSON_VALUES | st.dictionaries(st.sampled_from(["format", "config", "angle_maps"]),
                                          JSON_VALUES | st.just("dcign-model/1"), max_size=3))
def test_fuzz_model_json(scratch, meta):
    run = scratch.parent / "model_dir"
    run.mkdir(exist_ok=True)
    (run / "model.json").write_text(json.dumps(meta))
    try:
        read_model_json(run)
        load_model(run)
    except ValueError:
        pass


def test_load_image_names_a_folder_as_a_folder(tmp_path):
    with pytest.raises(ValueError, match="is a folder, not an image file"):
        load_image(tmp_path, 64)
    with pytest.raises(ValueError, match="does not exist"):
        load_image(tmp_path / "absent.png", 64)
