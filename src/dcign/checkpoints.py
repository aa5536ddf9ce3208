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


def checkpoint_config(checkpoint: dict) -> dict | None:
    """The run config a loaded checkpoint was trained with (its hyper-parameters; None if it holds none)."""
    hp = checkpoint.get("hyper_parameters")
    cfg = hp.get("config") if isinstance(hp, dict) else None
    return cfg if isinstance(cfg, dict) else None


def check_restorable(checkpoint: dict, path: Path, module: torch.nn.Module, optimiser: torch.optim.Optimizer,
                     schedulers: int) -> None:
    """Refuse a loaded checkpoint that Lightning could not resume ``module`` from, before a run
    folder is touched: the training-state keys it writes (``state_dict``, ``optimizer_states``,
    ``lr_schedulers``, ``loops``), the weights' names and shapes, and the optimiser state's
    parameter count and tensor shapes (``optimiser``: a new one of the run's kind over
    ``module``; ``schedulers``: 1 with a learning-rate schedule, else 0).  Lightning would
    otherwise fail mid-restore with its own traceback, or (an empty ``optimizer_states``)
    silently resume with a fresh optimiser.

    Raises:
        ValueError: what is missing or does not fit, and the fix.
    """
    problem = _restore_problem(checkpoint, module, optimiser, schedulers)
    if problem:
        raise ValueError(f"cannot resume from checkpoint {path}: {problem}. It was not written by this run's training "
                         f"(another model, or edited); move it away to resume from an older checkpoint or restart from "
                         f"step 0, or train a new run")


def _restore_problem(checkpoint: dict, module: torch.nn.Module, optimiser: torch.optim.Optimizer, schedulers: int) -> str | None:
    """Why ``checkpoint`` cannot restore ``module`` and ``optimiser`` (None: it can)."""
    missing = [k for k in ("state_dict", "optimizer_states", "lr_schedulers", "loops") if k not in checkpoint]
    if missing:
        return f"it holds no {', '.join(missing)}"
    weights, opts = checkpoint["state_dict"], checkpoint["optimizer_states"]
    if not isinstance(weights, dict):
        return f"its state_dict is a {type(weights).__name__}, not a dict of tensors"
    want = module.state_dict()
    absent, extra = [k for k in want if k not in weights], [k for k in weights if k not in want]
    if absent or extra:
        return "; ".join(part for part in (
            f"weights missing: {_names(absent)}" if absent else "", f"unexpected weights: {_names(extra)}" if extra else "") if part)
    for k, v in want.items():
        got = weights[k]
        if not isinstance(got, torch.Tensor) or got.shape != v.shape:
            return f"weight {k} has shape {tuple(getattr(got, 'shape', ()))}, the model's is {tuple(v.shape)}"
    if not isinstance(checkpoint["lr_schedulers"], list) or len(checkpoint["lr_schedulers"]) != schedulers:
        return (f"it holds {len(checkpoint['lr_schedulers']) if isinstance(checkpoint['lr_schedulers'], list) else 'no list of'} "
                f"learning-rate schedule states, the run's lr_schedule needs {schedulers}")
    if not isinstance(opts, list) or len(opts) != 1 or not isinstance(opts[0], dict):
        return "it holds no optimiser state (optimizer_states must be a list of one optimiser's state_dict)"
    return _optimiser_problem(opts[0], optimiser)


def _optimiser_problem(saved: dict, optimiser: torch.optim.Optimizer) -> str | None:
    """Why a saved optimiser state_dict does not fit ``optimiser`` (None: it fits)."""
    groups, state = saved.get("param_groups"), saved.get("state")
    new = optimiser.state_dict()["param_groups"]
    if not isinstance(groups, list) or not isinstance(state, dict) or any(not isinstance(g, dict) for g in groups):
        return "its optimiser state has no param_groups / state"
    counts = [len(g.get("params", ())) for g in groups]
    if counts != [len(g["params"]) for g in new]:
        return f"its optimiser state covers {sum(counts)} parameter tensors, the model has {sum(len(g['params']) for g in new)}"
    params = [p for g in optimiser.param_groups for p in g["params"]]
    for i, entry in state.items():
        if not isinstance(i, int) or not 0 <= i < len(params) or not isinstance(entry, dict):
            return f"its optimiser state has an entry for parameter {i!r}, which the model does not have"
        for name, v in entry.items():
            if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape != params[i].shape:
                return f"its optimiser state {name} of parameter {i} has shape {tuple(v.shape)}, the parameter's is {tuple(params[i].shape)}"
    return None


def _names(keys: list[str], most: int = 3) -> str:
    """The first ``most`` of ``keys``, and how many more."""
    more = f" and {len(keys) - most} more" if len(keys) > most else ""
    return ", ".join(keys[:most]) + more


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
    """The checkpoint in ``folder`` with the most completed steps, and its step (None if none):
    :func:`load_newest_checkpoint` without the loaded contents."""
    found = load_newest_checkpoint(folder)
    return None if found is None else found[:2]


def load_newest_checkpoint(folder: Path) -> tuple[Path, int, dict] | None:
    """The checkpoint in ``folder`` with the most completed steps, its step and its loaded
    contents (None if none).

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
            loaded = load_checkpoint_file(p)
            step = step_of(loaded, p)
        except ValueError as exc:
            others = [q.name for q in candidates if q != p]
            fix = (f"move it out of {folder} to resume from the newest of the others ({', '.join(others)})" if others
                   else "move it away to restart the run from step 0, or train a new run")
            raise ValueError(f"{exc}. To go on, {fix}") from None
        if best is None or step > best[1]:
            best = (p, step, loaded)
    return best
