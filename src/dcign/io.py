"""Crash-safe file writing and safe model files (safetensors weights + JSON config).

Every file dcign writes goes to a temporary name in the same folder and is renamed into
place (``os.replace`` is atomic on POSIX), so a killed process never leaves a half-written
file behind.  Model files hold no pickled code: weights are safetensors, configuration JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

MODEL_WEIGHTS = "model.safetensors"
MODEL_CONFIG = "model.json"
MODEL_FORMAT = "dcign-model/1"
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename (fsynced)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_png(path: str | Path, figure_or_array) -> None:
    """Save a matplotlib figure or a (H, W) float array in [0, 1] as PNG, atomically."""
    import io

    buf = io.BytesIO()
    if hasattr(figure_or_array, "savefig"):
        figure_or_array.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    else:
        from PIL import Image

        arr = np.clip(np.asarray(figure_or_array, dtype=np.float32), 0, 1)
        Image.fromarray((arr * 255 + 0.5).astype(np.uint8), mode="L").save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def check_writable_dir(path: str | Path, must_be_new: bool = False) -> Path:
    """Create ``path`` if needed and check that files can be written in it.

    Raises:
        ValueError: it exists and is not a folder, it must be new but holds files, or it
            cannot be created or written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"output path {path} exists and is not a folder; choose another --out")
    if must_be_new and path.exists() and any(path.iterdir()):
        raise ValueError(f"output folder {path} already holds files; choose a new --out (or --resume a run)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path, prefix=".write-test.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise ValueError(f"cannot write to output folder {path}: {exc.strerror or exc}") from exc
    return path


def tile(images, rows: int, cols: int, pad: int = 2) -> np.ndarray:
    """(rows*cols, 1, S, S) float images -> one (H, W) grid with white padding."""
    s = images.shape[-1]
    out = np.ones((rows * (s + pad) + pad, cols * (s + pad) + pad), dtype=np.float32)
    for i, im in enumerate(images[: rows * cols]):
        r, c = divmod(i, cols)
        out[pad + r * (s + pad) : pad + r * (s + pad) + s, pad + c * (s + pad) : pad + c * (s + pad) + s] = im[0]
    return out
