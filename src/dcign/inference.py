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
* :func:`fit_angle_maps` / :func:`degrees_to_code` / :func:`latent_to_degrees`: the degrees <->
  latent maps saved in ``model.json``, fitted on TRAINING identities (one latent: a table; a
  factor owning a group of latents that turns all the way round, chairs' azimuth: a circular
  map, an ellipse); :func:`check_angle_map` is the one check of such a map.
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
from .factors import ANGLE_FACTORS, FULL_TURN, Factors


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


def latent_traversal(net, codes: np.ndarray, k, values, batch_size: int = 256, device=None) -> np.ndarray:
    """Latent traversal (paper Fig. 4, 5, 8): each code decoded with latent ``k`` set to each of ``values``.

    Args:
        net: with ``decode(z)`` (see :func:`decode`); codes: (N, D) posterior means.
        k: the latent to sweep, or a list of K latents swept together (a factor's group,
            e.g. chairs' azimuth on z1, z2).
        values: (V,) the latent's values, or (V, K) rows for a group.

    Returns:
        (N, V, 1, S, S) float32 images in [0, 1]; row i is code i's traversal.
    """
    ks = [int(k)] if is_int(k) else [int(i) for i in k]
    values = np.asarray(values).reshape(len(values), len(ks))
    out = []
    for code in np.asarray(codes):
        z = np.repeat(code[None], len(values), axis=0)
        z[:, ks] = values
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


def factor_groups(layout: dict[str, list[int]] | None, method: str, latent_of: dict[str, int]) -> dict[str, list[int]]:
    """factor -> the latents its angle map sets: the factor's whole group in a DC-IGN layout
    (e.g. ``azimuth: [0, 1]``, paper §3.1 with a group per factor), else ``[latent_of[f]]``."""
    if method == "dcign" and layout:
        return {f: [int(i) for i in layout.get(f, [k])] for f, k in latent_of.items()}
    return {f: [int(k)] for f, k in latent_of.items()}


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



def map_latents(angle_map: dict) -> list[int]:
    """The latents an angle map sets: ``[latent_index]`` for a one-latent table, else ``latent_indices``."""
    if "latent_indices" in angle_map:
        return [int(k) for k in angle_map["latent_indices"]]
    return [int(angle_map["latent_index"])]


