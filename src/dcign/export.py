"""Exported models: ``model.safetensors`` (weights) + ``model.json`` (config, the latent of each
factor and its degrees -> latent map, both from :mod:`dcign.inference`).

Loading never unpickles anything: weights come from safetensors, everything else from JSON,
and a file whose tensors do not match the architecture its JSON describes is refused with a
message naming the mismatch.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save

from .atomic import atomic_write_bytes, atomic_write_json
from .config import TrainConfig
from .factors import ANGLE_FACTORS
from .inference import check_angle_map, engine_for, map_latents, factor_groups, factor_latents, fit_angle_maps, own_latents, variance_latents
from .model import DCIGN

MODEL_WEIGHTS = "model.safetensors"
MODEL_CONFIG = "model.json"
MODEL_FORMAT = "dcign-model/1"


def export_model(net: DCIGN, cfg: TrainConfig, run_dir: str | Path, angle_maps: dict | None = None, extra: dict | None = None) -> None:
    """Write ``run_dir/model.safetensors`` and ``run_dir/model.json`` atomically."""
    run_dir = Path(run_dir)
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"refusing to export non-finite weights (tensor {bad[0]} holds NaN or inf)")
    atomic_write_bytes(run_dir / MODEL_WEIGHTS, save(tensors))
    meta = {"format": MODEL_FORMAT, "config": cfg.to_dict(), "angle_maps": angle_maps or {}}
    meta.update(extra or {})
    atomic_write_json(run_dir / MODEL_CONFIG, meta)


def export_trained(net: DCIGN, cfg: TrainConfig, run_dir: str | Path, log=print, extra: dict | None = None) -> dict[str, int]:
    """Choose the factor latents of a trained network, fit their angle maps, export; returns factor -> latent.

    Both are computed on training identities (:func:`dcign.inference.factor_latents`,
    :func:`dcign.inference.fit_angle_maps`) and saved in ``model.json`` (``latent_of``: a factor's
    first latent; ``angle_maps``: a map over the factor's whole latent group, e.g. a circular
    map for chairs' azimuth on two latents); ``extra`` adds keys to model.json (training records
    ``trained_steps``).
    """
    extra = dict(extra or {})
    net = net.cpu().eval()
    if cfg.is_file_data:  # a user's data set: no renderer, so no degrees -> latent maps
        data = cfg.open_data()
        groups = cfg.file_groups(data) if cfg.method.name == "dcign" else None
        latent_of = own_latents(groups, data.intrinsic_factors) if groups else variance_latents(net, data)
        export_model(net, cfg, run_dir, {}, {"latent_of": latent_of, "data": data.describe(), **extra})
        return latent_of
    engine = engine_for(cfg)
    log("fitting degrees -> latent maps on training identities")
    latent_of = factor_latents(net.encode, engine, cfg.method.latent_layout, cfg.method.name)
    groups = factor_groups(cfg.method.latent_layout, cfg.method.name, latent_of)  # a factor's whole group
    export_model(net, cfg, run_dir, fit_angle_maps(net.encode, engine, groups), {"latent_of": latent_of, **extra})
    return latent_of


def read_model_json(run_dir: str | Path) -> dict:
    """The parsed ``model.json`` of a run.

    Raises:
        ValueError: missing, unreadable or not a dcign model description.
    """
    path = Path(run_dir) / MODEL_CONFIG
    if not path.parent.exists():
        raise ValueError(f"run folder {run_dir} does not exist")
    if not path.parent.is_dir():
        raise ValueError(f"{run_dir} is a file; give the run folder that holds {MODEL_CONFIG}")
    if not path.is_file():
        raise ValueError(f"{run_dir} holds no exported model ({MODEL_CONFIG} missing); train it first with `dcign train --out {run_dir}`")
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT or "config" not in meta:
        raise ValueError(f"{path} is not a dcign model description (expected format {MODEL_FORMAT!r})")
    return meta


def with_legacy_data_version(config):
    """A saved config written before data sets were versioned gets its data set's v1 version."""
    if isinstance(config, dict) and "data_version" not in config:
        from .data.engine import LEGACY_VERSIONS

        return {**config, "data_version": LEGACY_VERSIONS.get(config.get("dataset"), "unversioned")}
    return config


