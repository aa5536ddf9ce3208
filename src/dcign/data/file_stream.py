"""Training steps from a user's data set (``--dataset NAME:PATH``), as the engine stream gives them.

:class:`FileSteps` is the file-backed counterpart of :class:`dcign.data.stream.RenderedSteps`:
one step is ``groups_per_step`` groups of ``batch_size`` images; in ``one_factor`` mode each
group shares every factor but one (paper §3.1), drawn from the labels by
:meth:`~dcign.data.sources.base.LabelledImages.one_factor_batch`; ``random`` draws images
independently (the entangled baseline, §4.1.1) and ``pairs`` gives Ada-GVAE's pairs.  Step
``s`` depends only on ``(seed, s)``, so any worker count and a resumed run see the same
stream.  The data set is re-opened in each worker from its ``NAME:PATH`` (nothing large is
pickled).

Latent layout (:func:`file_layout`): each factor of the data set is a batch type; by default
each factor that is not identity-like gets one latent of its own (z1, z2, ... in factor
order) and the identity-like ("intrinsic") factors share the remaining latents, as
identity does in the paper.  Batch types are drawn with weight 1 per factor and 10 shared
by the intrinsic factors (the paper's 1 : 1 : 1 : 10).
"""

from __future__ import annotations

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch.utils.data import IterableDataset, get_worker_info

from .sources import DataSourceError, open_dataset

MODES = ("one_factor", "random", "pairs")
INTRINSIC_WEIGHT = 10.0


def file_layout(factor_names, intrinsic, latent_dim: int, layout: dict[str, list[int]] | None = None) -> dict[str, list[int]]:
    """Active latents of each factor's batches.

    Args:
        factor_names: the data set's factors.
        intrinsic: its identity-like factors (they share the intrinsic group by default).
        latent_dim: D.
        layout: factor -> latent indices to use instead of the default; factors it does
            not name share the intrinsic group (the latents no factor owns).

    Returns:
        factor -> sorted list of latent indices, for every factor.

    Raises:
        DataSourceError: a layout naming an unknown factor, an index outside 0..D-1, a latent
            given to two factors, or no latents left for the intrinsic group.
    """
    names = list(factor_names)
    if layout:
        own = {}
        for f, idx in layout.items():
            if f not in names:
                raise DataSourceError(f"--latent-layout names {f!r}, which this data set does not have; its factors are {', '.join(names)}")
            own[f] = [int(i) for i in idx]
    else:
        own = {f: [k] for k, f in enumerate(f for f in names if f not in intrinsic)}
    used: set[int] = set()
    for f, idx in own.items():
        if not idx or any(not 0 <= i < latent_dim for i in idx):
            raise DataSourceError(f"latent layout of {f!r} must list latent indices in 0..{latent_dim - 1}, got {idx}")
        if used & set(idx):
            raise DataSourceError(f"latent layout gives latent(s) {sorted(used & set(idx))} to two factors")
        used |= set(idx)
    rest = [i for i in range(latent_dim) if i not in used]
    if not rest and any(f not in own for f in names):
        raise DataSourceError("the latent layout leaves no latents for the intrinsic group; raise --latent-dim or give fewer latents")
    return {f: sorted(own.get(f, rest)) for f in names}


PAPER_LAYOUT = {"azimuth": [0], "elevation": [1], "light_azimuth": [2]}
PAPER_WEIGHTS = {"azimuth": 1.0, "elevation": 1.0, "light_azimuth": 1.0, "identity": 10.0}


def layout_override(latent_layout: dict | None) -> dict | None:
    """A run's ``latent_layout`` as an override of the data set's default: None when it is the
    paper's untouched default (z1 azimuth, z2 elevation, z3 light azimuth), which on a user's
    data set means "one latent per factor" (:func:`file_layout`)."""
    if not latent_layout or {k: list(v) for k, v in latent_layout.items()} == PAPER_LAYOUT:
        return None
    return {k: list(v) for k, v in latent_layout.items()}


def weights_override(batch_weights: dict | None) -> dict | None:
    """A run's ``batch_weights`` as an override of :func:`file_weights`' default (None when untouched)."""
    if not batch_weights or {k: float(v) for k, v in batch_weights.items()} == PAPER_WEIGHTS:
        return None
    return dict(batch_weights)


