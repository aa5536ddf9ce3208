"""Reading pixels without loading whole files: memory maps, HDF5 slices, and a one-time cache.

* An uncompressed ``.npy`` member of an ``.npz`` (``numpy.savez``) and a raw binary matrix
  (SmallNORB's ``-dat.mat``) are memory-mapped in place: a batch reads only its images.
* A compressed member (``numpy.savez_compressed``, as dSprites and MPI3D are published) or a
  gzipped file cannot be read at random, so its array is streamed once, in 16 MiB chunks,
  into an uncompressed ``.npy`` in the cache folder and memory-mapped from there (dSprites:
  3.0 GB on disk, MPI3D: 12.7 GB).  The cache is ``$DCIGN_CACHE_DIR`` or
  ``~/.cache/dcign``; entries are named after the source file's path, size and
  modification time, written to a temporary name and renamed, so a killed extraction leaves
  nothing half-written.
* HDF5 (3DShapes) is read with h5py's slicing: each batch reads its rows only.

Nothing here unpickles: ``numpy.load`` runs with ``allow_pickle=False`` on the one member it
is asked for.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .base import DataSourceError

CHUNK = 16 << 20


def cache_dir(override: str | Path | None = None) -> Path:
    """The extraction cache folder: ``override``, ``$DCIGN_CACHE_DIR`` or ``~/.cache/dcign``."""
    if override is not None:
        return Path(override)
    env = os.environ.get("DCIGN_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "dcign"


def _cache_name(path: Path, member: str) -> str:
    st = path.stat()
    tag = hashlib.sha1(f"{path.resolve()}|{member}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return f"{path.stem}-{member}-{tag}.npy"


class ArrayStore:
    """Images in an array-like ``(N, H, W[, C])`` (ndarray, memmap, h5py dataset), opened lazily.

    Args:
        opener: a no-argument callable returning the array (called once per process).
        shape: ``(N, H, W, C)`` of the whole array (C = 1 for ``(N, H, W)`` arrays).
        index_map: optional ``(N,)`` positions into the array (e.g. every second image of
            SmallNORB's stereo pairs is skipped this way).
    """

    def __init__(self, opener, shape: tuple[int, int, int, int], select=None) -> None:
        self._opener, self._array = opener, None
        self._n = int(shape[0])
        self.shape = tuple(int(s) for s in shape[1:])
        self._select = select  # callable raw_array, sorted positions -> (n, H, W, C)

    def __len__(self) -> int:
        return self._n

    def __getstate__(self):
        return {**self.__dict__, "_array": None}  # never pickle pixels (a memmap would be copied)

    @property
    def array(self):
        if self._array is None:
            self._array = self._opener()
        return self._array

    def read(self, indices: np.ndarray) -> np.ndarray:
        """``(n, H, W, C)`` images at sorted, distinct ``indices``."""
        idx = np.asarray(indices, dtype=np.int64)
        if self._select is not None:
            out = self._select(self.array, idx)
        else:
            out = np.asarray(self.array[idx] if not _is_h5(self.array) else self.array[idx.tolist()])
        return out.reshape(len(idx), *self.shape)


def _is_h5(a) -> bool:
    return type(a).__module__.startswith("h5py")


# ---------------------------------------------------------------------- npz members
def npz_member_header(path: Path, key: str) -> tuple[tuple[int, ...], np.dtype, bool]:
    """``(shape, dtype, fortran_order)`` of member ``key`` of an npz, read from its header only.

    Raises:
        DataSourceError: not a zip / npz, no member ``key``, or a member that is not a plain
            (non-object) array.
    """
    with _open_zip(path) as zf:
        info = _member(zf, path, key)
        with zf.open(info) as f:
            return _npy_header(f, path, key)


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataSourceError(f"{path} is not an .npz archive ({exc})") from None


def _member(zf: zipfile.ZipFile, path: Path, key: str) -> zipfile.ZipInfo:
    try:
        return zf.getinfo(f"{key}.npy")
    except KeyError:
        keys = sorted(n[:-4] for n in zf.namelist() if n.endswith(".npy"))
        raise DataSourceError(f"{path} has no array {key!r} (it holds {', '.join(keys) or 'no arrays'})") from None


def _npy_header(f, path: Path, key: str):
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, EOFError, OSError, struct.error) as exc:
        raise DataSourceError(f"{path}: array {key!r} is not a valid .npy member ({exc})") from None
    if dtype.hasobject:
        raise DataSourceError(f"{path}: array {key!r} holds Python objects; a plain numeric array is needed")
    return tuple(int(s) for s in shape), dtype, bool(fortran)


def npz_small_array(path: Path, key: str) -> np.ndarray:
    """Load one (small) member of an npz into memory, never unpickling (``allow_pickle=False``).

    Raises:
        DataSourceError: missing member, object array, or a damaged archive.
    """
    npz_member_header(path, key)  # clear errors for a missing key / object array
    try:
        with np.load(path, allow_pickle=False) as data:
            return np.asarray(data[key])
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib_error()) as exc:
        raise DataSourceError(f"{path}: cannot read array {key!r} ({str(exc).splitlines()[0]})") from None


def zlib_error():
    import zlib

    return zlib.error


def npz_member_memmap(path: Path, key: str, cache: str | Path | None = None) -> np.memmap:
    """Memory-map member ``key`` of an npz without loading it.

    An uncompressed member is mapped in place; a compressed one is extracted once into the
    cache (see the module docstring) and mapped from there.

    Raises:
        DataSourceError: as :func:`npz_member_header`, a truncated member, or no room in
            the cache for the extraction.
    """
    with _open_zip(path) as zf:
        info = _member(zf, path, key)
        with zf.open(info) as f:
            shape, dtype, fortran = _npy_header(f, path, key)
            header_len = f.tell()
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size < header_len + nbytes:
                raise DataSourceError(f"{path}: array {key!r} is truncated ({info.file_size} bytes, need {header_len + nbytes})")
            with open(path, "rb") as raw:
                raw.seek(info.header_offset)
                local = raw.read(30)
                if len(local) < 30 or local[:4] != b"PK\x03\x04":
                    raise DataSourceError(f"{path}: damaged zip entry for {key!r}")
                name_len, extra_len = struct.unpack("<HH", local[26:30])
            offset = info.header_offset + 30 + name_len + extra_len + header_len
            return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
        target = cache_dir(cache) / _cache_name(path, key)
        if not target.is_file():
            def stream(out):
                with _open_zip(path) as zf2, zf2.open(_member(zf2, path, key)) as src:
                    src.read(header_len)
                    _copy(src, out, nbytes, f"{path}: array {key!r}")
            _extract(target, nbytes, shape, dtype, fortran, stream, path)
        return np.load(target, mmap_mode="r", allow_pickle=False)


def _copy(src, out, nbytes: int, what: str) -> None:
    left = nbytes
    try:
        while left:
            chunk = src.read(min(CHUNK, left))
            if not chunk:
                raise DataSourceError(f"{what} is truncated ({nbytes - left} of {nbytes} bytes)")
            out.write(chunk)
            left -= len(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, zlib_error()) as exc:
        if isinstance(exc, DataSourceError):
            raise
        raise DataSourceError(f"{what} is damaged ({str(exc).splitlines()[0]})") from None


def _extract(target: Path, nbytes: int, shape, dtype, fortran: bool, stream, source: Path) -> None:
    """Write an ``.npy`` at ``target`` (temp file + rename) whose body ``stream(out)`` writes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < nbytes + (1 << 20):
        raise DataSourceError(
            f"reading {source} needs {nbytes / 1e9:.1f} GB of cache space in {target.parent} ({free / 1e9:.1f} GB free); "
            "set DCIGN_CACHE_DIR to a folder with room"
        )
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            np.lib.format.write_array_header_2_0(out, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                      "fortran_order": fortran, "shape": tuple(shape)})
            stream(out)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------- gzip / raw binary files
