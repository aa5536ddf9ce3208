import pytest
import torch

from dcign.config import TrainConfig
from dcign.objectives import METHODS, ada_gvae_posteriors
from dcign.training import DisentanglingVAE


def module(**kw):
    cfg = TrainConfig(**{"batch_size": 4, "groups_per_step": 2, **kw})
    torch.manual_seed(0)
    return DisentanglingVAE(cfg)


def batch(n=8, varied=(0, 3)):
    torch.manual_seed(1)
    return {"images": torch.rand(n, 1, 64, 64), "varied": torch.tensor(varied)}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_finite_losses_and_gradients(method):
    m = module(method=method)
    out = m.losses(batch())
    assert all(torch.isfinite(v) for v in out.values())
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())


def test_group_masks_follow_layout():
    m = module()
    assert m.objective.masks[0].nonzero().flatten().tolist() == [0]  # azimuth -> z1
    assert m.objective.masks[2].nonzero().flatten().tolist() == [2]  # light -> z3
    assert m.objective.masks[3].sum() == 197 and not m.objective.masks[3][:3].any()  # identity -> z4..z200
    chairs = module(latent_layout={"azimuth": [0]})
    assert chairs.objective.masks[1].sum() == 199  # elevation batches train the intrinsic group


def test_kl_on_clamped_option():
    with_kl = module().losses(batch())["kl"]
    without = module(kl_on_clamped=False).losses(batch())["kl"]
    assert without < with_kl


def test_decoder_sees_only_active_variation():
    """In an azimuth group, the decoder input differs between samples only in z1."""
    m = module(groups_per_step=1)
    captured = {}
    m.net.decoder.register_forward_pre_hook(lambda mod, args: captured.setdefault("z", args[0].detach()))
    m.losses({"images": torch.rand(4, 1, 64, 64), "varied": torch.tensor([0])})
    z = captured["z"]
    spread = (z - z[0]).abs().amax(dim=0)
    assert spread[0] > 0 and torch.all(spread[1:] == 0)


def test_ada_gvae_averages_only_shared_latents():
    mu1 = torch.tensor([[0.0, 0.0, 0.0]])
    mu2 = torch.tensor([[0.0, 0.1, 3.0]])
    lv = torch.zeros(1, 3)
    a, la, b, lb = ada_gvae_posteriors(mu1, lv, mu2, lv)
    torch.testing.assert_close(a[0, :2], b[0, :2])  # shared: averaged
    assert a[0, 2] == 0.0 and b[0, 2] == 3.0  # the differing latent keeps its own posterior


def test_optimizers():
    assert isinstance(module().configure_optimizers(), torch.optim.Adam)
    assert module().configure_optimizers().defaults["betas"] == (0.9, 0.99)
    assert isinstance(module(optimizer="rmsprop").configure_optimizers(), torch.optim.RMSprop)
