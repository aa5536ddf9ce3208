"""Using a trained network: encode and decode, which latent stands for which factor, and the
degrees <-> latent maps that ``dcign render --set azimuth=30`` goes through.

Upstream of training's probe, of export and of evaluation (none of them import each other's
helpers): everything here reads a network and the scene engine, nothing else.

* :func:`encode` / :func:`decode`: batched, on the network's device, numpy in and out;
  :func:`latent_traversal` decodes codes with one latent swept (the report's traversals and
  reproduce's Fig. 8 grid).
* :func:`factor_sweep`: one identity's scenes with one factor swept over its range (paper §4.1,
  Fig. 6), the probe every other function here encodes.
* :func:`factor_latents`: factor -> latent index, from the DC-IGN layout (paper §3.1) or by the
  paper's largest-variance rule for models without one (§4.1.1, :func:`select_by_variance`).
* :func:`fit_angle_maps` / :func:`degrees_to_latent`: the degrees -> latent tables saved in
  ``model.json``, fitted on TRAINING identities; :func:`check_angle_map` is the one check of
  such a table.
* :func:`angle_codes` / :func:`rerender`: set angles (degrees) in one image's code and decode it,
  the one re-rendering path of ``dcign render`` and ``dcign app``.
* :func:`correlations`: Pearson and Spearman r of a latent against the true angle.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from .checks import is_finite_number, is_int
from .data.engine import SceneEngine, check_data_version
from .factors import ANGLE_FACTORS, Factors


def engine_for(cfg) -> SceneEngine:
    """The scene engine a run was trained on (data set, image size, identity table).

    ``cfg`` is the run's :class:`dcign.config.TrainConfig`.

    Raises:
        ValueError: the run recorded a data version (``cfg.data.data_version``) other than what its
            data set renders now (e.g. a run on the v1 heads evaluated on the v2 faces).
    """
    engine = SceneEngine(cfg.engine_config())
    check_data_version(cfg.data.data_version, cfg.data.dataset, engine.data_version)
    return engine


def net_device(net) -> torch.device:
    """Device of ``net``'s parameters (CPU for a parameter-free stand-in)."""
    params = getattr(net, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return torch.device("cpu")


@torch.no_grad()
def encode(encoder, images: np.ndarray | torch.Tensor, batch_size: int = 256, device="cpu") -> np.ndarray:
    """Posterior means (N, D) of (N, 1, S, S) images in [0, 1], with ``encoder(x) -> (mu, logvar)``."""
    x = torch.as_tensor(images)
    out = [encoder(x[i : i + batch_size].to(device))[0].cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy()


@torch.no_grad()
def decode(net, z: np.ndarray, batch_size: int = 256, device=None) -> np.ndarray:
    """(N, D) codes -> (N, 1, S, S) float32 images in [0, 1], decoded on ``device`` (default: the net's)."""
    device = net_device(net) if device is None else device
    z = torch.as_tensor(np.asarray(z), dtype=torch.float32)
    out = [torch.as_tensor(net.decode(z[i : i + batch_size].to(device))).float().cpu() for i in range(0, len(z), batch_size)]
    return torch.cat(out).numpy()


def latent_traversal(net, codes: np.ndarray, k: int, values, batch_size: int = 256, device=None) -> np.ndarray:
    """Latent traversal (paper Fig. 4, 5, 8): each code decoded with latent ``k`` set to each of ``values``.

    Args:
        net: with ``decode(z)`` (see :func:`decode`); codes: (N, D) posterior means.
        k: the latent to sweep; values: (V,) its values.

    Returns:
        (N, V, 1, S, S) float32 images in [0, 1]; row i is code i's traversal.
    """
    out = []
    for code in np.asarray(codes):
        z = np.repeat(code[None], len(values), axis=0)
        z[:, k] = values
        out.append(decode(net, z, batch_size, device))
    return np.stack(out)


def factor_sweep(engine: SceneEngine, factor: str, identities, n_values: int = 19, seed: int = 0) -> Factors:
    """Factors of a sweep of ``factor`` for each identity: (len(identities) * n_values) scenes.

    For each identity, ``factor`` takes ``n_values`` evenly spaced angles of its range (degrees,
    both ends included) while the other angles stay at a value drawn once per identity (seeded)
    from the central half of their ranges (paper §4.1, Fig. 6).

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
        values = {a: np.full(n_values, rng.uniform(*engine.space.ranges[a].central_half())) for a in ANGLE_FACTORS}
        values[factor] = grid
        parts.append(Factors(values["azimuth"], values["elevation"], values["light_azimuth"], np.full(n_values, ident)))
    return Factors.concatenate(parts)


def correlations(latent: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Pearson and Spearman r between a latent (N,) and the true angle (N,).

    A constant latent has no defined correlation; it is reported as 0.0.
    """
    latent, truth = np.asarray(latent, float), np.asarray(truth, float)
    if np.std(latent) == 0 or np.std(truth) == 0:
        return {"pearson": 0.0, "spearman": 0.0}
    return {"pearson": float(stats.pearsonr(latent, truth)[0]), "spearman": float(stats.spearmanr(latent, truth)[0])}


def within_identity_spearman(latent: np.ndarray, truth: np.ndarray, n_values: int) -> float:
    """Median over identities of each identity's Spearman r (paper Fig. 6, within identity).

    ``latent``, ``truth``: (n_identities * n_values,) in :func:`factor_sweep`'s order (one
    identity's sweep after another).  Pooled r (:func:`correlations`) also counts offsets
    between identities; this one sees only whether each identity's curve follows the angle.
    Signed: an identity whose latent runs the other way pulls the median toward 0.

    Raises:
        ValueError: a length that is not a multiple of ``n_values``, or n_values < 2.
    """
    latent, truth = np.asarray(latent, float), np.asarray(truth, float)
    if n_values < 2 or len(latent) != len(truth) or len(latent) % n_values:
        raise ValueError(f"need whole sweeps of n_values >= 2 points, got {len(latent)} points and n_values={n_values}")
    per_identity = [correlations(latent[i : i + n_values], truth[i : i + n_values])["spearman"]
                    for i in range(0, len(latent), n_values)]
    return float(np.median(per_identity))


def select_by_variance(codes_per_batch: np.ndarray) -> int:
    """Index of the latent with the largest mean within-batch variance (paper §4.1.1).

    Args:
        codes_per_batch: (n_batches, batch_size, D) codes of one-factor batches.

    Raises:
        ValueError: another shape, or batches of fewer than 2 codes.
    """
    codes_per_batch = np.asarray(codes_per_batch, dtype=np.float64)
    if codes_per_batch.ndim != 3 or codes_per_batch.shape[1] < 2:
        raise ValueError("select_by_variance needs codes of shape (n_batches, batch_size >= 2, D)")
    return int(np.argmax(codes_per_batch.var(axis=1).mean(axis=0)))


def factor_latents(encoder, engine: SceneEngine, layout: dict[str, list[int]] | None, method: str,
                   n_identities: int = 10, n_values: int = 20) -> dict[str, int]:
    """factor -> latent index, from the layout (dcign, paper §3.1) or by the variance rule (others).

    DC-IGN assigns latents by construction; for the entangled baseline the paper picks, for
    each factor, "the latent with the largest variance" over a batch in which only that factor
    varies (§4.1.1), here averaged over ``n_identities`` TRAINING identities (so test
    identities stay unseen), each swept over ``n_values`` angles.
    """
    if method == "dcign" and layout:
        return {f: int(layout[f][0]) for f in ANGLE_FACTORS if f in layout}
    ids = engine.space.identities("train")[:n_identities]
    out = {}
    for f in ANGLE_FACTORS:
        z = encode(encoder, engine.render(factor_sweep(engine, f, ids, n_values, seed=2)))
        out[f] = select_by_variance(z.reshape(len(ids), n_values, -1))
    return out


def own_latents(layout: dict[str, list[int]], intrinsic) -> dict[str, int]:
    """factor -> its first own latent, for the factors of a user's data set whose group is not the
    shared intrinsic one (``layout``: :meth:`dcign.config.TrainConfig.file_groups`)."""
    counts: dict[tuple, int] = {}
    for idx in layout.values():
        counts[tuple(idx)] = counts.get(tuple(idx), 0) + 1
    return {f: idx[0] for f, idx in layout.items() if f not in intrinsic and counts[tuple(idx)] == 1}


def variance_latents(net, data, split: str = "train", n_groups: int = 10, batch_size: int = 20, seed: int = 2) -> dict[str, int]:
    """The paper's rule for models without a layout (§4.1.1) on a user's data set: per factor that is not
    intrinsic, the latent of largest within-batch variance over ``n_groups`` one-factor batches of
    ``split`` (training images, so test images stay unseen)."""
    out = {}
    rng = np.random.default_rng(seed)
    for f in data.factor_names:
        if f in data.intrinsic_factors:
            continue
        try:
            batches = [data.one_factor_batch(rng, f, batch_size, split) for _ in range(n_groups)]
        except ValueError:  # DataSourceError: this factor never varies alone
            continue
        z = encode(net.encode, data.images(np.concatenate(batches), net.channels, net.preset.image_size), device=net_device(net))
        out[f] = select_by_variance(z.reshape(n_groups, batch_size, -1))
    return out


def fit_angle_maps(encoder, engine: SceneEngine, latent_of: dict[str, int], n_identities: int = 20,
                   n_values: int = 19, split: str = "train", seed: int = 1) -> dict:
    """Fit one degrees -> latent table per factor in ``latent_of`` (factor -> latent index).

    Each factor is swept over ``n_values`` angles for ``n_identities`` identities of ``split``
    (training identities by default); the factor's latent (posterior mean) averaged over the
    identities at each angle is the table, interpolated linearly by :func:`degrees_to_latent`.

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


def check_angle_map(name: str, angle_map, latent_dim: int | None = None, where: str = "") -> dict:
    """``angle_map`` if it is a usable degrees -> latent table, else ValueError naming the problem.

    Usable: a dict with an int ``latent_index`` (in 0..latent_dim-1 when ``latent_dim`` is
    given), and equally long lists ``degrees`` (strictly increasing) and ``latent`` of at least
    2 finite numbers.  ``where`` prefixes the message (e.g. the model.json path).
    """
    m = angle_map
    k = m.get("latent_index") if isinstance(m, dict) else None
    if not is_int(k) or k < 0 or (latent_dim is not None and k >= latent_dim):
        span = f"in 0..{latent_dim - 1}" if latent_dim is not None else ">= 0"
        raise ValueError(f"{where}angle_maps[{name!r}] needs a latent_index {span}")
    deg, lat = m.get("degrees"), m.get("latent")
    if (not isinstance(deg, list) or not isinstance(lat, list) or len(deg) < 2 or len(deg) != len(lat)
            or not all(is_finite_number(v) for v in deg + lat)
            or any(b <= a for a, b in zip(deg, deg[1:]))):
        raise ValueError(f"{where}angle_maps[{name!r}] needs equal-length lists 'degrees' (increasing) and 'latent' of finite numbers")
    return m


def degrees_to_latent(angle_map: dict, degrees: float) -> float:
    """Latent value for ``degrees`` by linear interpolation in the fitted table.

    Raises:
        ValueError: degrees outside the fitted range.
    """
    lo, hi = angle_map["degrees"][0], angle_map["degrees"][-1]
    if not np.isfinite(degrees) or not lo <= degrees <= hi:
        raise ValueError(f"angle {degrees} is outside the model's range [{lo:g}, {hi:g}] degrees")
    return float(np.interp(degrees, angle_map["degrees"], angle_map["latent"]))


def angle_codes(angle_maps: dict, degrees: dict[str, float]) -> dict[int, float]:
    """Latent index -> value for the angles to set, e.g. ``{"azimuth": 30.0}`` (degrees).

    Raises:
        ValueError: a factor without a table in this model, or an angle outside its table.
    """
    codes = {}
    for name, deg in degrees.items():
        if name not in angle_maps:
            raise ValueError(f"this model has no latent for {name!r}; it can set: {', '.join(angle_maps) or 'nothing'}")
        codes[int(angle_maps[name]["latent_index"])] = degrees_to_latent(angle_maps[name], deg)
    return codes


def rerender(net, x: np.ndarray, codes: dict[int, float], offset: np.ndarray | None = None) -> np.ndarray:
    """Re-render one image with some latents set: what ``dcign render`` and ``dcign app`` do.

    The image is encoded (posterior mean), latent ``k`` is set to ``codes[k]`` (values from
    :func:`angle_codes`), ``offset`` (D,) is added if given (the app's principal-component
    sliders), and the code is decoded (paper §4.1.1, Fig. 7: the decoder as a renderer).

    Args:
        net: model with ``encode(x) -> (mu, logvar)`` and ``decode(z)``.
        x: (1, 1, S, S) float32 in [0, 1], as :func:`dcign.images.load_image` gives.

    Returns:
        (S, S) float32 grey image in [0, 1].
    """
    z = encode(net.encode, x, device=net_device(net))
    for k, value in codes.items():
        z[0, k] = value
    if offset is not None:
        z = z + np.asarray(offset, dtype=z.dtype)[None]
    return decode(net, z)[0, 0]
