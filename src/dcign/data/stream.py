"""PyTorch data pipeline: streams of rendered training steps.

One *step* is ``groups_per_step`` one-factor groups of ``batch_size`` images each (paper
§3.1; the paper's setting is one group of 20).  Step ``s`` depends only on ``(seed, s)``:
worker ``w`` of ``W`` renders steps ``start + w, start + w + W, ...`` and the DataLoader
interleaves workers in order, so the stream is identical for any worker count and a
resumed run continues exactly where it stopped.

Under data-parallel training (DDP, ``world_size`` processes) every rank gets its own share
of one *global* step of ``world_size * groups_per_step`` groups: rank ``r`` takes groups
``r * groups_per_step .. (r + 1) * groups_per_step - 1`` of it, always whole (each group is
clamped to its own mean, so a group is never split across ranks).  Rank ``r``'s step ``s``
is thus a pure function of ``(seed, s, r, world_size)``; the ranks together see exactly
what one process with ``world_size * groups_per_step`` groups per step sees, and with
``world_size = 1`` the stream is the single-process one, unchanged.

Workers are started with the 'spawn' context: each creates its own GL context, and none
inherits one across ``fork`` (which can hang Mesa's EGL).  Each worker waits, at exit, for
its queue's feeder thread to hand over the last batch (see :func:`_join_queue_feeders`).
"""

from __future__ import annotations

import atexit
import threading

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..factors import FACTORS, Factors, OneFactorBatchSampler
from .engine import EngineConfig, SceneEngine

MODES = ("one_factor", "random", "pairs")


