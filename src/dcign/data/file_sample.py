"""``dcign data sample --dataset NAME:PATH``: one one-factor batch of a user's data set, written out.

Writes ``OUT/batch.png`` (the batch as a grid, ordered by the varied factor), ``OUT/images/NNN.png``
(each image alone, at the requested size, grey or RGB) and ``OUT/factors.json`` (per image: its
index in the data set, every factor's index and, where the data set gives one, its value).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_write_json, check_writable_dir
from ..images import save_png, tile
from .sources import DataSourceError, open_dataset


def sample_file_batch(spec: str, factor: str, batch_size: int, split: str, seed: int, size: int, channels: int,
                      out: str | Path, options: dict | None = None) -> Path:
    """Draw and write one batch of ``spec`` in which only ``factor`` varies; returns ``out``.

    Nothing is written until the data set, factor and batch have been read.

    Raises:
        DataSourceError: unreadable data set, unknown factor, no one-factor batch possible.
        ValueError: bad split, size or channels; an ``out`` that cannot be written.
    """
    data = open_dataset(spec, **(options or {}))
    if factor not in data.factor_names:
        raise DataSourceError(f"{data.name} has no factor {factor!r}; its factors are {', '.join(data.factor_names)}")
    if split not in ("train", "test"):
        raise ValueError(f"--split must be train or test, got {split!r}")
    idx = data.one_factor_batch(np.random.default_rng(seed), factor, batch_size, split)
    labels = getattr(data, "labels", None)
    k = data.factor_index(factor)
    if labels is not None:
        idx = idx[np.argsort(labels[idx, k], kind="stable")]  # grid in the varied factor's order
    images = data.images(idx, channels, size)
    out = check_writable_dir(out)
    cols = min(10, len(idx))
    save_png(out / "batch.png", tile(images, -(-len(idx) // cols), cols))
    records = []
    for i, j in enumerate(idx):
        rec = {"index": int(j), "varied": factor}
        if labels is not None:
            for n, name in enumerate(data.factor_names):
                rec[name] = int(labels[j, n])
                values = data.factor_values.get(name)
                if values is not None and len(values) == data.factors_num_values[n]:
                    rec[f"{name}_value"] = float(values[labels[j, n]])
        records.append(rec)
        save_png(out / "images" / f"{i:03d}.png", images[i, 0] if channels == 1 else np.moveaxis(images[i], 0, -1))
    atomic_write_json(out / "factors.json", records)
    return out