def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def raw_memmap(path: Path, offset: int, dtype, shape, cache: str | Path | None = None, what: str = "") -> np.memmap:
    """Memory-map a raw array at byte ``offset`` of ``path``; a gzipped file goes through the cache first.

    Raises:
        DataSourceError: the file (or its decompressed content) is shorter than the array.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    what = what or str(path)
    if not is_gzip(path):
        size = path.stat().st_size
        if size < offset + nbytes:
            raise DataSourceError(f"{what} is truncated ({size} bytes, need {offset + nbytes})")
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(shape))
    target = cache_dir(cache) / _cache_name(path, "raw")
    if not target.is_file():
        def stream(out):
            try:
                with gzip.open(path, "rb") as src:
                    skipped = src.read(offset)
                    if len(skipped) < offset:
                        raise DataSourceError(f"{what} is truncated (no data after its header)")
                    _copy(src, out, nbytes, what)
            except (gzip.BadGzipFile, EOFError) as exc:
                raise DataSourceError(f"{what} is a damaged gzip file ({exc})") from None
        _extract(target, nbytes, shape, dtype, False, stream, path)
    return np.load(target, mmap_mode="r", allow_pickle=False)


def read_head(path: Path, nbytes: int) -> bytes:
    """The first ``nbytes`` bytes of ``path`` (decompressed if it is gzipped)."""
    try:
        if is_gzip(path):
            with gzip.open(path, "rb") as f:
                return f.read(nbytes)
        with open(path, "rb") as f:
            return f.read(nbytes)
    except (gzip.BadGzipFile, EOFError, OSError) as exc:
        raise DataSourceError(f"cannot read {path} ({exc})") from None
