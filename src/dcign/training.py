"""Lightning training of DC-IGN and its baselines.

* ``dcign`` -- the paper's procedure (§3.1-3.2): one-factor groups, the clamp with invariance
  targeting (:mod:`dcign.clamp`), ELBO with Bernoulli likelihood.
* ``baseline`` -- the entangled baseline of §4.1.1: the same network trained with plain SGVB
  on independently sampled images.
* ``beta-vae`` -- Higgins et al. (2017): the baseline with the KL weighted by ``beta``.
* ``ada-gvae`` -- Locatello et al. (2020): weakly supervised pairs sharing an unknown subset
  of factors (see :func:`ada_gvae_posteriors`).

Run directories hold ``config.json``, ``checkpoints/`` (Lightning, written atomically),
``logs/`` (TensorBoard) and, when training ends, ``model.safetensors`` + ``model.json``.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from .clamp import clamp_groups
from .config import TrainConfig, resume_conflicts
from .data import EngineConfig, RenderedSteps, make_loader
from .factors import FACTORS
from .io import atomic_write_bytes, atomic_write_json
from .model import DCIGN, get_preset, kl_divergence, reconstruction_loss

CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file and renamed; loaded with ``weights_only=True``."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        buf = io.BytesIO()
        torch.save(checkpoint, buf)
        atomic_write_bytes(path, buf.getvalue())

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        return load_checkpoint_file(path, map_location)


def load_checkpoint_file(path, map_location="cpu") -> dict:
    """Load a training checkpoint without executing pickled code (``weights_only=True``).

    Raises:
        ValueError: missing, corrupt or not a plain-data checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt zip, unpickling refused, truncated file, ...
        raise ValueError(f"cannot load checkpoint {path} safely: {str(exc).splitlines()[0]}") from exc


def ada_gvae_posteriors(mu1, logvar1, mu2, logvar2):
    """Adaptive group posteriors of Ada-GVAE (Locatello et al. 2020, eq. 7-8).

    For each pair the per-latent KL between the two posteriors is computed; latents with
    KL below the midpoint of its range (0.5 * (max + min)) are taken as shared and their
    posteriors replaced by the average of the pair (mean of mu and of variance).

    Args: (N, D) posterior parameters of the first and second images of N pairs.
    Returns: the four adapted tensors, same shapes.
    """
    var1, var2 = logvar1.exp(), logvar2.exp()
    kl = 0.5 * (var1 / var2 + (mu2 - mu1) ** 2 / var2 - 1 + logvar2 - logvar1)
    kl = 0.5 * (kl + 0.5 * (var2 / var1 + (mu1 - mu2) ** 2 / var1 - 1 + logvar1 - logvar2))
    threshold = 0.5 * (kl.max(dim=1, keepdim=True).values + kl.min(dim=1, keepdim=True).values)
    shared = kl < threshold
    mu_avg, var_avg = 0.5 * (mu1 + mu2), 0.5 * (var1 + var2)
    lv_avg = var_avg.log()
    return (
        torch.where(shared, mu_avg, mu1),
        torch.where(shared, lv_avg, logvar1),
        torch.where(shared, mu_avg, mu2),
        torch.where(shared, lv_avg, logvar2),
    )


