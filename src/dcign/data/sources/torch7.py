"""The original DC-IGN face batches (Kulkarni et al. 2015): Torch7 tensor files.

Layout, as the authors' ``cache_single_variation.lua`` wrote it::

    DIR/th_AZ_VARIED/FT_training/batch1 ... batchK      azimuth varies
    DIR/th_EL_VARIED/...                                elevation varies
    DIR/th_LIGHT_AZ_VARIED/...                          light azimuth varies
    DIR/th_SHAPE_VARIED/...                             identity (face shape) varies
    each set also has FT_test/batch1 ...                held-out faces

Every ``batch<k>`` is a ``torch.save``'d ``FloatTensor`` of size 20x1x150x150, grey in
[0, 1]: already a one-factor batch.  dcign trains on them unchanged (one file = one
group); a missing set just removes its batch type.  The files record *which* factor
varies but not its values, so they give no ground-truth factors: metrics that need factor
labels (Fig. 6 correlations, disentanglement_lib scores) cannot run on them, and
:meth:`BatchFiles.ground_truth` says so.

Torch7 files are read by :func:`read_torch7_tensor`, a small reader of the binary
serialisation (``torch.File:writeObject``) for one tensor per file, with every size
checked against the file's length and the data memory-mapped.  (The ``torchfile`` package
was tried first: on a truncated file it builds an ``as_strided`` view past the end of the
data it read, i.e. it returns memory outside the array instead of an error.)
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import SPLITS, DataSourceError, read_images

T7_SETS = {"AZ": "azimuth", "EL": "elevation", "LIGHT_AZ": "light_azimuth", "SHAPE": "identity"}
T7_SPLITS = {"train": "FT_training", "test": "FT_test"}
T7_DTYPES = {"torch.FloatTensor": ("torch.FloatStorage", np.float32), "torch.DoubleTensor": ("torch.DoubleStorage", np.float64),
             "torch.ByteTensor": ("torch.ByteStorage", np.uint8)}
_TYPE_NIL, _TYPE_TORCH = 0, 4
WHERE = ("the DC-IGN authors' face data (the th_*_VARIED folders their cache_single_variation.lua writes; "
         "see the dc-ign repository's readme)")


@dataclass(frozen=True)
class Torch7Tensor:
    """Where a Torch7 tensor's elements lie in its file (see :func:`read_torch7_tensor`)."""

    path: Path
    dtype: np.dtype
    shape: tuple[int, ...]
    strides: tuple[int, ...]  # in elements
    offset: int  # byte offset of the storage's first element
    storage_offset: int  # first element of the tensor inside the storage (0-based)
    storage_size: int

    def array(self) -> np.ndarray:
        """The tensor as a read-only numpy view of a memory map of the file."""
        storage = np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=(self.storage_size,))
        item = self.dtype.itemsize
        return np.lib.stride_tricks.as_strided(storage[self.storage_offset:], shape=self.shape,
                                               strides=tuple(s * item for s in self.strides), writeable=False)


class _Reader:
    def __init__(self, f, path):
        self.f, self.path = f, path

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        data = self.f.read(size)
        if len(data) < size:
            raise DataSourceError(f"{self.path} is truncated (it ends inside its Torch7 header)")
        return struct.unpack(fmt, data)

    def string(self) -> str:
        (n,) = self.take("<i")
        if not 0 <= n <= 256:
            raise DataSourceError(f"{self.path} is not a Torch7 tensor file (bad string length {n} in its header)")
        return self.f.read(n).decode("latin-1")

    def torch_header(self, what: str) -> str:
        (kind,) = self.take("<i")
        if kind != _TYPE_TORCH:
            raise DataSourceError(f"{self.path} is not a Torch7 {what} file (object type {kind}, a torch.save'd tensor has 4)")
        self.take("<i")  # reference index
        version = self.string()
        return self.string() if version.startswith("V ") else version


