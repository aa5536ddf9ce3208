"""DCI: Disentanglement, Completeness, Informativeness (Eastwood & Williams, "A Framework
for the Quantitative Evaluation of Disentangled Representations", ICLR 2018),
with the gradient-boosted-trees regressor of disentanglement_lib.

One classifier per factor predicts the factor from all codes; its feature
importances fill column ``k`` of the importance matrix ``R`` (``D`` codes x
``K`` factors).

* Disentanglement of code ``d``: ``1 - H_K(R[d] / sum R[d])`` (entropy in base
  K): 1 when the code matters for a single factor. The total weights each code
  by its share of all importance, so unused codes do not count.
* Completeness of factor ``k``: ``1 - H_D(R[:, k] / sum R[:, k])`` (base D):
  1 when a single code captures the factor. The total is the mean over
  factors (with GBT importances every column sums to 1, so this equals
  disentanglement_lib's importance-weighted mean).
* Informativeness: the classifiers' accuracy, mean over factors, on the
  training and on held-out points.

Cost: the field's default is sklearn's ``GradientBoostingClassifier()`` (100
stages of depth-3 trees, one tree per class per stage, exact splits) on
10,000 points, for every factor. It is slow: over a minute for 10 codes and
10 factors of 10 values on one CPU core, and it grows with the number of
codes (hours for 200 dense codes). ``model="extra_trees"`` is a documented
cheaper setting (:data:`EXTRA_TREES_PARAMS`: 10 extremely randomised trees
that consider every code at each split), seconds even for 200 codes; its
numbers are not comparable with published GBT ones, and the model used is
written into the returned settings. Lowering ``num_train`` also helps.

The per-factor classifiers are independent, so ``n_jobs`` fits them in parallel
processes (joblib, as scikit-learn's own ``n_jobs``); every classifier keeps its
pinned seed, so the scores do not depend on ``n_jobs``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import clone
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier

from .ground_truth import GroundTruthData, RepresentationFunction, check_ground_truth_data, sample
from .utils import (
    as_random_state,
    check_count,
    check_factors_codes,
    check_train_test,
    derive_seed,
    normalized_entropy,
    plain_params,
)

__all__ = ["EXTRA_TREES_PARAMS", "MODELS", "dci", "dci_from_codes", "dci_from_importance", "tree_importance"]

EXTRA_TREES_PARAMS: dict[str, Any] = {"n_estimators": 10, "max_features": None, "min_samples_leaf": 5}
"""Defaults of the fast ``model="extra_trees"`` (not the field's; for quick checks)."""

MODELS: dict[str, tuple[type, dict[str, Any]]] = {
    "gbt": (GradientBoostingClassifier, {}),  # disentanglement_lib: sklearn's defaults
    "extra_trees": (ExtraTreesClassifier, EXTRA_TREES_PARAMS),
}
"""``model`` name -> (sklearn classifier class, default keyword arguments)."""


def dci(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState | int,
    num_train: int = 10_000,
    num_test: int = 5_000,
    batch_size: int = 100,
    model: str = "gbt",
    model_params: dict[str, Any] | None = None,
    n_jobs: int | None = -1,
) -> dict[str, Any]:
    """DCI of a representation: samples train / test points, then :func:`dci_from_codes`.

    Args:
        ground_truth_data: see :class:`dcign.metrics.GroundTruthData`.
        representation_function: observations ``(N, ...)`` -> codes ``(N, D)``.
        random_state: ``numpy.random.RandomState`` or int seed (also pins the classifiers).
        num_train: points to fit the classifiers on.
        num_test: held-out points for informativeness.
        batch_size: sampling batch size (see :func:`dcign.metrics.sample`).
        model: ``"gbt"`` (default, the field's ``GradientBoostingClassifier``) or
            ``"extra_trees"`` (fast, see the module docstring).
        model_params: keyword arguments overriding the model's defaults in :data:`MODELS`
            (for ``"gbt"``, e.g. ``{"n_estimators": 20}``).
        n_jobs: processes fitting the per-factor classifiers (joblib convention: -1 = all
            cores, None or 1 = in this process); does not change the scores.

    Returns:
        As :func:`dci_from_codes`, with the sampling settings added.

    Raises:
        ValueError: ``num_train`` or ``num_test`` < 1, unknown ``model``, malformed codes,
            ``n_jobs`` 0 or not an int.
    """
    num_factors = check_ground_truth_data(ground_truth_data)
    check_count("num_train", num_train, 1)
    check_count("num_test", num_test, 1)
    _check_model(model)
    check_n_jobs(n_jobs)
    random_state, seed = as_random_state(random_state)
    draw = (ground_truth_data, representation_function)
    factors_train, codes_train = sample(*draw, num_train, random_state, batch_size)
    factors_test, codes_test = sample(*draw, num_test, random_state, batch_size)
    result = dci_from_codes(factors_train, codes_train, factors_test, codes_test, model, model_params,
                            random_state=derive_seed(random_state), n_jobs=n_jobs)
    result["settings"].update(seed=seed, num_train=num_train, num_test=num_test,
                              sampling_batch_size=batch_size, num_factors=num_factors)
    return result


def dci_from_codes(
    factors_train: np.ndarray,
    codes_train: np.ndarray,
    factors_test: np.ndarray,
    codes_test: np.ndarray,
    model: str = "gbt",
    model_params: dict[str, Any] | None = None,
    random_state: int = 0,
    n_jobs: int | None = -1,
) -> dict[str, Any]:
    """DCI from sampled factors ``(N, K)`` and codes ``(N, D)`` (train and test sets).

    Args:
        model: ``"gbt"`` (default, the field's) or ``"extra_trees"`` (fast); see :data:`MODELS`.
        model_params: keyword arguments overriding the model's defaults.
        random_state: int seed pinning every classifier.
        n_jobs: processes fitting the per-factor classifiers (see :func:`tree_importance`).

    Returns:
        ``{"disentanglement", "completeness", "informativeness_train",
        "informativeness_test", "disentanglement_per_code", "completeness_per_factor",
        "code_importance", "importance_matrix", "settings"}``.

    Raises:
        ValueError: mismatched N within a set, different K or D between the sets,
            no training points, NaN / inf codes, non-integer factors, unknown ``model``,
            ``n_jobs`` 0 or not an int.
    """
    _check_model(model)
    factors_train, codes_train = check_factors_codes(factors_train, codes_train, 1, "train")
    factors_test, codes_test = check_factors_codes(factors_test, codes_test, 1, "test")
    check_train_test(factors_train, codes_train, factors_test, codes_test)
    model_class, defaults = MODELS[model]
    estimator = model_class(**{**defaults, **(model_params or {}), "random_state": random_state})
    importance, acc_train, acc_test = tree_importance(factors_train, codes_train, factors_test, codes_test, estimator,
                                                     n_jobs=n_jobs)
    result = dci_from_importance(importance)
    result.update(
        informativeness_train=float(np.mean(acc_train)),
        informativeness_test=float(np.mean(acc_test)),
        informativeness_train_per_factor=acc_train.tolist(),
        informativeness_test_per_factor=acc_test.tolist(),
    )
    result["settings"].update(
        num_points_train=int(codes_train.shape[0]),
        num_points_test=int(codes_test.shape[0]),
        model=model,
        classifier=f"sklearn.ensemble.{model_class.__name__} (one per factor)",
        classifier_params=plain_params(estimator),
    )
    return result


def dci_from_importance(importance_matrix: np.ndarray) -> dict[str, Any]:
    """Disentanglement and completeness from an importance matrix ``(D codes, K factors)``.

    Entries must be non-negative. A row (code) or column (factor) of zeros
    counts as uniform: it scores 0 on its own, and an all-zero matrix gives
    0 for both scores. With K == 1 every code is trivially disentangled (1);
    with D == 1 every factor is trivially complete (1).

    Returns:
        ``{"disentanglement", "completeness", "disentanglement_per_code" (D,),
        "completeness_per_factor" (K,), "code_importance" (D,), "importance_matrix",
        "settings"}`` (arrays as lists).

    Raises:
        ValueError: if the matrix is not 2-D, is empty, or has negative / NaN entries.
    """
    r = np.asarray(importance_matrix, dtype=np.float64)
    if r.ndim != 2 or r.size == 0:
        raise ValueError(f"importance_matrix must be a non-empty 2-D (codes, factors) array, got shape {r.shape}")
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError("importance_matrix must hold finite, non-negative numbers")
    per_code = 1.0 - normalized_entropy(r, axis=1)
    per_factor = 1.0 - normalized_entropy(r, axis=0)
    total = r.sum()
    code_importance = r.sum(axis=1) / total if total > 0 else np.full(r.shape[0], 1.0 / r.shape[0])
    return {
        "disentanglement": float(np.sum(per_code * code_importance)),
        "completeness": float(np.mean(per_factor)),
        "disentanglement_per_code": per_code.tolist(),
        "completeness_per_factor": per_factor.tolist(),
        "code_importance": code_importance.tolist(),
        "importance_matrix": r.tolist(),
        "settings": {
            "metric": "dci",
            "reference": "Eastwood & Williams 2018 (ICLR); disentanglement_lib protocol",
            "num_codes": int(r.shape[0]),
            "entropy_base_disentanglement": int(r.shape[1]),
            "entropy_base_completeness": int(r.shape[0]),
            "completeness_average": "mean over factors",
        },
    }


def tree_importance(
    factors_train: np.ndarray,
    codes_train: np.ndarray,
    factors_test: np.ndarray,
    codes_test: np.ndarray,
    estimator: Any,
    n_jobs: int | None = -1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit a clone of ``estimator`` per factor on the codes.

    Args:
        n_jobs: joblib processes fitting the factors' classifiers in parallel (-1 = all
            cores, None or 1 = sequential in this process). Each clone keeps
            ``estimator``'s seed, so the result does not depend on ``n_jobs``.

    Returns:
        importance ``(D, K)`` (``|feature_importances_|``), train and test accuracy ``(K,)``.
        A factor that is constant in the training set needs no model: its
        importance column is 0 and the constant is predicted.
    """
    n_jobs = check_n_jobs(n_jobs)
    num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
    importance = np.zeros((num_codes, num_factors))
    acc_train, acc_test = np.zeros(num_factors), np.zeros(num_factors)
    varying = []
    for k in range(num_factors):
        y_train = factors_train[:, k]
        if np.all(y_train == y_train[0]):
            acc_train[k], acc_test[k] = 1.0, float(np.mean(factors_test[:, k] == y_train[0]))
        else:
            varying.append(k)
    # never start more processes than there are classifiers to fit
    jobs = 1 if len(varying) < 2 else min(effective_n_jobs(n_jobs), len(varying))
    fits = Parallel(n_jobs=jobs)(
        delayed(_fit_factor)(clone(estimator), codes_train, factors_train[:, k], codes_test, factors_test[:, k])
        for k in varying
    )
    for k, (imp, a_train, a_test) in zip(varying, fits):
        importance[:, k], acc_train[k], acc_test[k] = imp, a_train, a_test
    return importance, acc_train, acc_test


def _fit_factor(estimator, codes_train, y_train, codes_test, y_test) -> tuple[np.ndarray, float, float]:
    fitted = estimator.fit(codes_train, y_train)
    return (np.abs(fitted.feature_importances_), float(np.mean(fitted.predict(codes_train) == y_train)),
            float(np.mean(fitted.predict(codes_test) == y_test)))


def check_n_jobs(n_jobs: Any) -> int | None:
    """``n_jobs`` as joblib takes it: None, or a non-zero int (-1 = all cores, -2 = all but one, ...).

    Raises:
        ValueError: zero, a bool, or anything that is not an int.
    """
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be None or a non-zero int (-1 = all cores, 1 = no extra processes), got {n_jobs!r}")
    return int(n_jobs)


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