def load_model(run_dir: str | Path, map_location: str = "cpu") -> tuple[DCIGN, TrainConfig, dict]:
    """Load an exported model.

    Returns:
        (network in eval mode, its TrainConfig, the parsed model.json).

    Raises:
        ValueError: missing files, corrupt weights, or weights that do not match the
            architecture in model.json (the message names the first mismatch).
    """
    meta = read_model_json(run_dir)
    mpath = Path(run_dir) / MODEL_CONFIG
    try:
        cfg = TrainConfig.from_dict(with_legacy_data_version(meta["config"]))
    except ValueError as exc:
        raise ValueError(f"{mpath}: invalid config: {exc}") from exc
    path = Path(run_dir) / MODEL_WEIGHTS
    if not path.is_file():
        raise ValueError(f"{path} is missing; the run was not exported (train it to the end, or re-run `dcign train --resume`)")
    with torch.device("meta"):  # shapes only: a tampered latent_dim must not allocate first
        expected = {k: tuple(v.shape) for k, v in DCIGN(cfg.model.architecture()).state_dict().items()}
    arch = f"preset {cfg.model.preset} with latent_dim {cfg.model.latent_dim} (from {MODEL_CONFIG})"
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            names = set(f.keys())
            missing, unexpected = sorted(set(expected) - names), sorted(names - set(expected))
            if missing or unexpected:
                raise _Mismatch(f"{path} does not match {arch}: missing tensors {missing[:3]}, unexpected {unexpected[:3]}")
            for k, shape in expected.items():
                found = tuple(f.get_slice(k).get_shape())
                if found != shape:
                    raise _Mismatch(f"{path}: tensor {k} has shape {found}, {arch} needs {shape}")
            tensors = {k: f.get_tensor(k) for k in expected}
    except _Mismatch:
        raise
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise ValueError(f"cannot read weights {path}: {exc}") from exc
    for k, v in tensors.items():
        if not v.is_floating_point():
            raise ValueError(f"{path}: tensor {k} has dtype {v.dtype}, expected floating-point weights")
        if not torch.isfinite(v).all():
            raise ValueError(f"{path}: tensor {k} holds NaN or inf values")
    _check_angle_maps(meta, cfg, mpath)
    _check_latent_of(meta, cfg, mpath)
    net = DCIGN(cfg.model.architecture())
    net.load_state_dict(tensors)
    net.to(map_location).eval()
    return net, cfg, meta


class _Mismatch(ValueError):
    pass


def _check_latent_of(meta: dict, cfg: TrainConfig, mpath: Path) -> None:
    """Refuse a ``latent_of`` (factor -> latent chosen at export) that would fail later."""

    latent_of = meta.get("latent_of")
    if latent_of is None:
        return
    if not isinstance(latent_of, dict):
        raise ValueError(f"{mpath}: latent_of must be an object mapping factors to latent indices, got {type(latent_of).__name__}")
    for name, k in latent_of.items():
        if name not in ANGLE_FACTORS and not cfg.is_file_data:  # a user's data set names its own factors
            raise ValueError(f"{mpath}: latent_of names {name!r}; use {', '.join(ANGLE_FACTORS)} (or delete latent_of to choose again)")
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < cfg.model.latent_dim:
            raise ValueError(f"{mpath}: latent_of[{name!r}] must be a latent index in 0..{cfg.model.latent_dim - 1}, got {k!r} "
                             "(or delete latent_of to choose again)")


def _check_angle_maps(meta: dict, cfg: TrainConfig, mpath: Path) -> None:
    """Refuse angle maps that would fail later (bad latent index, malformed tables)."""
    maps = meta.get("angle_maps", {})
    if not isinstance(maps, dict):
        raise ValueError(f"{mpath}: angle_maps must be an object, got {type(maps).__name__}")
    layout = cfg.method.latent_layout if cfg.method.name == "dcign" and not cfg.is_file_data else {}
    for name, m in maps.items():
        check_angle_map(name, m, cfg.model.latent_dim, where=f"{mpath}: ")
        if cfg.is_file_data:
            continue
        if name not in ANGLE_FACTORS:
            raise ValueError(f"{mpath}: angle_maps names {name!r}; use {', '.join(ANGLE_FACTORS)} (or export the run again)")
        latents = map_latents(m)
        if name in layout and latents != layout[name]:
            raise ValueError(f"{mpath}: angle_maps[{name!r}] sets latents {latents}, but the run's latent_layout gives "
                             f"{name} {layout[name]}; export the run again")
