"""Crash-safe file writing: every file dcign writes goes to a temporary name in the same
folder and is renamed into place (``os.replace`` is atomic on POSIX), so a killed process
never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

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


@contextmanager
def removed_if_left_empty(path: str | Path):
    """Run a block that may create the folder ``path``; if the block fails (any exception,
    ``SystemExit`` and Ctrl-C included), the folders it created that are still empty are
    removed again, so a refused command leaves no empty ``--out`` behind.  A folder that
    existed before, or holds anything (a checkpoint, a config), is kept.
    """
    missing, p = [], Path(path).absolute()
    while not p.exists() and p != p.parent:
        missing.append(p)  # deepest first
        p = p.parent
    try:
        yield
    except BaseException:
        for d in missing:
            try:
                d.rmdir()  # only succeeds on an empty folder
            except OSError:
                break
        raise
