"""The engine as ground-truth data (dcign.data.ground_truth) and disentanglement_metrics.

Small sizes throughout: 64-px faces, a few identities, tens of points; the fast and full
settings themselves are timed by hand (see dcign.evaluation.disentanglement).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from dcign import metrics
from dcign.config import TrainConfig
from dcign.data.ground_truth import EngineGroundTruth
from dcign.evaluation.disentanglement import (
    FAST_SETTINGS,
    GroupedCode,
    disentanglement_metrics,
    metric_settings_for,
)
from dcign.factors import FACTORS, Factors
from dcign.metrics import GroundTruthData
from dcign.model import DCIGN, get_preset


# --------------------------------------------------------------------------- adapter
def test_protocol_and_shapes(faces):
    data = EngineGroundTruth(faces, num_bins=5, num_identities=4)
    assert isinstance(data, GroundTruthData)
    assert data.num_factors == 4
    assert data.factor_names == FACTORS
    assert data.factors_num_values == [5, 5, 5, 4]
    f = data.sample_factors(7, np.random.RandomState(0))
    assert f.shape == (7, 4) and f.dtype == np.int64
    assert np.all(f >= 0) and np.all(f < np.array(data.factors_num_values))
    obs = data.sample_observations_from_factors(f, np.random.RandomState(0))
    assert obs.shape == (7, 1, 64, 64) and obs.dtype == np.float32
    assert 0.0 <= obs.min() and obs.max() <= 1.0
    assert data.observation_shape == (1, 64, 64)


def test_default_uses_all_test_identities(faces):
    data = EngineGroundTruth(faces)
    assert np.array_equal(data.identities, faces.space.identities("test"))
    assert data.factors_num_values == [10, 10, 10, 20]
    train = EngineGroundTruth(faces, split="train", num_identities=3)
    assert np.array_equal(train.identities, [0, 1, 2])


def test_bins_in_degrees(faces):
    data = EngineGroundTruth(faces, num_bins=5, num_identities=4)
    np.testing.assert_allclose(data.bin_edges("azimuth"), np.linspace(-90, 90, 6))
    np.testing.assert_allclose(data.bin_centres("elevation"), [-20, -10, 0, 10, 20])
    f = np.array([[0, 4, 2, 3], [4, 0, 0, 0]])
    scenes = data.scene_factors(f)
    np.testing.assert_allclose(scenes.azimuth, [-72, 72])
    np.testing.assert_allclose(scenes.elevation, [20, -20])
    np.testing.assert_allclose(scenes.light_azimuth, [0, -64])
    assert scenes.identity.tolist() == [faces.space.identities("test")[3], faces.space.identities("test")[0]]
    uniform = EngineGroundTruth(faces, num_bins=5, num_identities=4, within_bin="uniform")
    rs = np.random.RandomState(1)
    f = uniform.sample_factors(200, rs)
    scenes = uniform.scene_factors(f, rs)
    for k, name in enumerate(FACTORS[:3]):
        edges = uniform.bin_edges(name)
        assert np.all(scenes[name] >= edges[f[:, k]]) and np.all(scenes[name] <= edges[f[:, k] + 1])
    assert len(np.unique(scenes.azimuth)) == 200  # really spread inside the bins


@pytest.mark.parametrize("within_bin", ["centre", "uniform"])
def test_factors_round_trip(faces, within_bin):
    data = EngineGroundTruth(faces, num_bins=7, num_identities=5, within_bin=within_bin)
    rs = np.random.RandomState(2)
    f = data.sample_factors(500, rs)
    assert np.array_equal(data.factor_indices(data.scene_factors(f, rs)), f)


def test_same_random_state_same_data(faces):
    data = EngineGroundTruth(faces, num_bins=4, num_identities=3, within_bin="uniform")
    draws = []
    for _ in range(2):
        rs = np.random.RandomState(5)
        f = data.sample_factors(6, rs)
        draws.append((f, data.sample_observations_from_factors(f, rs)))
    assert np.array_equal(draws[0][0], draws[1][0])
    np.testing.assert_array_equal(draws[0][1], draws[1][1])
    centre = EngineGroundTruth(faces, num_bins=4, num_identities=3)
    f = draws[0][0]
    np.testing.assert_array_equal(centre.sample_observations_from_factors(f, np.random.RandomState(0)),
                                  centre.sample_observations_from_factors(f, np.random.RandomState(9)))


def test_adapter_errors(faces):
    with pytest.raises(ValueError, match="split"):
        EngineGroundTruth(faces, split="val")
    with pytest.raises(ValueError, match="holds only 20"):
        EngineGroundTruth(faces, num_identities=21)
    with pytest.raises(ValueError, match="num_bins"):
        EngineGroundTruth(faces, num_bins=1)
    with pytest.raises(ValueError, match="within_bin"):
        EngineGroundTruth(faces, within_bin="edge")
    data = EngineGroundTruth(faces, num_bins=3, num_identities=2)
    with pytest.raises(ValueError, match="identity takes indices 0..1"):
        data.scene_factors(np.array([[0, 0, 0, 2]]))
    with pytest.raises(ValueError, match="4 columns"):
        data.scene_factors(np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="not among"):
        data.factor_indices(Factors(0.0, 0.0, 0.0, identity=[0]))  # a training identity
    with pytest.raises(ValueError, match="random_state"):
        EngineGroundTruth(faces, within_bin="uniform").scene_factors(np.zeros((1, 4), dtype=int))


class _Oracle:
    """Wraps the adapter; remembers, per rendered image, the true angles (deg) and identity.

    ``representation`` then reads that side table from the images alone.
    """

    def __init__(self, data: EngineGroundTruth) -> None:
        self.data = data
        self.table: dict[bytes, np.ndarray] = {}
        self.num_factors = data.num_factors
        self.factors_num_values = data.factors_num_values

    def sample_factors(self, num, random_state):
        return self.data.sample_factors(num, random_state)

    def sample_observations_from_factors(self, factors, random_state):
        state = random_state.get_state()
        scenes = self.data.scene_factors(factors, random_state)
        random_state.set_state(state)
        images = self.data.sample_observations_from_factors(factors, random_state)
        truth = np.stack([scenes.azimuth, scenes.elevation, scenes.light_azimuth, scenes.identity], axis=1)
        for im, t in zip(images, truth):
            self.table[hashlib.sha1(im.tobytes()).digest()] = t
        return images

    def representation(self, images):
        return np.stack([self.table[hashlib.sha1(im.tobytes()).digest()] for im in images])


def test_oracle_representation_has_high_mig_and_a_mixture_low(faces):
    data = EngineGroundTruth(faces, num_bins=5, num_identities=4)
    oracle = _Oracle(data)
    result = metrics.mig(oracle, oracle.representation, 0, num_train=300, num_bins=20)
    assert result["discrete_mig"] > 0.8, result["mig_per_factor"]
    assert len(oracle.table) > 100  # the side table really was read per image

    def mixed(images):  # every code sees every factor: no gap
        t = oracle.representation(images)
        t = (t - t.mean(0)) / t.std(0)
        return t @ np.ones((4, 4)) + np.arange(4)[None] * 1e-3

    assert metrics.mig(oracle, mixed, 0, num_train=300, num_bins=20)["discrete_mig"] < 0.2


# --------------------------------------------------------------------------- disentanglement_metrics
def test_settings_rules():
    fast = metric_settings_for(True)
    assert fast == FAST_SETTINGS and fast is not FAST_SETTINGS
    assert fast["dci"]["model"] == "extra_trees"
    assert metric_settings_for(False) == {name: {} for name in metrics.METRICS}  # the field's defaults
    small = metric_settings_for(True, 100)
    assert small["mig"]["num_train"] == 100 and small["dci"]["num_test"] == 50
    assert small["beta_vae_score"]["num_train"] == 10 and small["factor_vae_score"]["num_eval"] == 5
    assert small["factor_vae_score"]["num_variance_estimate"] == 100
    with pytest.raises(ValueError, match="num_points"):
        metric_settings_for(True, 1)


def test_grouped_code_columns():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(50, 10))
    g = GroupedCode({"azimuth": [0], "elevation": [1, 2]}, 10, intrinsic_components=2).fit(codes)
    out = g.transform(codes)
    assert out.shape == (50, 1 + 1 + 2)
    np.testing.assert_array_equal(out[:, 0], codes[:, 0])
    desc = g.describe()
    assert desc["columns"][:2] == ["azimuth: z1", "elevation: PC1 of z2,z3"]
    assert desc["intrinsic_latents"] == 7 and len(desc["intrinsic_explained_variance_ratio"]) == 2
    with pytest.raises(ValueError, match="intrinsic"):
        GroupedCode({"azimuth": [0, 1]}, 2)


def _tiny_net(cfg):
    torch.manual_seed(0)
    net = DCIGN(get_preset(cfg.model.preset, cfg.model.latent_dim))
    with torch.no_grad():  # spread the random codes so that FactorVAE sees active latents
        net.encoder.mu.weight.mul_(30)
    return net


TINY = {"beta_vae_score": {"batch_size": 4}, "factor_vae_score": {"batch_size": 4}}


def test_disentanglement_metrics_tiny(faces):
    # 16 latents instead of 200: the per-latent classifiers (SAP, MI) dominate the time
    cfg = TrainConfig.from_dict(dict(latent_dim=16, num_train_identities=50, num_test_identities=20))
    net = _tiny_net(cfg).train()
    out = disentanglement_metrics(net, cfg, faces, random_state=0, num_points=40, num_identities=4,
                                  pca_points=20, metric_settings=TINY)
    assert net.training  # mode restored
    names = set(metrics.METRICS)
    assert names <= set(out)
    assert set(out["grouped"]) == names
    assert set(out["headline"]) == names | {f"{n}_grouped" for n in names}
    for name in names:
        assert out["headline"][name] == out[name][metrics.HEADLINE_KEYS[name]]
        assert "settings" in out[name] and "settings" in out["grouped"][name]
        assert out[name]["settings"]["num_codes"] == 16
        assert out["grouped"][name]["settings"]["num_codes"] == 6  # z1, z2, z3 + 3 intrinsic PCs
    assert all(np.isfinite(v) for v in out["headline"].values())
    s = out["settings"]
    assert s["ground_truth"]["factors_num_values"] == [10, 10, 10, 4]
    assert s["ground_truth"]["split"] == "test"
    assert s["grouping"]["columns"][:3] == ["azimuth: z1", "elevation: z2", "light_azimuth: z3"]
    assert s["metric_settings"]["dci"]["model"] == "extra_trees"
    assert s["cache_hits"] > 0  # shared points and the grouped pass were not re-rendered
    json.dumps(out)  # JSON-serialisable
    # the encoding cache (shared points, prefetched beta-VAE / FactorVAE draws) gives the numbers
    # the metrics give when they render and encode every request themselves
    from dcign.inference import encode

    direct_data = EngineGroundTruth(faces, "test", 10, 4)
    settings = metric_settings_for(True, 40)
    net.eval()
    for name in ("beta_vae_score", "factor_vae_score", "mig", "sap"):
        direct = metrics.METRICS[name](direct_data, lambda x: encode(net.encode, x), out["settings"]["seed"],
                                       **{**settings[name], **TINY.get(name, {})})
        key = metrics.HEADLINE_KEYS[name]
        assert out[name][key] == pytest.approx(direct[key], abs=1e-9), name
    net.train()
    again = disentanglement_metrics(net, TrainConfig.from_dict(dict(method="baseline", latent_dim=16, num_train_identities=50,
                                                     num_test_identities=20)),
                                    faces, random_state=0, num_points=40, num_identities=4, metric_settings=TINY)
    assert again["grouped"] is None and "baseline" in again["settings"]["grouping_note"]
    # same seed, same network -> the full-code numbers do not depend on the method
    for name in names:
        assert again[name] == out[name]
    # a non-DC-IGN model grouped by given latents (the variance rule's choice in `evaluate`)
    chosen = disentanglement_metrics(net, TrainConfig.from_dict(dict(method="beta-vae", latent_dim=16, num_train_identities=50,
                                                      num_test_identities=20)),
                                     faces, random_state=0, num_points=40, num_identities=4, pca_points=20,
                                     metric_settings=TINY,
                                     grouping_layout={"azimuth": [0], "elevation": [1], "light_azimuth": [2]})
    # the same latents as the DC-IGN layout, so the same grouped code and scores
    assert chosen["grouped"] == out["grouped"]
    assert "largest-variance" in chosen["settings"]["grouping"]["layout_source"]
    baseline = TrainConfig.from_dict(dict(method="baseline", latent_dim=16, num_train_identities=50, num_test_identities=20))
    everything = {"azimuth": list(range(8)), "elevation": list(range(8, 16))}
    for bad, message in [({"azimuth": [16]}, r"in 0\.\.15"), ({"azimuth": [-1]}, r"in 0\.\.15"),
                         ({"azimuth": "14"}, "must be a list"), ({"azimuth": 3}, "must be a list"),
                         ({"azimuth": None}, "must be a list"), ({"azimuth": []}, "int latent indices"),
                         ({"azimuth": [3.7]}, "int latent indices"), ({"azimuth": [True]}, "int latent indices"),
                         ({"hue": [3]}, "names 'hue'"), ("z1", "must be a dict"), (everything, "intrinsic")]:
        with pytest.raises(ValueError, match=message):
            disentanglement_metrics(net, baseline, faces, num_points=40, num_identities=4, metric_settings=TINY,
                                    grouping_layout=bad)


def test_disentanglement_metrics_rejects_mismatched_engine(faces, chairs):
    cfg = TrainConfig.from_dict(dict(num_train_identities=50, num_test_identities=20))
    net = DCIGN(get_preset(cfg.model.preset, cfg.model.latent_dim))
    with pytest.raises(ValueError, match="engine_for"):
        disentanglement_metrics(net, cfg, chairs)
    with pytest.raises(ValueError, match="unknown metric"):
        disentanglement_metrics(net, cfg, faces, metric_settings={"irs": {}})