class DisentanglingVAE(L.LightningModule):
    """The network plus the training objective of ``config.method``.

    Batches are dicts from :class:`dcign.data.RenderedSteps`: ``images`` (N, 1, S, S) in
    [0, 1] and ``varied`` (G,) factor indices, N = G * batch_size.
    """

    def __init__(self, config: dict) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.cfg = TrainConfig.from_dict(config)
        self.net = DCIGN(get_preset(self.cfg.preset, self.cfg.latent_dim))
        masks = torch.zeros(len(FACTORS), self.cfg.latent_dim, dtype=torch.bool)
        for i, f in enumerate(FACTORS):
            masks[i, self.cfg.group_latents()[f]] = True
        self.register_buffer("masks", masks, persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Posterior means (N, D) of (N, 1, S, S) images."""
        return self.net.encode(images)[0]

    def losses(self, batch) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        x = batch["images"]
        mu, logvar = self.net.encode(x)
        kl_weight = torch.ones_like(mu)
        if cfg.method == "dcign":
            masks = self.masks[batch["varied"]]  # (G, D) active latents of each group
            args = (masks, cfg.batch_size, cfg.invariance_lambda, cfg.clamp_reference)
            if cfg.clamp_target == "params":  # authors' code: clamp before sampling
                z = self.net.sample(clamp_groups(mu, *args), clamp_groups(logvar, *args))
            else:  # paper: clamp the sampled code
                z = clamp_groups(self.net.sample(mu, logvar), *args)
            if not cfg.kl_on_clamped:
                kl_weight = masks.repeat_interleave(cfg.batch_size, dim=0).to(mu.dtype)
        elif cfg.method == "ada-gvae":
            half = x.shape[0] // 2
            m1, l1, m2, l2 = ada_gvae_posteriors(mu[:half], logvar[:half], mu[half:], logvar[half:])
            mu, logvar = torch.cat([m1, m2]), torch.cat([l1, l2])
            z = self.net.sample(mu, logvar)
        else:
            z = self.net.sample(mu, logvar)
        rec = reconstruction_loss(self.net.decoder(z), x)
        kl_terms = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
        kl = (kl_terms * kl_weight).sum(1)
        # The objective is SUMMED over images, as in the authors' Torch7 code (criteria with
        # sizeAverage = false): each image's latents then get an unscaled ELBO gradient, which
        # is the scale the invariance-targeting gradient lambda * (z - mean) replaces (paper
        # §3.1).  Adam and RMSprop are invariant to the overall scale of the loss.
        per_image = rec + cfg.beta * kl
        return {"loss": per_image.sum(), "loss_per_image": per_image.mean(), "reconstruction": rec.mean(),
                "kl": kl.mean(), "elbo": -(rec + kl_divergence(mu, logvar)).mean()}

    def _last_good_checkpoint(self) -> str:
        """'PATH (step N)' of the newest checkpoint written, or a note that there is none."""
        cb = self._trainer.checkpoint_callback if self._trainer is not None else None
        dirpath = getattr(cb, "dirpath", None)
        if dirpath:
            try:
                found = newest_checkpoint(Path(dirpath))
            except ValueError as exc:
                return f"unknown ({exc})"
            if found is not None:
                return f"{found[0]} (step {found[1]})"
        return "none yet (the run stopped before its first checkpoint)"

    def _nonfinite(self, what: str, done: str = "weights were not updated") -> None:
        """Stop with a message naming the step and the last good checkpoint."""
        raise NonFiniteLossError(
            f"{what} at step {self.global_step + 1} (after {self.global_step} completed steps); {done}. "
            f"Last good checkpoint: {self._last_good_checkpoint()}. "
            "Lower the learning rate, or set on_nonfinite='skip' (--on-nonfinite skip) to drop such batches."
        )

    def training_step(self, batch, batch_idx):
        out = self.losses(batch)
        loss = out["loss"]
        if not torch.isfinite(loss):
            if self.cfg.on_nonfinite == "skip":
                self.log("train/skipped_nonfinite", 1.0)
                return None  # Lightning skips backward and the parameters get no gradient
            self._nonfinite(f"non-finite loss ({loss.item()})")
        n = batch["images"].shape[0]
        self.log("train/loss", out["loss_per_image"], prog_bar=True, batch_size=n)
        self.log("train/reconstruction", out["reconstruction"], batch_size=n)
        self.log("train/kl", out["kl"], batch_size=n)
        self.log("train/elbo", out["elbo"], batch_size=n)
        return loss

    def configure_optimizers(self):
        if self.cfg.optimizer == "adam":
            return torch.optim.Adam(self.parameters(), lr=self.cfg.lr, betas=(0.9, 0.99))
        return torch.optim.RMSprop(self.parameters(), lr=self.cfg.lr)

    def on_before_optimizer_step(self, optimizer) -> None:
        # A finite loss can still overflow to inf gradients, which Adam turns into NaN weights.
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if grads and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()):
            if self.cfg.on_nonfinite == "skip":
                self.log("train/skipped_nonfinite", 1.0)
                for p in self.parameters():
                    p.grad = None  # the optimiser leaves parameters without gradient alone
                return
            self._nonfinite("non-finite gradient")

    def on_save_checkpoint(self, checkpoint) -> None:
        bad = [k for k, v in checkpoint["state_dict"].items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:  # never write NaN weights (the checks above should make this unreachable)
            self._nonfinite(f"non-finite weights ({bad[0]})", "the checkpoint was not written")
        pending = getattr(self, "_pending_rng", None)
        if pending:  # restored but no step taken yet (e.g. resuming a finished run): keep that state
            checkpoint.update(pending)
            return
        checkpoint["torch_rng_state"] = torch.get_rng_state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            checkpoint["cuda_rng_state"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint) -> None:
        # Applied at the first training batch, not here: Lightning builds the DataLoader iterator
        # after restoring, and that draws a base seed from the global torch RNG, which would
        # shift the sampling noise of a resumed run against an uninterrupted one.
        self._pending_rng = {k: checkpoint[k] for k in ("torch_rng_state", "cuda_rng_state") if k in checkpoint}

    def on_train_batch_start(self, batch, batch_idx) -> None:
        pending = getattr(self, "_pending_rng", None)
        if pending:
            if "torch_rng_state" in pending:
                torch.set_rng_state(pending["torch_rng_state"])
            if "cuda_rng_state" in pending and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(pending["cuda_rng_state"])
        self._pending_rng = None


def data_mode(method: str) -> str:
    return {"dcign": "one_factor", "ada-gvae": "pairs"}.get(method, "random")


def make_dataset(cfg: TrainConfig, start_step: int = 0, split: str = "train") -> RenderedSteps:
    engine = EngineConfig(cfg.dataset, cfg.image_size, cfg.data_seed, cfg.num_train_identities, cfg.num_test_identities)
    return RenderedSteps(engine, cfg.batch_size, cfg.groups_per_step, cfg.batch_weights, data_mode(cfg.method),
                         seed=cfg.seed, start_step=start_step, split=split)


def last_checkpoint(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / LAST_CHECKPOINT


def remove_temp_files(folder: Path) -> list[Path]:
    """Delete the ``.NAME.XXXX.tmp`` files a killed atomic write leaves behind; returns them."""
    removed = []
    if Path(folder).is_dir():
        for f in Path(folder).glob(".*.tmp"):
            if f.is_file():
                f.unlink(missing_ok=True)
                removed.append(f)
    return removed


def newest_checkpoint(folder: Path) -> tuple[Path, int] | None:
    """The checkpoint in ``folder`` with the most completed steps, and its step (None if none).

    ``last.ckpt`` is preferred on ties.  A run killed between writing ``stepN.ckpt`` and
    ``last.ckpt`` thus resumes from step N.  Checkpoints are written atomically, so one that
    does not load was damaged or tampered with: that raises ValueError rather than being
    skipped (which would silently restart the run).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    def claimed(p: Path) -> int:  # step from the file name, to try the newest first
        m = re.match(r"step(\d+)", p.name)
        return int(m.group(1)) if m else -1
    candidates = sorted((p for p in folder.glob("*.ckpt") if p.is_file() and p.name != LAST_CHECKPOINT),
                        key=claimed, reverse=True)
    if (folder / LAST_CHECKPOINT).is_file():
        candidates.insert(0, folder / LAST_CHECKPOINT)
    best = None
    for p in candidates:
        if best is not None and p.name != LAST_CHECKPOINT and 0 <= claimed(p) <= best[1]:
            continue
        try:
            step = int(load_checkpoint_file(p)["global_step"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"checkpoint {p} holds no global_step; it is not a dcign training checkpoint") from exc
        if best is None or step > best[1]:
            best = (p, step)
    return best


def train(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, callbacks=(), accelerator: str = "auto",
          devices="auto", num_nodes: int = 1, precision: str = "32-true", progress: bool = True) -> DisentanglingVAE:
    """Train (or resume) a run in ``run_dir``; returns the trained module.

    ``run_dir/config.json`` is written once Lightning's Trainer is set up (so a bad
    accelerator, device count or precision writes nothing); with ``resume`` it must match
    ``cfg`` in every field except :data:`dcign.config.RESUME_MAY_CHANGE` (``steps``, which
    may grow, ``num_workers`` and ``on_nonfinite``).  Resuming
    continues from the newest checkpoint that loads (from step 0 if the run was killed before
    its first one) and deletes temporary files left by killed writes.  The same config and
    seed give bitwise-identical weights on the same machine (CPU), resumed or not.

    Raises:
        ValueError: resuming a folder without config.json, or with a different config; an
            accelerator / devices / num_nodes / precision that Lightning cannot set up.
        NonFiniteLossError: the loss became NaN/inf (with on_nonfinite='stop').
    """
    run_dir = Path(run_dir)
    start_step, ckpt = 0, None
    if resume:
        saved = run_dir / "config.json"
        if not saved.is_file():
            raise ValueError(f"cannot resume: {saved} does not exist (train without --resume to start a new run)")
        changed = resume_conflicts(TrainConfig.load(saved), cfg)
        if changed:
            raise ValueError(f"cannot resume {run_dir} with a different config: {', '.join(changed)} differ from its config.json")
        found = newest_checkpoint(run_dir / CHECKPOINT_DIR)  # raises on a damaged/tampered checkpoint
        for folder in (run_dir, run_dir / CHECKPOINT_DIR):
            remove_temp_files(folder)  # left by a write that was killed; the renamed files are whole
        if found is not None:
            ckpt, start_step = found
        # else: killed before the first checkpoint; the run restarts from step 0 (same stream, same result)
    checkpoint = ModelCheckpoint(dirpath=run_dir / CHECKPOINT_DIR, filename="step{step:07d}", auto_insert_metric_name=False,
                                 every_n_train_steps=cfg.checkpoint_every, save_top_k=1, save_last=True,
                                 enable_version_counter=False)  # always overwrite: resume reads last.ckpt
    try:  # set up (and so check accelerator / devices / precision) before writing anything
        trainer = L.Trainer(
            default_root_dir=run_dir, max_steps=cfg.steps, accelerator=accelerator, devices=devices, num_nodes=num_nodes,
            precision=precision, logger=TensorBoardLogger(run_dir, name="logs", version=""),
            callbacks=[checkpoint, *( [TQDMProgressBar(refresh_rate=10)] if progress else []), *callbacks],
            plugins=[AtomicCheckpointIO()], enable_progress_bar=progress, enable_model_summary=False,
            log_every_n_steps=10, num_sanity_val_steps=0, deterministic=False, limit_val_batches=0,
        )
    except (MisconfigurationException, ValueError, TypeError) as exc:  # Lightning raises any of these
        raise ValueError(f"cannot set up training with accelerator={accelerator!r}, devices={devices!r}, "
                         f"num_nodes={num_nodes!r}, precision={precision!r}: {exc}") from None
    atomic_write_json(run_dir / "config.json", json.loads(cfg.to_json()))
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module = DisentanglingVAE(json.loads(cfg.to_json()))
    loader = make_loader(make_dataset(cfg, start_step), cfg.num_workers)
    trainer.fit(module, train_dataloaders=loader, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
    trainer.save_checkpoint(last_checkpoint(run_dir), weights_only=False)  # full state: --resume needs it
    return module