def file_weights(factor_names, intrinsic, weights: dict[str, float] | None = None) -> dict[str, float]:
    """Batch-type probabilities over the data set's factors (see the module docstring).

    ``weights`` may name factors of the data set (others keep their default weight), and
    ``identity`` stands for the intrinsic factors together.

    Raises:
        DataSourceError: an unknown factor name, or weights that are negative / all zero.
    """
    names = list(factor_names)
    intr = [f for f in names if f in intrinsic]
    w = {f: (INTRINSIC_WEIGHT / len(intr) if f in intr else 1.0) for f in names}
    for f, v in (weights or {}).items():
        if f == "identity" and "identity" not in names:
            for g in intr:
                w[g] = float(v) / max(1, len(intr))
        elif f in names:
            w[f] = float(v)
        else:
            raise DataSourceError(f"batch weights name {f!r}, which this data set does not have; its factors are {', '.join(names)}")
    if any(not np.isfinite(v) or v < 0 for v in w.values()) or sum(w.values()) <= 0:
        raise DataSourceError(f"batch weights must be finite, >= 0 and not all zero, got {w}")
    total = sum(w.values())
    return {f: v / total for f, v in w.items()}


class FileSteps(IterableDataset):
    """Endless stream of training steps from ``NAME:PATH``.

    Args:
        spec: the ``--dataset`` value (``NAME:PATH``).
        options: opener options (e.g. ``{"test_fraction": 0.1}``).
        batch_size, groups_per_step: images per group, groups per step.
        weights: batch-type weights (see :func:`file_weights`).
        mode: 'one_factor', 'random' or 'pairs'.
        seed, start_step, split: as :class:`~dcign.data.stream.RenderedSteps`.
        channels: 1 (grey) or 3 (RGB); size: image side S.

    Each item is a dict:
        images: (groups_per_step * batch_size, channels, S, S) float32 in [0, 1];
        varied: (groups_per_step,) int64 index into ``factor_names`` (-1 for random / pairs);
        index: (N,) int64 image indices into the data set; step: int.

    Raises:
        DataSourceError: the data set cannot be opened, or a batch type that can never
            form a one-factor batch (checked here, before training starts).
    """

    def __init__(self, spec: str, options: dict | None = None, batch_size: int = 20, groups_per_step: int = 1,
                 weights: dict[str, float] | None = None, mode: str = "one_factor", seed: int = 0, start_step: int = 0,
                 split: str = "train", channels: int = 1, size: int = 64) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown data mode {mode!r}; choose one of {', '.join(MODES)}")
        if groups_per_step < 1 or batch_size < 1:
            raise ValueError("batch_size and groups_per_step must be >= 1")
        self.spec, self.options = str(spec), dict(options or {})
        self.batch_size, self.groups, self.mode = batch_size, groups_per_step, mode
        self.seed, self.start_step, self.split, self.channels, self.size = seed, start_step, split, channels, size
        data = self.open()
        self.factor_names = tuple(data.factor_names)
        self.probs = file_weights(data.factor_names, data.intrinsic_factors, weights)
        if mode == "one_factor":
            for f, p in self.probs.items():
                if p > 0:
                    data.check_one_factor(f, split)
        elif mode == "pairs":
            if batch_size * groups_per_step < 2:
                raise ValueError("pairs mode needs at least 2 images per step")
            data.pair_batch(np.random.default_rng(0), 1, split)  # the Torch7 batches refuse here
        self._data = data

    def open(self):
        return open_dataset(self.spec, **self.options)

    def shard(self, rank: int, world_size: int) -> "FileSteps":
        """This stream for rank ``rank`` of ``world_size`` processes: one process only, for now.

        Raises:
            ValueError: ``world_size`` > 1 (multi-process training on a user's data set is
                not implemented; train with one device).
        """
        if world_size != 1 or rank != 0:
            raise ValueError("training on a user's data set runs in one process for now; use --devices 1 --num-nodes 1")
        return self

    def __getstate__(self):
        return {**self.__dict__, "_data": None}

    def step_indices(self, data, step: int) -> tuple[np.ndarray, list[int]]:
        """Image indices of step ``step`` and the varied-factor index of each group."""
        rng = np.random.default_rng([self.seed, step])
        n = self.batch_size * self.groups
        if self.mode == "random":
            return data.random_batch(rng, n, self.split), [-1] * self.groups
        if self.mode == "pairs":
            return data.pair_batch(rng, n // 2, self.split), [-1] * self.groups
        names, p = list(self.probs), np.array(list(self.probs.values()))
        parts, varied = [], []
        for _ in range(self.groups):
            f = names[rng.choice(len(names), p=p)]
            parts.append(data.one_factor_batch(rng, f, self.batch_size, self.split))
            varied.append(self.factor_names.index(f))
        return np.concatenate(parts), varied

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        if info is not None:
            torch.set_num_threads(1)
            threadpool_limits(1)
        data = self._data if self._data is not None else self.open()
        step = self.start_step + worker
        while True:
            idx, varied = self.step_indices(data, step)
            yield {
                "images": torch.from_numpy(data.images(idx, self.channels, self.size)),
                "varied": torch.tensor(varied, dtype=torch.int64),
                "index": torch.from_numpy(np.asarray(idx, dtype=np.int64)),
                "step": step,
            }
            step += workers
