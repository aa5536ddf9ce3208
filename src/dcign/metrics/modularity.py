"""Modularity and explicitness (Ridgeway & Mozer, "Learning Deep Disentangled Embeddings
with the F-Statistic Loss", NeurIPS 2018), protocol of disentanglement_lib.

Modularity: with the ``(D, K)`` mutual-information matrix of MIG (codes
discretised into ``num_bins`` equal-width bins), each code ``d`` should carry
information about one factor only. With ``theta = max_k I(d; k)`` and a
template that keeps only that maximum, the code's deviation is
``sum_k (I(d; k) - template_k)^2 / (theta^2 (K - 1))`` in [0, 1]; a code
carrying no information (``theta == 0``) gets deviation 1. Modularity is the
mean over codes of ``1 - deviation``.

Explicitness: for each factor, a logistic-regression classifier (one-vs-rest)
on all (standardised) codes; the score is its one-vs-rest ROC AUC averaged
over the factor's values, then over factors, on the training and test points.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.multiclass import OneVsRestClassifier

from .ground_truth import GroundTruthData, RepresentationFunction, check_ground_truth_data, sample
from .utils import (
    as_random_state,
    check_count,
    check_factors_codes,
    check_train_test,
    derive_seed,
    discrete_mutual_info,
    histogram_discretize,
    plain_params,
)

__all__ = ["modularity", "modularity_from_codes", "modularity_from_mi", "explicitness_from_codes"]


def modularity(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState | int,
    num_train: int = 10_000,
    num_test: int = 5_000,
    num_bins: int = 20,
    batch_size: int = 100,
    explicitness: bool = True,
) -> dict[str, Any]:
    """Modularity (and explicitness) of a representation.

    Args:
        ground_truth_data: see :class:`dcign.metrics.GroundTruthData`.
        representation_function: observations ``(N, ...)`` -> codes ``(N, D)``.
        random_state: ``numpy.random.RandomState`` or int seed.
        num_train: points for the mutual information (and explicitness training).
        num_test: held-out points for explicitness (not drawn if ``explicitness`` is False).
        num_bins: equal-width bins per code dimension.
        batch_size: sampling batch size (see :func:`dcign.metrics.sample`).
        explicitness: also fit the explicitness classifiers (K one-vs-rest logistic
            regressions on all codes; seconds at the defaults).

    Returns:
        ``{"modularity_score", "modularity_per_code", "mutual_information", "settings"}``
        plus, with ``explicitness``, ``"explicitness_score_train"``,
        ``"explicitness_score_test"`` and their per-factor lists.

    Raises:
        ValueError: too few points, malformed codes.
    """
    num_factors = check_ground_truth_data(ground_truth_data)
    check_count("num_train", num_train, 2)
    if explicitness:
        check_count("num_test", num_test, 1)
    random_state, seed = as_random_state(random_state)
    draw = (ground_truth_data, representation_function)
    factors_train, codes_train = sample(*draw, num_train, random_state, batch_size)
    result = modularity_from_codes(factors_train, codes_train, num_bins)
    if explicitness:
        factors_test, codes_test = sample(*draw, num_test, random_state, batch_size)
        explicit = explicitness_from_codes(factors_train, codes_train, factors_test, codes_test,
                                           random_state=derive_seed(random_state))
        result["settings"].update(explicit.pop("settings"))
        result.update(explicit)
    result["settings"].update(seed=seed, num_train=num_train, num_test=num_test if explicitness else 0,
                              sampling_batch_size=batch_size, num_factors=num_factors)
    return result


def modularity_from_codes(factors: np.ndarray, codes: np.ndarray, num_bins: int = 20) -> dict[str, Any]:
    """Modularity from sampled ``factors`` ``(N, K)`` (int indices) and ``codes`` ``(N, D)``.

    Raises:
        ValueError: mismatched N, N < 2, NaN / inf codes, non-integer factors.
    """
    factors, codes = check_factors_codes(factors, codes, min_points=2)
    mi = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    result = modularity_from_mi(mi)
    result["settings"].update(num_points=int(codes.shape[0]), num_bins=num_bins,
                              discretisation="equal-width np.histogram bins per code dimension",
                              mi_estimator="sklearn.metrics.mutual_info_score (nats)")
    return result


def modularity_from_mi(mutual_information: np.ndarray) -> dict[str, Any]:
    """Modularity from a ``(D codes, K factors)`` mutual-information matrix.

    With K == 1 every informative code is trivially modular (deviation 0).

    Raises:
        ValueError: if the matrix is not 2-D, is empty, or has negative / NaN entries.
    """
    mi = np.asarray(mutual_information, dtype=np.float64)
    if mi.ndim != 2 or mi.size == 0:
        raise ValueError(f"mutual_information must be a non-empty 2-D (codes, factors) array, got {mi.shape}")
    if not np.all(np.isfinite(mi)) or np.any(mi < 0):
        raise ValueError("mutual_information must hold finite, non-negative numbers")
    theta = mi.max(axis=1)
    num_factors = mi.shape[1]
    deviation = np.ones(mi.shape[0])
    informative = theta > 0
    if num_factors > 1:
        # sum_k (mi - template)^2 / theta^2, template = theta at the argmax and 0 elsewhere;
        # dividing by theta first avoids underflow of theta^2.
        ratio = mi[informative] / theta[informative, None]
        deviation[informative] = ((ratio**2).sum(axis=1) - 1.0) / (num_factors - 1)
    else:
        deviation[informative] = 0.0
    per_code = 1.0 - deviation
    return {
        "modularity_score": float(np.mean(per_code)),
        "modularity_per_code": per_code.tolist(),
        "mutual_information": mi.tolist(),
        "settings": {
            "metric": "modularity",
            "reference": "Ridgeway & Mozer 2018 (NeurIPS); disentanglement_lib protocol",
            "num_codes": int(mi.shape[0]),
        },
    }


def explicitness_from_codes(
    factors_train: np.ndarray,
    codes_train: np.ndarray,
    factors_test: np.ndarray,
    codes_test: np.ndarray,
    random_state: int = 0,
) -> dict[str, Any]:
    """Explicitness: one-vs-rest logistic-regression ROC AUC of each factor from all codes.

    Codes are standardised with the training mean / std (a constant code stays
    0). Per factor, the AUC of each value (one vs. rest) is averaged over the
    values present in the evaluated set with both positives and negatives.

    Returns:
        ``{"explicitness_score_train", "explicitness_score_test",
        "explicitness_train_per_factor", "explicitness_test_per_factor", "settings"}``.
    """
    factors_train, codes_train = check_factors_codes(factors_train, codes_train, 2, "train")
    factors_test, codes_test = check_factors_codes(factors_test, codes_test, 1, "test")
    check_train_test(factors_train, codes_train, factors_test, codes_test)
    mean, std = codes_train.mean(axis=0), codes_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    x_train, x_test = (codes_train - mean) / std, (codes_test - mean) / std
    base = LogisticRegression(random_state=random_state)
    auc_train, auc_test = [], []
    for k in range(factors_train.shape[1]):
        y_train, y_test = factors_train[:, k], factors_test[:, k]
        if np.all(y_train == y_train[0]):
            auc_train.append(0.5)
            auc_test.append(0.5)
            continue
        model = OneVsRestClassifier(base).fit(x_train, y_train)
        auc_train.append(_mean_auc(model, x_train, y_train))
        auc_test.append(_mean_auc(model, x_test, y_test))
    return {
        "explicitness_score_train": float(np.mean(auc_train)),
        "explicitness_score_test": float(np.mean(auc_test)),
        "explicitness_train_per_factor": auc_train,
        "explicitness_test_per_factor": auc_test,
        "settings": {
            "explicitness_classifier": "sklearn.multiclass.OneVsRestClassifier(LogisticRegression) on "
            "standardised codes, ROC AUC per value (one vs. rest)",
            "explicitness_classifier_params": plain_params(base),
        },
    }


def _mean_auc(model: OneVsRestClassifier, x: np.ndarray, y: np.ndarray) -> float:
    """Mean one-vs-rest ROC AUC over the classes that have positives and negatives in ``y``."""
    proba = model.predict_proba(x)
    aucs = []
    for j, value in enumerate(model.classes_):
        positive = y == value
        if 0 < positive.sum() < len(y):
            aucs.append(roc_auc_score(positive, proba[:, j]))
    return float(np.mean(aucs)) if aucs else 0.5
