"""FactorVAE disentanglement score (Kim & Mnih, "Disentangling by Factorising",
ICML 2018), protocol of disentanglement_lib.

1. Encode ``num_variance_estimate`` points from the prior and take each code
   dimension's global standard deviation. Dimensions with std below
   ``prune_threshold`` are "collapsed" and ignored from here on.
2. One vote: pick a factor ``k`` uniformly, fix it to one random value for a
   batch of ``batch_size`` points (other factors drawn from the prior), encode,
   divide the codes by the global std and take the active dimension of least
   variance. The vote is ``(that dimension, k)``.
3. The classifier maps each active dimension to the factor it got most votes
   for (majority vote); its accuracy on ``num_train`` votes is
   ``train_accuracy`` and on ``num_eval`` fresh votes ``eval_accuracy`` (the
   score). Chance is about ``1 / K``; a representation with no active
   dimension scores 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .ground_truth import GroundTruthData, RepresentationFunction, check_ground_truth_data, encode_factors, sample
from .utils import as_random_state, check_count

__all__ = ["factor_vae_score"]


def factor_vae_score(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState | int,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    num_variance_estimate: int = 10_000,
    prune_threshold: float = 0.05,
) -> dict[str, Any]:
    """FactorVAE score of a representation.

    Args:
        ground_truth_data: see :class:`dcign.metrics.GroundTruthData`.
        representation_function: observations ``(N, ...)`` -> codes ``(N, D)``.
        random_state: ``numpy.random.RandomState`` or int seed.
        batch_size: points per vote, all sharing the fixed factor's value (>= 2).
        num_train: votes used to build the majority-vote classifier.
        num_eval: fresh votes to evaluate it.
        num_variance_estimate: points for the global std of each dimension (>= 2).
        prune_threshold: dimensions with global std below this are ignored.

    Returns:
        ``{"train_accuracy", "eval_accuracy", "num_active_dims", "active_dims",
        "dim_to_factor", "settings"}`` (``eval_accuracy`` is the score; ``dim_to_factor``
        lists the factor each active dimension votes for). With no active
        dimension both accuracies are 0 and ``"note"`` says why.

    Raises:
        ValueError: if ``batch_size`` or ``num_variance_estimate`` < 2, ``num_train``
            or ``num_eval`` < 1, or the codes are malformed (wrong shape, NaN / inf).
        TypeError: for a bad ``ground_truth_data`` or ``random_state``.
    """
    num_factors = check_ground_truth_data(ground_truth_data)
    check_count("batch_size", batch_size, 2)
    check_count("num_train", num_train, 1)
    check_count("num_eval", num_eval, 1)
    check_count("num_variance_estimate", num_variance_estimate, 2)
    random_state, seed = as_random_state(random_state)

    _, codes = sample(ground_truth_data, representation_function, num_variance_estimate, random_state)
    global_std = np.std(codes, axis=0, ddof=1)
    active = np.flatnonzero(global_std >= prune_threshold)
    settings = {
        "metric": "factor_vae_score",
        "reference": "Kim & Mnih 2018 (ICML); disentanglement_lib protocol",
        "seed": seed,
        "batch_size": batch_size,
        "num_train": num_train,
        "num_eval": num_eval,
        "num_variance_estimate": num_variance_estimate,
        "prune_threshold": prune_threshold,
        "num_factors": num_factors,
        "num_codes": int(codes.shape[1]),
        "classifier": "majority vote (active dimension -> factor)",
    }
    if active.size == 0:
        return {
            "train_accuracy": 0.0,
            "eval_accuracy": 0.0,
            "num_active_dims": 0,
            "active_dims": [],
            "dim_to_factor": [],
            "note": f"no code dimension has a global std >= {prune_threshold}: all collapsed, score 0",
            "settings": settings,
        }

    args = (ground_truth_data, representation_function, num_factors, batch_size, global_std, active)
    train_votes = _votes(*args, num_train, random_state)  # (K, num_active)
    dim_to_factor = np.argmax(train_votes, axis=0)
    eval_votes = _votes(*args, num_eval, random_state)
    columns = np.arange(active.size)
    return {
        "train_accuracy": float(train_votes[dim_to_factor, columns].sum() / train_votes.sum()),
        "eval_accuracy": float(eval_votes[dim_to_factor, columns].sum() / eval_votes.sum()),
        "num_active_dims": int(active.size),
        "active_dims": active.tolist(),
        "dim_to_factor": dim_to_factor.tolist(),
        "settings": settings,
    }


def _votes(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    num_factors: int,
    batch_size: int,
    global_std: np.ndarray,
    active: np.ndarray,
    num_votes: int,
    random_state: np.random.RandomState,
) -> np.ndarray:
    """Vote counts ``(K, num_active)``: entry ``[k, j]`` = votes for (active dim j, factor k)."""
    votes = np.zeros((num_factors, active.size), dtype=np.int64)
    for _ in range(num_votes):
        k = random_state.randint(num_factors)
        factors = np.array(ground_truth_data.sample_factors(batch_size, random_state))
        factors[:, k] = factors[0, k]
        codes = encode_factors(ground_truth_data, representation_function, factors, random_state)
        local_var = np.var(codes[:, active] / global_std[active], axis=0, ddof=1)
        votes[k, np.argmin(local_var)] += 1
    return votes
