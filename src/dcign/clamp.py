"""The DC-IGN clamp and invariance targeting (paper §3.1, Kulkarni et al. 2015).

For a mini-batch in which only factor k varies, with active latent group G_k:

* forward: latents outside G_k are replaced, for every sample, by their batch mean;
  latents in G_k pass through unchanged;
* backward: latents in G_k receive the decoder's gradient unchanged; clamped latents
  receive NO reconstruction gradient, only the invariance-targeting gradient
  ``lambda * (z_i - mean_batch z)`` (paper: "we set the gradient ... to their difference from
  the mean", scaled by lambda = 1/100), which pulls them toward the batch mean.

This is written as one ``torch.autograd.Function`` so it reads next to the paper; the tests
check its gradients against hand-computed values.  The injected gradient is per image, so it
is meant for an objective summed over the images of the batch (as the authors' Torch7 code
summed its criteria); :mod:`dcign.training` does that.

Variants of the authors' released Torch7 code are reachable through arguments:
``reference="first"`` clamps to the first sample instead of the mean, and clamping
mu / log sigma^2 before sampling is done by the caller (see :mod:`dcign.training`).
"""

from __future__ import annotations

import torch

REFERENCES = ("mean", "first")


class ClampWithInvarianceTarget(torch.autograd.Function):
    """z_out = where(active, z, ref(z)); custom backward (paper §3.1).

    Inputs:
        z: (B, D) latents of ONE one-factor group, or (G, B, D) for G groups at once.
        active: (D,) bool, True for the latents of the varied factor's group, or (G, 1, D).
        lam: invariance-targeting strength lambda (paper: 0.01; 0 turns it off).
        reference: 'mean' (paper) or 'first' (authors' code).

    Output:
        (B, D): active latents as given, clamped latents set to the group's reference.

    Backward:
        grad_z[:, active] = grad_out[:, active];
        grad_z[:, ~active] = lam * (z - z.mean(0))[:, ~active]   (no decoder gradient).
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, active: torch.Tensor, lam: float, reference: str) -> torch.Tensor:
        ref = z.mean(dim=-2, keepdim=True) if reference == "mean" else z[..., :1, :]
        ctx.save_for_backward(z, active)
        ctx.lam = float(lam)
        return torch.where(active, z, ref.expand_as(z))

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        z, active = ctx.saved_tensors
        invariance = ctx.lam * (z - z.mean(dim=-2, keepdim=True))
        return torch.where(active, grad_out, invariance), None, None, None


def clamp_group(z: torch.Tensor, active: torch.Tensor, lam: float = 0.01, reference: str = "mean") -> torch.Tensor:
    """Apply the DC-IGN clamp to one one-factor group.

    Args:
        z: (B, D) latents of the group (B >= 1).
        active: (D,) bool mask of the varied factor's latents.
        lam: invariance-targeting strength (>= 0).
        reference: 'mean' (paper) or 'first' (authors' released code).

    Raises:
        ValueError: bad shapes, negative lam or unknown reference.
    """
    if z.ndim != 2 or active.shape != (z.shape[1],) or active.dtype != torch.bool:
        raise ValueError(f"clamp_group needs z (B, D) and a bool mask (D,), got {tuple(z.shape)} and {tuple(active.shape)}")
    _check_options(lam, reference)
    return ClampWithInvarianceTarget.apply(z, active, lam, reference)


def _check_options(lam: float, reference: str) -> None:
    if lam < 0:
        raise ValueError(f"invariance-targeting lambda must be >= 0, got {lam}")
    if reference not in REFERENCES:
        raise ValueError(f"unknown clamp reference {reference!r}; choose one of {', '.join(REFERENCES)}")


def clamp_groups(
    z: torch.Tensor, masks: torch.Tensor, group_size: int, lam: float = 0.01, reference: str = "mean"
) -> torch.Tensor:
    """Clamp a step made of G stacked one-factor groups, each with its own mask.

    Args:
        z: (G * group_size, D) latents, group g in rows g*group_size .. (g+1)*group_size-1.
        masks: (G, D) bool active-latent masks.
        group_size: images per group.

    Returns:
        (G * group_size, D) clamped latents.
    """
    if z.ndim != 2 or masks.ndim != 2 or z.shape[0] != masks.shape[0] * group_size or masks.shape[1] != z.shape[1]:
        raise ValueError(f"{tuple(z.shape)} latents do not split into {masks.shape[0]} groups of {group_size}")
    _check_options(lam, reference)
    g, d = masks.shape
    grouped = z.reshape(g, group_size, d)  # all groups in one call: (G, B, D) with masks (G, 1, D)
    return ClampWithInvarianceTarget.apply(grouped, masks.bool()[:, None, :], lam, reference).reshape(z.shape)
