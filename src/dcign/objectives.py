"""One training objective per method, each next to its paper.

Every objective is the negative ELBO of a Bernoulli-likelihood VAE (:mod:`dcign.model`),
SUMMED over the images of a step, as in the authors' Torch7 code (criteria with
``sizeAverage = false``): each image's latents then get an unscaled ELBO gradient, the scale
the invariance-targeting gradient ``lambda * (z - mean)`` replaces (paper §3.1).  Adam and
RMSprop are invariant to the overall scale of the loss.  The methods differ in the code
``z`` handed to the decoder and in the batches they expect, which each checks at the boundary
(:meth:`Objective.check_batch`):

* :class:`DCIGNObjective` -- Kulkarni et al. 2015, §3.1-3.2: steps of one-factor groups; the
  clamp with invariance targeting (:mod:`dcign.clamp`) on every group.
* :class:`SGVBObjective` -- plain SGVB (Kingma & Welling 2014) on independently drawn images:
  the entangled baseline of §4.1.1 (the paper's weight 1 per 150 x 150 image, i.e.
  :func:`paper_kl_weight`) and β-VAE (Higgins et al. 2017, ``beta > 1``).
* :class:`AdaGVAEObjective` -- Locatello et al. 2020: weakly supervised pairs sharing an unknown
  subset of factors; shared latents get the pair's averaged posterior (:func:`ada_gvae_posteriors`).

Batches are dicts from :class:`dcign.data.RenderedSteps`: ``images`` (N, 1, S, S) in [0, 1]
and ``varied`` (G,) indices into :data:`dcign.factors.FACTORS` (-1 for random and pair steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .checks import boolean, check_fields, choice, non_negative, optional_non_negative, setting
from .clamp import REFERENCES, clamp_groups
from .distributed import rank_noise
from .factors import FACTORS
from .layout import default_layout, group_latents
from .model import DCIGN, kl_divergence, reconstruction_loss

CLAMP_TARGETS = ("z", "params")


def _images(batch) -> torch.Tensor:
    x = batch.get("images") if isinstance(batch, dict) else None
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"a training step needs 'images' of shape (N, 1, S, S) (grey) or (N, 3, S, S) (RGB), got {getattr(x, 'shape', x)!r}")
    return x


def elbo_terms(net: DCIGN, x: torch.Tensor, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float,
               kl_weight: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The loss of one step and what training logs.

    Args:
        net: the network (its decoder turns ``z`` into logits).
        x: (N, 1, S, S) target images in [0, 1].
        z: (N, D) codes to decode; mu, logvar: (N, D) posterior parameters the KL acts on.
        beta: KL weight (1 = the ELBO).
        kl_weight: optional (N, D) per-latent KL weights (0 drops a latent's KL term).

    Returns:
        ``loss`` (summed over images, what is minimised), ``loss_per_image``,
        ``reconstruction`` and ``kl`` (means over images) and ``elbo`` (mean, unweighted KL).
    """
    rec = reconstruction_loss(net.decoder(z), x)
    kl = kl_divergence(mu, logvar, kl_weight)
    per_image = rec + beta * kl
    return {"loss": per_image.sum(), "loss_per_image": per_image.mean(), "reconstruction": rec.mean(),
            "kl": kl.mean(), "elbo": -(rec + kl_divergence(mu, logvar)).mean()}


