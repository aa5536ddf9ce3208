"""Degrees <-> latent maps for re-rendering (``dcign render --set azimuth=30``).

For each angle factor with its own latent, the map is fitted on TRAINING identities: sweep
the factor over ``n_values`` angles for ``n_identities`` identities, encode (posterior mean),
and average the factor's latent over identities at each angle.  The resulting table
(degrees, latent) is interpolated linearly; it is saved in ``model.json``.
"""

from __future__ import annotations

import numpy as np

from ..data.engine import SceneEngine
from .sweeps import encode, factor_sweep


def fit_angle_maps(encoder, engine: SceneEngine, latent_of: dict[str, int], n_identities: int = 20,
                   n_values: int = 19, split: str = "train", seed: int = 1) -> dict:
    """Fit one table per factor in ``latent_of`` (factor -> latent index).

    Returns:
        {factor: {"latent_index": k, "degrees": [...], "latent": [...], "monotone": bool}}.
    """
    ids = engine.space.identities(split)[:n_identities]
    maps = {}
    for factor, k in latent_of.items():
        factors = factor_sweep(engine, factor, ids, n_values, seed=seed)
        z = encode(encoder, engine.render(factors))[:, k].reshape(len(ids), n_values)
        table = z.mean(axis=0)
        diffs = np.diff(table)
        maps[factor] = {
            "latent_index": int(k),
            "degrees": engine.space.ranges[factor].grid(n_values).tolist(),
            "latent": table.tolist(),
            "monotone": bool(np.all(diffs > 0) or np.all(diffs < 0)),
        }
    return maps


def degrees_to_latent(angle_map: dict, degrees: float) -> float:
    """Latent value for ``degrees`` by linear interpolation in the fitted table.

    Raises:
        ValueError: degrees outside the fitted range.
    """
    lo, hi = angle_map["degrees"][0], angle_map["degrees"][-1]
    if not np.isfinite(degrees) or not lo <= degrees <= hi:
        raise ValueError(f"angle {degrees} is outside the model's range [{lo:g}, {hi:g}] degrees")
    return float(np.interp(degrees, angle_map["degrees"], angle_map["latent"]))
