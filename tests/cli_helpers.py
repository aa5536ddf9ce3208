"""Helpers of the CLI refusal and fuzz tests: run ``dcign`` in-process, snapshot a folder tree,
and a small exported model (random weights, hand-made angle maps) that loads in milliseconds."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np

ANGLE_MAPS = {
    "azimuth": {"latent_index": 0, "degrees": [-90.0, 90.0], "latent": [-1.0, 1.0], "monotone": True},
    "elevation": {"latent_index": 1, "degrees": [-25.0, 25.0], "latent": [-1.0, 1.0], "monotone": True},
    "light_azimuth": {"latent_index": 2, "degrees": [-80.0, 80.0], "latent": [-1.0, 1.0], "monotone": True},
}
TINY_RUN = {"steps": 2, "batch_size": 4, "groups_per_step": 1, "latent_dim": 8, "num_workers": 0,
            "num_train_identities": 5, "num_test_identities": 8}


def dcign(*args) -> tuple[int, str, str]:
    """Run ``dcign ARGS`` in this process: (exit code, stdout, stderr)."""
    from dcign.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def tree(folder: Path) -> dict[str, int]:
    """Every file and folder under ``folder`` with its size (folders: -1)."""
    folder = Path(folder)
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.stat().st_size if p.is_file() else -1) for p in sorted(folder.rglob("*"))}


def assert_refused(code: int, err: str, *expected: str) -> None:
    """Exit code 2 and exactly one stderr line, ``error: ...``, containing each of ``expected``."""
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    for text in expected:
        assert text in lines[0], (text, lines[0])


def make_exported_run(run: Path, **overrides) -> Path:
    """A run folder holding model.safetensors + model.json of an untrained tiny network."""
    import torch

    from dcign.config import TrainConfig
    from dcign.export import export_model
    from dcign.model import DCIGN, get_preset

    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps({**TINY_RUN, **overrides}))
    cfg = TrainConfig.load(run / "config.json")
    torch.manual_seed(0)
    net = DCIGN(get_preset(cfg.model.preset, cfg.model.latent_dim))
    export_model(net, cfg, run, ANGLE_MAPS, {"latent_of": {f: m["latent_index"] for f, m in ANGLE_MAPS.items()}})
    return run


def write_png(path: Path, size: int = 64) -> Path:
    from PIL import Image

    Image.fromarray(np.full((size, size), 200, dtype=np.uint8), mode="L").save(path)
    return path
