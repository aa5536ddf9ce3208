"""Novel-view benchmark (paper §4.1.1 / Fig. 7) and the baseline's latent rule (dcign.evaluation.novel_view, .latents)."""

import numpy as np
import pytest
import torch

from dcign.inference import factor_latents, select_by_variance
from dcign.evaluation.novel_view import figure7_columns, novel_view_mse
from dcign.factors import ANGLE_FACTORS, Factors


class RecordingEngine:
    """Wraps a SceneEngine and remembers the factors behind every image it rendered."""

    def __init__(self, engine):
        self.engine, self.space, self.size = engine, engine.space, engine.size
        self.seen = {}

    def render(self, factors):
        images = self.engine.render(factors)
        for i in range(len(factors)):
            self.seen[images[i].tobytes()] = (factors.azimuth[i], factors.elevation[i], factors.light_azimuth[i], factors.identity[i])
        return images


class Oracle:
    """A perfect inverse-graphics model: code = (azimuth, elevation, light_azimuth, identity),
    decoder = the graphics engine itself.  Its novel views are exact."""

    def __init__(self, rec):
        self.rec = rec

    def encode(self, x):
        mu = torch.tensor([self.rec.seen[im.numpy().tobytes()] for im in x], dtype=torch.float64)
        return mu, torch.zeros_like(mu)

    def decode(self, z):
        z = z.double().numpy()
        return torch.from_numpy(self.rec.engine.render(Factors(z[:, 0], z[:, 1], z[:, 2], np.rint(z[:, 3]).astype(np.int64))))


class Copier:
    """Ignores the target: its code is the image plus 3 unused 'angle' latents."""

    def __init__(self, size):
        self.n = size * size

    def encode(self, x):
        mu = torch.cat([x.flatten(1), torch.zeros(len(x), 3)], 1)
        return mu, torch.zeros_like(mu)

    def decode(self, z):
        s = int(round(self.n**0.5))
        return z[:, : self.n].reshape(-1, 1, s, s)


def identity_maps(engine, offset=0):
    """degrees -> latent tables that are the identity, latent k = offset + factor index."""
    maps = {}
    for i, f in enumerate(ANGLE_FACTORS):
        r = engine.space.ranges[f]
        maps[f] = {"latent_index": offset + i, "degrees": [r.low, r.high], "latent": [r.low, r.high]}
    return maps


@pytest.fixture(scope="module")
def rec(faces):
    return RecordingEngine(faces)


@pytest.mark.parametrize("factor", ANGLE_FACTORS)
def test_oracle_scores_zero_and_copier_does_not(rec, factor):
    exact = novel_view_mse(Oracle(rec), identity_maps(rec), rec, factor, n_identities=2, n_angles=4)
    assert exact["mse"] < 1e-6
    assert np.asarray(exact["per_pair"]).shape == (4, 4)
    assert exact["settings"]["degrees"][0] == rec.space.ranges[factor].low
    copy = novel_view_mse(Copier(rec.size), identity_maps(rec, offset=rec.size**2), rec, factor, n_identities=2, n_angles=4)
    assert copy["mse"] > 1e-3
    assert copy["mse"] == pytest.approx(copy["copy_input_mse"], rel=1e-4)
    assert copy["same_view_mse"] < 1e-9  # source == target: copying is right there


def test_novel_view_bad_input(rec):
    maps = identity_maps(rec)
    with pytest.raises(ValueError, match="no degrees -> latent map"):
        novel_view_mse(Oracle(rec), {"azimuth": maps["azimuth"]}, rec, "elevation")
    with pytest.raises(ValueError, match="angle factor"):
        novel_view_mse(Oracle(rec), maps, rec, "identity")
    with pytest.raises(ValueError, match="n_angles"):
        novel_view_mse(Oracle(rec), maps, rec, "azimuth", n_angles=1)
    with pytest.raises(ValueError, match="test split"):
        novel_view_mse(Oracle(rec), maps, rec, "azimuth", n_identities=10_000)
    with pytest.raises(ValueError, match="unknown split 'val'"):
        novel_view_mse(Oracle(rec), maps, rec, "azimuth", split="val")


def test_novel_view_on_validation_identities(rec):
    """split='validation' scores validation identities only (settings are chosen there, never on test ones)."""
    out = novel_view_mse(Oracle(rec), identity_maps(rec), rec, "azimuth", n_identities=2, n_angles=3, split="validation")
    assert out["mse"] < 1e-6 and out["settings"]["split"] == "validation"
    assert out["settings"]["first_identity"] == rec.space.identities("validation")[0]
    assert out["settings"]["first_identity"] not in set(rec.space.identities("test"))


def test_figure7_columns(rec):
    s = rec.size
    models = {"copier": (Copier(s), identity_maps(rec, offset=s * s)), "oracle": (Oracle(rec), identity_maps(rec))}
    grid = figure7_columns(models, rec, "azimuth", n_examples=3)
    assert grid.shape == (3 * (s + 2) + 2, 4 * (s + 2) + 2)
    cell = lambda r, c: grid[2 + r * (s + 2) : 2 + r * (s + 2) + s, 2 + c * (s + 2) : 2 + c * (s + 2) + s]  # noqa: E731
    for r in range(3):
        np.testing.assert_allclose(cell(r, 1), cell(r, 0))  # copier = input
        np.testing.assert_allclose(cell(r, 2), cell(r, 3), atol=1e-3)  # oracle = truth
        assert np.mean((cell(r, 0) - cell(r, 3)) ** 2) > 1e-4  # the view really changes


def test_select_by_variance_synthetic():
    rng = np.random.default_rng(0)
    codes = rng.normal(0, 0.1, (5, 8, 6))
    codes[:, :, 4] += rng.normal(0, 3.0, (5, 8))  # varies within each batch
    codes[:, :, 1] += np.arange(5)[:, None] * 100.0  # varies only between batches: not the factor's latent
    assert select_by_variance(codes) == 4
    with pytest.raises(ValueError):
        select_by_variance(codes[:, :1])


def test_variance_rule_finds_the_oracles_latents(rec):
    oracle = Oracle(rec)
    assert factor_latents(oracle.encode, rec, None, "baseline", n_identities=3, n_values=5) == {
        "azimuth": 0, "elevation": 1, "light_azimuth": 2}
    assert factor_latents(oracle.encode, rec, {"azimuth": [7]}, "dcign") == {"azimuth": 7}
