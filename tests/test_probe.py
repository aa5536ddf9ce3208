"""The training probe (dcign.probe): every eval_every steps, the pose and light latents'
Spearman r on a fixed test probe goes to RUN_DIR/probe.jsonl (and TensorBoard)."""

import json

import pytest
from support import tiny

from dcign.training import train_and_export

pytestmark = pytest.mark.usefixtures("one_thread", "quiet")


def test_probe_fires_every_eval_every_steps(tmp_path):
    run = tmp_path / "run"
    train_and_export(tiny(steps=4, eval_every=2, checkpoint_every=4), run, log=lambda m: None, progress=False)
    records = [json.loads(line) for line in (run / "probe.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    for r in records:
        for f in ("azimuth", "elevation", "light_azimuth", "azimuth_vs_abs", "azimuth_within", "elevation_within",
                  "light_azimuth_within"):  # pooled over identities, and within one (median)
            assert -1.0 <= r[f] <= 1.0, (f, r)
    assert records[0]["azimuth"] != records[1]["azimuth"]  # measured afresh on the trained encoder
    assert (run / "model.json").is_file()


def test_probe_stays_silent_for_methods_without_a_layout(tmp_path):
    run = tmp_path / "run"
    train_and_export(tiny(method="baseline", steps=2, eval_every=1, checkpoint_every=2), run, log=lambda m: None,
                     progress=False)
    assert not (run / "probe.jsonl").exists()
