"""SAP: Separated Attribute Predictability (Kumar et al., "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations", ICLR 2018), protocol of
disentanglement_lib.

A score matrix ``S`` (``D`` codes x ``K`` factors) says how well each code
*alone* predicts each factor:

* ``continuous_factors=False`` (default, for discrete factors): test accuracy
  of a linear SVM (``LinearSVC(C=0.01, class_weight="balanced")``) fitted on
  that single code;
* ``continuous_factors=True``: squared Pearson correlation (R²) of code and
  factor on the training points (0 for a constant code).

For each factor the gap between the best and the second best code is in
[0, 1]: large when exactly one code predicts the factor. SAP is the mean gap
over factors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.svm import LinearSVC

from .ground_truth import GroundTruthData, RepresentationFunction, check_ground_truth_data, sample
from .utils import (
    as_random_state,
    check_count,
    check_factors_codes,
    check_train_test,
    derive_seed,
    plain_params,
)

__all__ = ["DEFAULT_SVM_PARAMS", "sap", "sap_from_codes", "sap_score_matrix"]

DEFAULT_SVM_PARAMS: dict[str, Any] = {"C": 0.01, "class_weight": "balanced"}
"""disentanglement_lib's linear SVM for discrete factors."""


def sap(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState | int,
    num_train: int = 10_000,
    num_test: int = 5_000,
    batch_size: int = 100,
    continuous_factors: bool = False,
    svm_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """SAP of a representation: samples train / test points, then :func:`sap_from_codes`.

    Args:
        ground_truth_data: see :class:`dcign.metrics.GroundTruthData`.
        representation_function: observations ``(N, ...)`` -> codes ``(N, D)``.
        random_state: ``numpy.random.RandomState`` or int seed (also pins the SVMs).
        num_train, num_test: points to fit and to test the per-code classifiers on.
        batch_size: sampling batch size (see :func:`dcign.metrics.sample`).
        continuous_factors: use R² instead of classification accuracy.
        svm_params: ``LinearSVC`` keyword arguments overriding :data:`DEFAULT_SVM_PARAMS`.

    Returns:
        As :func:`sap_from_codes`, with the sampling settings added.

    Raises:
        ValueError: ``num_train`` < 2 or ``num_test`` < 1, malformed codes.
    """
    num_factors = check_ground_truth_data(ground_truth_data)
    check_count("num_train", num_train, 2)
    check_count("num_test", num_test, 1)
    random_state, seed = as_random_state(random_state)
    draw = (ground_truth_data, representation_function)
    factors_train, codes_train = sample(*draw, num_train, random_state, batch_size)
    factors_test, codes_test = sample(*draw, num_test, random_state, batch_size)
    result = sap_from_codes(factors_train, codes_train, factors_test, codes_test, continuous_factors,
                            svm_params, random_state=derive_seed(random_state))
    result["settings"].update(seed=seed, num_train=num_train, num_test=num_test,
                              sampling_batch_size=batch_size, num_factors=num_factors)
    return result


def sap_from_codes(
    factors_train: np.ndarray,
    codes_train: np.ndarray,
    factors_test: np.ndarray,
    codes_test: np.ndarray,
    continuous_factors: bool = False,
    svm_params: dict[str, Any] | None = None,
    random_state: int = 0,
) -> dict[str, Any]:
    """SAP from sampled factors ``(N, K)`` and codes ``(N, D)`` (train and test sets).

    With ``continuous_factors=True`` only the training set is used (as in
    disentanglement_lib), but the test set is still checked.

    Returns:
        ``{"SAP_score", "sap_per_factor" (K,), "score_matrix" (D, K), "settings"}``.

    Raises:
        ValueError: mismatched N within a set, different K or D between the sets,
            fewer than 2 training points, NaN / inf codes, non-integer factors.
    """
    factors_train, codes_train = check_factors_codes(factors_train, codes_train, 2, "train")
    factors_test, codes_test = check_factors_codes(factors_test, codes_test, 1, "test")
    check_train_test(factors_train, codes_train, factors_test, codes_test)
    params = {**DEFAULT_SVM_PARAMS, **(svm_params or {}), "random_state": random_state}
    scores = sap_score_matrix(factors_train, codes_train, factors_test, codes_test, continuous_factors, params)
    ordered = np.sort(scores, axis=0)[::-1]
    second = ordered[1] if scores.shape[0] > 1 else np.zeros(scores.shape[1])
    gap = ordered[0] - second
    settings: dict[str, Any] = {
        "metric": "sap",
        "reference": "Kumar et al. 2018 (ICLR); disentanglement_lib protocol",
        "num_points_train": int(codes_train.shape[0]),
        "num_points_test": int(codes_test.shape[0]),
        "num_codes": int(codes_train.shape[1]),
        "continuous_factors": bool(continuous_factors),
    }
    if continuous_factors:
        settings["predictor"] = "squared Pearson correlation (R^2) on the training points"
    else:
        settings["predictor"] = "sklearn.svm.LinearSVC per (code, factor), test accuracy"
        settings["classifier_params"] = plain_params(LinearSVC(**params))
    return {
        "SAP_score": float(np.mean(gap)),
        "sap_per_factor": gap.tolist(),
        "score_matrix": scores.tolist(),
        "settings": settings,
    }


def sap_score_matrix(
    factors_train: np.ndarray,
    codes_train: np.ndarray,
    factors_test: np.ndarray,
    codes_test: np.ndarray,
    continuous_factors: bool,
    svm_params: dict[str, Any],
) -> np.ndarray:
    """``(D, K)`` predictability of each factor from each single code (see module docstring).

    A factor constant in the training set scores 0 for every code.
    """
    num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
    scores = np.zeros((num_codes, num_factors))
    for k in range(num_factors):
        y_train, y_test = factors_train[:, k], factors_test[:, k]
        if np.all(y_train == y_train[0]):
            continue
        for d in range(num_codes):
            x_train = codes_train[:, d]
            if continuous_factors:
                cov = np.cov(x_train, y_train, ddof=1)
                if cov[0, 0] > 1e-12:
                    scores[d, k] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])
            else:
                model = LinearSVC(**svm_params).fit(x_train[:, None], y_train)
                scores[d, k] = np.mean(model.predict(codes_test[:, d, None]) == y_test)
    return scores
