"""Factor space of a rendered scene and the one-factor batch sampler (paper §3.1).

A scene is described by three extrinsic angles and an identity:

* ``azimuth`` -- rotation of the object about the vertical axis, degrees; positive turns
  the object's front toward the viewer's right.
* ``elevation`` -- camera elevation, degrees; positive looks down on the object.
* ``light_azimuth`` -- direction of the single directional light about the vertical axis,
  degrees; positive lights the object from the viewer's right.
* ``identity`` -- an index into a fixed, seeded table of identity coefficient vectors
  (face shape/albedo coefficients, or chair parameters).  Indices ``0 .. n_train - 1`` are
  training identities, ``n_train .. n_train + n_test - 1`` are test identities and the
  ``n_validation`` indices after those are validation identities, so no two splits can
  share an identity.  Test identities are for the reported figures (Fig. 6, test MSE);
  anything chosen by measurement (the training probe, presets, learning rates) is chosen
  on validation identities.  Validation indices come after the test ones, so adding the
  split left every training and test identity unchanged.

DC-IGN trains on mini-batches in which exactly one of these factors varies (paper §3.1);
:class:`OneFactorBatchSampler` produces them with batch types drawn in the ratio
azimuth : elevation : light_azimuth : identity = 1 : 1 : 1 : 10 by default (paper §3.2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

ANGLE_FACTORS = ("azimuth", "elevation", "light_azimuth")
FACTORS = ANGLE_FACTORS + ("identity",)
SPLITS = ("train", "test", "validation")
DEFAULT_BATCH_WEIGHTS = {"azimuth": 1.0, "elevation": 1.0, "light_azimuth": 1.0, "identity": 10.0}


FULL_TURN = 360.0
"""Degrees of a factor range that closes on itself (chairs' azimuth, -180..180): its ends are the
same view, so angles are compared the short way round and such a factor with two or more
latents gets a circular map."""


@dataclass(frozen=True)
class AngleRange:
    """Range of one angle factor, in degrees (uniform sampling on [low, high])."""

    name: str
    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"{self.name}: low ({self.low}) must be below high ({self.high})")

    @property
    def full_turn(self) -> bool:
        """True when the range spans :data:`FULL_TURN` degrees (its ends are the same view)."""
        return self.high - self.low >= FULL_TURN - 1e-9

    def grid(self, n: int) -> np.ndarray:
        """``n`` evenly spaced angles covering the range (both ends included)."""
        return np.linspace(self.low, self.high, n)

    def central_half(self) -> tuple[float, float]:
        """(low, high) of the central half of the range, degrees: where sweeps and novel views
        draw the factors they hold fixed (away from the extremes)."""
        mid, quarter = (self.low + self.high) / 2, (self.high - self.low) / 4
        return mid - quarter, mid + quarter

    def check(self, values) -> np.ndarray:
        """Return ``values`` as a float64 array; raise ValueError if outside the range."""
        arr = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{self.name} must be finite degrees, got {values!r}")
        if np.any(arr < self.low - 1e-9) or np.any(arr > self.high + 1e-9):
            raise ValueError(
                f"{self.name} must lie in [{self.low:g}, {self.high:g}] degrees, got {values!r}"
            )
        return arr


@dataclass
class Factors:
    """Factor values of a batch of B scenes.

    Attributes:
        azimuth, elevation, light_azimuth: (B,) float64 degrees.
        identity: (B,) int64 identity indices (see :class:`FactorSpace`).
    """

    azimuth: np.ndarray
    elevation: np.ndarray
    light_azimuth: np.ndarray
    identity: np.ndarray

    def __post_init__(self) -> None:
        self.azimuth = np.asarray(self.azimuth, dtype=np.float64).reshape(-1)
        self.elevation = np.asarray(self.elevation, dtype=np.float64).reshape(-1)
        self.light_azimuth = np.asarray(self.light_azimuth, dtype=np.float64).reshape(-1)
        self.identity = np.asarray(self.identity, dtype=np.int64).reshape(-1)
        sizes = {len(self.azimuth), len(self.elevation), len(self.light_azimuth), len(self.identity)}
        if len(sizes) != 1:
            raise ValueError(f"all factors need the same batch size, got sizes {sorted(sizes)}")

    def __len__(self) -> int:
        return len(self.azimuth)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in FACTORS:
            raise KeyError(f"unknown factor {name!r}; known factors: {', '.join(FACTORS)}")
        return getattr(self, name)

    def angles(self) -> np.ndarray:
        """(B, 3) float64 array of (azimuth, elevation, light_azimuth) in degrees."""
        return np.stack([self.azimuth, self.elevation, self.light_azimuth], axis=1)

    def subset(self, idx) -> "Factors":
        return Factors(self.azimuth[idx], self.elevation[idx], self.light_azimuth[idx], self.identity[idx])

    @staticmethod
    def concatenate(parts: list["Factors"]) -> "Factors":
        return Factors(*(np.concatenate([p[name] for p in parts]) for name in FACTORS))


@dataclass
class FactorSpace:
    """Ranges of the angle factors plus a seeded table of identities split train / test.

    Args:
        ranges: one :class:`AngleRange` per angle factor, keyed by name.
        sample_identity: draws one identity coefficient vector from a numpy Generator.
        num_train_identities, num_test_identities, num_validation_identities: sizes of
            the three identity splits (see the module docstring for their index ranges).
        seed: seeds the identity table (same seed -> same identities).

    Raises:
        ValueError: on missing angle ranges or non-positive identity counts.
    """

    ranges: Mapping[str, AngleRange]
    sample_identity: Callable[[np.random.Generator], np.ndarray]
    num_train_identities: int = 500
    num_test_identities: int = 100
    seed: int = 0
    num_validation_identities: int = 100
    _table: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        missing = [n for n in ANGLE_FACTORS if n not in self.ranges]
        if missing:
            raise ValueError(f"FactorSpace is missing ranges for {missing}")
        if min(self.num_train_identities, self.num_test_identities, self.num_validation_identities) < 1:
            raise ValueError("num_train_identities, num_test_identities and num_validation_identities must be >= 1")

    @property
    def num_identities(self) -> int:
        return self.num_train_identities + self.num_test_identities + self.num_validation_identities

    @property
    def identity_table(self) -> np.ndarray:
        """(num_identities, identity_dim) float64 coefficient vectors, seeded by ``seed``."""
        if self._table is None:
            rng = np.random.default_rng([self.seed, 0x1D])
            self._table = np.stack([self.sample_identity(rng) for _ in range(self.num_identities)])
        return self._table

    def identities(self, split: str) -> np.ndarray:
        """Identity indices of ``split`` ('train', 'test' or 'validation'), int64.

        Raises:
            ValueError: unknown split name.
        """
        n_train, n_test = self.num_train_identities, self.num_test_identities
        if split == "train":
            return np.arange(n_train, dtype=np.int64)
        if split == "test":
            return np.arange(n_train, n_train + n_test, dtype=np.int64)
        if split == "validation":
            return np.arange(n_train + n_test, self.num_identities, dtype=np.int64)
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")

    def coefficients(self, identity: int) -> np.ndarray:
        """The coefficient vector of identity index ``identity``."""
        if not 0 <= int(identity) < self.num_identities:
            raise ValueError(f"identity index {identity} is outside 0..{self.num_identities - 1}")
        return self.identity_table[int(identity)]

    def sample(self, rng: np.random.Generator, n: int, split: str = "train") -> Factors:
        """``n`` scenes with every factor drawn independently and uniformly."""
        ids = self.identities(split)
        return Factors(
            *(rng.uniform(self.ranges[a].low, self.ranges[a].high, n) for a in ANGLE_FACTORS),
            identity=rng.choice(ids, size=n),
        )

    def one_factor_batch(
        self, rng: np.random.Generator, varied: str, batch_size: int, split: str = "train"
    ) -> Factors:
        """A batch in which only ``varied`` changes; it takes ``batch_size`` distinct values.

        All other factors share one value drawn uniformly (paper §3.1).

        Raises:
            ValueError: unknown factor, batch_size < 1, or more distinct identities asked
                for than the split holds.
        """
        if varied not in FACTORS:
            raise ValueError(f"unknown factor {varied!r}; choose one of {', '.join(FACTORS)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        ids = self.identities(split)
        values = {a: np.full(batch_size, rng.uniform(self.ranges[a].low, self.ranges[a].high)) for a in ANGLE_FACTORS}
        identity = np.full(batch_size, rng.choice(ids))
        if varied == "identity":
            if batch_size > len(ids):
                raise ValueError(
                    f"an identity batch of {batch_size} needs {batch_size} distinct {split} identities, "
                    f"but the split has {len(ids)}; lower --batch-size or raise the identity count"
                )
            identity = rng.choice(ids, size=batch_size, replace=False)
        else:
            r = self.ranges[varied]
            v = rng.uniform(r.low, r.high, batch_size)
            while len(np.unique(v)) < batch_size:  # measure-zero event, but guaranteed distinct
                v = rng.uniform(r.low, r.high, batch_size)
            values[varied] = v
        return Factors(values["azimuth"], values["elevation"], values["light_azimuth"], identity)


def normalise_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    """Batch-type weights as probabilities over :data:`FACTORS`.

    Raises:
        ValueError: unknown factor names, negative weights, or all weights zero.
    """
    w = dict(DEFAULT_BATCH_WEIGHTS if weights is None else weights)
    unknown = sorted(set(w) - set(FACTORS))
    if unknown:
        raise ValueError(f"unknown factor(s) in batch weights: {unknown}; known: {', '.join(FACTORS)}")
    full = {f: float(w.get(f, 0.0)) for f in FACTORS}
    if any(v < 0 or not np.isfinite(v) for v in full.values()) or sum(full.values()) <= 0:
        raise ValueError(f"batch weights must be finite, >= 0 and not all zero, got {w}")
    total = sum(full.values())
    return {f: v / total for f, v in full.items()}


class OneFactorBatchSampler:
    """Seeded, indexable stream of one-factor batches (paper §3.1-3.2).

    Item ``i`` is ``(factors, varied)``: :class:`Factors` of ``batch_size`` scenes and the
    name of the one factor that varies.  The batch type is drawn with probabilities
    proportional to ``weights`` (default 1 : 1 : 1 : 10 for azimuth : elevation :
    light_azimuth : identity).  Item ``i`` depends only on ``(seed, i)``, so a stream can be
    split across worker processes or resumed mid-way and still yield the same batches.

    Raises:
        ValueError: batch_size < 1, an unknown split, or invalid weights.
    """

    def __init__(
        self,
        space: FactorSpace,
        batch_size: int = 20,
        weights: Mapping[str, float] | None = None,
        split: str = "train",
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        space.identities(split)  # validates the split name
        self.space, self.batch_size, self.split, self.seed = space, batch_size, split, seed
        self.weights = normalise_weights(weights)
        self._types = list(self.weights)
        self._probs = np.array([self.weights[t] for t in self._types])

    def __getitem__(self, index: int) -> tuple[Factors, str]:
        if index < 0:
            raise IndexError("OneFactorBatchSampler indices start at 0")
        rng = np.random.default_rng([self.seed, int(index)])
        varied = self._types[rng.choice(len(self._types), p=self._probs)]
        return self.space.one_factor_batch(rng, varied, self.batch_size, self.split), varied

    def __iter__(self) -> Iterator[tuple[Factors, str]]:
        i = 0
        while True:
            yield self[i]
            i += 1
