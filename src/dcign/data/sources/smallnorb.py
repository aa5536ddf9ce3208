"""SmallNORB (LeCun, Huang & Bottou 2004): toys photographed under varied pose and lighting.

Files (gzipped or not; ``DIR`` holds them)::

    smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat,info}.mat[.gz]   instances 4, 6, 7, 8, 9
    smallnorb-5x01235x9x18x6x2x96x96-testing-{dat,cat,info}.mat[.gz]    instances 0, 1, 2, 3, 5

each a binary matrix: int32 magic (0x1E3D4C55 bytes, 0x1E3D4C54 int32), int32 ndim,
max(3, ndim) int32 dims, then the data.  ``dat`` is N x 2 x 96 x 96 uint8 stereo pairs (the
left image is used, as disentanglement_lib does), ``cat`` N int32 categories, ``info``
N x 4 int32 (instance, elevation 0..8, azimuth 0, 2, .., 34, lighting 0..5).

Factors: category 5, instance 5 (the index of the instance within its split), elevation 9
(30..70 degrees, 5 apart), azimuth 18 (0..340 degrees, 20 apart), lighting 6.  The files'
own split is kept: test objects are different toys.  ``category`` and ``instance`` are
intrinsic factors.  Raw files are memory-mapped; gzipped ones are extracted once into the
cache (:mod:`dcign.data.sources.store`).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .base import DataSourceError, LabelledImages, index_values
from .store import ArrayStore, raw_memmap, read_head

FILES = {"train": "smallnorb-5x46789x9x18x6x2x96x96-training", "test": "smallnorb-5x01235x9x18x6x2x96x96-testing"}
MAGIC = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.int32}
FACTORS = ("category", "instance", "elevation", "azimuth", "lighting")
WHERE = "the SmallNORB page (cs.nyu.edu/~ylclab/data/norb-v1.0-small)"


def _find(root: Path, stem: str) -> Path:
    for name in (f"{stem}.mat", f"{stem}.mat.gz"):
        if (root / name).is_file():
            return root / name
    raise DataSourceError(f"smallnorb: no {stem}.mat (or .mat.gz) in {root}; download it from {WHERE}")


def read_matrix_header(path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """``(dtype, shape, data offset)`` of a SmallNORB binary matrix file (gzipped or not).

    Raises:
        DataSourceError: unknown magic number (not a NORB matrix) or a bad header.
    """
    head = read_head(path, 8 + 4 * 8)
    if len(head) < 20:
        raise DataSourceError(f"smallnorb: {path} is too short for a NORB matrix header")
    magic, ndim = struct.unpack("<ii", head[:8])
    if magic not in MAGIC:
        raise DataSourceError(f"smallnorb: {path} is not a NORB matrix (magic 0x{magic & 0xFFFFFFFF:08X}; "
                              "expected 0x1E3D4C55 for bytes or 0x1E3D4C54 for int32)")
    if not 1 <= ndim <= 8:
        raise DataSourceError(f"smallnorb: {path} claims {ndim} dimensions")
    stored = max(3, ndim)
    if len(head) < 8 + 4 * stored:
        raise DataSourceError(f"smallnorb: {path} is truncated inside its header")
    dims = struct.unpack(f"<{stored}i", head[8:8 + 4 * stored])[:ndim]
    if min(dims) < 1:
        raise DataSourceError(f"smallnorb: {path} has a non-positive dimension {dims}")
    return np.dtype(MAGIC[magic]), tuple(dims), 8 + 4 * stored


def _matrix(path: Path, dtype, shape_check, what: str, cache) -> np.ndarray:
    dt, dims, offset = read_matrix_header(path)
    if dt != dtype or not shape_check(dims):
        raise DataSourceError(f"smallnorb: {path} is a {dt} matrix of shape {'x'.join(map(str, dims))}; {what}")
    return raw_memmap(path, offset, dt, dims, cache, f"smallnorb: {path}")


def open_smallnorb(path, cache=None) -> LabelledImages:
    """Open the SmallNORB folder ``path`` (see the module docstring).

    Raises:
        DataSourceError: a missing file (named, with where to get it), a file that is not
            a NORB matrix, shapes that disagree, or values outside the published ranges.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataSourceError(f"smallnorb: {root} is not a folder; pass the folder holding the {FILES['train']}-*.mat files from {WHERE}")
    dats, cats, infos = [], [], []
    for split in ("train", "test"):
        stem = FILES[split]
        dat = _matrix(_find(root, f"{stem}-dat"), np.uint8, lambda d: len(d) == 4 and d[1] == 2 and d[2] == d[3],
                      "the published dat is N x 2 x 96 x 96 uint8", cache)
        n = dat.shape[0]
        cat = np.asarray(_matrix(_find(root, f"{stem}-cat"), np.int32, lambda d: d == (n,), f"need {n} int32 categories", cache))
        info = np.asarray(_matrix(_find(root, f"{stem}-info"), np.int32, lambda d: d == (n, 4), f"need {n} x 4 int32", cache))
        dats.append(dat)
        cats.append(cat)
        infos.append(info)
    size = dats[0].shape[2]
    if dats[1].shape[2] != size:
        raise DataSourceError(f"smallnorb: training images are {size} px but testing images {dats[1].shape[2]} px")
    cat, info = np.concatenate(cats), np.concatenate(infos)
    if cat.min() < 0 or cat.max() > 4 or info[:, 1].max() > 8 or info[:, 2].max() > 34 or (info[:, 2] % 2).any() \
            or info[:, 3].max() > 5 or info.min() < 0 or info[:, 0].max() > 9:
        raise DataSourceError("smallnorb: category / instance / elevation / azimuth / lighting values outside the published ranges")
    n_train = len(cats[0])
    test_mask = np.arange(len(cat)) >= n_train
    # instance: index within its own split (train 4,6,7,8,9 -> 0..4; test 0,1,2,3,5 -> 0..4)
    instance = np.empty(len(cat), dtype=np.int64)
    for mask in (~test_mask, test_mask):
        instance[mask] = index_values(info[mask, 0], "instance")[0]
    labels = np.stack([cat, instance, info[:, 1], info[:, 2] // 2, info[:, 3]], axis=1)
    sizes = [int(labels[:, k].max()) + 1 for k in range(5)]
    values = {"elevation": 30.0 + 5.0 * np.arange(sizes[2]), "azimuth": 20.0 * np.arange(sizes[3])}

    def select(arrays, idx):
        out = np.empty((len(idx), size, size, 1), dtype=np.uint8)
        first = idx < n_train
        if first.any():
            out[first, ..., 0] = arrays[0][idx[first], 0]
        if (~first).any():
            out[~first, ..., 0] = arrays[1][idx[~first] - n_train, 0]
        return out

    store = ArrayStore(lambda: dats, (len(cat), size, size, 1), select=select)
    return LabelledImages(
        "smallnorb", root, store, FACTORS, labels, sizes, factor_values=values,
        intrinsic_factors=("category", "instance"), test_mask=test_mask, metrics_split="test",
        split_note="the files' own split: training toys (instances 4, 6, 7, 8, 9) and unseen testing toys (0, 1, 2, 3, 5)",
        rebuild=(open_smallnorb, (path, cache)),
    )
