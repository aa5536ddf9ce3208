"""Fig. 6 pooled over identities and within identity (issue 11, item 3): dcign evaluate's
metrics.json and report.md carry both."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import exported

from dcign.evaluation.report import evaluate
from dcign.factors import ANGLE_FACTORS
from dcign.inference import correlations, within_identity_spearman

pytestmark = pytest.mark.usefixtures("one_thread", "quiet")


def test_within_identity_r_ignores_offsets_between_identities_and_keeps_their_sign():
    truth = np.tile(np.linspace(-25, 25, 5), 4)
    offsets = np.repeat([0.0, 40.0, -40.0, 80.0], 5)  # each identity monotone, offset by identity
    latent = truth * 0.1 + offsets
    assert within_identity_spearman(latent, truth, 5) == pytest.approx(1.0)
    assert correlations(latent, truth)["spearman"] < 0.5  # pooled r sees the offsets
    flipped = latent.copy()
    flipped[:15] = -flipped[:15]  # three of four identities run the other way
    assert within_identity_spearman(flipped, truth, 5) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="whole sweeps"):
        within_identity_spearman(latent[:-1], truth[:-1], 5)


def test_evaluate_reports_pooled_and_within_identity_r(tmp_path):
    run = exported(tmp_path / "run")
    m = evaluate(run, n_identities=3, n_values=4, progress=lambda _: None, metrics=False)
    saved = json.loads((run / "report" / "metrics.json").read_text())
    for f in ANGLE_FACTORS:
        r = saved["fig6"][f]
        assert -1.0 <= r["spearman"] <= 1.0 and -1.0 <= r["spearman_within"] <= 1.0, r
        assert r == m["fig6"][f]
    report = (run / "report" / "report.md").read_text()
    assert "Spearman r pooled" in report and "Spearman r within identity" in report
    row = next(line for line in report.splitlines() if line.startswith("| azimuth |"))
    assert f"{saved['fig6']['azimuth']['spearman_within']:.3f}" in row.split("|")[5]
