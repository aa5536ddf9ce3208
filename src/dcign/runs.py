"""Train a run and export it: what ``dcign train`` and ``dcign reproduce`` both do.

Training ends by fitting the degrees -> latent maps on training identities (for
``dcign render --set azimuth=30``) and writing ``model.safetensors`` + ``model.json``.
"""

from __future__ import annotations

from pathlib import Path

from .config import TrainConfig


def export_trained(net, cfg: TrainConfig, run_dir: str | Path, log=print) -> dict[str, int]:
    """Fit the angle maps of a trained network and export it; returns factor -> latent index."""
    from .evaluation.calibration import fit_angle_maps
    from .evaluation.latents import factor_latents
    from .evaluation.report import engine_for
    from .export import export_model

    net = net.cpu().eval()
    engine = engine_for(cfg)
    log("fitting degrees -> latent maps on training identities")
    latent_of = factor_latents(net.encode, engine, cfg.latent_layout, cfg.method)
    export_model(net, cfg, run_dir, fit_angle_maps(net.encode, engine, latent_of), {"latent_of": latent_of})
    return latent_of


def train_and_export(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, log=print, **trainer_options) -> None:
    """Train (or resume) ``cfg`` in ``run_dir`` with the probe monitor, then export on rank 0.

    ``trainer_options`` go to :func:`dcign.training.train` (accelerator, devices, num_nodes,
    precision, progress).

    Raises:
        ValueError, dcign.training.NonFiniteLossError: as :func:`dcign.training.train`.
    """
    from .evaluation.monitor import DisentanglementMonitor
    from .training import train

    module = train(cfg, run_dir, resume=resume, callbacks=[DisentanglementMonitor(cfg, run_dir)], **trainer_options)
    if getattr(module, "global_rank", 0) == 0:
        export_trained(module.net, cfg, run_dir, log)
