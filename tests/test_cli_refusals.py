"""Issue 15: bad input is refused with one ``error:`` line, exit code 2 and nothing written."""

from __future__ import annotations

import json
import warnings

import pytest
from cli_helpers import TINY_RUN, assert_refused, dcign, make_exported_run, tree, write_png


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_exported_run(tmp_path_factory.mktemp("exported") / "run")


@pytest.mark.parametrize("args, expected", [
    (["train"], "Missing option '--out'"),
    (["train", "--out", "{tmp}/new", "--steps", "abc"], "'--steps'"),
    (["evaluate"], "Missing argument 'RUN_DIR'"),
    (["render", "--run"], "'--run' requires an argument"),
    (["data", "sample", "--out", "{tmp}/new", "--size", "1.5"], "'--size'"),
    (["nosuch"], "No such command 'nosuch'"),
])
def test_click_usage_errors_are_one_error_line(tmp_path, args, expected):
    """Before: a framed box of 4-6 lines (Typer's rich formatting of Click's usage errors)."""
    code, _, err = dcign(*(a.format(tmp=tmp_path) for a in args))
    assert_refused(code, err, expected)
    assert tree(tmp_path) == {}


def test_help_and_version_still_exit_0():
    assert dcign("--version")[:2] == (0, dcign("--version")[1]) and "dcign" in dcign("--version")[1]
    code, out, _ = dcign("train", "--help")
    assert code == 0 and "--out" in out


@pytest.mark.parametrize("where", ["", " "])
def test_an_empty_path_is_not_the_current_folder(tmp_path, monkeypatch, where):
    monkeypatch.chdir(tmp_path)
    for args in (["data", "sample", "--out", where], ["train", "--out", where, "--steps", "1"],
                 ["compare", "x", "--out", where], ["evaluate", where]):
        assert_refused(*dcign(*args)[::2], "empty path")
    assert tree(tmp_path) == {}


@pytest.mark.parametrize("option, value", [("--accelerator", "warp-drive"), ("--precision", "7-bit")])
def test_a_refused_train_set_up_leaves_no_out_folder(tmp_path, option, value):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY_RUN))
    before = tree(tmp_path)
    code, _, err = dcign("train", "--out", tmp_path / "deep" / "run", "--config", config, option, value)
    assert_refused(code, err, value)
    assert tree(tmp_path) == before  # neither run/ nor the deep/ above it


def test_render_refuses_a_factor_set_twice(run, tmp_path):
    image = write_png(tmp_path / "in.png")
    code, _, err = dcign("render", "--run", run, "--image", image, "--set", "azimuth=10", "--set", "azimuth=20",
                         "--out", tmp_path / "out.png")
    assert_refused(code, err, "--set azimuth= is given twice")
    assert not (tmp_path / "out.png").exists()
    code, _, err = dcign("render", "--run", run, "--image", image, "--set", "azimuth=10", "--set", "elevation=5",
                         "--out", tmp_path / "out.png")
    assert code == 0 and (tmp_path / "out.png").is_file(), err


@pytest.mark.parametrize("latent_of, expected", [
    ({"azimuth": 99}, "latent_of['azimuth'] must be a latent index in 0..7, got 99"),
    ({"azimuth": [0]}, "latent_of['azimuth'] must be a latent index"),
    ({"colour": 0}, "latent_of names 'colour'"),
    ([0, 1], "latent_of must be an object"),
])
def test_evaluate_refuses_a_hand_edited_latent_of(tmp_path, latent_of, expected):
    """Before: IndexError traceback from the calibration (no angle_maps to fall back on)."""
    run = make_exported_run(tmp_path / "run")
    meta = json.loads((run / "model.json").read_text())
    meta["latent_of"] = latent_of
    del meta["angle_maps"]
    (run / "model.json").write_text(json.dumps(meta))
    before = tree(run)
    assert_refused(*dcign("evaluate", run, "--no-metrics")[::2], expected)
    assert tree(run) == before  # no report/ folder


def _evaluated(root, name):
    run = root / name
    (run / "report").mkdir(parents=True)
    (run / "report" / "metrics.json").write_text(json.dumps({"method": "dcign", "test_mse": 0.01, "fig6": {}}))
    return run


def test_compare_refuses_a_run_listed_twice(tmp_path, monkeypatch):
    a, b = _evaluated(tmp_path, "a"), _evaluated(tmp_path, "b")
    before = tree(tmp_path)
    assert_refused(*dcign("compare", a, a, "--out", tmp_path / "cmp")[::2], f"run {a} is listed twice")
    monkeypatch.chdir(tmp_path)
    assert_refused(*dcign("compare", a, "b", "./a", "--out", "cmp")[::2], f"run {a} and a (the same folder) is listed twice")
    assert tree(tmp_path) == before
    code, out, err = dcign("compare", a, b, "--out", tmp_path / "cmp")
    assert code == 0 and (tmp_path / "cmp" / "compare.md").is_file(), err


def test_a_decompression_bomb_gets_the_size_refusal_alone(tmp_path, monkeypatch):
    """Before: Pillow's DecompressionBombWarning (two stderr lines) came before the refusal."""
    from PIL import Image

    from dcign.images import load_image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 40x40 = 1600 px: over the limit, under twice it
    path = write_png(tmp_path / "big.png", size=40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        with pytest.raises(ValueError, match="is 40x40 pixels; this model needs 64x64"):
            load_image(path, 64)
    huge = write_png(tmp_path / "huge.png", size=64)  # 4096 px: over twice the limit
    with pytest.raises(ValueError, match="too large to open safely"):
        load_image(huge, 64)


class _Fit(Exception):
    pass


@pytest.mark.parametrize("args, beta", [
    (["--method", "beta-vae"], 4.0),  # before: 1.0, i.e. the plain baseline, silently
    (["--method", "beta-vae", "--beta", "1"], 1.0),
    (["--method", "baseline"], (64 / 150) ** 2),  # the paper's KL weight per pixel at 64 px
    ([], (64 / 150) ** 2),  # dcign, the same
    (["--preset", "paper-150"], 1.0),  # the paper's own size: the plain ELBO
    (["--method", "ada-gvae"], 1.0),
    (["--config", "beta_vae.json"], 4.0),
])
def test_each_method_gets_its_default_kl_weight(tmp_path, monkeypatch, args, beta):
    from unittest import mock

    import lightning.pytorch as pl

    monkeypatch.chdir(tmp_path)
    (tmp_path / "beta_vae.json").write_text(json.dumps({**TINY_RUN, "method": "beta-vae"}))
    with mock.patch.object(pl.Trainer, "fit", side_effect=_Fit), pytest.raises(_Fit):
        dcign("train", "--out", "run", "--accelerator", "cpu", "--steps", "1", "--batch-size", "4", "--workers", "0", *args)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["beta"] == pytest.approx(beta, rel=1e-12)

