"""Lightning training of DC-IGN and its baselines.

* ``dcign`` -- the paper's procedure (§3.1-3.2): one-factor groups, the clamp with invariance
  targeting (:mod:`dcign.clamp`), ELBO with Bernoulli likelihood.
* ``baseline`` -- the entangled baseline of §4.1.1: the same network trained with plain SGVB
  on independently sampled images.
* ``beta-vae`` -- Higgins et al. (2017): the baseline with the KL weighted by ``beta``.
* ``ada-gvae`` -- Locatello et al. (2020): weakly supervised pairs sharing an unknown subset
  of factors.

Each method's loss is its objective in :mod:`dcign.objectives`; this module runs it with
Lightning.  Run directories hold ``config.json``, ``checkpoints/`` (:mod:`dcign.checkpoints`),
``logs/`` (TensorBoard), ``probe.jsonl`` (:mod:`dcign.probe`) and, when training ends,
``model.safetensors`` + ``model.json`` (:mod:`dcign.export`).
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from functools import partial
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import TensorBoardLogger

from .allocator import keep_freed_memory
from .atomic import atomic_write_json
from .checkpoints import (CHECKPOINT_DIR, AtomicCheckpointIO, check_restorable, checkpoint_config, last_checkpoint,
                          load_checkpoint_file, load_newest_checkpoint, newest_checkpoint, remove_temp_files, step_of)
from .config import TrainConfig, check_resumable, checkpoint_conflicts, lr_factor
from .data import RenderedSteps
from .data.datamodule import RenderedDataModule
from .data.file_stream import FileSteps, weights_override
from .distributed import check_devices, ddp_gradient_scale
from .export import export_trained
from .gpu import FastPathCallback
from .model import DCIGN
from .objectives import OBJECTIVES, Objective, objective_for
from .probe import DisentanglementProbe
from .run_logs import LOG_DIR, truncate_run_logs


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class DisentanglingVAE(L.LightningModule):
    """The network plus the training objective of ``config.method`` (:mod:`dcign.objectives`).

    Batches are dicts from :class:`dcign.data.RenderedSteps`: ``images`` (N, 1, S, S) in
    [0, 1] and ``varied`` (G,) factor indices, N = G * batch_size.

    Args:
        config: the run's :class:`~dcign.config.TrainConfig` (its plain-data form is saved in
            every checkpoint's hyper-parameters, which load with ``weights_only=True``).
    """

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config.to_dict()})
        self.cfg = config
        self.net = DCIGN(config.model.architecture())
        groups = config.file_groups() if config.is_file_data and config.method.name == "dcign" else None
        self.objective: Objective = objective_for(config, groups)
        self.skipped_nonfinite = 0  # steps dropped under on_nonfinite='skip' in this process

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Posterior means (N, D) of (N, 1, S, S) images."""
        return self.net.encode(images)[0]

    def _ranks(self) -> tuple[int, int]:
        """(global rank, world size) under Lightning; (0, 1) outside a Trainer."""
        t = self._trainer
        return (t.global_rank, t.world_size) if t is not None else (0, 1)

    def losses(self, batch) -> dict[str, torch.Tensor]:
        """The objective's terms on one step (see :func:`dcign.objectives.elbo_terms`).

        Under DDP the objective draws this rank's rows of the global step's sampling noise.
        """
        self.objective.rank, self.objective.world_size = self._ranks()
        return self.objective(self.net, batch)

    def _last_good_checkpoint(self) -> str | None:
        """'PATH (step N)' of the newest checkpoint written (or why it is unknown); None if there is none."""
        cb = self._trainer.checkpoint_callback if self._trainer is not None else None
        dirpath = getattr(cb, "dirpath", None)
        if dirpath:
            try:
                found = newest_checkpoint(Path(dirpath))
            except ValueError as exc:
                return f"unknown ({exc})"
            if found is not None:
                return f"{found[0]} (step {found[1]})"
        return None

    def _nonfinite(self, what: str, done: str = "weights were not updated") -> None:
        """Stop with a message naming the step and the last good checkpoint."""
        last = self._last_good_checkpoint()
        if last is None:  # nothing to resume: --resume would keep the learning rate
            last = "none yet (the run stopped before its first checkpoint)"
            run = self._trainer.default_root_dir if self._trainer is not None else "the run folder"
            fix = (f"No checkpoint was saved: delete {run} (or choose another --out) and train again with a lower "
                   "learning rate (--lr), or with on_nonfinite='skip' (--on-nonfinite skip) to drop such batches.")
        else:
            fix = ("Train a new run with a lower learning rate (--resume keeps it), or resume with on_nonfinite='skip' "
                   "(--on-nonfinite skip) to drop such batches.")
        raise NonFiniteLossError(
            f"{what} at step {self.global_step + 1} (after {self.global_step} completed steps); {done}. "
            f"Last good checkpoint: {last}. {fix}"
        )

    def training_step(self, batch, batch_idx):
        """This rank's objective, summed over its images.

        The finiteness check is agreed by all DDP ranks, so they skip (or stop) together.
        """
        out = self.losses(batch)
        loss = out["loss"]
        finite = bool(torch.isfinite(loss))
        if self._trainer is not None and self.trainer.world_size > 1:
            finite = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        if not finite:
            if self.cfg.run.on_nonfinite == "skip":
                self.log("train/skipped_nonfinite", 1.0)
                self.skipped_nonfinite += 1
                return None  # Lightning skips backward and the parameters get no gradient
            self._nonfinite(f"non-finite loss ({loss.item()})")
        n = batch["images"].shape[0]
        self.log("train/loss", out["loss_per_image"], prog_bar=True, batch_size=n)
        self.log("train/reconstruction", out["reconstruction"], batch_size=n)
        self.log("train/kl", out["kl"], batch_size=n)
        self.log("train/elbo", out["elbo"], batch_size=n)
        return loss

    def on_after_backward(self) -> None:
        # DDP has averaged the gradients over the ranks (backward returns once they are
        # all-reduced); scaling by the world size makes them the one-process gradient of the
        # global step, the injected invariance-targeting gradients included (dcign.distributed).
        world = self._ranks()[1]
        if world > 1:
            for p in self.parameters():
                if p.grad is not None:
                    p.grad.mul_(ddp_gradient_scale(world))

    def optimiser(self) -> torch.optim.Optimizer:
        """A new optimiser of the run's kind and learning rate over the module's parameters, without
        its schedule (for code that steps it by hand, e.g. the benchmarks)."""
        run = self.cfg.run
        if run.optimizer == "adam":
            return torch.optim.Adam(self.parameters(), lr=run.lr, betas=(0.9, 0.99))
        return torch.optim.RMSprop(self.parameters(), lr=run.lr)

    def configure_optimizers(self):
        """The optimiser; with ``lr_schedule='cosine'`` also its per-step schedule (:func:`dcign.config.lr_factor`)."""
        run = self.cfg.run
        opt = self.optimiser()
        if run.lr_schedule == "constant":
            return opt
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, partial(lr_factor, run))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_before_optimizer_step(self, optimizer) -> None:
        # A finite loss can still overflow to inf gradients, which Adam turns into NaN weights.
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if grads and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()):
            if self.cfg.run.on_nonfinite == "skip":
                self.log("train/skipped_nonfinite", 1.0)
                self.skipped_nonfinite += 1
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


