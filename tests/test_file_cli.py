"""Users' data sets through the CLI: a 20-step train + evaluate, sample, compare, and refusals."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import published_layouts as pl


def dcign(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "dcign", *map(str, args)], capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"dcign {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DCIGN_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def dsprites(tmp_path_factory):
    return pl.write_dsprites(tmp_path_factory.mktemp("data") / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")


def test_train_20_steps_and_evaluate_on_dsprites(tmp_path, dsprites):
    run = tmp_path / "run"
    dcign("train", "--dataset", f"dsprites:{dsprites}", "--data-option", "test_fraction=0.5", "--out", run,
          "--steps", "20", "--batch-size", "4", "--groups-per-step", "1", "--workers", "0", "--lr", "1e-3")
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["dataset"] == f"dsprites:{dsprites}" and cfg["dataset_options"] == {"test_fraction": 0.5}
    meta = json.loads((run / "model.json").read_text())
    assert meta["latent_of"] == {"scale": 0, "orientation": 1, "pos_x": 2, "pos_y": 3}  # shape shares the rest
    proc = dcign("evaluate", run, "--no-metrics")
    assert "test MSE per pixel" in proc.stdout
    m = json.loads((run / "report" / "metrics.json").read_text())
    assert m["dataset"] == "dsprites" and set(m["fig6"]) | set(m["fig6_skipped"]) == {"scale", "orientation", "pos_x", "pos_y"}
    assert len(m["fig6"]) >= 2 and all(-1 <= r["spearman"] <= 1 for r in m["fig6"].values())
    assert set(m["active_variance_share"]) <= {"shape", "scale", "orientation", "pos_x", "pos_y"}
    assert len(m["active_variance_share"]) >= 3
    assert 0 < m["test_mse"] < 0.3 and all(0 <= v <= 1 for v in m["active_variance_share"].values())
    for name in ("report.md", "fig6.png", "reconstructions.png", "traversal_scale.png"):
        assert (run / "report" / name).is_file()
    out = tmp_path / "cmp"
    dcign("compare", run, "--dataset", "dsprites", "--out", out)
    table = (out / "compare.md").read_text()
    assert "Spearman scale" in table and "Spearman azimuth" not in table
    refused = dcign("compare", run, "--dataset", "faces", "--out", tmp_path / "cmp2", check=False)
    assert refused.returncode == 2 and "evaluated on 'dsprites'" in refused.stderr


def test_data_sample_from_files_in_colour(tmp_path):
    f = pl.write_3dshapes(tmp_path / "3dshapes.h5")
    dcign("data", "sample", "--dataset", f"3dshapes:{f}", "--factor", "orientation", "--batch-size", "4",
          "--channels", "3", "--size", "32", "--out", tmp_path / "s")
    records = json.loads((tmp_path / "s" / "factors.json").read_text())
    assert len(records) == 4 and len({r["orientation"] for r in records}) == 2 and len({r["shape"] for r in records}) == 1
    assert records[0]["orientation_value"] == -30.0
    with Image.open(tmp_path / "s" / "images" / "000.png") as im:
        assert im.mode == "RGB" and im.size == (32, 32)


@pytest.mark.parametrize("args, message", [
    (["train", "--dataset", "dsprites:{tmp}/none.npz"], "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"),
    (["train", "--dataset", "dsprites:{bad}"], "not an .npz"),
    (["train", "--dataset", "dsprites:{tmp}", "--latent-layout", "azimuth=0"], "has no factor|does not have"),
    (["train", "--dataset", "faces", "--channels", "3"], "renders grey"),
    (["train", "--dataset", "dcign-t7:{tmp}", "--method", "ada-gvae"], "FT_training"),
    (["data", "sample", "--dataset", "folder:{tmp}"], "no factors.csv"),
])
def test_bad_file_input_is_one_error_line_and_writes_nothing(tmp_path, dsprites, args, message):
    import shutil

    shutil.copy(dsprites, tmp_path / dsprites.name)
    (tmp_path / "bad.npz").write_text("not a zip")
    out = tmp_path / "out"
    args = [a.format(tmp=tmp_path, bad=tmp_path / "bad.npz") for a in args]
    from typer.testing import CliRunner

    from dcign.cli import app

    result = CliRunner().invoke(app, [*args, "--out", str(out)])  # in-process: these fail before any training
    stderr = result.stderr if hasattr(result, "stderr") else result.output
    assert result.exit_code == 2, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.search(message, errors[0]), stderr
    assert not out.exists()
