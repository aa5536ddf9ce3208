"""Which latent stands for which factor.

DC-IGN assigns latents by construction (the config's latent layout, paper §3.1).  For the
entangled baseline the paper picks, for each factor, "the latent with the largest variance"
over a batch in which only that factor varies (§4.1.1); :func:`select_by_variance` does that,
averaging the per-batch variance over several identities.
"""

from __future__ import annotations

import numpy as np

from ..data.engine import SceneEngine
from ..factors import ANGLE_FACTORS
from .sweeps import encode, factor_sweep


def select_by_variance(codes_per_batch: np.ndarray) -> int:
    """Index of the latent with the largest mean within-batch variance.

    Args:
        codes_per_batch: (n_batches, batch_size, D) codes of one-factor batches.
    """
    codes_per_batch = np.asarray(codes_per_batch, dtype=np.float64)
    if codes_per_batch.ndim != 3 or codes_per_batch.shape[1] < 2:
        raise ValueError("select_by_variance needs codes of shape (n_batches, batch_size >= 2, D)")
    return int(np.argmax(codes_per_batch.var(axis=1).mean(axis=0)))


def factor_latents(encoder, engine: SceneEngine, layout: dict[str, list[int]] | None, method: str,
                   n_identities: int = 10, n_values: int = 20) -> dict[str, int]:
    """factor -> latent index, from the layout (dcign) or by the variance rule (others).

    The variance rule uses training identities, so test identities stay unseen.
    """
    if method == "dcign" and layout:
        return {f: int(layout[f][0]) for f in ANGLE_FACTORS if f in layout}
    ids = engine.space.identities("train")[:n_identities]
    out = {}
    for f in ANGLE_FACTORS:
        z = encode(encoder, engine.render(factor_sweep(engine, f, ids, n_values, seed=2)))
        out[f] = select_by_variance(z.reshape(len(ids), n_values, -1))
    return out
