"""Known-answer tests of dcign.metrics on a toy data set.

Sizes: disentanglement_lib's defaults (10,000 train points, GBT with 100
stages, ...) take minutes, so every test passes smaller ``num_train`` /
``num_eval`` / ``num_test`` and, for DCI, fewer GBT stages. The toy answers are
exact enough at these sizes; the defaults themselves are timed in
benchmarks/metrics_speed.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dcign import metrics
from dcign.metrics import GroundTruthData


class IndependentFactors:
    """10 independent factors, each uniform on 10 values; observation = factor vector as float."""

    def __init__(self, num_factors: int = 10, num_values: int = 10) -> None:
        self.num_factors = num_factors
        self.factors_num_values = [num_values] * num_factors

    def sample_factors(self, num, random_state):
        return random_state.randint(self.factors_num_values[0], size=(num, self.num_factors))

    def sample_observations_from_factors(self, factors, random_state):
        return np.asarray(factors, dtype=np.float64)


DATA = IndependentFactors()


def identity(x):
    return x


def zeros(x):
    return np.zeros((len(x), 10))


def duplicated(x):
    return np.concatenate([x, x], axis=1)


def nan_codes(x):
    out = np.array(x, dtype=np.float64)
    out[0, 3] = np.nan
    return out


# Reduced sizes (defaults are 10,000 / 5,000 points and 100 GBT stages: too slow for a unit test).
SMALL = {
    "beta_vae_score": {"num_train": 300, "num_eval": 150},
    "factor_vae_score": {"num_train": 300, "num_eval": 150, "num_variance_estimate": 1000},
    "mig": {"num_train": 3000},
    "dci": {"num_train": 600, "num_test": 300, "model_params": {"n_estimators": 5}},
    "sap": {"num_train": 1000, "num_test": 500},
    "modularity": {"num_train": 2000, "explicitness": False},
}


def run(name, representation, seed=0, **overrides):
    return metrics.METRICS[name](DATA, representation, seed, **{**SMALL[name], **overrides})


def headline(name, result):
    return result[metrics.HEADLINE_KEYS[name]]


# --------------------------------------------------------------------------- interface
def test_toy_data_satisfies_protocol():
    assert isinstance(DATA, GroundTruthData)


def test_sample_draws_in_batches():
    factors, codes = metrics.sample(DATA, identity, 250, np.random.RandomState(0), batch_size=100)
    assert factors.shape == (250, 10) and factors.dtype == np.int64
    assert codes.shape == (250, 10) and codes.dtype == np.float64
    np.testing.assert_array_equal(factors, codes)


# --------------------------------------------------------------------------- identity
@pytest.mark.parametrize("name", ["beta_vae_score", "factor_vae_score", "mig", "modularity"])
def test_identity_scores_high(name):
    assert 0.9 <= headline(name, run(name, identity)) <= 1.0


def test_identity_dci_high():
    result = run("dci", identity)
    assert 0.9 <= result["disentanglement"] <= 1.0
    assert 0.9 <= result["completeness"] <= 1.0
    assert result["informativeness_test"] >= 0.9


def test_identity_dci_extra_trees_high():
    result = run("dci", identity, model="extra_trees", model_params=None)
    assert result["settings"]["model"] == "extra_trees"
    assert 0.9 <= result["disentanglement"] <= 1.0 and 0.9 <= result["completeness"] <= 1.0


def test_dci_parallel_fits_match_sequential():
    # The per-factor classifiers run in other processes with n_jobs=2; each keeps its seed.
    noisy = lambda x: x + np.random.RandomState(5).normal(0, 2.0, size=x.shape)  # noqa: E731
    one = run("dci", noisy, n_jobs=1)
    two = run("dci", noisy, n_jobs=2)
    assert one["importance_matrix"] == two["importance_matrix"]
    assert one["disentanglement"] == two["disentanglement"] < 0.99


def test_dci_constant_factors_score_within_unit_interval():
    factors = np.zeros((50, 3), dtype=int)
    out = metrics.dci_from_codes(factors, np.random.RandomState(0).randn(50, 4), factors, np.zeros((50, 4)))
    assert out["disentanglement"] == out["completeness"] == 0.0
    assert min(out["completeness_per_factor"]) >= 0.0


def test_identity_sap():
    # R^2 (continuous_factors=True): the own code explains its factor, the others nothing.
    assert 0.9 <= run("sap", identity, continuous_factors=True)["SAP_score"] <= 1.0
    # Default (discrete) SAP: a linear SVM on one code can only carve out the extreme
    # values of a 10-valued factor (about 0.3 accuracy vs 0.1 chance for the others),
    # so even a perfect code scores about 0.2 under disentanglement_lib's protocol.
    assert 0.1 <= run("sap", identity)["SAP_score"] <= 0.35


def test_identity_explicitness():
    result = run("modularity", identity, explicitness=True, num_test=500)
    assert result["explicitness_score_test"] >= 0.85
    assert 0.9 <= result["modularity_score"] <= 1.0


# --------------------------------------------------------------------------- degenerate codes
def test_all_zero_representation_scores_low():
    fv = run("factor_vae_score", zeros)
    assert fv["eval_accuracy"] <= 0.2 and fv["num_active_dims"] == 0 and "note" in fv
    assert run("mig", zeros)["discrete_mig"] <= 0.2
    # SAP is a gap between the two best codes: a constant code has none (0), well below the
    # perfect code's 0.1..0.35 of test_identity_sap, and so has a code that duplicates each factor.
    assert run("sap", zeros)["SAP_score"] <= 0.02
    assert run("sap", zeros, continuous_factors=True)["SAP_score"] <= 0.02
    assert run("sap", duplicated)["SAP_score"] <= 0.02


def test_duplicated_representation_has_no_gap():
    assert run("mig", duplicated)["discrete_mig"] <= 0.1


# --------------------------------------------------------------------------- DCI from importance
def test_dci_diagonal_importance():
    result = metrics.dci_from_importance(np.eye(10))
    assert result["disentanglement"] == pytest.approx(1.0)
    assert result["completeness"] == pytest.approx(1.0)


def test_dci_zero_importance():
    result = metrics.dci_from_importance(np.zeros((10, 10)))
    assert result["disentanglement"] == pytest.approx(0.0)
    assert result["completeness"] == pytest.approx(0.0)


@pytest.mark.parametrize("num_codes", [10, 11])
def test_dci_factor_split_over_two_codes(num_codes):
    # num_codes codes x (num_codes - 1) factors: factor 0 shared equally by codes 0 and 1,
    # factor k by code k + 1. Each code serves one factor (D = 1); factor 0's completeness is
    # 1 - H(1/2, 1/2) with the entropy in base num_codes (0.699 for 10 codes).
    importance = np.zeros((num_codes, num_codes - 1))
    importance[0, 0] = importance[1, 0] = 0.5
    importance[np.arange(2, num_codes), np.arange(1, num_codes - 1)] = 1.0
    result = metrics.dci_from_importance(importance)
    assert result["disentanglement"] == pytest.approx(1.0)
    assert result["completeness_per_factor"][0] == pytest.approx(1 - math.log(2) / math.log(num_codes))
    assert result["completeness_per_factor"][1:] == pytest.approx([1.0] * (num_codes - 2))
    if num_codes == 10:
        assert result["completeness_per_factor"][0] == pytest.approx(0.699, abs=1e-3)


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=st.floats(0, 10)))
def test_dci_and_modularity_in_unit_interval(matrix):
    dci = metrics.dci_from_importance(matrix)
    mod = metrics.modularity_from_mi(matrix)
    for value in (dci["disentanglement"], dci["completeness"], mod["modularity_score"]):
        assert -1e-9 <= value <= 1 + 1e-9


def test_modularity_from_mi_known_values():
    mi = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    assert metrics.modularity_from_mi(mi)["modularity_per_code"] == pytest.approx([1.0, 0.0, 0.0])


# --------------------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("name", sorted(SMALL))
def test_same_seed_same_dict(name):
    first, second = run(name, identity, seed=3), run(name, identity, seed=3)
    assert first == second
    assert first["settings"]["seed"] == 3
    assert first["settings"]["metric"] == name


def test_random_state_object_matches_int_seed():
    by_int = run("mig", identity, seed=5)
    by_state = run("mig", identity, seed=np.random.RandomState(5))
    assert by_state["discrete_mig"] == by_int["discrete_mig"]
    assert by_state["settings"]["seed"] is None


def test_settings_record_estimators():
    result = run("sap", identity)
    assert result["settings"]["classifier_params"]["C"] == 0.01
    assert result["settings"]["num_train"] == 1000
    assert run("dci", identity)["settings"]["classifier_params"]["n_estimators"] == 5


# --------------------------------------------------------------------------- bad input
def test_mismatched_points_raise():
    factors = np.zeros((100, 3), dtype=int)
    codes = np.zeros((99, 4))
    with pytest.raises(ValueError, match="same number of points"):
        metrics.mig_from_codes(factors, codes)
    with pytest.raises(ValueError, match="same number of points"):
        metrics.modularity_from_codes(factors, codes)
    with pytest.raises(ValueError, match="same number of points"):
        metrics.dci_from_codes(factors, codes, factors, codes)
    with pytest.raises(ValueError, match="same number of points"):
        metrics.sap_from_codes(factors, codes, factors, codes)


def test_nan_codes_raise():
    factors, codes = metrics.sample(DATA, identity, 50, 0)
    codes[7, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.mig_from_codes(factors, codes)
    with pytest.raises(ValueError, match="NaN"):
        metrics.sap_from_codes(factors, codes, factors, codes)
    for name in ("beta_vae_score", "factor_vae_score", "dci"):
        with pytest.raises(ValueError, match="NaN"):
            run(name, nan_codes)


def test_other_bad_input():
    with pytest.raises(ValueError, match="at least"):
        run("mig", identity, num_train=1)
    with pytest.raises(ValueError, match="batch_size"):
        run("factor_vae_score", identity, batch_size=1)
    with pytest.raises(ValueError, match="integer factor indices"):
        metrics.mig_from_codes(np.full((10, 2), 0.5), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="model"):
        run("dci", identity, model="lasso")
    with pytest.raises(TypeError, match="RandomState"):
        metrics.mig(DATA, identity, np.random.default_rng(0))
    for n_jobs in (0, "two", 2.5, True, [2]):
        with pytest.raises(ValueError, match="n_jobs must be None or a non-zero int"):
            run("dci", identity, n_jobs=n_jobs)
    with pytest.raises(ValueError, match="2-D"):
        metrics.mig(DATA, lambda x: x[:, 0], 0, num_train=10)