class FinalCheckpoint(L.Callback):
    """Writes the full training state to ``path`` when training ends (``--resume`` needs it).

    Saved inside the training processes (rank 0 writes), not after ``fit`` returns: with
    'ddp_spawn' the launching process gets the weights back but not the optimiser state.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.interrupted = False

    def on_train_end(self, trainer, pl_module) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)

    def on_exception(self, trainer, pl_module, exception) -> None:
        """Ctrl-C: say how to go on (Lightning then exits with status 1; :func:`train` turns that
        back into the KeyboardInterrupt, which ``dcign`` reports with status 130)."""
        self.interrupted = self.interrupted or isinstance(exception, KeyboardInterrupt)
        if isinstance(exception, KeyboardInterrupt) and trainer.is_global_zero:
            run = self.path.parent.parent
            print(f"interrupted after {trainer.global_step} steps; continue with `dcign train --out {run} --resume` "
                  f"(from the newest checkpoint in {self.path.parent})", file=sys.stderr)


def make_dataset(cfg: TrainConfig, start_step: int = 0, split: str = "train") -> RenderedSteps | FileSteps:
    """The stream of training steps of ``cfg``, in the mode its method's objective expects.

    Raises:
        ValueError: (for a user's data set, :class:`~dcign.data.sources.DataSourceError`)
            a data set that cannot be read or cannot give the steps asked for.
    """
    d = cfg.data
    if cfg.is_file_data:
        return FileSteps(d.dataset, d.dataset_options, d.batch_size, d.groups_per_step,
                         weights_override(d.batch_weights), OBJECTIVES[cfg.method.name].data_mode, seed=cfg.run.seed,
                         start_step=start_step, split=split, channels=cfg.model.channels, size=cfg.image_size)
    return RenderedSteps(cfg.engine_config(), d.batch_size, d.groups_per_step, d.batch_weights,
                         OBJECTIVES[cfg.method.name].data_mode, seed=cfg.run.seed, start_step=start_step, split=split)


def train(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, callbacks=(), accelerator: str = "auto",
          devices="auto", num_nodes: int = 1, precision: str = "32-true", progress: bool = True,
          strategy: str = "auto", channels_last: bool | None = None, compile: bool | None = None) -> DisentanglingVAE:
    """Train (or resume) a run in ``run_dir``; returns the trained module.

    Several processes (``devices`` > 1 or ``num_nodes`` > 1) train with Lightning's DDP
    (``strategy`` 'auto' = 'ddp', which re-runs the command for ranks 1..; 'ddp_spawn'
    starts them from this process): each rank renders its own whole one-factor groups, and
    the run equals one process fed all ranks' groups (:mod:`dcign.distributed`).  Only
    global rank 0 writes config.json, checkpoints, logs.  ``channels_last`` / ``compile``:
    :mod:`dcign.gpu` (None = the device's measured default).

    ``run_dir/config.json`` is written once Lightning's Trainer is set up (so a bad
    accelerator, device count or precision writes nothing); with ``resume`` it must match
    ``cfg`` in every key except :data:`dcign.config.RESUME_MAY_CHANGE` (``steps``, which
    may grow, ``time_limit``, ``num_workers`` and ``on_nonfinite``).  With ``cfg.run.time_limit``
    training stops at the end of the step in which that many minutes of training have passed
    (Lightning's ``max_time``; its clock is saved in checkpoints, so the minutes add up over
    resumes), even before ``cfg.run.steps``; a resumed run whose minutes are spent takes one
    more step unless ``time_limit`` is raised.  Resuming
    continues from the newest checkpoint that loads (from step 0 if the run was killed before
    its first one), deletes temporary files left by killed writes and cuts ``probe.jsonl`` and
    the TensorBoard logs back to the checkpoint's step (:func:`dcign.run_logs.truncate_run_logs`).
    The same config and seed give bitwise-identical weights on the same machine (CPU),
    resumed or not.

    Raises:
        ValueError: the run folder, its ``checkpoints`` or ``logs`` a file; resuming a folder
            without config.json, or with a different config, or from a checkpoint that does not
            fit the model and optimiser (:func:`dcign.checkpoints.check_restorable`); an
            accelerator / devices / num_nodes / precision that Lightning cannot set up, or
            more devices than the machine has (:func:`dcign.distributed.check_devices`).
        NonFiniteLossError: the loss became NaN/inf (with on_nonfinite='stop').
    """
    run_dir = Path(run_dir)
    check_run_folders(run_dir)
    check_devices(accelerator, devices)
    keep_freed_memory()  # a step re-faulted its whole working set without this (dcign.allocator)
    cfg = cfg.with_data_version()  # record what the engine renders now
    start_step, ckpt, saved = 0, None, None
    if resume:
        check_resumable(run_dir, cfg)
        found = load_newest_checkpoint(run_dir / CHECKPOINT_DIR)  # raises on a damaged/tampered checkpoint
        if found is not None:
            ckpt, start_step, saved = found
            check_checkpoint_config(saved, ckpt, cfg)
        else:  # killed before the first checkpoint; the run restarts from step 0 (same stream, same result)
            print(f"{run_dir} has no checkpoint yet: training starts again from step 0", file=sys.stderr)
    checkpoint = ModelCheckpoint(dirpath=run_dir / CHECKPOINT_DIR, filename="step{step:07d}", auto_insert_metric_name=False,
                                 every_n_train_steps=cfg.run.checkpoint_every, save_top_k=1, save_last=True,
                                 enable_version_counter=False)  # always overwrite: resume reads last.ckpt
    final = FinalCheckpoint(last_checkpoint(run_dir))
    try:  # set up (and so check accelerator / devices / precision) before writing anything
        trainer = L.Trainer(
            default_root_dir=run_dir, max_steps=cfg.run.steps, max_time=_max_time(cfg), accelerator=accelerator, devices=devices, num_nodes=num_nodes,
            precision=precision, strategy=strategy, logger=TensorBoardLogger(run_dir, name=LOG_DIR, version=""),
            callbacks=[checkpoint, FastPathCallback(channels_last, compile), final,
                       *([TQDMProgressBar(refresh_rate=10)] if progress else []), *callbacks],
            plugins=[AtomicCheckpointIO()], enable_progress_bar=progress, enable_model_summary=False,
            log_every_n_steps=10, num_sanity_val_steps=0, deterministic=False, limit_val_batches=0,
            use_distributed_sampler=False,  # the stream shards itself (whole groups per rank)
        )
    except (MisconfigurationException, ValueError, TypeError) as exc:  # Lightning raises any of these
        raise ValueError(f"cannot set up training with accelerator={accelerator!r}, devices={devices!r}, "
                         f"num_nodes={num_nodes!r}, precision={precision!r}: {exc}") from None
    steps = make_dataset(cfg, start_step)  # a user's data set is read (and refused) before anything is written
    L.seed_everything(cfg.run.seed, workers=True, verbose=False)
    # Lightning's DDP set-up re-seeds each rank from PL_GLOBAL_SEED once the model is built,
    # which would start a multi-process run's sampling noise elsewhere than a one-process
    # run's.  Every rank builds (or, spawned, inherits) the model from this same state: keep it.
    os.environ.pop("PL_GLOBAL_SEED", None)
    module = DisentanglingVAE(cfg)  # checks a user's data set against the latent layout
    if saved is not None:  # Lightning would fail mid-restore (or drop an empty optimiser state) with its own words
        check_restorable(saved, ckpt, module, module.optimiser(), schedulers=int(cfg.run.lr_schedule != "constant"))
        del saved
    if trainer.is_global_zero:  # with strategy 'ddp' every rank runs this function; one writes
        if resume:
            for folder in (run_dir, run_dir / CHECKPOINT_DIR):
                remove_temp_files(folder)  # left by a write that was killed; the renamed files are whole
            truncate_run_logs(run_dir, start_step)  # probe rows / events of the steps to redo, torn tails
        atomic_write_json(run_dir / "config.json", cfg.to_dict())
    data = RenderedDataModule(steps, cfg.run.num_workers)
    try:
        trainer.fit(module, datamodule=data, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
    except SystemExit:  # Lightning's graceful Ctrl-C shutdown ends with exit(1)
        if final.interrupted:
            raise KeyboardInterrupt from None
        raise
    return module


def check_run_folders(run_dir: Path) -> None:
    """Refuse a run folder, or its ``checkpoints`` / ``logs`` folder, that is a file (Lightning
    would fail with "File exists" and no path; a resume would not see the checkpoints).

    Raises:
        ValueError: the path, and the fix.
    """
    for folder, holds in ((run_dir, "the run"), (run_dir / CHECKPOINT_DIR, "checkpoints"), (run_dir / LOG_DIR, "logs")):
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{folder} is a file, but training keeps {holds} in a folder of that name; "
                             f"move the file away, or choose another --out")


def check_checkpoint_config(checkpoint: dict, ckpt: Path, cfg: TrainConfig) -> None:
    """Refuse to resume the loaded checkpoint ``ckpt`` under a config that differs from the one
    it was trained with (its hyper-parameters) in a key other than
    :data:`dcign.config.RESUME_MAY_CHANGE`: a hand-edited config.json would otherwise relabel
    the weights (e.g. another method or layout).  A checkpoint without a stored config cannot
    be checked: that is said on stderr, and the resume goes on.

    Raises:
        ValueError: the keys that differ, and the fix.
    """
    trained = checkpoint_config(checkpoint)
    if trained is None:  # a checkpoint written before the config was stored in it, or edited
        print(f"{ckpt} holds no training config: config.json cannot be checked against it", file=sys.stderr)
        return
    now = cfg.to_dict()
    changed = checkpoint_conflicts(trained, now)
    if changed:
        raise ValueError(f"cannot resume {ckpt.parent.parent}: its config.json differs from what {ckpt.name} was trained with in "
                         f"{', '.join(f'{k} ({trained[k]!r} -> {now[k]!r})' for k in changed)}; put those values back in "
                         f"config.json, or train a new run")


def _max_time(cfg: TrainConfig) -> timedelta | None:
    """Lightning's ``max_time`` of a run: its ``time_limit`` minutes, or None (no limit)."""
    return None if cfg.run.time_limit is None else timedelta(minutes=cfg.run.time_limit)


def train_and_export(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, log=print, **trainer_options) -> None:
    """Train (or resume) ``cfg`` in ``run_dir`` with the probe, then export on rank 0: what
    ``dcign train`` and ``dcign reproduce`` both do.

    Export fits the degrees -> latent maps on training identities and writes
    ``model.safetensors`` + ``model.json`` (:func:`dcign.export.export_trained`); model.json's
    ``trained_steps`` is the optimiser steps done (fewer than ``steps`` when ``time_limit`` ran out).
    ``trainer_options`` go to :func:`train` (accelerator, devices, num_nodes, precision, progress).

    Raises:
        ValueError, NonFiniteLossError: as :func:`train`.
    """
    cfg = cfg.with_data_version()  # model.json records the data version, as config.json does
    probe = [] if cfg.is_file_data else [DisentanglementProbe(cfg, run_dir)]  # the probe renders engine sweeps
    module = train(cfg, run_dir, resume=resume, callbacks=probe, **trainer_options)
    if getattr(module, "global_rank", 0) == 0:
        last = last_checkpoint(run_dir)
        done = step_of(load_checkpoint_file(last), last)  # under ddp_spawn only the workers' trainers count
        if done < cfg.run.steps:
            log(f"stopped at step {done} of {cfg.run.steps}: the time limit of {cfg.run.time_limit:g} min ran out")
        if module.skipped_nonfinite:  # --on-nonfinite skip: say how much of the training was dropped
            log(f"warning: {module.skipped_nonfinite} steps of this session were skipped for a non-finite loss or gradient "
                f"(--on-nonfinite skip); if that is many, the exported model learnt little: train again with a lower --lr")
        export_trained(module.net, cfg, run_dir, log, extra={"trained_steps": done})
