"""End-to-end CLI wiring at a tiny size, plus clear errors (exit code 2) for bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

TINY = ["--steps", "4", "--batch-size", "4", "--groups-per-step", "2", "--workers", "0"]


def dcign(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "dcign", *map(str, args)], capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"dcign {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    dcign("train", "--out", out, *TINY)
    return out


def test_data_sample_writes_grid_and_factors(tmp_path):
    dcign("data", "sample", "--dataset", "chairs", "--factor", "elevation", "--batch-size", "6", "--out", tmp_path)
    records = json.loads((tmp_path / "factors.json").read_text())
    assert len(records) == 6 and all(r["varied"] == "elevation" for r in records)
    assert len({r["elevation"] for r in records}) == 6 and len({r["azimuth"] for r in records}) == 1
    assert {"azimuth", "elevation", "light_azimuth", "identity"} <= set(records[0])
    with Image.open(tmp_path / "batch.png") as im:
        assert im.size[0] > 64 * 6


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset", "cars"], "unknown data set"),
        (["--factor", "pose"], "unknown factor"),
        (["--size", "-3"], "--size"),
        (["--batch-size", "0"], "--batch-size"),
    ],
)
def test_data_sample_bad_input(tmp_path, args, message):
    out = tmp_path / "o"
    proc = dcign("data", "sample", "--out", out, *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_data_sample_unwritable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = dcign("data", "sample", "--out", blocker, check=False)
    assert proc.returncode == 2 and "not a folder" in proc.stderr


def test_train_writes_run_dir(run_dir):
    for name in ("config.json", "model.safetensors", "model.json", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    meta = json.loads((run_dir / "model.json").read_text())
    assert set(meta["angle_maps"]) == {"azimuth", "elevation", "light_azimuth"}
    assert list(run_dir.glob("logs/events.out.tfevents*"))


def test_resume_extends_a_run(run_dir):
    dcign("train", "--out", run_dir, "--resume", "--steps", "6", "--workers", "0")
    import torch

    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 6


def test_evaluate_writes_report(run_dir):
    proc = dcign("evaluate", run_dir, "--identities", "3", "--values", "5", "--no-metrics")
    report = run_dir / "report"
    metrics = json.loads((report / "metrics.json").read_text())
    assert set(metrics["fig6"]) == {"azimuth", "elevation", "light_azimuth"}
    for f in metrics["fig6"].values():
        assert -1 <= f["spearman"] <= 1 and -1 <= f["pearson"] <= 1
    assert 0 < metrics["test_mse"] < 1
    for png in ("fig6.png", "reconstructions.png", "traversal_azimuth.png"):
        assert (report / png).is_file()
    assert "fig6.png" in (report / "report.md").read_text()
    assert "report.md" in proc.stdout


def test_render_sets_angles(run_dir, tmp_path):
    img = tmp_path / "in.png"
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(img)  # colour: converted to grey
    out = tmp_path / "out.png"
    dcign("render", "--run", run_dir, "--image", img, "--set", "azimuth=30", "--set", "light_azimuth=-20", "--out", out)
    with Image.open(out) as im:
        assert im.size == (64, 64)


@pytest.mark.parametrize(
    "setup, args, message",
    [
        ("wrong_size", ["--set", "azimuth=30"], "needs 64x64"),
        ("corrupt", ["--set", "azimuth=30"], "cannot read image"),
        ("empty", ["--set", "azimuth=30"], "is empty"),
        ("ok", ["--set", "azimuth=300"], "outside the model's range"),
        ("ok", ["--set", "hue=3"], "no latent for 'hue'"),
        ("ok", ["--set", "azimuth=left"], "number of degrees"),
    ],
)
def test_render_bad_input(run_dir, tmp_path, setup, args, message):
    img = tmp_path / "in.png"
    if setup == "wrong_size":
        Image.fromarray(np.zeros((32, 48), np.uint8)).save(img)
    elif setup == "corrupt":
        img.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    elif setup == "empty":
        img.write_bytes(b"")
    else:
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(img)
    out = tmp_path / "out.png"
    proc = dcign("render", "--run", run_dir, "--image", img, *args, "--out", out, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_train_refuses_bad_config(tmp_path):
    cases = [
        (["--preset", "huge"], "unknown preset"),
        (["--method", "magic"], "unknown method"),
        (["--lr", "-1"], "lr"),
        (["--batch-weights", "1,1,1"], "4 numbers"),
        (["--latent-layout", "azimuth=500"], "latent_layout"),
    ]
    for args, message in cases:
        out = tmp_path / "r"
        proc = dcign("train", "--out", out, *args, check=False)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr[-500:])
        assert not out.exists()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = dcign("train", "--out", tmp_path / "r2", "--config", bad, check=False)
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr


def test_train_refuses_existing_run_and_missing_resume(run_dir, tmp_path):
    proc = dcign("train", "--out", run_dir, "--steps", "2", check=False)
    assert proc.returncode == 2 and "already holds files" in proc.stderr
    proc = dcign("train", "--out", tmp_path / "none", "--resume", check=False)
    assert proc.returncode == 2 and "cannot resume" in proc.stderr


def test_evaluate_without_model(tmp_path):
    proc = dcign("evaluate", tmp_path, check=False)
    assert proc.returncode == 2 and "no exported model" in proc.stderr
