"""Novel-view re-rendering error: paper §4.1.1 / Fig. 7 made quantitative.

The paper compares DC-IGN with an entangled baseline by re-rendering one input image in a
new pose (Fig. 7) and judging the result by eye.  Our graphics engine knows the true image at
every view, so the comparison becomes a number:

1. take a TEST identity (never seen in training) and render it at a *source* angle of one
   factor (the other angles fixed at values drawn once per identity from the central half of
   their ranges, as in the Fig. 6 sweeps of :func:`dcign.inference.factor_sweep`);
2. encode it (posterior mean);
3. set the factor's latent to the value the model's degrees -> latent table gives for the
   *target* angle (``model.json``'s ``angle_maps``, fitted on training identities by
   :func:`dcign.inference.fit_angle_maps`; for an entangled baseline the table
   belongs to the latent chosen by the paper's largest-variance rule,
   :func:`dcign.inference.select_by_variance`);
4. decode and compare with the true rendering at the target angle (same identity, same
   other factors): mean squared error per pixel, grey in [0, 1].

A "model" here is anything with ``encode(x) -> (mu, logvar)`` for (B, 1, S, S) float tensors
in [0, 1] and ``decode(z) -> (B, 1, S, S)`` images in [0, 1] -- a :class:`dcign.model.DCIGN`
or a test double.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..data.engine import SceneEngine
from ..factors import ANGLE_FACTORS, FULL_TURN, SPLITS, Factors
from ..images import tile
from ..inference import check_angle_map, decode, degrees_to_code, encode, map_latents, net_device


def _angle_map(angle_maps: Mapping, factor: str) -> dict:
    """The degrees -> latent table of ``factor``, checked; raises ValueError naming the problem."""
    if factor not in ANGLE_FACTORS:
        raise ValueError(f"novel views need an angle factor ({', '.join(ANGLE_FACTORS)}), got {factor!r}")
    if factor not in angle_maps:
        raise ValueError(f"this model has no degrees -> latent map for {factor!r}; it has: {', '.join(angle_maps) or 'none'}")
    return check_angle_map(factor, angle_maps[factor])


def _common_range(engine: SceneEngine, factor: str, maps: list[dict]) -> tuple[float, float]:
    """Degrees both the engine and every model's table cover."""
    r = engine.space.ranges[factor]
    lo = max([r.low] + [float(m["degrees"][0]) for m in maps])
    hi = min([r.high] + [float(m["degrees"][-1]) for m in maps])
    if not lo < hi:
        raise ValueError(f"the models' {factor} tables and the engine's range [{r.low:g}, {r.high:g}] degrees do not overlap")
    return lo, hi


