"""Watch the pose and light latents while training (pose is the slowest part to disentangle).

Every ``eval_every`` steps the encoder sees a small, fixed probe: 8 validation identities
(disjoint from the test identities of the report, so watching or tuning on the probe never
touches them), each sweeping one factor over 13 angles.  The Spearman r of each factor's latent,
pooled over the probe's identities, is logged to TensorBoard (``probe/<factor>_spearman``) and
appended to ``RUN_DIR/probe.jsonl`` with the within-identity r (``<factor>_within``: median over
identities of each one's sweep, :func:`dcign.inference.within_identity_spearman`) (both cut
back to the checkpoint's step on ``--resume``: :mod:`dcign.run_logs`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
import numpy as np
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only

from .factors import ANGLE_FACTORS
from .inference import correlations, encode, engine_for, factor_sweep, within_identity_spearman
from .run_logs import PROBE_FILE, PROBE_TAG_PREFIX


class DisentanglementProbe(L.Callback):
    """Lightning callback: the probe of the module docstring, for DC-IGN runs (rank 0 only).

    Args:
        cfg: the run's :class:`dcign.config.TrainConfig`; run_dir: where probe.jsonl goes.
        n_identities, n_values: test identities of the probe and angles per sweep.
    """

    def __init__(self, cfg, run_dir, n_identities: int = 8, n_values: int = 13) -> None:
        self.cfg, self.path = cfg, Path(run_dir) / PROBE_FILE
        self.n_identities, self.n_values = n_identities, n_values
        self.probe = None
        self.t0 = time.time()

    def _build(self):
        engine = engine_for(self.cfg)
        ids = engine.space.identities("validation")[: self.n_identities]
        self.probe = {}
        for f in ANGLE_FACTORS:
            if f in self.cfg.method.latent_layout:
                fs = factor_sweep(engine, f, ids, self.n_values, seed=5)
                self.probe[f] = (engine.render(fs), fs[f], self.cfg.method.latent_layout[f][0])

    @rank_zero_only
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.cfg.method.name != "dcign" or step % self.cfg.run.eval_every or step == 0:
            return
        if self.probe is None:
            self._build()
        was_training = pl_module.training
        pl_module.eval()
        record = {"step": step, "seconds": round(time.time() - self.t0, 1)}
        for f, (images, truth, k) in self.probe.items():
            z = encode(pl_module.net.encode, images, device=pl_module.device)[:, k]
            record[f] = round(correlations(z, truth)["spearman"], 4)
            record[f + "_within"] = round(within_identity_spearman(z, truth, self.n_values), 4)
            if f == "azimuth":
                record["azimuth_vs_abs"] = round(correlations(z, np.abs(truth))["spearman"], 4)
        pl_module.train(was_training)
        if trainer.logger is not None:
            trainer.logger.log_metrics({f"{PROBE_TAG_PREFIX}{k}_spearman": v for k, v in record.items() if k in ANGLE_FACTORS}, step)
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        rank_zero_info("probe " + " ".join(f"{k}={v}" for k, v in record.items()))