def fit_angle_maps(encoder, engine: SceneEngine, latent_of: dict, n_identities: int = 20,
                   n_values: int = 19, split: str = "train", seed: int = 1, n_check: int = 200) -> dict:
    """Fit one degrees -> latent map per factor in ``latent_of`` (factor -> latent index, or a list
    of the factor's latents for a factor that owns a group).

    Each factor is swept over ``n_values`` angles for ``n_identities`` identities of ``split``
    (training identities by default, so test identities stay unseen) and encoded (posterior means).

    * One latent: the latent averaged over the identities at each angle is the table,
      interpolated linearly by :func:`degrees_to_code`:
      ``{"latent_index": k, "degrees": [...], "latent": [...], "monotone": bool}``.
    * Several latents, the factor's range a full turn (360 degrees, chairs' azimuth): a circular
      map candidate, the least-squares fit of the group's codes ``z ~ c + A [cos t, sin t]`` (a point on an
      ellipse per angle ``t``):
      ``{"kind": "circular", "latent_indices": [...], "degrees": [lo, hi], "center": c (K,),
      "basis": A (K, 2) as rows, "rms": root-mean-square residual of the fit}``.
    * Several latents: a table of the group's mean codes, the curve the code follows,
      ``{"kind": "table", "latent_indices": [...], "degrees": [...], "latent": (n_values, K) rows,
      "monotone": bool}`` (monotone: every latent of the group moves one way); read back as
      the nearest point of the curve.
    * Several latents over a full turn: the circular map or the table, whichever reads the
      angles of ``n_check`` random scenes of ``split`` back with the smaller median error (kept
      as ``train_median_error_deg``; on chairs the table won: 11 against 35 degrees on test chairs).

    Returns:
        {factor: map}; check a map with :func:`check_angle_map`.
    """
    ids = engine.space.identities(split)[:n_identities]
    maps = {}
    for factor, k in latent_of.items():
        group = [int(i) for i in k] if isinstance(k, (list, tuple, np.ndarray)) else [int(k)]
        factors = factor_sweep(engine, factor, ids, n_values, seed=seed)
        z = encode(encoder, engine.render(factors))[:, group]
        rng = engine.space.ranges[factor]
        table = z.reshape(len(ids), n_values, len(group)).mean(axis=0)  # (n_values, K)
        diffs = np.diff(table, axis=0)
        monotone = bool(np.all((diffs > 0).all(axis=0) | (diffs < 0).all(axis=0)))
        degrees = rng.grid(n_values).tolist()
        if len(group) == 1:
            maps[factor] = {"latent_index": group[0], "degrees": degrees, "latent": table[:, 0].tolist(), "monotone": monotone}
            continue
        curve = {"kind": "table", "latent_indices": group, "degrees": degrees, "latent": table.tolist(), "monotone": monotone}
        if not rng.full_turn:
            maps[factor] = curve
            continue
        # A full turn: the ellipse or the closed curve of mean codes, whichever reads back the
        # angles of other TRAINING scenes (random views, off the sweep's grid) better: the curve
        # follows a code that does not turn at an even speed, the ellipse smooths a noisy one.
        check = engine.space.sample(np.random.default_rng([seed, 0xC1]), n_check, split)
        codes = encode(encoder, engine.render(check))
        candidates = [fit_circular_map(z, factors[factor], group, (rng.low, rng.high)), curve]
        for m in candidates:
            m["train_median_error_deg"] = float(np.median(angular_error(latent_to_degrees(m, codes), check[factor])))
        maps[factor] = min(candidates, key=lambda m: m["train_median_error_deg"])
    return maps


def fit_circular_map(z: np.ndarray, degrees: np.ndarray, latents: list[int], span: tuple[float, float]) -> dict:
    """The circular degrees -> latent map of a factor that turns all the way round.

    Least squares ``z ~ c + A [cos t, sin t]`` over the (N, K) codes ``z`` of the factor's
    latent group (K >= 2) at the true angles ``degrees`` (N,): a closed curve, an ellipse, that
    a single scalar latent cannot follow (a chair's azimuth over -180..180 degrees).

    Raises:
        ValueError: fewer than 3 codes, K < 2, or angles that do not determine the ellipse.
    """
    z = np.asarray(z, np.float64)
    t = np.deg2rad(np.asarray(degrees, np.float64))
    if z.ndim != 2 or z.shape[1] < 2 or len(z) != len(t) or len(z) < 3:
        raise ValueError(f"a circular map needs (N >= 3, K >= 2) codes with N angles, got {z.shape} and {t.shape}")
    design = np.stack([np.ones_like(t), np.cos(t), np.sin(t)], axis=1)  # (N, 3)
    if np.linalg.matrix_rank(design) < 3:
        raise ValueError("the angles of a circular map must cover the circle (they determine no ellipse)")
    coef, *_ = np.linalg.lstsq(design, z, rcond=None)  # (3, K): c, then A's columns as rows
    resid = z - design @ coef
    return {"kind": "circular", "latent_indices": [int(k) for k in latents], "degrees": [float(span[0]), float(span[1])],
            "center": coef[0].tolist(), "basis": coef[1:].T.tolist(), "rms": float(np.sqrt(np.mean(resid ** 2)))}


