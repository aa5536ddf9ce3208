"""Inference (dcign.inference): degrees -> latent tables on a known answer, and the export
fitting them (and the variance rule's latent choice) on training identities only."""

import json

import numpy as np
import pytest
import torch
from support import tiny

import dcign.export
from dcign.factors import ANGLE_FACTORS
from dcign.inference import degrees_to_latent, fit_angle_maps
from dcign.model import DCIGN, get_preset


class Recording:
    """Wraps a SceneEngine: remembers the factors of every image it rendered."""

    def __init__(self, engine):
        self.engine, self.space, self.size, self.config = engine, engine.space, engine.size, engine.config
        self.truth, self.identities = {}, set()

    def render(self, factors):
        images = self.engine.render(factors)
        for i in range(len(factors)):
            self.truth[images[i].tobytes()] = factors.angles()[i]
        self.identities.update(factors.identity.tolist())
        return images


def oracle(rec, transform):
    """An encoder whose latent k is transform(true angle of factor k)."""
    def encode(x):
        mu = torch.tensor(np.stack([transform(rec.truth[im.numpy().tobytes()]) for im in x]), dtype=torch.float32)
        return mu, torch.zeros_like(mu)
    return encode


@pytest.fixture
def rec(faces):
    return Recording(faces)


def test_fit_angle_maps_recovers_a_known_code(rec):
    maps = fit_angle_maps(oracle(rec, lambda a: a / 10), rec, {"azimuth": 0, "light_azimuth": 2}, n_identities=3,
                          n_values=5)
    assert set(maps) == {"azimuth", "light_azimuth"}
    for f, k in (("azimuth", 0), ("light_azimuth", 2)):
        m = maps[f]
        r = rec.space.ranges[f]
        assert m["latent_index"] == k and m["monotone"] is True
        np.testing.assert_allclose(m["degrees"], np.linspace(r.low, r.high, 5))
        np.testing.assert_allclose(m["latent"], np.asarray(m["degrees"]) / 10, atol=1e-4)
        assert degrees_to_latent(m, 0.5 * r.high) == pytest.approx(0.05 * r.high, abs=1e-4)
    assert rec.identities <= set(rec.space.identities("train").tolist())  # training identities only


def test_monotone_flag_tells_a_folded_code_from_a_reversed_one(rec):
    reversed_ = fit_angle_maps(oracle(rec, lambda a: -a), rec, {"azimuth": 0}, n_identities=2, n_values=5)["azimuth"]
    assert reversed_["monotone"] is True and reversed_["latent"][0] > reversed_["latent"][-1]
    folded = fit_angle_maps(oracle(rec, np.abs), rec, {"azimuth": 0}, n_identities=2, n_values=5)["azimuth"]
    assert folded["monotone"] is False  # |azimuth|: the same latent for -60 and 60 degrees


def test_degrees_to_latent_interpolates_the_table():
    m = {"latent_index": 0, "degrees": [-90.0, 0.0, 90.0], "latent": [-1.0, 0.0, 3.0]}
    assert degrees_to_latent(m, 45.0) == pytest.approx(1.5)
    assert degrees_to_latent(m, -45.0) == pytest.approx(-0.5)
    assert degrees_to_latent(m, -90.0) == -1.0 and degrees_to_latent(m, 90.0) == 3.0
    for bad in (90.5, -91.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="outside the model's range"):
            degrees_to_latent(m, bad)


@pytest.mark.parametrize("method", ["dcign", "baseline"])
def test_export_fits_on_training_identities_only(tmp_path, monkeypatch, method):
    """What `dcign train` saves: latent choice (the variance rule for the baseline) and tables
    come from training identities; test identities stay unseen until `dcign evaluate`."""
    cfg = tiny(method=method, num_train_identities=25, num_test_identities=8)
    rec = {}

    def engine_for(c):
        from dcign.data.engine import SceneEngine

        rec["engine"] = Recording(SceneEngine(c.engine_config()))
        return rec["engine"]

    monkeypatch.setattr(dcign.export, "engine_for", engine_for)
    torch.manual_seed(0)
    latent_of = dcign.export.export_trained(DCIGN(get_preset("small-64", 8)), cfg, tmp_path, log=lambda m: None)
    space = rec["engine"].space
    assert rec["engine"].identities and rec["engine"].identities <= set(space.identities("train").tolist())
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["latent_of"] == latent_of and set(meta["angle_maps"]) == set(ANGLE_FACTORS)
    if method == "dcign":
        assert latent_of == {"azimuth": 0, "elevation": 1, "light_azimuth": 2}
