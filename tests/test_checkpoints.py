"""Checkpoints: resume gives the same weights as not stopping, a real training process
killed with SIGKILL at chosen moments resumes to identical weights, and checkpoints are
loaded without executing pickled code.

The kills are driven by what the run itself does (a file renamed into place, an optimiser
step, a checkpoint write under way), never by wall-clock sleeps: the training subprocess
pauses at the chosen moment, says so on stdout, and is killed there.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support import (
    ENV,
    GUARD_S,
    STEPS,
    TINY,
    all_finite,
    assert_same_training_state,
    ckpt_state,
    run_train,
    temp_files,
    tiny,
    train_until,
)
from typer.testing import CliRunner

from dcign.cli import app
from dcign.config import TrainConfig
from dcign.export import load_model
from dcign.checkpoints import AtomicCheckpointIO, load_checkpoint_file, newest_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread", "quiet")


# --------------------------------------------------------------------------------------
# Resume
# --------------------------------------------------------------------------------------


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
    (run / "config.json").write_text(tiny().with_data_version().to_json())
    with pytest.raises(ValueError, match="lr"):
        run_train(run, resume=True, lr=0.1)
    with pytest.raises(ValueError, match="config.json"):
        run_train(tmp_path / "nothing", resume=True)


# --------------------------------------------------------------------------------------
# Crash safety: a real training process killed with SIGKILL at chosen moments
# --------------------------------------------------------------------------------------

def newest_step(run: Path) -> int:
    return max((int(ckpt_state(p)["global_step"]) for p in (run / "checkpoints").glob("*.ckpt")), default=0)


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
def test_sigkill_at_chosen_moments_then_resume_completes_with_identical_weights(tmp_path, reference):
    run, log = tmp_path / "run", open(tmp_path / "stderr.txt", "w")
    cfg = tmp_path / "tiny.json"
    cfg.write_text(tiny().to_json())
    every = TINY["checkpoint_every"]
    done = []

    # 1. A fresh run, killed the moment its first step checkpoint is in place (before last.ckpt).
    train_until(run, "renamed:step*.ckpt", "--config", cfg, log=log)
    assert not (run / "checkpoints" / "last.ckpt").exists()
    done.append(check_run_dir(run))
    # 2. Killed while it starts up: config.json rewritten, no step taken yet.
    train_until(run, "renamed:config.json", "--resume", log=log)
    done.append(check_run_dir(run))
    # 3. Killed between two checkpoints (one step past the next one).
    train_until(run, f"step:{every + 1}", "--resume", log=log)
    done.append(check_run_dir(run))
    # 4. Killed in the middle of a checkpoint write: the temp file is there, the old files whole.
    reached = train_until(run, "fsync", "--resume", log=log)
    assert temp_files(run / "checkpoints"), f"the kill ({reached}) should have left a half-written temp file"
    done.append(check_run_dir(run))

    # Each kill loses at most the steps since the newest checkpoint, and nothing before it.
    assert done == [every, every, 2 * every, 2 * every], done

    # 5. Resume to the end: temp files gone, model exported, and the same weights as a run
    #    that was never killed.
    proc = subprocess.run([sys.executable, "-m", "dcign", "train", "--out", str(run), "--resume"], env=ENV,
                          capture_output=True, text=True, timeout=GUARD_S)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert temp_files(run / "checkpoints") == [] and temp_files(run) == []
    final = ckpt_state(run / "checkpoints" / "last.ckpt")
    assert final["global_step"] == STEPS
    assert_same_training_state(final, reference)
    net, _, _ = load_model(run)
    assert all_finite(net.state_dict())


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
        with pytest.raises(ValueError, match="cannot load checkpoint .*: it is not a plain-data torch checkpoint"):
            load_checkpoint_file(ckpt)
        with pytest.raises(ValueError, match="not a plain-data"):
            AtomicCheckpointIO().load_checkpoint(ckpt)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(tiny().with_data_version().to_json())
    evil_checkpoint(run / "checkpoints" / "last.ckpt", marker)
    with pytest.raises(ValueError, match="not a plain-data"):
        run_train(run, resume=True)
    result = CliRunner().invoke(app, ["train", "--out", str(run), "--resume"])
    assert result.exit_code == 2 and "not a plain-data" in result.stderr
    # a pickle dressed up as the exported weights
    from support import exported

    model_dir = exported(tmp_path / "model")
    evil_checkpoint(model_dir / "model.safetensors", marker)
    with pytest.raises(ValueError, match="cannot read weights"):
        load_model(model_dir)
    assert not marker.exists()


@pytest.mark.parametrize("content, reason", [
    (b"", "the file is empty or truncated"),
    (b"garbage\n", "it is not a plain-data torch checkpoint"),
    ("tensor", "holds no step count (global_step)"),
    ("truncated", "the file is truncated or corrupt"),
])
def test_a_damaged_checkpoint_is_named_with_the_fix(tmp_path, content, reason):
    """An empty, garbled, truncated or foreign last.ckpt: one ValueError naming the file, why, and
    which checkpoint resuming would use once it is moved away (an empty file was an IndexError)."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save({"global_step": 4}, folder / "step0000004.ckpt")
    last = folder / "last.ckpt"
    if content == "tensor":
        torch.save(torch.zeros(3), last)
    elif content == "truncated":
        torch.save({"global_step": 5, "w": torch.zeros(10_000)}, last)
        last.write_bytes(last.read_bytes()[:4000])
    else:
        last.write_bytes(content)
    with pytest.raises(ValueError) as err:
        newest_checkpoint(folder)
    message = str(err.value)
    assert str(last) in message and reason in message, message
    assert "resume from the newest of the others (step0000004.ckpt)" in message and "weights_only` set to `False" not in message
    last.unlink()
    assert newest_checkpoint(folder) == (folder / "step0000004.ckpt", 4)


