"""The ground-truth data interface the metrics sample from, and the sampling helpers.

The interface is disentanglement_lib's (Locatello et al., ICML 2019), so code
written against it ports over unchanged.

Factors are *discrete indices*: factor ``k`` takes values ``0 ..
factors_num_values[k] - 1``. Data sets whose factors are continuous (angles,
positions, lighting directions) expose them discretised into bins, and the
index is the bin; the metrics then treat each bin as one class. How many bins
is the data set's choice and changes the scores a little (MIG divides by the
factor's entropy, classifiers get more classes), so report it next to them.
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import numpy as np

from .utils import as_random_state, check_codes, check_count

__all__ = ["GroundTruthData", "RepresentationFunction", "check_ground_truth_data", "encode_factors", "sample"]

RepresentationFunction = Callable[[np.ndarray], np.ndarray]
"""``observations (N, ...) -> codes (N, D)`` numpy float array."""


@runtime_checkable
class GroundTruthData(Protocol):
    """A data set whose generative factors are known and can be sampled.

    Attributes:
        num_factors: K, the number of ground-truth factors.
        factors_num_values: K ints, how many values each factor takes.
    """

    @property
    def num_factors(self) -> int: ...

    @property
    def factors_num_values(self) -> list[int]: ...

    def sample_factors(self, num: int, random_state: np.random.RandomState) -> np.ndarray:
        """Return ``(num, num_factors)`` int array of factor indices, drawn from the data prior."""
        ...

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.RandomState
    ) -> np.ndarray:
        """Return observations ``(num, ...)`` rendered / looked up for each row of ``factors``."""
        ...


def check_ground_truth_data(ground_truth_data: GroundTruthData) -> int:
    """Check the interface of ``ground_truth_data`` and return its number of factors.

    Raises:
        TypeError: if a method or attribute of :class:`GroundTruthData` is missing.
        ValueError: if ``num_factors < 1`` or ``factors_num_values`` has the wrong length.
    """
    if not isinstance(ground_truth_data, GroundTruthData):
        raise TypeError(
            "ground_truth_data must offer num_factors, factors_num_values, sample_factors "
            "and sample_observations_from_factors (see dcign.metrics.GroundTruthData)"
        )
    num_factors = check_count("num_factors", ground_truth_data.num_factors, 1)
    if len(ground_truth_data.factors_num_values) != num_factors:
        raise ValueError(
            f"factors_num_values has {len(ground_truth_data.factors_num_values)} entries "
            f"but num_factors is {num_factors}"
        )
    return num_factors


def encode_factors(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    factors: np.ndarray,
    random_state: np.random.RandomState,
) -> np.ndarray:
    """Render observations for ``factors`` (N, K) and encode them: codes ``(N, D)`` float64.

    One call each to ``sample_observations_from_factors`` and to
    ``representation_function`` (callers keep ``N`` to a batch).

    Raises:
        ValueError: if the codes are not ``(N, D)`` or contain NaN / inf.
    """
    observations = ground_truth_data.sample_observations_from_factors(factors, random_state)
    codes = check_codes(representation_function(observations), "representation_function output")
    if codes.shape[0] != len(factors):
        raise ValueError(
            f"representation_function returned {codes.shape[0]} codes for {len(factors)} observations"
        )
    return codes


def sample(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    num_points: int,
    random_state: np.random.RandomState | int,
    batch_size: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``num_points`` factor vectors from the prior and encode their observations.

    Works in batches of ``batch_size``: per batch, ``sample_factors`` ->
    ``sample_observations_from_factors`` -> ``representation_function``.

    Returns:
        ``(factors, codes)``: ``(num_points, K)`` int64 and ``(num_points, D)`` float64.

    Raises:
        ValueError: if ``num_points`` or ``batch_size`` < 1, or the codes are malformed
            (wrong shape, NaN / inf).
        TypeError: if ``random_state`` is neither an int nor a ``RandomState``.
    """
    check_count("num_points", num_points, 1)
    check_count("batch_size", batch_size, 1)
    random_state, _ = as_random_state(random_state)
    all_factors, all_codes = [], []
    done = 0
    while done < num_points:
        num = min(batch_size, num_points - done)
        factors = np.asarray(ground_truth_data.sample_factors(num, random_state))
        all_codes.append(encode_factors(ground_truth_data, representation_function, factors, random_state))
        all_factors.append(factors)
        done += num
    if len({c.shape[1] for c in all_codes}) != 1:
        raise ValueError("representation_function returned a different number of codes across batches")
    return np.concatenate(all_factors).astype(np.int64), np.concatenate(all_codes)
