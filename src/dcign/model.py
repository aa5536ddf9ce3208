"""The DC-IGN network: convolutional encoder, 200-d graphics code, upsampling decoder.

Presets (paper Fig. 1 and the authors' released Torch7 code):

* ``paper-150``: 1x150x150 input; encoder 3 x (valid conv 5x5 + ReLU + max-pool 2x2) with
  96/64/32 channels -> 32x15x15 = 7200 -> mu, log sigma^2 (200 each); decoder Linear
  200 -> 7200, then 4 x (nearest upsample x2 + valid conv 7x7) with 32/64/96/1 output
  channels (ReLU between, sigmoid on the output) -> 1x150x150.
* ``reference-150``: the widths of the authors' released Torch7 code (96/48/24 encoder,
  5400-d, decoder 24->48->96->96->1); same spatial sizes.
* ``small-64``: the same shape of network (conv + max-pool encoder, nearest upsample + conv
  decoder, 200-d code) sized for 64x64 images and a 2-core CPU: 'same'-padded 3x3 convs,
  16/32/64 encoder channels, three pools to 8x8, decoder 64->32->16->1.
* ``wide-64``: ``small-64`` with twice the channels at every stage (32/64/128 encoder,
  decoder Linear 200 -> 128x8x8, then 64 channels at 16 px, 32 at 32 px, 1 at 64 px), so the
  decoder is not starved at 32 and 64 px; 3.7x the FLOPs per image of ``small-64`` and
  2.45x its step time on 2 cores.  Screened with ``benchmarks/preset_design.py`` on
  validation identities: per step it tracks light azimuth and within-identity elevation
  better than ``small-64``, but at EQUAL TRAINING TIME the wider decoders lose (5 min:
  ``dec-64``, today's encoder with this decoder, val MSE 0.00701 vs ``small-64``'s 0.00610
  at beta 1, 0.00548 vs 0.00463 at the default beta), so ``small-64`` stays the CPU preset.

The likelihood is Bernoulli (binary cross-entropy against grey targets, summed over
pixels) and the prior N(0, I); the ELBO is what SGVB maximises (Kingma & Welling 2014).  The
KL's weight is set by the method config (:func:`dcign.objectives.paper_kl_weight`: the
paper's weight per pixel, 0.182 at 64 px).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_fields, choice, int_at_most, positive_int, setting


MAX_LATENT_DIM = 4096
"""Largest graphics code (the paper's is 200; --latent-dim 1e8 asked for 1.6 TB of weights)."""


@dataclass(frozen=True)
class Preset:
    """Architecture hyper-parameters.

    Attributes:
        image_size: input/output side in pixels.
        encoder_channels: output channels of the three conv+pool stages.
        encoder_kernel, encoder_padding: conv kernel size and padding of the encoder.
        decoder_start: (C, H, W) of the decoder's first feature map (after Linear).
        decoder_channels: output channels of the upsample+conv stages (last is 1).
        decoder_kernel, decoder_padding: conv kernel size and padding of the decoder.
        latent_dim: size of the graphics code.
        channels: image channels C (1 = grey, the paper's input; 3 = RGB); the encoder's
            first conv takes C channels and the decoder's last conv makes C.
    """

    name: str
    image_size: int
    encoder_channels: tuple[int, ...]
    encoder_kernel: int
    encoder_padding: int
    decoder_start: tuple[int, int, int]
    decoder_channels: tuple[int, ...]
    decoder_kernel: int
    decoder_padding: int
    latent_dim: int = 200
    channels: int = 1


PRESETS = {
    "paper-150": Preset("paper-150", 150, (96, 64, 32), 5, 0, (32, 15, 15), (32, 64, 96, 1), 7, 0),
    "reference-150": Preset("reference-150", 150, (96, 48, 24), 5, 0, (24, 15, 15), (48, 96, 96, 1), 7, 0),
    "small-64": Preset("small-64", 64, (16, 32, 64), 3, 1, (64, 8, 8), (32, 16, 1), 3, 1),
    "wide-64": Preset("wide-64", 64, (32, 64, 128), 3, 1, (128, 8, 8), (64, 32, 1), 3, 1),
}


def get_preset(name: str, latent_dim: int | None = None, channels: int | None = None) -> Preset:
    """Look up a preset by name, optionally with another code size or channel count.

    Raises:
        ValueError: unknown preset name, latent_dim < 1, or channels not 1 or 3.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    p = PRESETS[name]
    if latent_dim is not None:
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        p = Preset(**{**asdict(p), "latent_dim": int(latent_dim)})
    if channels is not None:
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
        p = Preset(**{**asdict(p), "channels": int(channels)})
    return p


def _check_channels(key: str, v) -> None:
    if v not in (1, 3) or isinstance(v, bool):
        raise ValueError(f"{key} must be 1 (grey) or 3 (RGB), got {v!r}")


@dataclass(frozen=True)
class ModelConfig:
    """The model section of a run's config: which network.

    Attributes:
        preset: a name in :data:`PRESETS` (``small-64``, ``paper-150``, ``reference-150``).
        latent_dim: size of the graphics code (paper: 200).
        channels: image channels, 1 (grey, the paper's) or 3 (RGB; users' colour data sets).

    Raises:
        ValueError: an unknown preset, a latent_dim that is not a positive integer, or channels
            other than 1 or 3.
    """

    preset: str = setting("small-64", "Network: small-64 or wide-64 (CPU, 64 px), paper-150 or reference-150 (the paper's, 150 px).",
                          check=choice(PRESETS, "preset"))
    latent_dim: int = setting(200, "Latents in the graphics code (paper: 200).",
                              check=int_at_most(MAX_LATENT_DIM, "the encoder's and decoder's code layers grow with it"))
    channels: int = setting(1, "Image channels: 1 (grey, the paper's) or 3 (RGB, for colour data sets NAME:PATH).",
                            check=_check_channels)

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def image_size(self) -> int:
        """Input and output side in pixels."""
        return PRESETS[self.preset].image_size

    def architecture(self) -> Preset:
        """The architecture: the preset with this latent_dim."""
        return get_preset(self.preset, self.latent_dim, self.channels)


class Encoder(nn.Module):
    """(B, C, S, S) images in [0, 1] -> (mu, logvar), each (B, latent_dim)."""

    def __init__(self, p: Preset) -> None:
        super().__init__()
        layers, c_in, side = [], p.channels, p.image_size
        for c_out in p.encoder_channels:
            layers += [nn.Conv2d(c_in, c_out, p.encoder_kernel, padding=p.encoder_padding), nn.ReLU(), nn.MaxPool2d(2)]
            side = (side + 2 * p.encoder_padding - p.encoder_kernel + 1) // 2
            c_in = c_out
        self.features = nn.Sequential(*layers, nn.Flatten())
        flat = c_in * side * side
        self.mu = nn.Linear(flat, p.latent_dim)
        self.logvar = nn.Linear(flat, p.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.mu(h), self.logvar(h)


class Decoder(nn.Module):
    """(B, latent_dim) graphics code -> (B, C, S, S) logits (sigmoid gives the image)."""

    def __init__(self, p: Preset) -> None:
        super().__init__()
        c, h, w = p.decoder_start
        self.start = (c, h, w)
        self.fc = nn.Linear(p.latent_dim, c * h * w)
        layers, c_in = [], c
        widths = (*p.decoder_channels[:-1], p.channels)  # the last conv makes the image's channels
        for i, c_out in enumerate(widths):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, p.decoder_kernel, padding=p.decoder_padding)]
            if i < len(widths) - 1:
                layers.append(nn.ReLU())
            c_in = c_out
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(F.relu(self.fc(z)).view(-1, *self.start))


class DCIGN(nn.Module):
    """Encoder + decoder of a preset (the clamp lives in :mod:`dcign.clamp`).

    Raises:
        ValueError: if the preset's decoder does not produce image_size x image_size.
    """

    def __init__(self, preset: Preset) -> None:
        super().__init__()
        self.preset = preset
        self.encoder = Encoder(preset)
        self.decoder = Decoder(preset)
        with torch.no_grad():
            out = self.decoder(torch.zeros(1, preset.latent_dim))
        if out.shape[-2:] != (preset.image_size, preset.image_size):
            raise ValueError(f"preset {preset.name}: decoder makes {tuple(out.shape[-2:])}, not {preset.image_size}")

    @property
    def channels(self) -> int:
        return self.preset.channels

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, S, S) in [0, 1] -> mu, logvar (B, D)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) code -> (B, C, S, S) images in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    @staticmethod
    def sample(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        """Reparameterised sample z = mu + exp(logvar / 2) * eps (paper §3, SGVB).

        ``eps`` (N, D) standard-normal noise; default ``torch.randn_like(mu)``.
        """
        return mu + torch.exp(0.5 * logvar) * (torch.randn_like(mu) if eps is None else eps)


def reconstruction_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood: BCE summed over pixels and channels, (B,)."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over latents, (B,); ``weight`` (B, D) weighs each latent's term."""
    terms = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    return (terms if weight is None else terms * weight).sum(1)