def check_angle_map(name: str, angle_map, latent_dim: int | None = None, where: str = "") -> dict:
    """``angle_map`` if it is a usable degrees -> latent map, else ValueError naming the problem.

    Usable (maps as :func:`fit_angle_maps` writes them; ``where`` prefixes the message, e.g. the
    model.json path; latent indices must lie in 0..latent_dim-1 when ``latent_dim`` is given):

    * a one-latent table: an int ``latent_index`` and equally long lists ``degrees`` (strictly
      increasing) and ``latent`` of at least 2 finite numbers;
    * ``kind`` "table": ``latent_indices`` (K >= 2 distinct ints), ``degrees`` as above and
      ``latent`` a list of as many rows of K finite numbers;
    * ``kind`` "circular": ``latent_indices`` (K >= 2 distinct ints), ``degrees`` = [lo, hi]
      spanning 360 degrees, ``center`` K finite numbers, ``basis`` K rows of 2 finite numbers
      of rank 2 (else no angle can be read back).
    """
    m = angle_map
    at = f"{where}angle_maps[{name!r}]"
    if not isinstance(m, dict):
        raise ValueError(f"{at} must be an object, got {type(m).__name__}")
    kind = m.get("kind", "table")
    if kind not in ("table", "circular"):
        raise ValueError(f"{at} has kind {kind!r}; use 'table' or 'circular' (or re-export the model)")
    span = f"in 0..{latent_dim - 1}" if latent_dim is not None else ">= 0"
    grouped = "latent_indices" in m or kind == "circular"
    if grouped:
        ks = m.get("latent_indices")
        if (not isinstance(ks, list) or len(ks) < 2 or not all(is_int(k) and k >= 0 and (latent_dim is None or k < latent_dim) for k in ks)
                or len(set(ks)) != len(ks)):
            raise ValueError(f"{at} needs latent_indices: a list of 2 or more distinct latent indices {span}")
        width = len(ks)
    else:
        k = m.get("latent_index")
        if not is_int(k) or k < 0 or (latent_dim is not None and k >= latent_dim):
            raise ValueError(f"{at} needs a latent_index {span}")
        width = None
    deg = m.get("degrees")
    if kind == "circular":
        c, basis = m.get("center"), m.get("basis")
        if (not isinstance(deg, list) or len(deg) != 2 or not all(is_finite_number(v) for v in deg)
                or abs(deg[1] - deg[0] - FULL_TURN) > 1e-6):
            raise ValueError(f"{at} (circular) needs degrees [lo, hi] spanning {FULL_TURN:g} degrees")
        if not isinstance(c, list) or len(c) != width or not all(is_finite_number(v) for v in c):
            raise ValueError(f"{at} (circular) needs a center of {width} finite numbers, one per latent")
        if (not isinstance(basis, list) or len(basis) != width
                or not all(isinstance(row, list) and len(row) == 2 and all(is_finite_number(v) for v in row) for row in basis)):
            raise ValueError(f"{at} (circular) needs a basis of {width} rows [cos, sin] of 2 finite numbers")
        sv = np.linalg.svd(np.asarray(basis, np.float64), compute_uv=False)
        if not sv[-1] > 1e-9 * max(sv[0], 1e-300):
            raise ValueError(f"{at} (circular) has a basis of rank < 2: no angle can be read back; re-export the model")
        return m
    lat = m.get("latent")
    rows_ok = isinstance(lat, list) and (
        all(is_finite_number(v) for v in lat) if width is None
        else all(isinstance(r, list) and len(r) == width and all(is_finite_number(v) for v in r) for r in lat))
    if (not isinstance(deg, list) or not isinstance(lat, list) or len(deg) < 2 or len(deg) != len(lat)
            or not all(is_finite_number(v) for v in deg) or not rows_ok
            or any(b <= a for a, b in zip(deg, deg[1:]))):
        what = "finite numbers" if width is None else f"rows of {width} finite numbers"
        raise ValueError(f"{at} needs equal-length lists 'degrees' (increasing) and 'latent' of {what}")
    return m


def wrap_degrees(degrees):
    """Angles (degrees, any shape) wrapped into [-180, 180)."""
    return (np.asarray(degrees, np.float64) + 180.0) % FULL_TURN - 180.0


