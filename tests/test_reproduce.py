"""`dcign reproduce` (dcign.reproduce): the three runs end to end at a tiny size, the
targets' verdicts, and the command line."""

import json

import numpy as np
import pytest
import torch
from support import invoke, invoke_ok

import dcign.reproduce
from dcign.config import TrainConfig
from dcign.evaluation.report import fig6
from dcign.factors import ANGLE_FACTORS
from dcign.reproduce import check_targets, reproduce, run_configs, train_run

pytestmark = pytest.mark.usefixtures("quiet")


def test_check_targets_never_calls_an_undefined_number_met():
    good = {f: {"spearman": 0.95} for f in ANGLE_FACTORS}
    worse = {f: {"spearman": -0.5} for f in ANGLE_FACTORS}
    r = {"fig6": {"dcign": good, "baseline": worse},
         "novel_view_mse": {"dcign": {"azimuth": 0.01}, "baseline": {"azimuth": 0.03}}}
    t = check_targets(r)
    assert t["novel_view_ratio"]["met"] and t["fig6_dcign"]["met"] and t["baseline_worse"]["met"]
    for f in ANGLE_FACTORS:  # a number that is missing, wherever it sits, cannot be judged
        for missing in ({}, {"spearman": None}, {"spearman": float("nan")}):
            gap = {**good, f: missing}
            assert check_targets({**r, "fig6": {"dcign": gap, "baseline": worse}})["fig6_dcign"]["met"] is None
    for bad in (float("nan"), float("inf"), 0.0, -1.0, None):
        out = check_targets({**r, "novel_view_mse": {"dcign": {"azimuth": 0.01}, "baseline": {"azimuth": bad}}})
        assert out["novel_view_ratio"]["met"] is None
    assert check_targets({"fig6": {}, "novel_view_mse": {"baseline": None}})["baseline_worse"]["met"] is None


def test_reproduce_wiring(tmp_path):
    with pytest.raises(ValueError, match="may not change"):
        run_configs(overrides={"method": "baseline"})
    assert run_configs(full=True)["faces-dcign"].model.preset == "paper-150"
    assert run_configs(full=True)["faces-dcign"].run.lr == 5e-4  # the paper's, at the paper's scale
    cpu, defaults = run_configs(), TrainConfig()
    for name in ("faces-dcign", "faces-baseline"):  # the main job's settings: dcign train's defaults
        assert (cpu[name].run.lr, cpu[name].run.steps, cpu[name].model.preset) == (defaults.run.lr, defaults.run.steps, defaults.model.preset)
    tiny = {"batch_size": 4, "groups_per_step": 1, "num_workers": 0, "num_test_identities": 10}
    kw = dict(overrides=tiny, accelerator="cpu", eval_identities=2, eval_values=4, novel_view_identities=2,
              novel_view_angles=3, progress_bar=False, progress=lambda m: None, with_metrics=False)
    out = reproduce(tmp_path, steps=3, **kw)
    saved = json.loads((tmp_path / "results.json").read_text())
    for key in ("dcign", "baseline"):
        assert set(saved["fig6"][key]) == set(ANGLE_FACTORS)
        assert all(-1 <= v["spearman"] <= 1 for v in saved["fig6"][key].values())
        assert set(saved["novel_view_mse"][key]) == set(ANGLE_FACTORS)
        assert all(0 < v < 1 for v in saved["novel_view_mse"][key].values())
    assert 0 < saved["chairs_test_mse"] < 1
    assert saved["runs"]["chairs-dcign"]["config"]["latent_layout"] == {"azimuth": [0, 1]}  # CHAIRS_LAYOUT
    assert saved["runs"]["faces-baseline"]["config"]["method"] == "baseline"
    assert all(saved["runs"][n]["config"]["steps"] == 3 for n in saved["runs"])
    report = (tmp_path / "report.md").read_text()
    assert "2.7722e-04" in report and "plot" in report
    t = saved["targets"]
    ratio = saved["novel_view_mse"]["dcign"]["azimuth"] / saved["novel_view_mse"]["baseline"]["azimuth"]
    assert t["novel_view_ratio"]["measured"] == pytest.approx(ratio)
    assert t["novel_view_ratio"]["met"] == (ratio <= 0.5)
    dc = {f: abs(v["spearman"]) for f, v in saved["fig6"]["dcign"].items()}
    assert t["fig6_dcign"]["met"] == (min(dc.values()) >= 0.9)
    assert "## Targets" in report and f"{ratio:.3f}" in report
    for png in ("fig7_azimuth.png", "fig7_elevation.png", "fig7_light_azimuth.png", "fig8_chairs.png"):
        assert (tmp_path / png).is_file()
    assert out["chairs_test_mse"] == saved["chairs_test_mse"]
    assert {v["status"] for v in saved["runs"].values()} == {"trained"}
    cfg = run_configs(steps=3, overrides=tiny)["faces-dcign"]
    assert train_run(cfg, tmp_path / "faces-dcign") == "skipped"  # resumable: model.json exists


class DeadAzimuth:
    """A stand-in encoder whose azimuth latent never moves; the others follow the image."""

    def encode(self, x):
        mean = x.flatten(1).mean(1, keepdim=True)
        mu = torch.cat([torch.zeros_like(mean), mean, -mean], 1)
        return mu, torch.zeros_like(mu)


def test_a_latent_that_never_moves_misses_its_target(faces, tmp_path):
    """Through the real path (Fig. 6 sweep -> correlations -> targets): a constant latent has
    r = 0 ("no association with the angle"), so the Fig. 6 target is missed, not unmeasurable."""
    latent_of = {"azimuth": 0, "elevation": 1, "light_azimuth": 2}
    dcign_fig6 = fig6(DeadAzimuth(), faces, latent_of, n_identities=2, n_values=4, out_dir=tmp_path)
    assert dcign_fig6["azimuth"]["spearman"] == 0.0 and dcign_fig6["elevation"]["spearman"] != 0.0
    baseline = {f: {"spearman": 0.1} for f in ANGLE_FACTORS}
    t = check_targets({"fig6": {"dcign": dcign_fig6, "baseline": baseline}, "novel_view_mse": {}})
    assert t["fig6_dcign"]["met"] is False and t["fig6_dcign"]["measured"]["azimuth"] == 0.0
    assert t["baseline_worse"]["met"] is False  # 0.1 > 0: the baseline's latent beats a dead one
    assert t["novel_view_ratio"]["met"] is None  # no novel-view numbers: not measurable


def test_cli_reproduce_prints_every_verdict(tmp_path, monkeypatch):
    seen = {}

    def fake(out, **kwargs):
        seen.update(kwargs, out=out)
        return {"novel_view_mse": {"dcign": {"azimuth": 0.01}},
                "targets": {"a": {"target": "first", "met": True}, "b": {"target": "second", "met": False},
                            "c": {"target": "third", "met": None}}}

    monkeypatch.setattr(dcign.reproduce, "reproduce", fake)
    out = invoke_ok(["reproduce", "--out", tmp_path / "r", "--steps", "3", "--accelerator", "cpu"]).stdout
    assert seen["steps"] == 3 and seen["full"] is False and seen["accelerator"] == "cpu" and seen["out"] == tmp_path / "r"
    assert "target: first: met" in out and "target: second: MISSED" in out and "target: third: not measurable" in out
    assert "novel-view MSE dcign" in out and "report:" in out
    assert "--steps must be a positive integer" in invoke(["reproduce", "--out", tmp_path / "r", "--steps", "0"])
