"""A user's labelled data set as disentanglement_lib ground-truth data (Locatello et al., ICML 2019).

:class:`LabelledGroundTruth` gives :mod:`dcign.metrics` the
:class:`~dcign.metrics.GroundTruthData` interface over a
:class:`~dcign.data.sources.base.LabelledImages`:

* ``sample_factors`` draws factor rows of images that exist (uniform over the images of
  the split; for the full grids dSprites, 3DShapes, MPI3D, SmallNORB and Cars3D this is
  the uniform prior over factor combinations, as in disentanglement_lib);
* ``sample_observations_from_factors`` looks each row up and returns one image with those
  factors (a random one when several match, e.g. SmallNORB's instances when ``instance``
  is not a factor, or repeated rows of a labelled folder).

Metrics that fix one factor and redraw the rest (β-VAE, FactorVAE) need the combinations
they draw to exist: on a full grid they always do; on a sparse labelled folder a missing
combination raises ValueError naming it. MIG, DCI, SAP and modularity only draw existing
rows and work on any labelled data.
"""

from __future__ import annotations

import numpy as np

from ...metrics.utils import as_random_state, check_count, check_factors
from .base import SPLITS, LabelledImages

__all__ = ["LabelledGroundTruth"]


class LabelledGroundTruth:
    """Ground-truth data over labelled images (GroundTruthData protocol).

    Args:
        data: the labelled images.
        split: 'all' (default for grids without an identity split; disentanglement_lib's
            protocol), 'train' or 'test' (images the model never saw when the data set has a
            held-out split).
        channels: 1 (grey) or 3 (RGB) observations.
        size: observation side in pixels (default: the stored size).

    Attributes:
        num_factors, factors_num_values, factor_names: as the data set's.
        observation_shape: ``(channels, S, S)``.

    Raises:
        ValueError: unknown split, or a split without images.
    """

    def __init__(self, data: LabelledImages, split: str = "all", channels: int = 1, size: int | None = None) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        self.data, self.split, self.channels = data, split, channels
        h, w, _ = data.native_shape
        self.size = int(size if size is not None else h)
        self.rows = data.split_indices(split)
        if len(self.rows) == 0:
            raise ValueError(f"{data.name}: the {split} split holds no images")
        self._find = data._lookup(split)
        self._sizes = list(data.factors_num_values)

    @property
    def num_factors(self) -> int:
        return self.data.num_factors

    @property
    def factors_num_values(self) -> list[int]:
        return list(self._sizes)

    @property
    def factor_names(self) -> tuple[str, ...]:
        return self.data.factor_names

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    def sample_factors(self, num: int, random_state: np.random.RandomState | int) -> np.ndarray:
        """``(num, K)`` int64 factor indices of images drawn uniformly from the split.

        Raises:
            ValueError: ``num`` < 1.
        """
        num = check_count("num", num, 1)
        random_state, _ = as_random_state(random_state)
        picks = self.rows[random_state.randint(len(self.rows), size=num)]
        return self.data.labels[picks].astype(np.int64)

    def sample_observations_from_factors(self, factors: np.ndarray, random_state: np.random.RandomState | int | None = None) -> np.ndarray:
        """One image per row of ``factors``: ``(N, C, S, S)`` float32 in [0, 1].

        When several images share a row's factors, one is drawn from ``random_state``
        (the first one without a ``random_state``).

        Raises:
            ValueError: malformed factors, an index outside its factor's values, or a
                combination with no image in this split.
        """
        factors = check_factors(factors)
        if factors.shape[1] != self.num_factors:
            raise ValueError(f"factors must have {self.num_factors} columns ({', '.join(self.factor_names)}), got {factors.shape[1]}")
        for k, (name, n) in enumerate(zip(self.factor_names, self._sizes)):
            col = factors[:, k]
            if col.size and (col.min() < 0 or col.max() >= n):
                raise ValueError(f"factor {name} takes indices 0..{n - 1}, got values in {col.min()}..{col.max()}")
        picks = self._pick(factors, random_state)
        return self.data.images(picks, self.channels, self.size)

    def _pick(self, factors: np.ndarray, random_state) -> np.ndarray:
        first = self._find(factors)
        missing = np.flatnonzero(first < 0)
        if missing.size:
            row = factors[missing[0]]
            named = ", ".join(f"{n}={int(v)}" for n, v in zip(self.factor_names, row))
            raise ValueError(
                f"{self.data.name}: no {self.split} image has factors ({named}); this data set is not a full grid, so "
                "metrics that fix one factor and redraw the others (beta-VAE, FactorVAE) cannot run on it "
                "(MIG, DCI, SAP and modularity can)"
            )
        if random_state is None:
            return first
        return self._random_matches(factors, first, as_random_state(random_state)[0])

    def _random_matches(self, factors: np.ndarray, first: np.ndarray, rs: np.random.RandomState) -> np.ndarray:
        """A uniformly drawn match per row (rows with one image return it)."""
        counts = self._counts()
        out = first.copy()
        key = self._key(factors)
        keys, starts, lengths, order = counts
        pos = np.searchsorted(keys, key)
        multi = lengths[pos] > 1
        if multi.any():
            offs = (rs.random_sample(int(multi.sum())) * lengths[pos[multi]]).astype(np.int64)
            out[multi] = order[starts[pos[multi]] + offs]
        return out

    def _key(self, factors: np.ndarray) -> np.ndarray:
        key = np.zeros(len(factors), dtype=np.int64)
        for k, s in enumerate(self._sizes):
            key = key * s + factors[:, k]
        return key

    def _counts(self):
        if not hasattr(self, "_count_cache"):
            labels = self.data.labels[self.rows].astype(np.int64)
            key = self._key(labels)
            sort = np.argsort(key, kind="stable")
            keys, starts, lengths = np.unique(key[sort], return_index=True, return_counts=True)
            self._count_cache = (keys, starts, lengths, self.rows[sort])
        return self._count_cache

    def describe(self) -> dict:
        """JSON-serialisable settings for metric results."""
        return {
            "ground_truth": "dcign.data.sources.ground_truth.LabelledGroundTruth",
            **self.data.describe(),
            "metrics_split": self.split,
            "observation_shape": list(self.observation_shape),
        }

    def __repr__(self) -> str:
        return f"LabelledGroundTruth({self.data.name}, split={self.split!r}, factors={dict(zip(self.factor_names, self._sizes))})"
