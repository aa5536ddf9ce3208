"""Exported models: ``model.safetensors`` (weights) + ``model.json`` (config, angle maps).

Loading never unpickles anything: weights come from safetensors, everything else from JSON,
and a file whose tensors do not match the architecture its JSON describes is refused with a
message naming the mismatch.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from .config import TrainConfig
from .io import MODEL_CONFIG, MODEL_FORMAT, MODEL_WEIGHTS, atomic_write_bytes, atomic_write_json
from .model import DCIGN, get_preset


def export_model(net: DCIGN, cfg: TrainConfig, run_dir: str | Path, angle_maps: dict | None = None, extra: dict | None = None) -> None:
    """Write ``run_dir/model.safetensors`` and ``run_dir/model.json`` atomically."""
    run_dir = Path(run_dir)
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    atomic_write_bytes(run_dir / MODEL_WEIGHTS, save(tensors))
    meta = {"format": MODEL_FORMAT, "config": json.loads(cfg.to_json()), "angle_maps": angle_maps or {}}
    meta.update(extra or {})
    atomic_write_json(run_dir / MODEL_CONFIG, meta)


def read_model_json(run_dir: str | Path) -> dict:
    """The parsed ``model.json`` of a run.

    Raises:
        ValueError: missing, unreadable or not a dcign model description.
    """
    path = Path(run_dir) / MODEL_CONFIG
    if not path.is_file():
        raise ValueError(f"{run_dir} holds no exported model ({MODEL_CONFIG} missing); train it first with `dcign train --out {run_dir}`")
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT or "config" not in meta:
        raise ValueError(f"{path} is not a dcign model description (expected format {MODEL_FORMAT!r})")
    return meta


def load_model(run_dir: str | Path, map_location: str = "cpu") -> tuple[DCIGN, TrainConfig, dict]:
    """Load an exported model.

    Returns:
        (network in eval mode, its TrainConfig, the parsed model.json).

    Raises:
        ValueError: missing files, corrupt weights, or weights that do not match the
            architecture in model.json (the message names the first mismatch).
    """
    meta = read_model_json(run_dir)
    cfg = TrainConfig.from_dict(meta["config"])
    net = DCIGN(get_preset(cfg.preset, cfg.latent_dim))
    path = Path(run_dir) / MODEL_WEIGHTS
    if not path.is_file():
        raise ValueError(f"{path} is missing; the run was not exported (train it to the end, or re-run `dcign train --resume`)")
    try:
        tensors = load_file(str(path), device=map_location)
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise ValueError(f"cannot read weights {path}: {exc}") from exc
    expected = net.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{path} does not match preset {cfg.preset}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    for k, v in expected.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise ValueError(f"{path}: tensor {k} has shape {tuple(tensors[k].shape)}, preset {cfg.preset} needs {tuple(v.shape)}")
    net.load_state_dict(tensors)
    net.eval()
    return net, cfg, meta
