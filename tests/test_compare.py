"""dcign.evaluation.compare: side-by-side table, JSON and bar chart of evaluated runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dcign.evaluation.compare import MISSING, compare_runs

NAMES = ("beta_vae_score", "factor_vae_score", "mig", "dci", "sap", "modularity")


def _run(root: Path, name: str, metrics: dict) -> Path:
    run = root / name
    (run / "report").mkdir(parents=True)
    (run / "report" / "metrics.json").write_text(json.dumps(metrics))
    return run


def _dcign_metrics() -> dict:
    headline = {n: 0.1 * (i + 1) for i, n in enumerate(NAMES)}
    headline.update({f"{n}_grouped": 0.9 - 0.1 * i for i, n in enumerate(NAMES)})
    return {
        "method": "dcign", "dataset": "faces", "preset": "small-64", "test_mse": 0.0123,
        "fig6": {"azimuth": {"pearson": 0.9, "spearman": 0.91},
                 "elevation": {"pearson": 0.8, "spearman": -0.82},
                 "light_azimuth": {"pearson": 0.99, "spearman": 0.987}},
        "disentanglement": {"headline": headline, "settings": {"fast": True}},
    }


def _baseline_metrics() -> dict:  # an older report: no disentanglement, no elevation
    return {
        "method": "baseline", "dataset": "faces", "preset": "small-64", "test_mse": 0.02,
        "fig6": {"azimuth": {"pearson": 0.3, "spearman": 0.25}, "light_azimuth": {"spearman": "n/a"}},
    }


def test_two_runs_table_json_png(tmp_path):
    a = _run(tmp_path, "dcign-run", _dcign_metrics())
    b = _run(tmp_path, "baseline-run", _baseline_metrics())
    out = tmp_path / "cmp"
    result = compare_runs([a, b], out)

    md = (out / "compare.md").read_text()
    assert "dcign-run" in md and "baseline-run" in md
    dcign_row, = [line for line in md.splitlines() if line.startswith("| dcign-run |")]
    baseline_row, = [line for line in md.splitlines() if line.startswith("| baseline-run |")]
    assert "0.910" in dcign_row and "-0.820" in dcign_row and "0.987" in dcign_row
    assert "1.230e-02" in dcign_row and "fast" in dcign_row
    assert "0.600" in dcign_row and "0.400" in dcign_row  # a metric headline and a grouped one
    assert baseline_row.count(MISSING) >= 2 + len(NAMES) * 2 + 1  # elevation, light, metrics, settings
    header = md.splitlines()[[i for i, l in enumerate(md.splitlines()) if l.startswith("| run")][0]]
    assert "MIG (grouped)" in header and "Spearman azimuth" in header and "test MSE" in header

    on_disk = json.loads((out / "compare.json").read_text())
    assert on_disk == result
    runs = {r["run"]: r for r in result["runs"]}
    assert runs["baseline-run"]["spearman"] == {"azimuth": 0.25, "elevation": None, "light_azimuth": None}
    assert runs["baseline-run"]["headline"]["mig"] is None
    assert runs["baseline-run"]["headline"]["mig_grouped"] is None
    assert runs["dcign-run"]["headline"]["mig"] == pytest.approx(0.3)
    assert result["grouped_metrics"] == [f"{n}_grouped" for n in NAMES]

    png = (out / "compare.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_missing_report_is_a_clear_error(tmp_path):
    good = _run(tmp_path, "good", _dcign_metrics())
    bad = tmp_path / "not-evaluated"
    bad.mkdir()
    with pytest.raises(ValueError, match=r"not-evaluated.*dcign evaluate .*not-evaluated"):
        compare_runs([good, bad], tmp_path / "cmp")
    assert not (tmp_path / "cmp" / "compare.md").exists()


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="at least one"):
        compare_runs([], tmp_path / "cmp")
    broken = tmp_path / "broken"
    (broken / "report").mkdir(parents=True)
    (broken / "report" / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.*dcign evaluate"):
        compare_runs([broken], tmp_path / "cmp")


def test_same_names_are_told_apart(tmp_path):
    a = _run(tmp_path / "x", "run", _baseline_metrics())
    b = _run(tmp_path / "y", "run", _baseline_metrics())
    result = compare_runs([a, b], tmp_path / "cmp")
    assert [r["run"] for r in result["runs"]] == [str(a), str(b)]
    assert result["grouped_metrics"] == []
    assert "(grouped)" not in (tmp_path / "cmp" / "compare.md").read_text().split("![")[0].split("| run")[1]
