"""dcign.objectives: each method's objective checks the batch it expects at the boundary."""

import pytest
import torch

from dcign.layout import default_layout
from dcign.model import DCIGN, get_preset, kl_divergence
from dcign.objectives import OBJECTIVES, AdaGVAEObjective, DCIGNObjective, SGVBObjective


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


def test_sgvb_loss_is_the_summed_negative_elbo_weighted_by_beta(net):
    x = images(4)
    torch.manual_seed(3)
    one = SGVBObjective(1.0)(net, {"images": x})
    torch.manual_seed(3)
    four = SGVBObjective(4.0)(net, {"images": x})
    mu, logvar = net.encode(x)
    kl = kl_divergence(mu, logvar).sum()
    torch.testing.assert_close(four["loss"] - one["loss"], 3 * kl, rtol=1e-4, atol=1e-2)
    torch.testing.assert_close(one["elbo"], four["elbo"])
