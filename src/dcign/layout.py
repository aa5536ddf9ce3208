"""The latent layout of a graphics code (paper §3.1): which latents belong to which factor.

A layout maps angle factors to latent indices (0-based: z1 is index 0), e.g. the paper's
``{"azimuth": [0], "elevation": [1], "light_azimuth": [2]}``.  Every latent no factor owns
belongs to the *intrinsic* group (identity), which also trains for factors without latents
of their own (the chairs layout ``{"azimuth": [0]}`` trains elevation batches on it).
"""

from __future__ import annotations

import numbers

import numpy as np

from .factors import ANGLE_FACTORS, FACTORS


def default_layout() -> dict[str, list[int]]:
    """Paper §3.1 layout: z1 azimuth, z2 elevation, z3 light azimuth, the rest identity."""
    return {"azimuth": [0], "elevation": [1], "light_azimuth": [2]}


def check_layout(layout, latent_dim: int, name: str = "latent_layout", shared: bool = False) -> dict[str, list[int]]:
    """``layout`` as ``{factor: [int, ...]}`` after checking it against a ``latent_dim`` code.

    The one check of a layout: the config's DC-IGN layout and the grouping layout of the
    disentanglement metrics both go through it.

    Args:
        layout: angle factor -> latent indices (a list, tuple or array of ints).
        latent_dim: D, the code size.
        name: what the caller calls it (used in the messages).
        shared: allow one latent to stand for two factors (the variance rule may choose one
            latent twice); a DC-IGN layout gives each latent to one factor.

    Raises:
        ValueError: not a dict, an unknown factor (identity takes the rest), indices that are
            not ints in 0..latent_dim-1, a latent listed twice, a latent given to two factors (unless ``shared``), or
            no latent left for the intrinsic group.
    """
    fix = "pass a dict such as {'azimuth': [0], 'elevation': [1], 'light_azimuth': [2]}"
    if not isinstance(layout, dict):
        raise ValueError(f"{name} must be a dict of factor -> latent indices, got {type(layout).__name__}; {fix}")
    used: set[int] = set()
    out = {}
    for factor, idx in layout.items():
        if factor not in ANGLE_FACTORS:
            raise ValueError(f"{name} names {factor!r}; use azimuth, elevation or light_azimuth (identity takes the rest)")
        if isinstance(idx, (numbers.Integral, str, bytes)) or not isinstance(idx, (list, tuple, np.ndarray)):
            raise ValueError(f"{name}[{factor!r}] must be a list of latent indices, got {idx!r}; {fix}")
        if (len(idx) == 0 or any(isinstance(i, (bool, np.bool_)) or not isinstance(i, numbers.Integral) for i in idx)
                or any(not 0 <= i < latent_dim for i in idx)):
            raise ValueError(f"{name}[{factor!r}] must list int latent indices in 0..{latent_dim - 1} (latent_dim {latent_dim}), got {list(idx)!r}")
        idx = [int(i) for i in idx]
        if len(set(idx)) != len(idx):
            raise ValueError(f"{name}[{factor!r}] lists a latent twice: {idx}; give each latent once")
        if not shared and used & set(idx):
            raise ValueError(f"{name} gives latent(s) {sorted(used & set(idx))} to two factors")
        used |= set(idx)
        out[factor] = idx
    if len(used) >= latent_dim:
        raise ValueError(f"{name} takes all {latent_dim} latents (latent_dim {latent_dim}); leave some for the "
                         "intrinsic (identity) group: a larger latent_dim or fewer latents per factor")
    return out


def intrinsic_latents(layout: dict[str, list[int]], latent_dim: int) -> list[int]:
    """The latents no factor of ``layout`` owns, in increasing order (the intrinsic group)."""
    taken = {i for idx in layout.values() for i in idx}
    return [i for i in range(latent_dim) if i not in taken]


def group_latents(layout: dict[str, list[int]], latent_dim: int) -> dict[str, list[int]]:
    """Active latents of each batch type (:data:`dcign.factors.FACTORS`).

    A factor with latents in ``layout`` trains those; the others (always ``identity``) train
    the intrinsic group.
    """
    intrinsic = intrinsic_latents(layout, latent_dim)
    return {f: list(layout.get(f, intrinsic)) for f in FACTORS}