def degrees_to_code(angle_map: dict, degrees: float) -> np.ndarray:
    """Values (K,) of the map's latents (:func:`map_latents`) for the angle ``degrees``.

    Tables interpolate linearly between their rows; a circular map gives the point
    ``c + A [cos t, sin t]`` on its ellipse, for any finite angle (it wraps round).

    Raises:
        ValueError: a non-finite angle, or one outside a table's fitted range.
    """
    if angle_map.get("kind") == "circular":
        if not np.isfinite(degrees):
            raise ValueError(f"angle {degrees} is not a finite number of degrees")
        t = np.deg2rad(float(degrees))
        return np.asarray(angle_map["center"], np.float64) + np.asarray(angle_map["basis"], np.float64) @ [np.cos(t), np.sin(t)]
    lo, hi = angle_map["degrees"][0], angle_map["degrees"][-1]
    if not np.isfinite(degrees) or not lo <= degrees <= hi:
        raise ValueError(f"angle {degrees} is outside the model's range [{lo:g}, {hi:g}] degrees")
    table = np.asarray(angle_map["latent"], np.float64).reshape(len(angle_map["degrees"]), -1)
    return np.array([np.interp(degrees, angle_map["degrees"], col) for col in table.T])


def degrees_to_latent(angle_map: dict, degrees: float) -> float:
    """Latent value for ``degrees`` by linear interpolation in a one-latent table.

    Raises:
        ValueError: degrees outside the fitted range, or a map of several latents
            (use :func:`degrees_to_code`).
    """
    if len(map_latents(angle_map)) != 1:
        raise ValueError("this angle map sets several latents; use degrees_to_code")
    return float(degrees_to_code(angle_map, degrees)[0])


def latent_to_degrees(angle_map: dict, codes: np.ndarray) -> np.ndarray:
    """Angles (N,) in degrees read back from full codes (N, D) through ``angle_map``.

    Circular map: ``atan2`` of ``A^+ (z_group - c)`` (the least-squares point of the unit
    circle's plane), wrapped into [-180, 180).  Tables: the angle of the nearest point of the
    table's curve, sampled every 0.25 degrees.
    """
    z = np.asarray(codes, np.float64)[:, map_latents(angle_map)]
    if angle_map.get("kind") == "circular":
        w = (z - np.asarray(angle_map["center"], np.float64)) @ np.linalg.pinv(np.asarray(angle_map["basis"], np.float64)).T
        return wrap_degrees(np.rad2deg(np.arctan2(w[:, 1], w[:, 0])))
    lo, hi = angle_map["degrees"][0], angle_map["degrees"][-1]
    grid = np.linspace(lo, hi, max(2, int(np.ceil((hi - lo) / 0.25)) + 1))
    curve = np.stack([degrees_to_code(angle_map, d) for d in grid])  # (G, K)
    return grid[np.argmin(((z[:, None, :] - curve[None]) ** 2).sum(axis=2), axis=1)]


def angular_error(estimate, truth, circular: bool = True) -> np.ndarray:
    """|estimate - truth| in degrees, the short way round when ``circular`` (at most 180)."""
    d = np.asarray(estimate, np.float64) - np.asarray(truth, np.float64)
    return np.abs(wrap_degrees(d) if circular else d)


def angle_codes(angle_maps: dict, degrees: dict[str, float]) -> dict[int, float]:
    """Latent index -> value for the angles to set, e.g. ``{"azimuth": 30.0}`` (degrees).

    A factor with a group of latents (a circular map) sets all of them.

    Raises:
        ValueError: a factor without a map in this model, or an angle outside its table.
    """
    codes = {}
    for name, deg in degrees.items():
        if name not in angle_maps:
            raise ValueError(f"this model has no latent for {name!r}; it can set: {', '.join(angle_maps) or 'nothing'}")
        try:
            values = degrees_to_code(angle_maps[name], deg)
        except ValueError as exc:  # 'angle 500 is outside ...': say which factor
            raise ValueError(f"{name}: {exc}") from None
        for k, value in zip(map_latents(angle_maps[name]), values):
            codes[k] = float(value)
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
