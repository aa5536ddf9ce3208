"""Crash-safe writes (dcign.io): a write interrupted at any point leaves the old file whole."""

import os

import pytest
from support import temp_files

from dcign.atomic import atomic_write_bytes

def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    target.write_bytes(b"old, whole")

    def boom(fd):
        raise KeyboardInterrupt  # like a signal arriving mid-write

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new" * 1000)
    assert target.read_bytes() == b"old, whole"
    assert temp_files(tmp_path) == []