class RenderedSteps(IterableDataset):
    """Endless stream of rendered training steps.

    Args:
        engine: the :class:`EngineConfig` to render with.
        batch_size: images per one-factor group (paper: 20).
        groups_per_step: one-factor groups stacked into one step.
        weights: batch-type weights (default 1:1:1:10, paper §3.2).
        mode: 'one_factor' (DC-IGN), 'random' (every factor drawn independently per
            image; the entangled baseline's data, paper §4.1.1) or 'pairs' (Ada-GVAE's weak
            supervision, Locatello et al. 2020: image i of the first half and image i of the
            second half share all factors but k, k uniform in 1..3, unknown to the model).
        seed: seeds the stream (not the identity table; that is ``engine.seed``).
        start_step: first step to produce (for resuming).
        split: 'train', 'test' or 'validation' identities.
        rank, world_size: this process's share of the global step (see the module
            docstring); 0 and 1 outside DDP.  :meth:`shard` makes a rank's copy.

    Each item is a dict:
        images: (groups_per_step * batch_size, 1, H, W) float32 in [0, 1];
        angles: (N, 3) float32 degrees (azimuth, elevation, light_azimuth);
        identity: (N,) int64 identity indices;
        varied: (groups_per_step,) int64 index into :data:`dcign.factors.FACTORS`
            (-1 for 'random' and 'pairs' steps);
        step: int.
    """

    def __init__(
        self,
        engine: EngineConfig,
        batch_size: int = 20,
        groups_per_step: int = 1,
        weights=None,
        mode: str = "one_factor",
        seed: int = 0,
        start_step: int = 0,
        split: str = "train",
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown data mode {mode!r}; choose one of {', '.join(MODES)}")
        if groups_per_step < 1 or batch_size < 1:
            raise ValueError("batch_size and groups_per_step must be >= 1")
        if not (isinstance(world_size, int) and world_size >= 1 and isinstance(rank, int) and 0 <= rank < world_size):
            raise ValueError(f"rank must be in 0..world_size-1 and world_size >= 1, got rank {rank!r} of {world_size!r}")
        self.engine_config, self.batch_size, self.groups = engine, batch_size, groups_per_step
        self.weights, self.mode, self.seed, self.start_step, self.split = weights, mode, seed, start_step, split
        self.rank, self.world_size = rank, world_size
        # Validate everything that can be validated without rendering.
        self._sampler(SceneEngine(engine))

    def shard(self, rank: int, world_size: int) -> "RenderedSteps":
        """A copy of this stream for rank ``rank`` of ``world_size`` data-parallel processes.

        Raises:
            ValueError: rank outside 0..world_size-1.
        """
        return type(self)(self.engine_config, self.batch_size, self.groups, self.weights, self.mode, self.seed,
                          self.start_step, self.split, rank, world_size)

    def _sampler(self, engine: SceneEngine) -> OneFactorBatchSampler:
        return OneFactorBatchSampler(engine.space, self.batch_size, self.weights, self.split, self.seed)

    def step_factors(self, engine: SceneEngine, sampler: OneFactorBatchSampler, step: int) -> tuple[Factors, list[int]]:
        """Factors of this rank's share of step ``step`` and the varied-factor index of each group.

        The global step holds ``world_size * groups_per_step`` groups; this rank takes its
        ``groups_per_step`` whole groups (in 'random' mode its slice of the images, in
        'pairs' mode its slice of the pairs, each pair kept whole).
        """
        r, w, n = self.rank, self.world_size, self.batch_size * self.groups
        if self.mode == "random":
            rng = np.random.default_rng([self.seed, step, 7])
            everyone = engine.space.sample(rng, n * w, self.split)
            return everyone.subset(np.arange(r * n, (r + 1) * n)) if w > 1 else everyone, [-1] * self.groups
        if self.mode == "pairs":
            everyone = self.pair_factors(engine, np.random.default_rng([self.seed, step, 11]), w)
            if w == 1:
                return everyone, [-1] * self.groups
            half, total = n // 2, n // 2 * w  # this rank's pairs: first halves, then their partners
            mine = np.concatenate([np.arange(r * half, (r + 1) * half), total + np.arange(r * half, (r + 1) * half)])
            return everyone.subset(mine), [-1] * self.groups
        first = (step * w + r) * self.groups
        groups = [sampler[first + g] for g in range(self.groups)]
        return Factors.concatenate([f for f, _ in groups]), [FACTORS.index(v) for _, v in groups]

    def pair_factors(self, engine: SceneEngine, rng: np.random.Generator, world_size: int = 1) -> Factors:
        """``world_size`` * N/2 pairs (first halves, then second halves) that differ in k random factors, k in 1..3."""
        n = self.batch_size * self.groups // 2 * world_size
        if n < 1:
            raise ValueError("pairs mode needs at least 2 images per step")
        first = engine.space.sample(rng, n, self.split)
        fresh = engine.space.sample(rng, n, self.split)
        second = {name: first[name].copy() for name in FACTORS}
        identities = engine.space.identities(self.split)
        for i in range(n):
            k = rng.integers(1, len(FACTORS))
            for name in rng.choice(FACTORS, size=k, replace=False):
                second[name][i] = fresh[name][i]
                if name == "identity" and fresh.identity[i] == first.identity[i] and len(identities) > 1:
                    # the fresh draw repeated the identity: draw another, so the pair really differs in k factors
                    second[name][i] = rng.choice(identities[identities != first.identity[i]])
        return Factors.concatenate([first, Factors(**second)])

    def render(self, engine: SceneEngine, factors: Factors) -> np.ndarray:
        """(N, 1, S, S) float32 images of ``factors`` in [0, 1]."""
        return engine.render(factors)

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        if info is not None:  # a render worker: one thread, so it never fights the training threads
            torch.set_num_threads(1)
            threadpool_limits(1)
        engine = SceneEngine(self.engine_config)
        sampler = self._sampler(engine)
        step = self.start_step + worker
        while True:
            factors, varied = self.step_factors(engine, sampler, step)
            yield {
                "images": torch.from_numpy(self.render(engine, factors)),
                "angles": torch.from_numpy(factors.angles().astype(np.float32)),
                "identity": torch.from_numpy(factors.identity),
                "varied": torch.tensor(varied, dtype=torch.int64),
                "step": step,
            }
            step += workers


FEEDER_JOIN_SECONDS = 3.0
"""How long an exiting worker waits for its last batch to be handed over (the parent waits 5 s
for a worker before terminating it)."""


def _join_queue_feeders(timeout: float = FEEDER_JOIN_SECONDS) -> None:
    """Wait for this process's ``multiprocessing`` queue feeder threads to finish (atexit hook).

    Why: when a DataLoader is shut down, torch's worker loop closes its result queue with
    ``cancel_join_thread()`` and returns; a spawn-started worker then finalizes the
    interpreter.  If the queue's feeder thread is at that moment pickling a batch (moving the
    tensor storage to shared memory inside ``THPStorage_shareFd``, GIL released), it finds the
    interpreter finalizing when it retakes the GIL and CPython ends it with ``pthread_exit``;
    the forced unwind through that C++ frame calls ``std::terminate``: "terminate called
    without an active exception", SIGABRT, and the parent reports "DataLoader worker (pid N)
    is killed by signal: Aborted".  The renderer is not involved (a stream of random tensors
    aborts the same way).  atexit hooks run before finalization starts, so joining the
    feeder here closes the window; after ``close()`` it exits once its buffer is written.
    """
    for thread in threading.enumerate():
        if thread.name == "QueueFeederThread" and thread is not threading.current_thread():
            thread.join(timeout)


def _init_worker(worker_id: int) -> None:
    atexit.register(_join_queue_feeders)


def make_loader(dataset: RenderedSteps, num_workers: int = 1, pin_memory: bool = False) -> DataLoader:
    """A DataLoader over ``dataset`` with spawn-started workers (0 renders in-process).

    ``pin_memory`` puts batches in page-locked memory so that the copy to a CUDA device runs
    asynchronously (use it on a GPU only).

    Workers exit cleanly when the loader is shut down (end of training, ``del``), see
    :func:`_join_queue_feeders`.

    Raises:
        ValueError: ``num_workers`` not an integer >= 0.
    """
    if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 0:
        raise ValueError(f"num_workers must be an integer >= 0, got {num_workers!r}")
    kwargs = {}
    if num_workers > 0:
        kwargs = dict(multiprocessing_context="spawn", persistent_workers=True, prefetch_factor=4,
                      worker_init_fn=_init_worker)
    return DataLoader(dataset, batch_size=None, num_workers=num_workers, pin_memory=pin_memory, **kwargs)
