"""Factor sweeps over test identities and the Fig. 6 correlation (paper §4.1, Fig. 6).

For a factor f and each of ``n_identities`` identities, f is swept over ``n_values`` evenly
spaced angles of its range while the other angles stay at a value drawn once per identity
from the central half of their ranges (seeded).  Encoding every image (posterior mean) and
pairing the latent of f's group with the true angle gives the scatter of Fig. 6; Pearson and
Spearman r summarise it.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from ..data.engine import SceneEngine
from ..factors import ANGLE_FACTORS, Factors


def factor_sweep(engine: SceneEngine, factor: str, identities, n_values: int = 19, seed: int = 0) -> Factors:
    """Factors of a sweep of ``factor`` for each identity: (len(identities) * n_values) scenes.

    Raises:
        ValueError: ``factor`` is not an angle factor, or n_values < 2.
    """
    if factor not in ANGLE_FACTORS:
        raise ValueError(f"can only sweep an angle factor ({', '.join(ANGLE_FACTORS)}), got {factor!r}")
    if n_values < 2:
        raise ValueError("a sweep needs at least 2 values")
    rng = np.random.default_rng([seed, ANGLE_FACTORS.index(factor)])
    grid = engine.space.ranges[factor].grid(n_values)
    parts = []
    for ident in identities:
        values = {}
        for a in ANGLE_FACTORS:
            r = engine.space.ranges[a]
            mid, quarter = (r.low + r.high) / 2, (r.high - r.low) / 4
            values[a] = np.full(n_values, rng.uniform(mid - quarter, mid + quarter))
        values[factor] = grid
        parts.append(Factors(values["azimuth"], values["elevation"], values["light_azimuth"], np.full(n_values, ident)))
    return Factors.concatenate(parts)


@torch.no_grad()
def encode(encoder, images: np.ndarray | torch.Tensor, batch_size: int = 256, device="cpu") -> np.ndarray:
    """Posterior means (N, D) of (N, 1, S, S) images, with ``encoder(x) -> (mu, logvar)``."""
    x = torch.as_tensor(images)
    out = [encoder(x[i : i + batch_size].to(device))[0].cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy()


def net_device(net) -> torch.device:
    """Device of ``net``'s parameters (CPU for a parameter-free stand-in)."""
    params = getattr(net, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return torch.device("cpu")


@torch.no_grad()
def decode(net, z: np.ndarray, batch_size: int = 256, device=None) -> np.ndarray:
    """(N, D) codes -> (N, 1, S, S) float32 images in [0, 1], decoded on ``device`` (default: the net's)."""
    device = net_device(net) if device is None else device
    z = torch.as_tensor(np.asarray(z), dtype=torch.float32)
    out = [torch.as_tensor(net.decode(z[i : i + batch_size].to(device))).float().cpu() for i in range(0, len(z), batch_size)]
    return torch.cat(out).numpy()


def correlations(latent: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Pearson and Spearman r between a latent (N,) and the true angle (N,).

    A constant latent has no defined correlation; it is reported as 0.0.
    """
    latent, truth = np.asarray(latent, float), np.asarray(truth, float)
    if np.std(latent) == 0 or np.std(truth) == 0:
        return {"pearson": 0.0, "spearman": 0.0}
    return {"pearson": float(stats.pearsonr(latent, truth)[0]), "spearman": float(stats.spearmanr(latent, truth)[0])}
