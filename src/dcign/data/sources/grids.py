"""The field's ground-truth-factor benchmark sets: dSprites, 3DShapes and MPI3D.

Each is a full grid (every combination of factor values is one image), read from the file
the user already has; nothing is downloaded.

=============  ==========================================  ======================================================
``--dataset``  file (where to get it)                      factors (values)
=============  ==========================================  ======================================================
``dsprites``   ``dsprites_ndarray_co1sh3sc6or40x32y32_     shape 3, scale 6, orientation 40, pos_x 32, pos_y 32
               64x64.npz`` (github.com/deepmind/dsprites-  (``color`` takes one value and is dropped, as in
               dataset)                                    disentanglement_lib); grey 64x64, pixels 0/1
``3dshapes``   ``3dshapes.h5`` (storage.googleapis.com/    floor_hue 10, wall_hue 10, object_hue 10, scale 8,
               3d-shapes, DeepMind)                        shape 4, orientation 15; RGB 64x64
``mpi3d``      ``mpi3d_toy.npz`` / ``mpi3d_realistic.npz`` object_color 6, object_shape 6, object_size 2,
               / ``mpi3d_real.npz`` (github.com/rr-        camera_height 3, background_color 3,
               learning/disentanglement_dataset)           horizontal_axis 40, vertical_axis 40; RGB 64x64
=============  ==========================================  ======================================================

Reading: only the arrays needed are touched.  dSprites: ``imgs`` and ``latents_classes``
(``latents_values`` and the pickled ``metadata`` are never read, so nothing is unpickled);
MPI3D: ``images`` only (its factors are the C-order grid position, as published); 3DShapes:
``images`` sliced per batch through h5py and ``labels`` (480000 x 6 floats, 23 MB) read
whole.  Images are memory-mapped (see :mod:`dcign.data.sources.store`).

No identity is held out: train and test are all images and the metrics use all of them,
as disentanglement_lib does; ``test_fraction`` holds out a seeded fraction of images for
a reconstruction error on unseen images instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import DataSourceError, LabelledImages, index_values, split_images
from .store import ArrayStore, npz_member_header, npz_member_memmap, npz_small_array

DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
DSPRITES_FACTORS = ("color", "shape", "scale", "orientation", "pos_x", "pos_y")
DSPRITES_SIZES = (1, 3, 6, 40, 32, 32)
SHAPES3D_FILE = "3dshapes.h5"
SHAPES3D_FACTORS = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
SHAPES3D_SIZES = (10, 10, 10, 8, 4, 15)
MPI3D_FILES = ("mpi3d_toy.npz", "mpi3d_realistic.npz", "mpi3d_real.npz")
MPI3D_FACTORS = ("object_color", "object_shape", "object_size", "camera_height", "background_color",
                 "horizontal_axis", "vertical_axis")
MPI3D_SIZES = (6, 6, 2, 3, 3, 40, 40)
MPI3D_COMPLEX_SIZES = (4, 4, 2, 3, 3, 40, 40)

WHERE = {
    "dsprites": "the dSprites repository (github.com/deepmind/dsprites-dataset)",
    "3dshapes": "DeepMind's 3D Shapes bucket (storage.googleapis.com/3d-shapes/3dshapes.h5)",
    "mpi3d": "the MPI3D repository (github.com/rr-learning/disentanglement_dataset)",
}


def find_file(path: Path, names: tuple[str, ...], kind: str) -> Path:
    """``path`` itself if it is a file, else the first of ``names`` inside the folder ``path``.

    Raises:
        DataSourceError: nothing found; the message names the expected file and where to get it.
    """
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        for n in names:
            if (path / n).is_file():
                return path / n
        raise DataSourceError(f"{kind}: no {' or '.join(names)} in {path}; download it from {WHERE[kind]}")
    raise DataSourceError(f"{kind}: {path} does not exist; pass the {' or '.join(names)} you downloaded from {WHERE[kind]}")


def _grid_labels(sizes: tuple[int, ...]) -> np.ndarray:
    """``(prod(sizes), K)`` factor indices of a C-order grid."""
    return np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1).astype(np.int32)


def _check_images(shape, dtype, path, key, n, tail, kind):
    if tuple(shape[1:]) != tail or (n is not None and shape[0] != n):
        want = ("N" if n is None else str(n)) + "x" + "x".join(map(str, tail))
        raise DataSourceError(f"{kind}: {path} array {key!r} has shape {'x'.join(map(str, shape))}, the published layout is {want}")
    if np.dtype(dtype) != np.uint8:
        raise DataSourceError(f"{kind}: {path} array {key!r} is {dtype}, the published layout is uint8")


def open_dsprites(path, test_fraction: float | None = None, seed: int = 0, cache=None) -> LabelledImages:
    """dSprites (Matthey et al. 2017) from ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.

    ``path`` is that file or the folder holding it.  Reads ``imgs`` (737280, 64, 64) uint8
    0/1 memory-mapped (a compressed archive is extracted once into the cache, 3.0 GB) and
    ``latents_classes`` (737280, 6) int; never the pickled ``metadata`` (``allow_pickle``
    stays False).  Factors: shape, scale, orientation, pos_x, pos_y; ``shape`` is the
    intrinsic factor.  Images: (N, 1, 64, 64) in {0, 1}.

    Raises:
        DataSourceError: missing file (named, with where to get it) or wrong layout.
    """
    f = find_file(path, (DSPRITES_FILE,), "dsprites")
    shape, dtype, _ = npz_member_header(f, "imgs")
    _check_images(shape, dtype, f, "imgs", None, (64, 64), "dsprites")
    classes = npz_small_array(f, "latents_classes")
    if classes.ndim != 2 or classes.shape != (shape[0], 6) or classes.dtype.kind not in "iu":
        raise DataSourceError(f"dsprites: {f} latents_classes has shape {classes.shape} ({classes.dtype}), need ({shape[0]}, 6) integers")
    if shape[0] and ((classes.min(axis=0) < 0).any() or (classes.max(axis=0) >= np.array(DSPRITES_SIZES)).any()):
        raise DataSourceError(f"dsprites: {f} latents_classes lie outside the published sizes {DSPRITES_SIZES}")
    store = ArrayStore(lambda: npz_member_memmap(f, "imgs", cache), (shape[0], 64, 64, 1))
    mask = split_images(shape[0], test_fraction, seed) if test_fraction else None
    return LabelledImages(
        "dsprites", f, store, DSPRITES_FACTORS[1:], classes[:, 1:], [int(m) + 1 for m in classes[:, 1:].max(axis=0)],
        intrinsic_factors=("shape",), test_mask=mask, pixel_scale=1.0,
        split_note=_note(test_fraction), rebuild=(open_dsprites, (path, test_fraction, seed, cache)),
    )


def open_3dshapes(path, test_fraction: float | None = None, seed: int = 0, cache=None) -> LabelledImages:
    """3DShapes (Burgess & Kim 2018) from ``3dshapes.h5``.

    Reads ``images`` (480000, 64, 64, 3) uint8 in slices through h5py and ``labels``
    (480000, 6) float64, whose distinct values per column become indices (10, 10, 10, 8,
    4, 15).  ``shape`` is the intrinsic factor.  Images: (N, C, 64, 64), RGB or grey.

    Raises:
        DataSourceError: missing file, not HDF5, missing ``images``/``labels``, wrong shapes.
    """
    import h5py

    f = find_file(path, (SHAPES3D_FILE,), "3dshapes")
    try:
        with h5py.File(f, "r") as h5:
            for key in ("images", "labels"):
                if key not in h5:
                    raise DataSourceError(f"3dshapes: {f} has no dataset {key!r} (it holds {', '.join(h5.keys()) or 'nothing'})")
            images, labels = h5["images"], h5["labels"]
            _check_images(images.shape, images.dtype, f, "images", None, (64, 64, 3), "3dshapes")
            if labels.shape != (images.shape[0], 6):
                raise DataSourceError(f"3dshapes: {f} labels have shape {labels.shape}, need ({images.shape[0]}, 6)")
            n = images.shape[0]
            raw = np.asarray(labels[...], dtype=np.float64)
    except OSError as exc:
        raise DataSourceError(f"3dshapes: {f} is not a readable HDF5 file ({str(exc).splitlines()[0]})") from None
    cols, values = [], {}
    full = n == int(np.prod(SHAPES3D_SIZES))
    for k, name in enumerate(SHAPES3D_FACTORS):
        idx, uniq = index_values(np.round(raw[:, k], 6), name, SHAPES3D_SIZES[k] if full else None)
        cols.append(idx)
        values[name] = uniq
    store = ArrayStore(lambda: h5py.File(f, "r")["images"], (n, 64, 64, 3))
    mask = split_images(n, test_fraction, seed) if test_fraction else None
    return LabelledImages(
        "3dshapes", f, store, SHAPES3D_FACTORS, np.stack(cols, axis=1), [len(values[k]) for k in SHAPES3D_FACTORS],
        factor_values=values, intrinsic_factors=("shape",), test_mask=mask, split_note=_note(test_fraction),
        rebuild=(open_3dshapes, (path, test_fraction, seed, cache)),
    )


def open_mpi3d(path, test_fraction: float | None = None, seed: int = 0, cache=None,
               factor_sizes: tuple[int, ...] | None = None) -> LabelledImages:
    """MPI3D (Gondal et al. 2019) from ``mpi3d_toy.npz``, ``mpi3d_realistic.npz`` or ``mpi3d_real.npz``.

    Reads ``images`` (1036800, 64, 64, 3) uint8 memory-mapped (a compressed archive is
    extracted once into the cache, 12.7 GB); the factors are the image's position in the
    C-order grid 6 x 6 x 2 x 3 x 3 x 40 x 40 (``factor_sizes`` overrides it for other
    grids of the same seven factors, e.g. MPI3D-complex's 4 x 4 x 2 x 3 x 3 x 40 x 40,
    which is recognised from its 460800 images).  ``object_shape`` is the intrinsic factor.

    Raises:
        DataSourceError: missing file, not an npz, no ``images``, or a shape other than
            the grid's.
    """
    f = find_file(path, MPI3D_FILES, "mpi3d")
    shape, dtype, _ = npz_member_header(f, "images")
    sizes = tuple(factor_sizes) if factor_sizes else (MPI3D_COMPLEX_SIZES if shape and shape[0] == 460800 else MPI3D_SIZES)
    if len(sizes) != len(MPI3D_FACTORS):
        raise DataSourceError(f"mpi3d: factor_sizes needs {len(MPI3D_FACTORS)} entries ({', '.join(MPI3D_FACTORS)})")
    _check_images(shape, dtype, f, "images", int(np.prod(sizes)), (64, 64, 3), "mpi3d")
    store = ArrayStore(lambda: npz_member_memmap(f, "images", cache), (shape[0], 64, 64, 3))
    mask = split_images(shape[0], test_fraction, seed) if test_fraction else None
    return LabelledImages(
        "mpi3d", f, store, MPI3D_FACTORS, _grid_labels(sizes), list(sizes),
        intrinsic_factors=("object_shape",), test_mask=mask, split_note=_note(test_fraction),
        rebuild=(open_mpi3d, (path, test_fraction, seed, cache, factor_sizes)),
    )


def _note(test_fraction) -> str:
    if test_fraction:
        return f"a seeded {test_fraction:.0%} of the images held out as test"
    return "no held-out split (as disentanglement_lib): train, test and metrics use all images"
