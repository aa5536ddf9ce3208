"""β-VAE disentanglement score (Higgins et al., "β-VAE: Learning basic visual concepts
with a constrained variational framework", ICLR 2017), protocol of disentanglement_lib.

Each data point of the score's classification task is made as follows: pick a
factor ``k`` uniformly, draw ``batch_size`` pairs of factor vectors that agree
on factor ``k`` (and are independent otherwise), encode both sides, and take
the mean over the batch of ``|code1 - code2|`` (a ``(D,)`` feature); its label
is ``k``. A linear classifier (sklearn ``LogisticRegression``) is trained to
recover ``k`` from the feature. If each factor is captured by its own code
dimensions, the fixed factor shows up as dimensions with a small difference
and the classifier is right every time. ``eval_accuracy`` (on fresh points) is
the score; chance is ``1 / K``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from .ground_truth import GroundTruthData, RepresentationFunction, check_ground_truth_data, encode_factors
from .utils import as_random_state, check_count, derive_seed, plain_params

__all__ = ["beta_vae_score"]


def beta_vae_score(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState | int,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    classifier_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """β-VAE score of a representation.

    Args:
        ground_truth_data: see :class:`dcign.metrics.GroundTruthData`.
        representation_function: observations ``(N, ...)`` -> codes ``(N, D)``.
        random_state: ``numpy.random.RandomState`` or int seed; the same seed gives
            the same dict.
        batch_size: pairs averaged into one feature (64 in disentanglement_lib).
        num_train: classifier training points (each costs ``2 * batch_size`` encodings).
        num_eval: evaluation points.
        classifier_params: extra ``LogisticRegression`` keyword arguments (defaults:
            sklearn's, with ``random_state`` pinned from ``random_state``).

    Returns:
        ``{"train_accuracy", "eval_accuracy", "settings"}``; ``eval_accuracy`` is
        the score, in [0, 1]. ``settings`` holds everything needed to reproduce it.

    Raises:
        ValueError: if ``batch_size``, ``num_train`` or ``num_eval`` < 1, if the
            training points show fewer than two distinct factors (raise ``num_train``),
            or if the codes are malformed (wrong shape, NaN / inf).
        TypeError: for a bad ``ground_truth_data`` or ``random_state``.
    """
    num_factors = check_ground_truth_data(ground_truth_data)
    check_count("batch_size", batch_size, 1)
    check_count("num_train", num_train, 1)
    check_count("num_eval", num_eval, 1)
    random_state, seed = as_random_state(random_state)

    args = (ground_truth_data, representation_function, num_factors, batch_size)
    x_train, y_train = _make_points(*args, num_train, random_state)
    if len(np.unique(y_train)) < 2:
        raise ValueError(
            f"the {num_train} training points cover fewer than two factors; "
            "the β-VAE score needs num_factors >= 2 and a larger num_train"
        )
    params = {"random_state": derive_seed(random_state), **(classifier_params or {})}
    model = LogisticRegression(**params).fit(x_train, y_train)
    x_eval, y_eval = _make_points(*args, num_eval, random_state)

    return {
        "train_accuracy": float(np.mean(model.predict(x_train) == y_train)),
        "eval_accuracy": float(np.mean(model.predict(x_eval) == y_eval)),
        "settings": {
            "metric": "beta_vae_score",
            "reference": "Higgins et al. 2017 (ICLR); disentanglement_lib protocol",
            "seed": seed,
            "batch_size": batch_size,
            "num_train": num_train,
            "num_eval": num_eval,
            "num_factors": num_factors,
            "num_codes": int(x_train.shape[1]),
            "classifier": "sklearn.linear_model.LogisticRegression",
            "classifier_params": plain_params(model),
        },
    }


def _make_points(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    num_factors: int,
    batch_size: int,
    num_points: int,
    random_state: np.random.RandomState,
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(num_points, D)`` and labels ``(num_points,)`` of the β-VAE task."""
    features, labels = [], np.empty(num_points, dtype=np.int64)
    for i in range(num_points):
        k = random_state.randint(num_factors)
        factors1 = np.array(ground_truth_data.sample_factors(batch_size, random_state))
        factors2 = np.array(ground_truth_data.sample_factors(batch_size, random_state))
        factors2[:, k] = factors1[:, k]
        codes = encode_factors(
            ground_truth_data, representation_function, np.concatenate([factors1, factors2]), random_state
        )
        features.append(np.mean(np.abs(codes[:batch_size] - codes[batch_size:]), axis=0))
        labels[i] = k
    return np.stack(features), labels
