"""The clamp's gradients against hand-computed values (paper §3.1)."""

import pytest
import torch

from dcign.clamp import clamp_group, clamp_groups


def test_forward_clamps_inactive_to_batch_mean():
    z = torch.tensor([[1.0, 2.0, 3.0], [3.0, 6.0, 5.0]])
    active = torch.tensor([True, False, False])
    out = clamp_group(z, active)
    assert torch.equal(out, torch.tensor([[1.0, 4.0, 4.0], [3.0, 4.0, 4.0]]))


def test_backward_by_hand():
    # z: 2 samples, 3 latents; latent 0 active.  Loss L = sum(w * out) with fixed weights w.
    z = torch.tensor([[1.0, 2.0, 3.0], [3.0, 6.0, 5.0]], requires_grad=True)
    active = torch.tensor([True, False, False])
    w = torch.tensor([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]])
    (clamp_group(z, active, lam=0.01) * w).sum().backward()
    # Active latent: decoder gradient unchanged -> w[:, 0].
    # Clamped latents: 0.01 * (z - mean): latent 1 mean 4 -> (-2, 2) * 0.01; latent 2 mean 4 -> (-1, 1) * 0.01.
    expected = torch.tensor([[10.0, -0.02, -0.01], [40.0, 0.02, 0.01]])
    torch.testing.assert_close(z.grad, expected)


def test_lambda_zero_gives_no_gradient_to_clamped():
    z = torch.randn(5, 4, requires_grad=True)
    active = torch.tensor([False, True, False, False])
    clamp_group(z, active, lam=0.0).pow(2).sum().backward()
    assert torch.all(z.grad[:, [0, 2, 3]] == 0)
    torch.testing.assert_close(z.grad[:, 1], 2 * z.detach()[:, 1])


def test_first_sample_reference():
    z = torch.tensor([[1.0, 2.0], [3.0, 8.0]], requires_grad=True)
    out = clamp_group(z, torch.tensor([True, False]), reference="first")
    assert torch.equal(out[:, 1], torch.tensor([2.0, 2.0]))
    out.sum().backward()
    torch.testing.assert_close(z.grad[:, 1], torch.tensor([-0.03, 0.03]))  # 0.01 * (z - mean 5)


def test_groups_clamp_separately():
    z = torch.tensor([[0.0, 0.0], [2.0, 2.0], [10.0, 10.0], [20.0, 30.0]])
    masks = torch.tensor([[True, False], [False, True]])
    out = clamp_groups(z, masks, group_size=2)
    assert torch.equal(out, torch.tensor([[0.0, 1.0], [2.0, 1.0], [15.0, 10.0], [15.0, 30.0]]))


def test_gradcheck_of_active_path_with_clamped_latents_present():
    """With lambda = 0 the custom backward is the true gradient of the active outputs: it
    passes their gradient through and gives clamped latents nothing (groups of 3, mixed masks)."""
    z = torch.randn(6, 4, dtype=torch.double, requires_grad=True)
    masks = torch.tensor([[True, False, True, False], [False, True, False, False]])
    active_rows = torch.cat([masks[0].expand(3, -1), masks[1].expand(3, -1)])
    assert torch.autograd.gradcheck(lambda t: clamp_groups(t, masks, 3, lam=0.0)[active_rows], (z,))
    one = torch.tensor([False, True, True])
    x = torch.randn(4, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: clamp_group(t, one, lam=0.0)[:, 1:], (x,))


def test_each_group_gets_the_invariance_gradient_of_its_own_mean():
    """Backward of two stacked groups: active latents get the decoder's gradient, clamped
    latents lambda * (z - mean of THEIR group) and nothing from the decoder."""
    torch.manual_seed(0)
    z = torch.randn(8, 5, requires_grad=True)
    masks = torch.tensor([[True, False, False, False, False], [False, False, True, True, True]])
    w = torch.randn(8, 5)
    (clamp_groups(z, masks, group_size=4, lam=0.5) * w).sum().backward()
    zd = z.detach()
    for g, rows in enumerate((slice(0, 4), slice(4, 8))):
        own = 0.5 * (zd[rows] - zd[rows].mean(0))
        active = masks[g]
        torch.testing.assert_close(z.grad[rows][:, active], w[rows][:, active])
        torch.testing.assert_close(z.grad[rows][:, ~active], own[:, ~active])
    other = 0.5 * (zd[:4] - zd.mean(0))  # a shared mean over the whole step would give this
    assert not torch.allclose(z.grad[:4, 1:], other[:, 1:])


@pytest.mark.parametrize("kwargs, msg", [({"lam": -1.0}, "lambda"), ({"reference": "median"}, "reference")])
def test_bad_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        clamp_group(torch.zeros(2, 3), torch.tensor([True, False, False]), **kwargs)


def test_bad_shapes():
    with pytest.raises(ValueError):
        clamp_group(torch.zeros(2, 3), torch.tensor([True, False]))
    with pytest.raises(ValueError, match="groups"):
        clamp_groups(torch.zeros(5, 3), torch.ones(2, 3, dtype=torch.bool), group_size=2)