def _other_angles(engine: SceneEngine, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """(n,) angles per factor, drawn from the central half of each range (as the Fig. 6 sweeps)."""
    return {a: rng.uniform(*engine.space.ranges[a].central_half(), n) for a in ANGLE_FACTORS}


def _check_net(net, engine: SceneEngine, latents: list[int], factor: str) -> None:
    preset = getattr(net, "preset", None)
    if preset is not None:
        if preset.image_size != engine.size:
            raise ValueError(f"the model works on {preset.image_size}-px images but the engine renders {engine.size} px; "
                             "use the engine of the model's config (dcign.inference.engine_for(cfg))")
        _check_latents(latents, preset.latent_dim, factor)


def _check_latents(latents: list[int], latent_dim: int, factor: str) -> None:
    bad = [k for k in latents if not 0 <= k < latent_dim]
    if bad:
        raise ValueError(f"the {factor} map points at latent {bad[0]}, outside the model's {latent_dim}-d code")


def sweep_degrees(angle_map: dict, lo: float, hi: float, n: int) -> np.ndarray:
    """``n`` evenly spaced angles over [lo, hi] degrees; over a full turn (chairs' azimuth) the
    last one is left out (it is the first view again)."""
    full = hi - lo >= FULL_TURN - 1e-9
    return np.linspace(lo, hi, n, endpoint=not full)


def group_sweep(angle_map: dict, n_steps: int) -> np.ndarray:
    """(n_steps, K) codes of a map's latent group at ``n_steps`` angles over its whole range
    (:func:`sweep_degrees`, :func:`dcign.inference.degrees_to_code`): a group's traversal."""
    lo, hi = float(angle_map["degrees"][0]), float(angle_map["degrees"][-1])
    return np.stack([degrees_to_code(angle_map, d) for d in sweep_degrees(angle_map, lo, hi, n_steps)])


def novel_view_mse(net, angle_maps: Mapping, engine: SceneEngine, factor: str, n_identities: int = 10, n_angles: int = 7,
                   seed: int = 0, split: str = "test") -> dict:
    """Mean per-pixel error of re-rendering held-out identities at a new angle (paper §4.1.1, Fig. 7).

    For each of the first ``n_identities`` identities of ``split`` (test by default), ``factor`` takes ``n_angles``
    evenly spaced angles (degrees) over the part of its range that the model's table covers;
    the other angles are fixed per identity (drawn, seeded, from the central half of their
    ranges).  Every (source, target) pair is scored: the source image is encoded (posterior
    mean), the factor's latent(s) (:func:`dcign.inference.map_latents`) are set to
    ``degrees_to_code(angle_maps[factor], target)``, the code is decoded and compared with
    the true rendering at the target angle.  Over a full turn (chairs' azimuth) the angles are
    spaced round the circle, the last not repeating the first.

    Args:
        net: model with ``encode(x) -> (mu, logvar)`` and ``decode(z) -> images`` (torch,
            (B, 1, S, S) in [0, 1]); e.g. :class:`dcign.model.DCIGN` in eval mode.  It runs on
            the device of its parameters.
        angle_maps: ``{factor: map}`` as saved in ``model.json``
            (:func:`dcign.inference.check_angle_map`).
        engine: the :class:`SceneEngine` the model was trained on (same data set and size).
        factor: 'azimuth', 'elevation' or 'light_azimuth'.
        n_identities: identities of ``split`` (1 .. size of the split).
        n_angles: angles per sweep (>= 2); n_angles * (n_angles - 1) ordered pairs are scored.
        seed: seeds the other angles.
        split: identity split scored: 'test' (reports) or 'validation' (choosing settings
            without looking at test identities).

    Returns:
        ``{"mse": float, "per_pair": [[float]] (n_angles x n_angles), "same_view_mse": float,
        "copy_input_mse": float, "settings": {...}}``.  ``mse`` is the mean squared error per
        pixel (grey in [0, 1]) over identities and ordered pairs with source != target;
        ``per_pair[i][j]`` is the mean over identities for source angle ``degrees[i]`` and
        target ``degrees[j]``; its diagonal (excluded from ``mse``) is the error when the
        latent is set to the source angle's table value.  ``copy_input_mse`` is what a model
        scores that returns its input unchanged (the floor any re-renderer must beat).

    Raises:
        ValueError: ``factor`` is not an angle factor or has no map, a malformed map,
            an unknown split, n_identities outside the split, n_angles < 2, or a model/engine size
            mismatch.
    """
    m = _angle_map(angle_maps, factor)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    split_ids = engine.space.identities(split)
    if not isinstance(n_identities, (int, np.integer)) or not 1 <= n_identities <= len(split_ids):
        raise ValueError(f"n_identities must be in 1..{len(split_ids)} (the {split} split), got {n_identities!r}")
    if not isinstance(n_angles, (int, np.integer)) or n_angles < 2:
        raise ValueError(f"n_angles must be an integer >= 2, got {n_angles!r}")
    ks = map_latents(m)
    _check_net(net, engine, ks, factor)
    lo, hi = _common_range(engine, factor, [m])
    degrees = sweep_degrees(m, lo, hi, n_angles)
    targets = np.stack([degrees_to_code(m, d) for d in degrees])  # (n_angles, K)
    rng = np.random.default_rng([seed, ANGLE_FACTORS.index(factor), 0x7E])
    ids = split_ids[:n_identities]
    device = net_device(net)

    err = np.empty((n_identities, n_angles, n_angles))
    copy = np.empty((n_identities, n_angles, n_angles))
    for row, ident in enumerate(ids):
        fixed = _other_angles(engine, rng, 1)
        values = {a: np.full(n_angles, fixed[a][0]) for a in ANGLE_FACTORS}
        values[factor] = degrees
        images = engine.render(Factors(values["azimuth"], values["elevation"], values["light_azimuth"], np.full(n_angles, ident)))
        mu = encode(net.encode, images, device=device)  # (n_angles, D)
        _check_latents(ks, mu.shape[1], factor)
        codes = np.repeat(mu[:, None, :], n_angles, axis=1)  # (source, target, D)
        codes[:, :, ks] = targets[None, :, :]
        out = decode(net, codes.reshape(n_angles * n_angles, -1), 128, device)
        if out.shape[1:] != images.shape[1:]:
            raise ValueError(f"the model decodes {out.shape[1:]} images, the engine renders {images.shape[1:]}")
        out = out.reshape(n_angles, n_angles, *images.shape[1:])
        err[row] = ((out - images[None]) ** 2).mean(axis=(2, 3, 4))
        copy[row] = ((images[:, None] - images[None, :]) ** 2).mean(axis=(2, 3, 4))

    per_pair = err.mean(axis=0)
    off = ~np.eye(n_angles, dtype=bool)
    return {
        "mse": float(per_pair[off].mean()),
        "per_pair": per_pair.tolist(),
        "same_view_mse": float(np.diag(per_pair).mean()),
        "copy_input_mse": float(copy.mean(axis=0)[off].mean()),
        "settings": {
            "factor": factor, "latent_index": ks[0], "latent_indices": ks, "degrees": degrees.tolist(), "n_identities": int(n_identities),
            "n_angles": int(n_angles), "seed": seed, "split": split, "first_identity": int(ids[0]),
            "image_size": int(engine.size), "pixel_range": [0.0, 1.0],
            "mean_over": f"{split} identities x ordered (source, target) angle pairs with source != target",
        },
    }


def figure7_columns(models: Mapping[str, tuple], engine: SceneEngine, factor: str = "azimuth", n_examples: int = 6,
                    seed: int = 0) -> np.ndarray:
    """A Fig. 7-style panel (paper §4.1.1): rows = examples, columns = input, each model's
    re-rendering at the target angle (in ``models`` order), ground truth at the target angle.

    Example ``i`` is a distinct test identity rendered at a source angle drawn uniformly over
    the range every model's table and the engine cover; its target angle is the source plus
    half that range, wrapped back into it (always a large change).  Other angles are drawn
    from the central half of their ranges.

    Args:
        models: ``{name: (net, angle_maps)}``; nets as in :func:`novel_view_mse`.
        engine: the engine all models were trained on.
        factor: the angle factor to change.
        n_examples: rows (1 .. size of the test split).
        seed: seeds identities and angles.

    Returns:
        (H, W) float32 grid in [0, 1] (white padding, see :func:`dcign.images.tile`) for
        ``dcign.images.save_png``; ``len(models) + 2`` columns.

    Raises:
        ValueError: no models, a model without a map for ``factor``, tables that do not
            overlap, n_examples outside 1 .. test split, or a model/engine size mismatch.
    """
    if not models:
        raise ValueError("figure7_columns needs at least one model")
    maps = {name: _angle_map(am, factor) for name, (_, am) in models.items()}
    test_ids = engine.space.identities("test")
    if not isinstance(n_examples, (int, np.integer)) or not 1 <= n_examples <= len(test_ids):
        raise ValueError(f"n_examples must be in 1..{len(test_ids)} (the test split), got {n_examples!r}")
    for name, (net, _) in models.items():
        _check_net(net, engine, map_latents(maps[name]), factor)
    lo, hi = _common_range(engine, factor, list(maps.values()))
    rng = np.random.default_rng([seed, ANGLE_FACTORS.index(factor), 0xF7])
    ids = rng.choice(test_ids, size=n_examples, replace=False)
    src = rng.uniform(lo, hi, n_examples)
    tgt = lo + np.mod(src - lo + (hi - lo) / 2, hi - lo)
    others = _other_angles(engine, rng, n_examples)

    def scenes(values):
        v = {**others, factor: values}
        return Factors(v["azimuth"], v["elevation"], v["light_azimuth"], ids)

    inputs, truth = engine.render(scenes(src)), engine.render(scenes(tgt))
    columns = [inputs]
    for name, (net, _) in models.items():
        m = maps[name]
        device = net_device(net)
        z = encode(net.encode, inputs, device=device)
        z[:, map_latents(m)] = np.stack([degrees_to_code(m, t) for t in tgt])
        out = decode(net, z, 128, device)
        if out.shape[1:] != inputs.shape[1:]:
            raise ValueError(f"model {name!r} decodes {out.shape[1:]} images, the engine renders {inputs.shape[1:]}")
        columns.append(out)
    columns.append(truth)
    grid = np.stack(columns, axis=1).reshape(-1, *inputs.shape[1:])
    return tile(grid, n_examples, len(columns))


def rotation_grid(net, angle_map: dict, engine: SceneEngine, n_objects: int = 6, n_steps: int = 12, seed: int = 0) -> np.ndarray:
    """Fig. 8-style grid (paper §4.2): unseen objects re-rendered while the azimuth latent(s) sweep.

    Each row is one test identity at a random view (input, leftmost) followed by ``n_steps``
    decodings of its code with the map's latents changed:

    * a map over a group of latents (a circular map: chairs' azimuth on two latents) is driven
      through ``n_steps`` angles evenly spaced over its range -- a full turn, the last angle
      not repeating the first -- with the group set to ``degrees_to_code`` of each angle, so
      the rows turn the whole way round;
    * a one-latent table (the paper's single z1) sweeps evenly between the smallest and the
      largest entry of the table (its calibrated range): over a full turn a single latent
      cannot follow the table at every angle, so the sweep shows what the latent does.

    Returns:
        (H, W) float32 grid in [0, 1], ``n_objects`` rows by ``n_steps + 1`` columns.

    Raises:
        ValueError: n_objects outside 1 .. test split, n_steps < 2, or a malformed map.
    """
    from ..inference import latent_traversal

    ids = engine.space.identities("test")
    if not 1 <= n_objects <= len(ids):
        raise ValueError(f"n_objects must be in 1..{len(ids)} (the test split), got {n_objects}")
    if n_steps < 2:
        raise ValueError(f"n_steps must be >= 2, got {n_steps}")
    check_angle_map("azimuth", angle_map)
    rng = np.random.default_rng([seed, 0xF8])
    factors = engine.space.sample(rng, n_objects, "test")
    factors.identity[:] = rng.choice(ids, size=n_objects, replace=False)
    images = engine.render(factors)
    device = net_device(net)
    mu = encode(net.encode, images, device=device)
    ks = map_latents(angle_map)
    _check_latents(ks, mu.shape[1], "azimuth")
    if len(ks) > 1:
        values = group_sweep(angle_map, n_steps)
    else:
        values = np.linspace(min(angle_map["latent"]), max(angle_map["latent"]), n_steps)
    swept = latent_traversal(net, mu, ks, values, batch_size=128, device=device)
    rows = [np.concatenate([images[i : i + 1], swept[i]]) for i in range(n_objects)]
    return tile(np.concatenate(rows), n_objects, n_steps + 1)