class Objective(nn.Module):
    """A method's training objective: ``objective(net, batch) -> elbo_terms(...)``.

    Attributes:
        data_mode: the :class:`dcign.data.RenderedSteps` mode whose steps it expects.
        rank, world_size: this process's share of a data-parallel step (set by training; 0
            and 1 otherwise): the sampling noise is this rank's rows of the global step's
            (:func:`dcign.distributed.rank_noise`).
    """

    data_mode = "random"

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = beta
        self.rank, self.world_size = 0, 1

    def sample(self, net: DCIGN, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Reparameterised z (N, D) with this rank's noise (:meth:`dcign.model.DCIGN.sample`)."""
        return net.sample(mu, logvar, rank_noise(mu, self.rank, self.world_size))

    def check_batch(self, batch) -> torch.Tensor:
        """The step's images, after checking that the step is one this objective can use.

        Raises:
            ValueError: naming what the step lacks.
        """
        return _images(batch)

    def code(self, net: DCIGN, mu: torch.Tensor, logvar: torch.Tensor, batch):
        """``(z, mu, logvar, kl_weight)``: the code to decode and the posterior the KL acts on."""
        return self.sample(net, mu, logvar), mu, logvar, None

    def forward(self, net: DCIGN, batch) -> dict[str, torch.Tensor]:
        x = self.check_batch(batch)
        mu, logvar = net.encode(x)
        z, mu, logvar, kl_weight = self.code(net, mu, logvar, batch)
        return elbo_terms(net, x, z, mu, logvar, self.beta, kl_weight)


class SGVBObjective(Objective):
    """Plain SGVB on independently drawn images: the baseline (§4.1.1) and β-VAE (``beta`` > 1)."""


class DCIGNObjective(Objective):
    """DC-IGN's objective (paper §3.1-3.2) on a step of G one-factor groups of ``group_size``.

    Group g (rows g*group_size .. (g+1)*group_size-1) varied factor ``varied[g]``; latents outside
    that factor's group are clamped to the group's reference and receive the invariance-targeting
    gradient instead of the decoder's (:func:`dcign.clamp.clamp_groups`).

    Args:
        latent_layout: factor -> latents (:mod:`dcign.layout`); latent_dim: D.
        group_size: images per one-factor group.
        invariance_lambda: lambda of the invariance-targeting gradient (paper: 0.01, the default
            here; ``dcign train`` passes :class:`MethodConfig`'s, 10).
        clamp_reference: 'mean' (paper) or 'first' (authors' code).
        clamp_target: 'z' (paper: clamp the sample) or 'params' (authors' code: clamp mu and
            log sigma^2 before sampling).
        kl_on_clamped: keep the KL term of clamped latents (paper) or drop it (authors' code).
        beta: KL weight.
        groups: batch type -> active latents, replacing the layout's paper factors (a user's
            data set: its factors in order, :meth:`dcign.config.TrainConfig.file_groups`);
            ``varied`` then indexes these types.

    Attributes:
        masks: (number of batch types, D) bool, the active latents of each batch type
            (the types are :data:`dcign.factors.FACTORS` unless ``groups`` is given).
    """

    data_mode = "one_factor"

    def __init__(self, latent_layout: dict[str, list[int]], latent_dim: int, group_size: int,
                 invariance_lambda: float = 0.01, clamp_reference: str = "mean", clamp_target: str = "z",
                 kl_on_clamped: bool = True, beta: float = 1.0, groups: dict[str, list[int]] | None = None) -> None:
        super().__init__(beta)
        if clamp_target not in CLAMP_TARGETS:
            raise ValueError(f"clamp_target must be one of {CLAMP_TARGETS}, got {clamp_target!r}")
        self.group_size, self.lam, self.reference = group_size, invariance_lambda, clamp_reference
        self.clamp_target, self.kl_on_clamped = clamp_target, kl_on_clamped
        types = groups if groups is not None else group_latents(latent_layout, latent_dim)
        masks = torch.zeros(len(types), latent_dim, dtype=torch.bool)
        for i, latents in enumerate(types.values()):
            masks[i, latents] = True
        self.register_buffer("masks", masks, persistent=False)

    def check_batch(self, batch) -> torch.Tensor:
        x = _images(batch)
        varied = batch.get("varied")
        if not isinstance(varied, torch.Tensor) or varied.ndim != 1 or varied.dtype != torch.int64:
            raise ValueError("a DC-IGN step needs 'varied': (G,) int64 indices of the factor each group varies")
        if x.shape[0] != varied.shape[0] * self.group_size:
            raise ValueError(f"a DC-IGN step of {varied.shape[0]} group(s) of {self.group_size} needs "
                             f"{varied.shape[0] * self.group_size} images, got {x.shape[0]}")
        n_types = self.masks.shape[0]
        if bool(((varied < 0) | (varied >= n_types)).any()):
            raise ValueError(f"a DC-IGN step needs one-factor groups (varied in 0..{n_types - 1}), got "
                             f"{varied.tolist()} (-1 marks a random or pair step; train DC-IGN on one_factor steps)")
        return x

    def code(self, net, mu, logvar, batch):
        masks = self.masks[batch["varied"]]  # (G, D) active latents of each group
        args = (masks, self.group_size, self.lam, self.reference)
        if self.clamp_target == "params":  # authors' code: clamp before sampling
            z = self.sample(net, clamp_groups(mu, *args), clamp_groups(logvar, *args))
        else:  # paper: clamp the sampled code
            z = clamp_groups(self.sample(net, mu, logvar), *args)
        kl_weight = None if self.kl_on_clamped else masks.repeat_interleave(self.group_size, dim=0).to(mu.dtype)
        return z, mu, logvar, kl_weight


def gaussian_kl(mu1, logvar1, mu2, logvar2):
    """Per-latent KL(N(mu1, exp(logvar1)) || N(mu2, exp(logvar2))), elementwise, in nats.

    Written on log-variances so that no variance is formed: ``expm1(d) - d`` with
    ``d = logvar1 - logvar2`` (exact near 0, never negative) and the mean term as
    ``exp(2 log|mu1 - mu2| - logvar2)``.  A log-variance of -110 (a variance that is 0 in
    float32) thus gives a finite KL; one that truly exceeds float32 is +inf, never NaN.

    Args: tensors of one shape (any), float.
    Returns: the KL, same shape; >= 0.
    """
    d = logvar1 - logvar2
    mean_term = torch.exp(2.0 * torch.log(torch.abs(mu1 - mu2)) - logvar2)  # (mu1 - mu2)^2 / var2
    return 0.5 * (torch.expm1(d) - d + mean_term)


def ada_gvae_shared(kl):
    """Shared-latent mask of Ada-GVAE: latent i of a pair is shared when delta_i < tau.

    Locatello et al. (2020, §4): ``tau = (max_i delta_i + min_i delta_i) / 2`` over the
    latents of each pair, as disentanglement_lib's ``aggregate_argmax`` bins delta into two
    bins of equal width over [min, max] and averages the lower bin.  A pair whose deltas are
    all equal and finite (e.g. identical posteriors) shares every latent.

    Args: kl: (N, D) per-latent KL delta of N pairs (may hold +inf).
    Returns: (N, D) bool.
    """
    hi, lo = kl.max(dim=1, keepdim=True).values, kl.min(dim=1, keepdim=True).values
    tau = 0.5 * hi + 0.5 * lo  # not 0.5 * (hi + lo): that overflows for deltas near float32's max
    return (kl < tau) | ((hi == lo) & torch.isfinite(hi))


def ada_gvae_posteriors(mu1, logvar1, mu2, logvar2):
    """Adaptive group posteriors of Ada-GVAE (Locatello et al. 2020, §4; disentanglement_lib
    ``weak_vae.py``).

    For each pair, delta_i = KL(q(z_i|x1) || q(z_i|x2)) in that one direction, as in the paper
    and the reference code (:func:`gaussian_kl`); latents with delta_i below the midpoint of
    the pair's range are shared (:func:`ada_gvae_shared`) and both images get the pair's
    average posterior there: mean ``(mu1 + mu2) / 2`` and variance ``(var1 + var2) / 2``, whose
    log is taken as ``logaddexp(logvar1, logvar2) - log 2`` (no variance underflows to 0, so
    neither the loss nor its gradient becomes inf/NaN).  The mask is a hard choice: no
    gradient flows through delta.

    Args: (N, D) posterior means and log-variances of the first and second images of N pairs.
    Returns: the four adapted (N, D) tensors ``mu1, logvar1, mu2, logvar2``.
    """
    with torch.no_grad():
        shared = ada_gvae_shared(gaussian_kl(mu1, logvar1, mu2, logvar2))
    mu_avg = 0.5 * (mu1 + mu2)
    lv_avg = torch.logaddexp(logvar1, logvar2) - math.log(2.0)
    return (
        torch.where(shared, mu_avg, mu1),
        torch.where(shared, lv_avg, logvar1),
        torch.where(shared, mu_avg, mu2),
        torch.where(shared, lv_avg, logvar2),
    )


class AdaGVAEObjective(Objective):
    """Ada-GVAE (Locatello et al. 2020): image i of the first half of a step and image i of the
    second half form a pair; the pair's shared latents get its averaged posterior."""

    data_mode = "pairs"

    def check_batch(self, batch) -> torch.Tensor:
        x = _images(batch)
        if x.shape[0] < 2 or x.shape[0] % 2:
            raise ValueError(f"an Ada-GVAE step pairs its first half with its second: it needs an even number "
                             f"of images (>= 2), got {x.shape[0]}")
        return x

    def code(self, net, mu, logvar, batch):
        half = mu.shape[0] // 2
        m1, l1, m2, l2 = ada_gvae_posteriors(mu[:half], logvar[:half], mu[half:], logvar[half:])
        mu, logvar = torch.cat([m1, m2]), torch.cat([l1, l2])
        return self.sample(net, mu, logvar), mu, logvar, None


OBJECTIVES: dict[str, type[Objective]] = {
    "dcign": DCIGNObjective,
    "baseline": SGVBObjective,
    "beta-vae": SGVBObjective,
    "ada-gvae": AdaGVAEObjective,
}
"""Method name -> its objective class (``OBJECTIVES[m].data_mode``: the steps it trains on)."""

METHODS = tuple(OBJECTIVES)


def parse_layout(text: str) -> dict[str, list[int]]:
    """'azimuth=0,elevation=1' -> {'azimuth': [0], 'elevation': [1]} (0-based latent indices).

    Raises:
        ValueError: an entry that is not factor=integer, an empty entry ('azimuth=0,,elevation=1'),
            or no entry at all.
    """
    if not text.strip(", \t"):
        raise ValueError("--latent-layout names no factor; omit it for the default layout or pass factor=index,...")
    layout: dict[str, list[int]] = {}
    for part in text.split(","):
        if not part.strip():
            raise ValueError(f"--latent-layout has an empty entry in {text!r}; separate factor=index entries by single commas")
        if "=" not in part:
            raise ValueError(f"--latent-layout entries look like factor=index, got {part!r}")
        name, idx = part.split("=", 1)
        try:
            layout.setdefault(name.strip(), []).append(int(idx))
        except ValueError:
            raise ValueError(f"--latent-layout index must be an integer, got {idx!r}") from None
    return layout


DEFAULT_BETA = {"beta-vae": 4.0, "ada-gvae": 1.0}
"""KL weight of the comparison methods when none is given.  beta = 4 for beta-VAE: the value of
disentanglement_lib's study grid used most often, and Higgins et al.'s (2017) for 2D shapes (a
beta-VAE left at 1 would silently be the plain baseline); 1 for Ada-GVAE (Locatello et al.
2020).  Both are published for 64 x 64 images and are used as published.  The paper's two
models (``dcign`` and ``baseline``) get :func:`paper_kl_weight` instead."""

PAPER_IMAGE_SIZE = 150
"""Side of the paper's images in pixels (§4: 150 x 150 grey faces and chairs)."""


def paper_kl_weight(image_size: int) -> float:
    """KL weight that keeps the paper's balance of KL to likelihood per pixel: ``(S / 150)^2``.

    The paper's ELBO (§3) sums the Bernoulli log-likelihood over 150 x 150 = 22,500 pixels
    and adds the KL with weight 1, so each nat of code costs as much as 1/22,500 of the
    image's likelihood.  An S x S image has S^2 terms; weight ``S^2 / 150^2`` keeps that price
    per pixel (1 at 150 px, (64/150)^2 = 0.182 at 64 px).  With weight 1 at 64 px the KL is
    5.5x dearer per pixel than in the paper: the posteriors of the pose latents stay wide
    (azimuth's posterior sd was 8 degrees, elevation's 10 degrees of its 50-degree range, after
    5,000 steps) and the decoder, trained on those jittered codes, blurs the face
    (benchmarks/preset_design.py, validation faces: MSE 0.00610 -> 0.00463 at 5 min of
    training).  ``--beta 1`` gives the plain ELBO at any size.

    Args:
        image_size: S, the side of the (square) images in pixels; counted per pixel
            position, not per channel (the paper's images are grey).
    """
    return (image_size / PAPER_IMAGE_SIZE) ** 2


def default_beta(method: str, image_size: int) -> float:
    """The KL weight a run of ``method`` gets when none is given: :data:`DEFAULT_BETA`, else
    :func:`paper_kl_weight` of the image size (``dcign`` and ``baseline``)."""
    return DEFAULT_BETA.get(method, paper_kl_weight(image_size))


@dataclass(frozen=True)
class MethodConfig:
    """The method section of a run's config: which objective, with which settings.

    Attributes:
        name: 'dcign' (clamped one-factor batches, paper §3.1), 'baseline' (plain SGVB on
            random images, §4.1.1), 'beta-vae' (Higgins et al. 2017), 'ada-gvae' (Locatello et
            al. 2020); config.json calls it ``method``.
        latent_layout: factor -> latent indices (:mod:`dcign.layout`); unlisted factors (and
            identity) share the rest, the intrinsic group.  Checked against the model's
            latent_dim by :class:`dcign.config.TrainConfig`.
        invariance_lambda: strength of the invariance-targeting gradient (paper: 0.01; default
            10, chosen on validation identities: README "Invariance targeting").
        clamp_reference: 'mean' (paper) or 'first' (authors' code).
        clamp_target: 'z' (paper: clamp the sample) or 'params' (authors' code: mu and log sigma^2).
        kl_on_clamped: keep the KL gradient of clamped latents (paper) or drop it (authors' code).
        beta: KL weight; left out (None) it is the method's default: :data:`DEFAULT_BETA`
            for 'beta-vae' (4) and 'ada-gvae' (1), and for 'dcign' and 'baseline'
            :func:`paper_kl_weight` of the run's image size (the paper's KL price per
            pixel: 0.182 at 64 px, 1 at 150 px); :func:`default_beta`, filled in by
            :class:`dcign.config.TrainConfig`, which knows the image size.  Saved configs
            hold the number.

    Raises:
        ValueError: naming the first bad setting.
    """

    name: str = setting("dcign", "dcign, baseline, beta-vae or ada-gvae.", key="method",
                        check=choice(METHODS, "method"))
    latent_layout: dict = setting(default_layout, "0-based latent indices (z1 = 0) of each factor; the rest is "
                                  "identity. A factor may own several: 'azimuth=0,azimuth=1' (chairs' full turn). NAME:PATH data sets: name their factors, e.g. 'orientation=0,scale=1' "
                                  "(left out: one latent per factor).",
                                  parse=parse_layout)
    invariance_lambda: float = setting(10.0, "Invariance-targeting strength (paper: 0.01; 0 = off; 10 was chosen "
                                       "on validation identities: sharper novel views).",
                                       flag="--lambda", check=non_negative)
    clamp_reference: str = setting("mean", "mean (paper) or first (authors' code).", check=choice(REFERENCES, "clamp_reference"))
    clamp_target: str = setting("z", "z (paper) or params (authors' code: mu and log sigma^2).",
                                check=choice(CLAMP_TARGETS, "clamp_target"))
    kl_on_clamped: bool = setting(True, "Keep the KL term of clamped latents (paper) or drop it "
                                  "(--no-kl-on-clamped, authors' code).", check=boolean)
    beta: float | None = setting(None, "KL weight (1 = the plain ELBO).", check=optional_non_negative,
                                 default_text="(size/150)^2 for dcign and baseline, the paper's per pixel "
                                 "(0.182 at 64 px); 4 for beta-vae; 1 for ada-gvae")

    def __post_init__(self) -> None:
        if self.beta is None and isinstance(self.name, str) and self.name in DEFAULT_BETA:
            object.__setattr__(self, "beta", DEFAULT_BETA[self.name])  # known without the image size
        check_fields(self)


def objective_for(cfg, groups: dict[str, list[int]] | None = None) -> Objective:
    """The objective of a run's method (``cfg``: a :class:`dcign.config.TrainConfig`).

    ``groups``: the batch types of a user's data set (see :class:`DCIGNObjective`).
    """
    m = cfg.method
    if m.name == "dcign":
        return DCIGNObjective(m.latent_layout, cfg.model.latent_dim, cfg.data.batch_size, m.invariance_lambda,
                              m.clamp_reference, m.clamp_target, m.kl_on_clamped, m.beta, groups)
    return OBJECTIVES[m.name](m.beta)