def _doctor(c: dict, how: str) -> None:
    first = next(iter(c["state_dict"]))
    if how == "no optimiser state":
        c.pop("optimizer_states")
    elif how == "empty optimiser state":
        c["optimizer_states"] = []
    elif how == "wrong weight shape":
        c["state_dict"][first] = torch.zeros(3)
    elif how == "missing weight":
        c["state_dict"].pop(first)
    elif how == "wrong optimiser shape":
        entry = next(iter(c["optimizer_states"][0]["state"].values()))
        entry["exp_avg"] = torch.zeros(2, 2)


@pytest.mark.parametrize("how, reason", [
    ("no optimiser state", "holds no optimizer_states"),
    ("empty optimiser state", "holds no optimiser state"),
    ("wrong weight shape", "has shape (3,), the model's is"),
    ("missing weight", "weights missing: net."),
    ("wrong optimiser shape", "exp_avg of parameter"),
])
def test_a_checkpoint_that_cannot_restore_the_run_is_refused_before_anything_is_written(tmp_path, how, reason):
    """A last.ckpt that loads but does not fit the run (Lightning failed mid-restore with a KeyError /
    RuntimeError traceback after config.json was rewritten, or, with an empty optimiser state,
    resumed silently with a fresh Adam): one ValueError naming the file and the fix, folder untouched."""
    run = tmp_path / "run"
    run_train(run, steps=4)
    for p in (run / "checkpoints").glob("step*.ckpt"):
        p.unlink()
    last = run / "checkpoints" / "last.ckpt"
    c = load_checkpoint_file(last)
    _doctor(c, how)
    torch.save(c, last)
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    with pytest.raises(ValueError) as err:
        run_train(run, resume=True, steps=8)
    message = str(err.value)
    assert str(last) in message and reason in message and "move it away" in message, message
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("name", ["checkpoints", "logs"])
def test_a_file_where_a_run_keeps_a_folder_is_named(tmp_path, name):
    """``checkpoints`` (or ``logs``) a file: Lightning said "File exists" with no path, and a resume
    would not have seen the checkpoints and restarted from step 0."""
    run = tmp_path / "run"
    run.mkdir()
    (run / name).write_text("not a folder")
    with pytest.raises(ValueError, match=f"{run / name} is a file.*move the file away"):
        run_train(run)
    assert sorted(p.name for p in run.iterdir()) == [name]


def test_ctrl_c_during_training_names_the_resume_command_and_exits_130(tmp_path):
    """SIGINT in the middle of a step (a real ``dcign train`` process): Lightning's graceful shutdown
    ended with exit status 1; the conventional 130 and the resume command are what a user expects."""
    import signal
    import threading

    from support import HOLD_AND_TRAIN

    run, cfg = tmp_path / "run", tmp_path / "cfg.json"
    cfg.write_text(TrainConfig.from_dict(TINY).to_json())
    proc = subprocess.Popen([sys.executable, "-c", HOLD_AND_TRAIN, "train", "--out", str(run), "--config", str(cfg)],
                            env={**ENV, "DCIGN_TEST_HOLD": "step:3"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    guard = threading.Timer(GUARD_S, proc.kill)
    guard.start()
    try:
        assert any(line.startswith("@@HOLD@@ ") for line in proc.stdout)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=GUARD_S)
    finally:
        guard.cancel()
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert f"continue with `dcign train --out {run} --resume`" in err and "interrupted" in err.splitlines()[-1], err[-2000:]
