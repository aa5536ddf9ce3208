"""One source of truth for defaults (issue 11, item 5): `dcign train` with no options runs the
main job, and the README, the main job's script, the CLI's help and `dcign reproduce`'s CPU plan
all take their defaults from the config sections; plus `--time-limit` (a wall-clock budget)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest
from support import load_checkpoint_file, tiny

from dcign.checks import default_text, setting_flag
from dcign.config import RESUME_MAY_CHANGE, SECTIONS, TrainConfig
from dcign.reproduce import run_configs

ROOT = Path(__file__).resolve().parents[1]


def _options_table_module():
    spec = importlib.util.spec_from_file_location("options_table", ROOT / "scripts" / "options_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_options_table_is_generated_from_the_config():
    table = _options_table_module()
    readme = (ROOT / "README.md").read_text()
    assert table.with_table(readme) == readme, "README's options table is stale: run python scripts/options_table.py"
    rows = {line.split("|")[2].strip(): line.split("|")[3].strip() for line in table.options_table().splitlines()[2:]}
    run = TrainConfig().run
    assert rows["`--steps`"] == f"`{run.steps}`" and rows["`--lr`"] == f"`{run.lr:g}`"
    assert rows["`--preset`"] == f"`{TrainConfig().model.preset}`" and rows["`--dataset`"] == f"`{TrainConfig().data.dataset}`"
    with pytest.raises(ValueError, match="marker"):
        table.with_table("no markers here")


def test_every_flag_shows_its_default_from_the_value():
    from dcign.cli import _config_options

    helps = {p.default.param_decls[0].split("/")[0]: p.default.help for p in _config_options()}
    flagged = [f for cls in SECTIONS.values() for f in fields(cls) if setting_flag(f)]
    assert len(helps) == len(flagged)
    for f in flagged:
        assert helps[setting_flag(f)].endswith(f"(default: {default_text(f)})"), setting_flag(f)
    assert default_text(next(f for f in fields(SECTIONS["method"]) if f.name == "latent_layout")) == "azimuth=0,elevation=1,light_azimuth=2"


def test_readme_by_hand_block_trains_the_defaults():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## The main job", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    train = [line for line in block.splitlines() if line.startswith("dcign train")]
    assert len(train) == 1
    assert re.findall(r"--[\w-]+", train[0].split("#")[0]) == ["--out"], train[0]


def _main_job_calls(tmp_path, run_dir: Path, **env) -> list[list[str]]:
    """Run scripts/main_job.sh with a stand-in python3 that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls.jsonl"
    fake = bin_dir / "python3"
    fake.write_text(f"#!/bin/sh\nprintf '%s\\0' \"$@\" >> {log}\nprintf '\\n' >> {log}\n")
    fake.chmod(0o755)
    log.write_text("")
    subprocess.run(["bash", str(ROOT / "scripts" / "main_job.sh"), str(run_dir)], check=True, capture_output=True,
                   env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", **env})
    calls = [line.strip("\0").split("\0") for line in log.read_text().splitlines() if line.strip()]
    return [c[3:] for c in calls if c[:3] == ["-m", "dcign", "train"]]


def test_main_job_runs_dcign_train_with_no_training_options(tmp_path):
    run = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k in ("DCIGN_STEPS", "DCIGN_LR")}
    assert not env, "the test's environment sets DCIGN_STEPS / DCIGN_LR"
    assert _main_job_calls(tmp_path, run) == [["--out", str(run)]]
    assert _main_job_calls(tmp_path, run, DCIGN_STEPS="7", DCIGN_LR="0.01") == [["--out", str(run), "--steps", "7", "--lr", "0.01"]]
    run.mkdir()
    (run / "config.json").write_text("{}")  # an interrupted run: resumed, only its steps may change
    assert _main_job_calls(tmp_path, run) == [["--out", str(run), "--resume"]]
    assert _main_job_calls(tmp_path, run, DCIGN_STEPS="7", DCIGN_LR="0.01") == [["--out", str(run), "--resume", "--steps", "7"]]


def test_reproduce_cpu_plan_faces_runs_are_the_defaults():
    defaults = TrainConfig()
    for name in ("faces-dcign", "faces-baseline"):
        cfg = run_configs()[name]
        assert (cfg.run.steps, cfg.run.lr, cfg.model.preset, cfg.data.dataset) == (
            defaults.run.steps, defaults.run.lr, defaults.model.preset, defaults.data.dataset)


@pytest.mark.usefixtures("one_thread", "quiet")
def test_time_limit_stops_early_exports_and_may_change_on_resume(tmp_path):
    from dcign.training import train_and_export

    assert "time_limit" in RESUME_MAY_CHANGE
    cap = 100_000  # far more steps than a 0.3-second budget allows on any machine
    run = tmp_path / "run"
    train_and_export(tiny(steps=cap, time_limit=0.005), run, log=lambda m: None, progress=False)
    meta = json.loads((run / "model.json").read_text())
    done = meta["trained_steps"]
    assert 1 <= done < cap and meta["config"]["time_limit"] == 0.005
    assert load_checkpoint_file(run / "checkpoints" / "last.ckpt")["global_step"] == done
    (run / "model.json").unlink()
    # a longer budget on resume, now bounded by steps: two more steps exactly
    train_and_export(tiny(steps=done + 2, time_limit=60.0), run, resume=True, log=lambda m: None, progress=False)
    meta = json.loads((run / "model.json").read_text())
    assert meta["trained_steps"] == done + 2 and meta["config"]["time_limit"] == 60.0
    with pytest.raises(ValueError, match="time_limit"):
        tiny(time_limit=0)
