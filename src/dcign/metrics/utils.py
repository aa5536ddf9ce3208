"""Helpers shared by the metrics: input checks, seeding, discretisation, mutual information.

Everything here works on plain numpy arrays laid out as in the rest of
:mod:`dcign.metrics`:

* ``factors``: ``(N, K)`` integer array of ground-truth factor *indices*;
* ``codes``: ``(N, D)`` float array of representation values.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.metrics import mutual_info_score

__all__ = [
    "as_random_state",
    "derive_seed",
    "plain_params",
    "check_codes",
    "check_factors",
    "check_factors_codes",
    "check_count",
    "check_train_test",
    "histogram_discretize",
    "discrete_mutual_info",
    "discrete_entropy",
    "normalized_entropy",
]


# --------------------------------------------------------------------------- seeding
def as_random_state(random_state: Any) -> tuple[np.random.RandomState, int | None]:
    """Return ``(RandomState, seed)`` for an int seed or a ``numpy.random.RandomState``.

    ``seed`` is the int when one was given (so it can be written into a result's
    settings) and ``None`` when the caller passed a ``RandomState`` of their own.
    A ``RandomState`` is used as is (and advanced), as in disentanglement_lib.

    Raises:
        TypeError: for anything else (including ``numpy.random.Generator``, whose
            method names differ from the ``RandomState`` the data sets call).
    """
    if isinstance(random_state, np.random.RandomState):
        return random_state, None
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.RandomState(int(random_state)), int(random_state)
    raise TypeError(
        "random_state must be a numpy.random.RandomState or an int seed, "
        f"got {type(random_state).__name__}"
    )


def derive_seed(random_state: np.random.RandomState) -> int:
    """Draw an int seed for an sklearn estimator from ``random_state`` (pins the estimator)."""
    return int(random_state.randint(2**31 - 1))


def plain_params(estimator: Any) -> dict[str, Any]:
    """An sklearn estimator's ``get_params()`` as plain Python values.

    Keeps result dicts comparable with ``==`` and JSON-serialisable; anything
    that is not a number, string, bool or None is stored as its ``repr``.
    """
    plain = (int, float, str, bool, type(None))
    return {k: (v if isinstance(v, plain) else repr(v)) for k, v in estimator.get_params().items()}


# --------------------------------------------------------------------------- checks
def check_count(name: str, value: Any, minimum: int) -> int:
    """Check that a setting is an int >= ``minimum``; raise ``ValueError`` otherwise."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_codes(codes: Any, name: str = "codes") -> np.ndarray:
    """Return ``codes`` as a finite ``(N, D)`` float64 array.

    Raises:
        ValueError: if ``codes`` is not 2-D, has no columns, or holds NaN / inf.
    """
    arr = np.asarray(codes, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (num_points, num_codes), got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no columns (num_codes = 0)")
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite value(s) "
            f"(first at row {row}, column {col}); the representation is broken"
        )
    return arr


def check_factors(factors: Any, name: str = "factors") -> np.ndarray:
    """Return ``factors`` as an ``(N, K)`` int64 array of factor indices.

    Float arrays are accepted when every value is a whole number.

    Raises:
        ValueError: if ``factors`` is not 2-D, has no columns, or holds values that
            are not whole numbers (continuous factors must be discretised first).
    """
    arr = np.asarray(factors)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (num_points, num_factors), got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no columns (num_factors = 0)")
    if not np.issubdtype(arr.dtype, np.integer):
        as_float = np.asarray(arr, dtype=np.float64)
        if not np.all(np.isfinite(as_float)) or np.any(as_float != np.round(as_float)):
            raise ValueError(
                f"{name} must hold integer factor indices; discretise continuous factors "
                "(e.g. angles) into bins first"
            )
        arr = as_float
    return arr.astype(np.int64)


