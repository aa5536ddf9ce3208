"""Users' own Basel Face Model files as a mesh model (``--dataset bfm:PATH``).

The paper rendered its faces from the Basel Face Model (Paysan et al. 2009).  It cannot be
shipped or downloaded, but a user who obtained it can render one-factor batches from it.  Two
published layouts are read:

* BFM 2009, ``01_MorphableModel.mat`` (MATLAB v5, read with :func:`scipy.io.loadmat`):
  ``shapeMU`` (3N, 1), ``shapePC`` (3N, K), ``shapeEV`` (K, 1), ``texMU`` (3N, 1) RGB in 0..255,
  ``texPC`` (3N, K), ``texEV`` (K, 1) and ``tl`` (F, 3) 1-based triangles.  The ``EV`` vectors are
  the modes' standard deviations.
* BFM 2017, ``model2017-1_*.h5`` (HDF5, read with ``h5py``): ``shape/model/mean`` (3N,),
  ``shape/model/pcaBasis`` (3N, K), ``shape/model/pcaVariance`` (K,), ``shape/representer/cells``
  (3, F) 0-based triangles, and the same ``color/model/...`` with RGB in [0, 1].

Coordinates may be in µm or mm: the mesh is centred and scaled by the *mean* shape (its farthest
vertex 1 renderer unit from the centre, so every pose stays in the frame), so identities keep
their relative sizes.  An identity is N(0, I)
coefficients of the first ``num_modes`` shape modes and the first ``num_modes`` colour modes
(clipped to +-2.5); the albedo is the luminance of the colour model.  The files are face masks,
open at the back: seen from far to the side, back faces are culled (the background shows).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from .mesh import Mesh, identity_coefficients, vertex_normals

FIT_RADIUS = 1.0  # renderer units from the mean shape's centre to its farthest vertex (frame: +-1.1)
IDENTITY_CLIP = 2.5
LUMA = np.array([0.299, 0.587, 0.114])

BFM2009_FIELDS = ("shapeMU", "shapePC", "shapeEV", "texMU", "texPC", "texEV", "tl")
BFM2017_FIELDS = ("shape/model/mean", "shape/model/pcaBasis", "shape/model/pcaVariance", "shape/representer/cells",
                  "color/model/mean", "color/model/pcaBasis", "color/model/pcaVariance")

_ROLES = ("shape_mean", "shape_basis", "shape_std", "color_mean", "color_basis", "color_std", "triangles")
_ROLES_2017 = ("shape_mean", "shape_basis", "shape_std", "triangles", "color_mean", "color_basis", "color_std")


class BFMError(ValueError):
    """A Basel Face Model file that cannot be used (missing, unreadable, or a field is wrong)."""


@lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_version(path, num_modes: int = 10) -> str:
    """Data version of a BFM file: 'bfm-' + the first 12 hex digits of its SHA-256 + '-k' + modes.

    Raises:
        BFMError: the file does not exist.
    """
    p = Path(path)
    if not p.is_file():
        raise BFMError(f"Basel Face Model file {p} does not exist; pass bfm:PATH to the 01_MorphableModel.mat or .h5 you have")
    st = p.stat()
    return f"bfm-{_sha256(str(p.resolve()), st.st_size, st.st_mtime_ns)[:12]}-k{int(num_modes)}"


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(1024)
    return b"\x89HDF\r\n\x1a\n" in head[:8] or (len(head) >= 520 and head[512:520] == b"\x89HDF\r\n\x1a\n")


def read_bfm2009(path) -> dict[str, np.ndarray]:
    """The fields of a BFM 2009 ``01_MorphableModel.mat`` (MATLAB v5) as float64 arrays.

    Raises:
        BFMError: unreadable or truncated file, a MATLAB v7.3 file, or a missing field (named).
    """
    from scipy.io import loadmat

    p = Path(path)
    if _is_hdf5(p):
        raise BFMError(f"{p} is a MATLAB v7.3 (HDF5) file; BFM 2009 is published as MATLAB v5: "
                       "re-save it with save(..., '-v7') or pass the original 01_MorphableModel.mat")
    try:
        data = loadmat(str(p), variable_names=list(BFM2009_FIELDS))
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, zlib errors on bad files
        raise BFMError(f"cannot read {p} as a BFM 2009 MATLAB file (truncated or corrupt?): {exc}") from None
    out = {}
    for name in BFM2009_FIELDS:
        if name not in data:
            raise BFMError(f"{p} is not a BFM 2009 model: field {name!r} is missing (expected {', '.join(BFM2009_FIELDS)})")
        try:
            out[name] = np.asarray(data[name], dtype=np.float64)
        except (TypeError, ValueError):
            raise BFMError(f"{p}: field {name!r} is not a numeric array") from None
    return {
        "shape_mean": out["shapeMU"].reshape(-1), "shape_basis": out["shapePC"], "shape_std": out["shapeEV"].reshape(-1),
        "color_mean": out["texMU"].reshape(-1) / 255.0, "color_basis": out["texPC"] / 255.0,
        "color_std": out["texEV"].reshape(-1), "triangles": out["tl"] - 1, "fields": dict(zip(_ROLES, BFM2009_FIELDS)),
    }


def read_bfm2017(path) -> dict[str, np.ndarray]:
    """The fields of a BFM 2017 ``.h5`` model as float64 arrays.

    Raises:
        BFMError: unreadable or truncated file, or a missing field (named).
    """
    import h5py

    p = Path(path)
    try:
        f = h5py.File(p, "r")
    except Exception as exc:  # OSError for truncated or non-HDF5 files
        raise BFMError(f"cannot read {p} as a BFM 2017 HDF5 file (truncated or corrupt?): {exc}") from None
    out = {}
    with f:
        for name in BFM2017_FIELDS:
            if name not in f:
                raise BFMError(f"{p} is not a BFM 2017 model: field {name!r} is missing (expected {', '.join(BFM2017_FIELDS)})")
            try:
                out[name] = np.asarray(f[name][()], dtype=np.float64)
            except Exception as exc:  # a dataset whose bytes are cut off
                raise BFMError(f"cannot read field {name!r} of {p} (truncated or corrupt?): {exc}") from None
    cells = out["shape/representer/cells"]
    return {
        "shape_mean": out["shape/model/mean"].reshape(-1), "shape_basis": out["shape/model/pcaBasis"],
        "shape_std": np.sqrt(np.maximum(out["shape/model/pcaVariance"].reshape(-1), 0.0)),
        "color_mean": out["color/model/mean"].reshape(-1), "color_basis": out["color/model/pcaBasis"],
        "color_std": np.sqrt(np.maximum(out["color/model/pcaVariance"].reshape(-1), 0.0)),
        "triangles": cells.T if cells.ndim == 2 and cells.shape[0] == 3 else cells,
        "fields": dict(zip(_ROLES_2017, BFM2017_FIELDS)),
    }


def read_bfm(path) -> dict[str, np.ndarray]:
    """Read a BFM 2009 ``.mat`` or BFM 2017 ``.h5`` file (chosen by its bytes, not its name)."""
    p = Path(path)
    if not p.is_file():
        raise BFMError(f"Basel Face Model file {p} does not exist; pass bfm:PATH to the 01_MorphableModel.mat or .h5 you have")
    if _is_hdf5(p) and p.suffix.lower() != ".mat":
        return read_bfm2017(p)
    return read_bfm2009(p)


class BFMModel:
    """A Basel Face Model file as a mesh model (see the module docstring).

    Args:
        path: BFM 2009 ``01_MorphableModel.mat`` or BFM 2017 ``.h5``.
        num_modes: leading shape modes and leading colour modes in the identity (identity_dim =
            2 * num_modes).

    Raises:
        BFMError: missing/unreadable file, a missing field, inconsistent field shapes (named),
            or more modes asked for than the file has.
    """

    name = "bfm"

    def __init__(self, path, num_modes: int = 10) -> None:
        path = Path(path)
        d = read_bfm(path)
        k, name = int(num_modes), d["fields"]
        mean, basis, std = d["shape_mean"], d["shape_basis"], d["shape_std"]
        cmean, cbasis, cstd, tris = d["color_mean"], d["color_basis"], d["color_std"], d["triangles"]
        n3 = mean.size
        if n3 == 0 or n3 % 3:
            raise BFMError(f"{path}: field {name['shape_mean']!r} must hold 3N coordinates, got {n3} values")
        for field, arr, rows in ((name["shape_basis"], basis, n3), (name["color_basis"], cbasis, n3)):
            if arr.ndim != 2 or arr.shape[0] != rows:
                raise BFMError(f"{path}: field {field!r} must have shape (3N={rows}, K), got {arr.shape}")
        if cmean.size != n3:
            raise BFMError(f"{path}: field {name['color_mean']!r} must hold {n3} values (RGB per vertex), got {cmean.size}")
        for field, b, s in ((name["shape_std"], basis, std), (name["color_std"], cbasis, cstd)):
            if s.size != b.shape[1]:
                raise BFMError(f"{path}: field {field!r} must hold one value per mode ({b.shape[1]}), got {s.size}")
        if k < 1 or k > basis.shape[1] or k > cbasis.shape[1]:
            raise BFMError(f"{path} has {basis.shape[1]} shape and {cbasis.shape[1]} colour modes; "
                           f"num_modes must be 1..{min(basis.shape[1], cbasis.shape[1])}, got {k}")
        n = n3 // 3
        if tris.ndim != 2 or tris.shape[1] != 3 or tris.size == 0 or tris.min() < 0 or tris.max() >= n:
            raise BFMError(f"{path}: field {name['triangles']!r} must list triangles of the {n} vertices, got shape {tris.shape}")
        self.version = file_version(path, k)
        self.num_modes = k
        self.shape_mean = mean.reshape(n, 3)
        self.shape_basis = (basis[:, :k] * std[:k]).T.reshape(k, n, 3)  # (k, N, 3) per unit coefficient
        self.albedo_mean = cmean.reshape(n, 3) @ LUMA
        self.albedo_basis = (cbasis[:, :k] * cstd[:k]).T.reshape(k, n, 3) @ LUMA  # (k, N)
        lo, hi = self.shape_mean.min(0), self.shape_mean.max(0)
        self._centre = (lo + hi) / 2  # turning about the centre keeps every pose in the frame
        self._scale = FIT_RADIUS / np.linalg.norm(self.shape_mean - self._centre, axis=1).max()
        tris = tris.astype(np.int64)
        # Published triangle order may wind either way: make them counter-clockwise from outside.
        p = self.shape_mean - self.shape_mean.mean(0)
        a, b, c = p[tris[:, 0]], p[tris[:, 1]], p[tris[:, 2]]
        if np.einsum("ij,ij->i", np.cross(b - a, c - a), a + b + c).sum() < 0:
            tris = tris[:, [0, 2, 1]]
        self.triangles = tris.astype(np.int32)
        self.identity_names = tuple(f"shape_{i}" for i in range(k)) + tuple(f"color_{i}" for i in range(k))
        self.identity_dim = 2 * k

    def sample_identity(self, rng: np.random.Generator) -> np.ndarray:
        """One identity: (2 * num_modes,) standard-normal coefficients clipped to +-2.5."""
        return np.clip(rng.standard_normal(self.identity_dim), -IDENTITY_CLIP, IDENTITY_CLIP)

    def mesh(self, identity: np.ndarray) -> Mesh:
        """The mesh of one identity (coefficients: shape modes, then colour modes).

        Raises:
            ValueError: wrong length or non-finite coefficients.
        """
        c = identity_coefficients(identity, self.identity_dim, "BFM")
        k = self.num_modes
        p = (self.shape_mean + np.tensordot(c[:k], self.shape_basis, axes=1) - self._centre) * self._scale
        albedo = self.albedo_mean + np.tensordot(c[k:], self.albedo_basis, axes=1)
        return Mesh(
            positions=p.astype(np.float32),
            normals=vertex_normals(p, self.triangles),
            albedo=np.clip(albedo, 0.0, 1.0).astype(np.float32),
            triangles=self.triangles,
        )
