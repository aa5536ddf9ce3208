"""The benchmark scripts refuse bad options before any training, with one line naming the fix."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / script), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["--variant", "beta=-1"], "--variant 'beta=-1': beta must be a finite number >= 0"),
    (["--variant", "preset=wide-64"], "sets preset: use --designs"),
    (["--seconds", "nan"], "--seconds must be a positive, finite number"),
    (["--steps", "0"], "--steps and --repeats must be positive integers"),
    (["--pictures", "a_file"], "--pictures a_file: cannot make that folder"),
    (["--variant", "lr"], "--variant 'lr': write KEY=VALUE"),
    (["--designs", "small-64,nope"], "unknown design 'nope'; choose from"),
])
def test_preset_design_refuses_bad_options_up_front(tmp_path, args, message):
    (tmp_path / "a_file").write_text("x")
    r = run("preset_design.py", "--designs", "small-64", "--cache", str(tmp_path / "cache"), *args, cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "cache").exists()  # refused before rendering the training stream


@pytest.mark.parametrize("args, message", [
    (["--budgets", ""], "--budgets must be positive minutes"),
    (["--set", "steps=5"], "the budgets set steps, time_limit, lr_schedule"),
    (["--set", "lr_schedule=cosine"], "the budgets set steps, time_limit, lr_schedule"),
    (["--out", "a_file"], "--out a_file: cannot make that folder"),
])
def test_quality_budget_refuses_bad_options_up_front(tmp_path, args, message):
    (tmp_path / "a_file").write_text("x")
    r = run("quality_budget.py", "--out", "qb", *args, cwd=tmp_path)  # a later --out wins
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "qb" / "dcign").exists()


def test_pose_leak_refuses_too_few_scenes_and_a_missing_run(tmp_path):
    r = run("pose_leak.py", str(tmp_path), "--scenes", "5", cwd=tmp_path)
    assert r.returncode == 2 and "--scenes must be at least 10" in r.stderr and "Traceback" not in r.stderr
    r = run("pose_leak.py", str(tmp_path / "none"), cwd=tmp_path)
    assert r.returncode == 2 and "run folder" in r.stderr and "does not exist" in r.stderr and "Traceback" not in r.stderr