def read_torch7_tensor(path: str | Path) -> Torch7Tensor:
    """Parse a binary ``torch.save`` file holding one Float/Double/Byte tensor (little-endian, 8-byte longs).

    Raises:
        DataSourceError: not a Torch7 binary file, another object than a tensor, ascii
            serialisation, a header inconsistent with itself, or a file shorter than its data.
    """
    path = Path(path)
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise DataSourceError(f"cannot read {path} ({exc.strerror})") from None
    with f:
        head = f.read(4)
        if head[:1].isdigit():
            raise DataSourceError(f"{path} is an ascii Torch7 file; save it with torch.save(path, t, 'binary')")
        f.seek(0)
        r = _Reader(f, path)
        cls = r.torch_header("tensor")
        if cls not in T7_DTYPES:
            raise DataSourceError(f"{path} holds a {cls}, not one of {', '.join(T7_DTYPES)}")
        storage_cls, dtype = T7_DTYPES[cls]
        (ndim,) = r.take("<i")
        if not 0 < ndim <= 8:
            raise DataSourceError(f"{path}: a {ndim}-dimensional tensor (need 1..8 dimensions)")
        shape = r.take(f"<{ndim}q")
        strides = r.take(f"<{ndim}q")
        (offset1,) = r.take("<q")
        if min(shape) < 1 or min(strides) < 0 or offset1 < 1:
            raise DataSourceError(f"{path}: bad tensor header (sizes {shape}, strides {strides}, offset {offset1})")
        if r.torch_header("storage") != storage_cls:
            raise DataSourceError(f"{path}: a {cls} must use a {storage_cls}")
        (storage_size,) = r.take("<q")
        data_at = f.tell()
    dtype = np.dtype(dtype)
    last = offset1 - 1 + sum((n - 1) * s for n, s in zip(shape, strides))
    if last >= storage_size:
        raise DataSourceError(f"{path}: the tensor reaches element {last + 1} of a {storage_size}-element storage")
    length = path.stat().st_size
    if length < data_at + storage_size * dtype.itemsize:
        raise DataSourceError(f"{path} is truncated ({length} bytes, its tensor needs {data_at + storage_size * dtype.itemsize})")
    return Torch7Tensor(path, dtype, tuple(shape), tuple(strides), data_at, offset1 - 1, storage_size)


class _BatchStore:
    """Images of a list of batch files, ``batch_size`` per file (read through memory maps)."""

    def __init__(self, tensors: list[Torch7Tensor], per_file: int, size: int) -> None:
        self.tensors, self.per_file = tensors, per_file
        self.shape = (size, size, 1)

    def __len__(self) -> int:
        return len(self.tensors) * self.per_file

    def read(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), *self.shape), dtype=np.float32)
        files = indices // self.per_file
        for fi in np.unique(files):
            sel = files == fi
            arr = self.tensors[int(fi)].array()
            out[sel, ..., 0] = arr[indices[sel] % self.per_file, 0]
        return out


