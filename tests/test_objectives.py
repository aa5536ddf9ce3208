"""dcign.objectives: each method's objective checks the batch it expects at the boundary."""

import pytest
import torch

from dcign.layout import default_layout
from dcign.model import DCIGN, get_preset, kl_divergence
from dcign.config import TrainConfig
from dcign.objectives import METHODS, OBJECTIVES, AdaGVAEObjective, DCIGNObjective, SGVBObjective, objective_for


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return DCIGN(get_preset("small-64", 8))


def images(n):
    return torch.rand(n, 1, 64, 64, generator=torch.Generator().manual_seed(n))


def test_each_method_trains_on_the_steps_its_objective_expects():
    assert {m: c.data_mode for m, c in OBJECTIVES.items()} == {
        "dcign": "one_factor", "baseline": "random", "beta-vae": "random", "ada-gvae": "pairs"}


def test_dcign_refuses_steps_that_are_not_one_factor_groups(net):
    obj = DCIGNObjective(default_layout(), 8, group_size=4)
    assert torch.isfinite(obj(net, {"images": images(8), "varied": torch.tensor([0, 3])})["loss"])
    with pytest.raises(ValueError, match="-1 marks a random or pair step"):
        obj(net, {"images": images(8), "varied": torch.tensor([-1, -1])})  # once silently the identity mask
    with pytest.raises(ValueError, match="needs 8 images, got 6"):
        obj(net, {"images": images(6), "varied": torch.tensor([0, 1])})
    with pytest.raises(ValueError, match="'varied'"):
        obj(net, {"images": images(8)})
    with pytest.raises(ValueError, match=r"varied in 0\.\.3"):
        obj(net, {"images": images(8), "varied": torch.tensor([0, 4])})


def test_ada_gvae_refuses_an_odd_step(net):
    with pytest.raises(ValueError, match="even number of images"):
        AdaGVAEObjective()(net, {"images": images(5)})


def test_objectives_refuse_steps_without_images(net):
    with pytest.raises(ValueError, match=r"\(N, 1, S, S\)"):
        SGVBObjective()(net, {"images": torch.rand(4, 64, 64)})


@pytest.mark.parametrize("method", METHODS)
def test_objective_is_summed_over_images_and_beta_scales_the_kl(net, method):
    """loss = sum over images of (reconstruction + beta * KL): the scale the clamp's
    invariance gradient lambda * (z - mean) assumes (one unscaled ELBO gradient per image).
    beta scales the KL term only; the ELBO reported is beta's-free."""
    x = images(8)
    batch = {"images": x, "varied": torch.tensor([0, 3])}
    out = {}
    for beta in (1.0, 4.0):  # beta-vae defaults to 4 (objectives.DEFAULT_BETA): set explicitly
        cfg = TrainConfig.from_dict({"method": method, "beta": beta, "batch_size": 4, "groups_per_step": 2, "latent_dim": 8})
        torch.manual_seed(3)  # the same sampling noise for both
        out[beta] = objective_for(cfg)(net, batch)
    for beta, o in out.items():
        torch.testing.assert_close(o["loss_per_image"], o["reconstruction"] + beta * o["kl"])
        torch.testing.assert_close(o["loss"], 8 * o["loss_per_image"])
    for key in ("reconstruction", "kl", "elbo"):
        torch.testing.assert_close(out[4.0][key], out[1.0][key])
    if method != "ada-gvae":  # Ada-GVAE's KL is that of the pair-averaged posteriors
        mu, logvar = net.encode(x)
        torch.testing.assert_close(out[1.0]["kl"], kl_divergence(mu, logvar).mean())
