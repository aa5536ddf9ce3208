"""Training checkpoints: written atomically, loaded without executing pickled code, and found
again after a crash (:func:`newest_checkpoint`).

A run directory keeps them in ``checkpoints/``: ``stepNNNNNNN.ckpt`` every
``checkpoint_every`` steps and ``last.ckpt`` (full training state, what ``--resume`` reads).
"""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from .atomic import atomic_write_bytes

CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file and renamed; loaded with ``weights_only=True``."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        buf = io.BytesIO()
        torch.save(checkpoint, buf)
        atomic_write_bytes(path, buf.getvalue())

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        return load_checkpoint_file(path, map_location)


def load_checkpoint_file(path, map_location="cpu") -> dict:
    """Load a training checkpoint without executing pickled code (``weights_only=True``).

    Raises:
        ValueError: missing, corrupt or not a plain-data checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt zip, unpickling refused, truncated file, ...
        raise ValueError(f"cannot load checkpoint {path}: {_load_failure(exc)}") from exc


def _load_failure(exc: Exception) -> str:
    """Why ``torch.load(..., weights_only=True)`` failed, in words (torch's own text advises
    re-running with ``weights_only=False``, which could run code from the file)."""
    if isinstance(exc, EOFError):
        return "the file is empty or truncated"
    if isinstance(exc, pickle.UnpicklingError):
        return ("it is not a plain-data torch checkpoint (damaged, or holding objects that weights_only=True refuses "
                "because loading them could run code)")
    text = (str(exc).splitlines() or [""])[0]
    if isinstance(exc, OSError) or "PytorchStreamReader" in text:
        return f"the file is truncated or corrupt ({text or type(exc).__name__})"
    return text or type(exc).__name__


def step_of(checkpoint, path: Path) -> int:
    """The completed steps a loaded checkpoint records (``global_step``).

    Raises:
        ValueError: it is not a dict with an integer ``global_step`` (not a dcign training checkpoint).
    """
    step = checkpoint.get("global_step") if isinstance(checkpoint, dict) else None
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"checkpoint {path} holds no step count (global_step); it is not a dcign training checkpoint")
    return step


def checkpoint_config(path: Path) -> dict | None:
    """The run config a checkpoint was trained with (its hyper-parameters; None if it holds none)."""
    hp = load_checkpoint_file(path).get("hyper_parameters")
    cfg = hp.get("config") if isinstance(hp, dict) else None
    return cfg if isinstance(cfg, dict) else None


def last_checkpoint(run_dir: Path) -> Path:
    """``run_dir/checkpoints/last.ckpt``."""
    return Path(run_dir) / CHECKPOINT_DIR / LAST_CHECKPOINT


def remove_temp_files(folder: Path) -> list[Path]:
    """Delete the ``.NAME.XXXX.tmp`` files a killed atomic write leaves behind; returns them."""
    removed = []
    if Path(folder).is_dir():
        for f in Path(folder).glob(".*.tmp"):
            if f.is_file():
                f.unlink(missing_ok=True)
                removed.append(f)
    return removed


def newest_checkpoint(folder: Path) -> tuple[Path, int] | None:
    """The checkpoint in ``folder`` with the most completed steps, and its step (None if none).

    ``last.ckpt`` is preferred on ties.  A run killed between writing ``stepN.ckpt`` and
    ``last.ckpt`` thus resumes from step N.  Checkpoints are written atomically, so one that
    does not load was damaged or tampered with: that raises ValueError rather than being
    skipped (which would silently restart the run).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    def claimed(p: Path) -> int:  # step from the file name, to try the newest first
        m = re.match(r"step(\d+)", p.name)
        return int(m.group(1)) if m else -1
    candidates = sorted((p for p in folder.glob("*.ckpt") if p.is_file() and p.name != LAST_CHECKPOINT),
                        key=claimed, reverse=True)
    if (folder / LAST_CHECKPOINT).is_file():
        candidates.insert(0, folder / LAST_CHECKPOINT)
    best = None
    for p in candidates:
        if best is not None and p.name != LAST_CHECKPOINT and 0 <= claimed(p) <= best[1]:
            continue
        try:
            step = step_of(load_checkpoint_file(p), p)
        except ValueError as exc:
            others = [q.name for q in candidates if q != p]
            fix = (f"move it out of {folder} to resume from the newest of the others ({', '.join(others)})" if others
                   else "move it away to restart the run from step 0, or train a new run")
            raise ValueError(f"{exc}. To go on, {fix}") from None
        if best is None or step > best[1]:
            best = (p, step)
    return best