def check_factors_codes(
    factors: Any, codes: Any, min_points: int = 2, what: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Check a ``(factors, codes)`` pair: same N, at least ``min_points`` rows, finite codes.

    Raises:
        ValueError: on mismatched numbers of points, too few points, NaN codes, bad shapes.
    """
    suffix = f" ({what})" if what else ""
    factors = check_factors(factors, "factors" + suffix)
    codes = check_codes(codes, "codes" + suffix)
    if factors.shape[0] != codes.shape[0]:
        raise ValueError(
            f"factors and codes{suffix} must have the same number of points (rows), "
            f"got {factors.shape[0]} and {codes.shape[0]}"
        )
    if factors.shape[0] < min_points:
        raise ValueError(f"need at least {min_points} points{suffix}, got {factors.shape[0]}")
    return factors, codes


def check_train_test(
    factors_train: np.ndarray, codes_train: np.ndarray, factors_test: np.ndarray, codes_test: np.ndarray
) -> None:
    """Check that checked train and test sets have the same K factors and D codes (``ValueError``)."""
    if factors_train.shape[1] != factors_test.shape[1]:
        raise ValueError(
            f"train and test factors differ in num_factors: {factors_train.shape[1]} vs {factors_test.shape[1]}"
        )
    if codes_train.shape[1] != codes_test.shape[1]:
        raise ValueError(
            f"train and test codes differ in num_codes: {codes_train.shape[1]} vs {codes_test.shape[1]}"
        )


# --------------------------------------------------------------------------- information
def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Discretise each code dimension into ``num_bins`` equal-width bins.

    The bin edges are ``np.histogram(codes[:, d], num_bins)`` edges of that
    dimension (its own min..max range); ``np.digitize`` against the left edges
    gives bin ids ``1..num_bins``. A constant dimension lands in one bin.

    Args:
        codes: ``(N, D)`` float array.
        num_bins: number of bins per dimension.

    Returns:
        ``(N, D)`` int array of bin ids.
    """
    num_bins = check_count("num_bins", num_bins, 1)
    out = np.empty(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram(codes[:, d], bins=num_bins)[1]
        out[:, d] = np.digitize(codes[:, d], edges[:-1])
    return out


def discrete_mutual_info(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Mutual information (nats) between every discrete code and every factor.

    Args:
        discrete_codes: ``(N, D)`` int array (e.g. from :func:`histogram_discretize`).
        factors: ``(N, K)`` int array.

    Returns:
        ``(D, K)`` array, entry ``[d, k] = I(code_d; factor_k)`` from
        ``sklearn.metrics.mutual_info_score`` (plug-in estimate).
    """
    num_codes, num_factors = discrete_codes.shape[1], factors.shape[1]
    mi = np.zeros((num_codes, num_factors))
    for d in range(num_codes):
        for k in range(num_factors):
            mi[d, k] = mutual_info_score(factors[:, k], discrete_codes[:, d])
    return mi


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each column of an ``(N, K)`` discrete array, shape ``(K,)``."""
    return np.array([mutual_info_score(col, col) for col in factors.T])


def normalized_entropy(weights: np.ndarray, axis: int) -> np.ndarray:
    """Entropy of non-negative ``weights`` normalised along ``axis``, in base = its length.

    Each slice along ``axis`` is turned into a distribution ``p = w / w.sum()``
    and its entropy ``-sum p log p / log(n)`` is returned, ``n`` being the
    length of the axis, so the result lies in [0, 1]. A slice of all zeros is
    treated as uniform (entropy 1: no preference). With ``n == 1`` there is a
    single outcome and the entropy is 0.
    """
    w = np.asarray(weights, dtype=np.float64)
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    n = w.shape[axis]
    if n <= 1:
        return np.zeros(np.delete(w.shape, axis))
    total = w.sum(axis=axis, keepdims=True)
    p = np.where(total > 0, w / np.where(total > 0, total, 1.0), 1.0 / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    entropy = np.clip(-plogp.sum(axis=axis) / np.log(n), 0.0, 1.0)  # clip float rounding
    return np.where(np.squeeze(total, axis=axis) > 0, entropy, 1.0)  # all-zero slice: exactly uniform