class BatchFiles:
    """The DC-IGN Torch7 batches: fixed one-factor batches without factor values.

    Offers the same sampling interface as :class:`~dcign.data.sources.base.LabelledImages`
    where it can: ``one_factor_batch`` returns one whole file of the requested set
    (a random ``batch_size`` of its 20 images when fewer are asked), ``random_batch``
    images drawn from all files; ``pair_batch`` and ``ground_truth`` need factor values the
    files do not have and raise :class:`DataSourceError`.

    Attributes:
        factor_names: the paper's factors present (of azimuth, elevation, light_azimuth,
            identity), in that order; ``intrinsic_factors`` is ``("identity",)`` if present.
        native_shape: ``(150, 150, 1)``.
    """

    name = "dcign-t7"
    pixel_scale = 1.0
    metrics_split = "test"

    def __init__(self, path, files: dict[tuple[str, str], list[Torch7Tensor]], per_file: int, size: int) -> None:
        self.path = Path(path)
        self.factor_names = tuple(f for f in T7_SETS.values() if any(k[0] == f for k in files))
        self.intrinsic_factors = ("identity",) if "identity" in self.factor_names else ()
        self.factors_num_values = None
        keys = [(f, s) for s in ("train", "test") for f in self.factor_names if (f, s) in files]
        tensors, self._files = [], {}
        for key in keys:
            start = len(tensors)
            tensors.extend(files[key])
            self._files[key] = np.arange(start, len(tensors))
        self.store = _BatchStore(tensors, per_file, size)
        self.per_file = per_file
        self.test_mask = np.zeros(len(self.store), dtype=bool)
        for (f, s), ids in self._files.items():
            if s == "test":
                for i in ids:
                    self.test_mask[i * per_file:(i + 1) * per_file] = True
        self.split_note = "the files' own split: FT_training for training, FT_test (held-out faces) for testing"
        self.varied = np.empty(len(tensors), dtype=object)
        for (f, s), ids in self._files.items():
            self.varied[ids] = f

    def __len__(self) -> int:
        return len(self.store)

    def __reduce__(self):
        return (open_dcign_t7, (self.path,))

    @property
    def num_factors(self) -> int:
        return len(self.factor_names)

    @property
    def native_shape(self) -> tuple[int, int, int]:
        return self.store.shape

    @property
    def native_channels(self) -> int:
        return 1

    def factor_index(self, name: str) -> int:
        if name not in self.factor_names:
            raise DataSourceError(f"dcign-t7 at {self.path} has no {name} batches; it has {', '.join(self.factor_names)}")
        return self.factor_names.index(name)

    def split_indices(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        if split == "all":
            return np.arange(len(self), dtype=np.int64)
        return np.flatnonzero(self.test_mask if split == "test" else ~self.test_mask).astype(np.int64)

    def images(self, indices, channels: int = 1, size: int | None = None) -> np.ndarray:
        """``(n, channels, S, S)`` float32 in [0, 1] (see ``LabelledImages.images``)."""
        return read_images(self.store, indices, channels, size, 1.0, self.name)

    def batch_files(self, factor: str, split: str = "train") -> np.ndarray:
        """Indices of the batch files of ``factor`` in ``split``."""
        self.factor_index(factor)
        if split not in ("train", "test"):
            raise ValueError(f"unknown split {split!r}; use train or test")
        return self._files.get((factor, split), np.zeros(0, dtype=np.int64))

    def check_one_factor(self, factor: str, split: str = "train") -> None:
        if len(self.batch_files(factor, split)) == 0:
            raise DataSourceError(f"dcign-t7: {self.path} has no {split} batches of {factor} "
                                  f"(th_{_set_of(factor)}_VARIED/{T7_SPLITS[split]}/batch<k>)")

    def one_factor_batch(self, rng: np.random.Generator, factor: str, batch_size: int, split: str = "train") -> np.ndarray:
        """Image indices of one batch file of ``factor`` (all 20, or a random ``batch_size`` of them).

        Raises:
            DataSourceError: no such batches, or ``batch_size`` above the files' 20.
        """
        self.check_one_factor(factor, split)
        if batch_size > self.per_file:
            raise DataSourceError(f"dcign-t7 batches hold {self.per_file} images each; use a batch size of {self.per_file} or less")
        files = self.batch_files(factor, split)
        fi = int(files[rng.integers(len(files))])
        members = np.arange(fi * self.per_file, (fi + 1) * self.per_file)
        return members if batch_size == self.per_file else np.sort(rng.choice(members, size=batch_size, replace=False))

    def random_batch(self, rng: np.random.Generator, n: int, split: str = "train") -> np.ndarray:
        rows = self.split_indices(split)
        return rows[rng.integers(len(rows), size=n)]

    def pair_batch(self, rng, n, split="train"):
        raise DataSourceError("dcign-t7 batches carry no factor values, so Ada-GVAE's pairs cannot be formed; "
                              "train dcign, baseline or beta-vae on them")

    def ground_truth(self, split: str | None = None, channels: int = 1, size: int | None = None):
        raise DataSourceError("dcign-t7 batches record which factor varies but not its values; metrics that need factor "
                              "labels cannot run on them (export the renders with factors.csv and use folder:DIR)")

    def describe(self) -> dict:
        counts = {f"{f}/{s}": int(len(ids)) for (f, s), ids in self._files.items()}
        return {"dataset": self.name, "path": str(self.path), "num_images": len(self),
                "native_shape": list(self.native_shape), "factor_names": list(self.factor_names),
                "factors_num_values": None, "intrinsic_factors": list(self.intrinsic_factors),
                "batch_files": counts, "num_train": int((~self.test_mask).sum()), "num_test": int(self.test_mask.sum()),
                "split": self.split_note}


def _set_of(factor: str) -> str:
    return next(k for k, v in T7_SETS.items() if v == factor)


def open_dcign_t7(path) -> BatchFiles:
    """Open the DC-IGN batch folder ``path`` (see the module docstring).

    Only headers are read here (every file's, so a damaged one is named now, not mid-run).

    Raises:
        DataSourceError: missing folder, no th_*_VARIED/FT_training batches, a file that is
            not a 4-d N x 1 x S x S tensor, or files of different shapes.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataSourceError(f"dcign-t7: {path} is not a folder; pass the folder holding th_AZ_VARIED, th_EL_VARIED, "
                              f"th_LIGHT_AZ_VARIED and th_SHAPE_VARIED from {WHERE}")
    files: dict[tuple[str, str], list[Torch7Tensor]] = {}
    shape = None
    for key, factor in T7_SETS.items():
        for split, folder in T7_SPLITS.items():
            d = path / f"th_{key}_VARIED" / folder
            if not d.is_dir():
                continue
            found = sorted((int(m.group(1)), p) for p in d.iterdir() if (m := re.fullmatch(r"batch(\d+)", p.name)) and p.is_file())
            tensors = []
            for _, p in found:
                t = read_torch7_tensor(p)
                if len(t.shape) != 4 or t.shape[1] != 1 or t.shape[2] != t.shape[3] or t.shape[0] < 2:
                    raise DataSourceError(f"dcign-t7: {p} is a {'x'.join(map(str, t.shape))} tensor; the published batches are 20x1x150x150")
                if shape is not None and t.shape != shape:
                    raise DataSourceError(f"dcign-t7: {p} is {'x'.join(map(str, t.shape))} but other batches are {'x'.join(map(str, shape))}")
                shape = t.shape
                tensors.append(t)
            if tensors:
                files[(factor, split)] = tensors
    if not any(s == "train" for _, s in files):
        raise DataSourceError(f"dcign-t7: no th_{{AZ,EL,LIGHT_AZ,SHAPE}}_VARIED/FT_training/batch<k> files in {path}; "
                              f"get them from {WHERE}")
    return BatchFiles(path, files, shape[0], shape[2])
