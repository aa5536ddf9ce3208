"""Negative controls of the learning test (tests/test_training.py, "Learning itself"): the
tiny problem trained with the correct clamp and with three broken ones, over several seeds.

The tiny problem: rendered faces at 32 px, a 32-px network of small-64's shape (16/32/64
channels), the paper's 200 latents, 8 images per one-factor group, 4 groups a step, batch
types 1:1:1:1, Adam lr 1e-3, 600 steps, one thread.  After training, the probe
(:class:`dcign.probe.DisentanglementProbe`: 8 validation identities, 13 angles per sweep)
measures Fig. 6's Spearman r of each factor's OWN latent (z1 azimuth, z2 elevation, z3 light).

Clamps: ``correct`` (the paper's), ``invert`` (the active mask inverted: the varied factor's
latent clamped, every other latent active), ``none`` (nothing clamped: plain SGVB on one-factor
batches) and ``all`` (every latent clamped).  What the clamp guarantees is that the varied
factor reaches the decoder through its own latent only, so only ``correct`` should give a high
|r| on z1 and z3; the test's threshold sits between the two.

Usage: python benchmarks/clamp_controls.py [--seeds 0,1,2] [--modes correct,invert,none,all] [--steps 600]
Prints one JSON line per (mode, seed): |r| per factor after --steps, and seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from dcign import model, objectives
from dcign.config import TrainConfig
from dcign.probe import DisentanglementProbe
from dcign.training import train

TINY_32 = model.Preset("tiny-32", 32, (16, 32, 64), 3, 1, (64, 4, 4), (32, 16, 1), 3, 1)
BROKEN = {"invert": lambda m: ~m, "none": torch.ones_like, "all": torch.zeros_like}


def tiny_problem(seed: int = 0, steps: int = 600) -> TrainConfig:
    """The learning test's config (registers the ``tiny-32`` preset)."""
    model.PRESETS["tiny-32"] = TINY_32
    return TrainConfig.from_dict(dict(
        preset="tiny-32", latent_dim=200, steps=steps, batch_size=8, groups_per_step=4, num_workers=0, seed=seed,
        checkpoint_every=steps, eval_every=steps, num_train_identities=40, num_test_identities=8,
        batch_weights={"azimuth": 1, "elevation": 1, "light_azimuth": 1, "identity": 1}, lr=1e-3, lr_schedule="constant"))


def run(mode: str, seed: int, steps: int) -> dict:
    original = objectives.DCIGNObjective.code

    def code(self, net, mu, logvar, batch):
        saved = self.masks
        self.masks = BROKEN[mode](saved) if mode in BROKEN else saved
        try:
            return original(self, net, mu, logvar, batch)
        finally:
            self.masks = saved

    objectives.DCIGNObjective.code = code
    try:
        cfg = tiny_problem(seed, steps)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            train(cfg, tmp, callbacks=[DisentanglementProbe(cfg, tmp)], progress=False)
            seconds = time.perf_counter() - t0
            record = json.loads((Path(tmp) / "probe.jsonl").read_text().splitlines()[-1])
    finally:
        objectives.DCIGNObjective.code = original
    factors = ("azimuth", "elevation", "light_azimuth")
    return {"mode": mode, "seed": seed, "steps": steps, **{f: round(abs(record[f]), 3) for f in factors},
            "seconds": round(seconds, 1)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--modes", default="correct,invert,none,all")
    p.add_argument("--steps", type=int, default=600)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    for mode in a.modes.split(","):
        for seed in map(int, a.seeds.split(",")):
            print(json.dumps(run(mode, seed, a.steps)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
