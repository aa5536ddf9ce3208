"""Our scene engine as disentanglement_lib ground-truth data (Locatello et al., ICML 2019).

:class:`EngineGroundTruth` exposes a :class:`~dcign.data.engine.SceneEngine` through the
:class:`~dcign.metrics.GroundTruthData` interface, so every metric in
:mod:`dcign.metrics` runs on rendered faces or chairs.

Factors (in this order, ``num_factors = 4``):

=====  =================  =============================================================
index  factor             values
=====  =================  =============================================================
0      ``azimuth``        ``num_bins`` equal-width bins over the engine's range (degrees)
1      ``elevation``      ``num_bins`` equal-width bins over the engine's range (degrees)
2      ``light_azimuth``  ``num_bins`` equal-width bins over the engine's range (degrees)
3      ``identity``       index ``j`` into the split's identities (optionally the first
                          ``num_identities``); ``j`` stands for engine identity
                          ``engine.space.identities(split)[j]``
=====  =================  =============================================================

The metrics need discrete factors; the angles are continuous, so each is cut into
``num_bins`` equal-width bins (faces, default 10 bins: azimuth 18 degrees wide,
elevation 5 degrees, light azimuth 16 degrees) and the bin index is the factor value.

Which angle is rendered for a bin (``within_bin``):

* ``"centre"`` (default): the bin centre. An observation is then a deterministic
  function of its factor vector, exactly like the discrete data sets disentanglement_lib
  was built for (dSprites, 3DShapes, ...): "fix factor k" in the β-VAE and FactorVAE
  scores really fixes the rendered angle, and ``random_state`` is not used.
* ``"uniform"``: an angle drawn uniformly inside the bin from ``random_state``, so the
  whole continuous range is covered and the within-bin variation acts as nuisance.

Identities come from the ``"test"`` split by default: the metrics then measure a model
on faces / chairs it never saw in training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..factors import ANGLE_FACTORS, FACTORS, Factors
from ..metrics.utils import as_random_state, check_count, check_factors

__all__ = ["WITHIN_BIN", "EngineGroundTruth"]

WITHIN_BIN = ("centre", "uniform")
"""Ways to pick the rendered angle inside a bin (see the module docstring)."""


class EngineGroundTruth:
    """Ground-truth data over a :class:`~dcign.data.engine.SceneEngine` (GroundTruthData protocol).

    Args:
        engine: the scene engine to render with (faces or chairs, any image size).
        split: identities to draw from, ``"test"`` (default; never seen in training) or
            ``"train"``.
        num_bins: equal-width bins per angle factor (>= 2).
        num_identities: use only the first ``num_identities`` identities of the split
            (default: all of them).
        within_bin: ``"centre"`` (default, deterministic) or ``"uniform"`` (random angle
            inside the bin); see the module docstring.

    Attributes:
        num_factors: 4.
        factors_num_values: ``[num_bins, num_bins, num_bins, num_identities]``.
        factor_names: :data:`FACTORS`.
        identities: ``(num_identities,)`` int64 engine identity indices; factor value ``j``
            of ``identity`` renders engine identity ``identities[j]``.

    Raises:
        ValueError: unknown ``split`` or ``within_bin``, ``num_bins`` < 2,
            ``num_identities`` < 1 or larger than the split.
    """

    def __init__(
        self,
        engine,
        split: str = "test",
        num_bins: int = 10,
        num_identities: int | None = None,
        within_bin: str = "centre",
    ) -> None:
        self.engine = engine
        self.split = split
        split_ids = engine.space.identities(split)  # raises ValueError for an unknown split
        self.num_bins = check_count("num_bins", num_bins, 2)
        if num_identities is None:
            num_identities = len(split_ids)
        check_count("num_identities", num_identities, 1)
        if num_identities > len(split_ids):
            raise ValueError(
                f"num_identities={num_identities} but the {split!r} split holds only "
                f"{len(split_ids)} identities; lower num_identities or leave it None"
            )
        if within_bin not in WITHIN_BIN:
            raise ValueError(f"within_bin must be one of {WITHIN_BIN}, got {within_bin!r}")
        self.within_bin = within_bin
        self.identities = np.asarray(split_ids[:num_identities], dtype=np.int64)
        self._lookup = {int(ident): j for j, ident in enumerate(self.identities)}

    # ------------------------------------------------------------------ protocol
    @property
    def num_factors(self) -> int:
        return len(FACTORS)

    @property
    def factors_num_values(self) -> list[int]:
        return [self.num_bins] * len(ANGLE_FACTORS) + [len(self.identities)]

    @property
    def factor_names(self) -> tuple[str, ...]:
        return FACTORS

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        """``(1, S, S)``: one grey channel of the engine's image size."""
        return (1, self.engine.size, self.engine.size)

    def sample_factors(self, num: int, random_state: np.random.RandomState | int) -> np.ndarray:
        """``(num, 4)`` int64 factor indices, each factor uniform over its values, independent.

        Raises:
            ValueError: ``num`` < 1.
            TypeError: ``random_state`` is neither a ``RandomState`` nor an int.
        """
        num = check_count("num", num, 1)
        random_state, _ = as_random_state(random_state)
        return np.stack([random_state.randint(n, size=num) for n in self.factors_num_values], axis=1).astype(np.int64)

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.RandomState | int | None = None
    ) -> np.ndarray:
        """Render one image per row of ``factors``.

        Args:
            factors: ``(N, 4)`` int factor indices (see :attr:`factors_num_values`).
            random_state: used only with ``within_bin="uniform"``.

        Returns:
            ``(N, 1, S, S)`` float32 grey images in [0, 1].

        Raises:
            ValueError: malformed factors or an index outside its factor's values.
        """
        return self.engine.render(self.scene_factors(factors, random_state))

    # ------------------------------------------------------------------ conversions
    def bin_edges(self, factor: str) -> np.ndarray:
        """``(num_bins + 1,)`` bin edges of an angle factor, in degrees (low .. high).

        Raises:
            ValueError: ``factor`` is not an angle factor.
        """
        r = self._range(factor)
        return np.linspace(r.low, r.high, self.num_bins + 1)

    def bin_centres(self, factor: str) -> np.ndarray:
        """``(num_bins,)`` bin centres of an angle factor, in degrees."""
        edges = self.bin_edges(factor)
        return (edges[:-1] + edges[1:]) / 2

    def scene_factors(self, factors: np.ndarray, random_state: np.random.RandomState | int | None = None) -> Factors:
        """The scenes (angles in degrees, engine identity indices) for ``(N, 4)`` factor indices.

        With ``within_bin="centre"`` every angle is its bin centre and ``random_state`` is
        ignored; with ``"uniform"`` it is drawn uniformly inside the bin from
        ``random_state`` (required then).

        Raises:
            ValueError: malformed factors, an index outside its range, or ``"uniform"``
                without a ``random_state``.
        """
        factors = self._check(factors)
        n = len(factors)
        if self.within_bin == "uniform":
            if random_state is None:
                raise ValueError("within_bin='uniform' needs a random_state to draw angles inside the bins")
            random_state, _ = as_random_state(random_state)
            offsets = random_state.uniform(0.0, 1.0, size=(n, len(ANGLE_FACTORS)))
        else:
            offsets = np.full((n, len(ANGLE_FACTORS)), 0.5)
        angles = []
        for k, name in enumerate(ANGLE_FACTORS):
            r = self._range(name)
            width = (r.high - r.low) / self.num_bins
            angles.append(np.clip(r.low + (factors[:, k] + offsets[:, k]) * width, r.low, r.high))
        return Factors(*angles, identity=self.identities[factors[:, 3]])

    def factor_indices(self, scenes: Factors) -> np.ndarray:
        """Inverse of :meth:`scene_factors`: ``(N, 4)`` int64 bin / identity indices of scenes.

        An angle on an inner bin edge goes to the upper bin; the range's upper end goes to
        the last bin.

        Raises:
            ValueError: an angle outside its range or an identity not used by this data.
        """
        out = np.empty((len(scenes), self.num_factors), dtype=np.int64)
        for k, name in enumerate(ANGLE_FACTORS):
            r = self._range(name)
            values = r.check(scenes[name])
            out[:, k] = np.clip(np.floor((values - r.low) / (r.high - r.low) * self.num_bins), 0, self.num_bins - 1)
        unknown = sorted({int(i) for i in scenes.identity} - set(self._lookup))
        if unknown:
            raise ValueError(
                f"identity indices {unknown[:5]} are not among this data's {len(self.identities)} "
                f"{self.split!r} identities"
            )
        out[:, 3] = [self._lookup[int(i)] for i in scenes.identity]
        return out

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description (factors, bins in degrees, split) for result settings."""
        return {
            "ground_truth": "dcign.data.ground_truth.EngineGroundTruth",
            "dataset": self.engine.config.dataset,
            "image_size": int(self.engine.size),
            "split": self.split,
            "factor_names": list(FACTORS),
            "factors_num_values": self.factors_num_values,
            "num_bins": self.num_bins,
            "bin_width_deg": {
                name: (self._range(name).high - self._range(name).low) / self.num_bins for name in ANGLE_FACTORS
            },
            "range_deg": {name: [self._range(name).low, self._range(name).high] for name in ANGLE_FACTORS},
            "within_bin": self.within_bin,
            "num_identities": int(len(self.identities)),
        }

    def __repr__(self) -> str:
        return (
            f"EngineGroundTruth({self.engine.config.dataset}, split={self.split!r}, num_bins={self.num_bins}, "
            f"num_identities={len(self.identities)}, within_bin={self.within_bin!r})"
        )

    # ------------------------------------------------------------------ helpers
    def _range(self, factor: str):
        if factor not in ANGLE_FACTORS:
            raise ValueError(f"{factor!r} is not an angle factor; choose one of {', '.join(ANGLE_FACTORS)}")
        return self.engine.space.ranges[factor]

    def _check(self, factors: np.ndarray) -> np.ndarray:
        factors = check_factors(factors)
        if factors.shape[1] != self.num_factors:
            raise ValueError(
                f"factors must have {self.num_factors} columns ({', '.join(FACTORS)}), got {factors.shape[1]}"
            )
        for k, (name, n) in enumerate(zip(FACTORS, self.factors_num_values)):
            col = factors[:, k]
            if col.size and (col.min() < 0 or col.max() >= n):
                raise ValueError(f"factor {name} takes indices 0..{n - 1}, got values in {col.min()}..{col.max()}")
        return factors
