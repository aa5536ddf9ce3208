"""Lightning DataModule over a rendered stream: one shard per DDP rank, pinned memory on a GPU.

Lightning calls :meth:`RenderedDataModule.train_dataloader` in every process once its rank
is known (after the DDP processes have started), so each rank renders its own share of
every global step (:meth:`dcign.data.RenderedSteps.shard`).  An iterable stream cannot go
through Lightning's DistributedSampler; sharding in the stream keeps each one-factor group
whole on one rank.
"""

from __future__ import annotations

import lightning as L

from .stream import RenderedSteps, make_loader


class RenderedDataModule(L.LightningDataModule):
    """Training batches of ``dataset``, sharded by the trainer's global rank and world size.

    Args:
        dataset: the single-process stream (rank 0 of 1); each rank gets ``dataset.shard``.
        num_workers: render processes per rank (0 renders in the training process).
        pin_memory: page-locked batches; None = when the trainer's device is a CUDA GPU.
    """

    def __init__(self, dataset: RenderedSteps, num_workers: int = 1, pin_memory: bool | None = None) -> None:
        super().__init__()
        self.dataset, self.num_workers, self.pin_memory = dataset, num_workers, pin_memory

    def train_dataloader(self):
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        pin = self.pin_memory
        if pin is None:
            pin = trainer is not None and trainer.strategy.root_device.type == "cuda"
        return make_loader(self.dataset.shard(rank, world), self.num_workers, pin_memory=pin)
