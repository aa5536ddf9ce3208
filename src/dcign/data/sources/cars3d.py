"""Cars3D (Reed et al. 2015): 183 car models rendered at 24 azimuths x 4 elevations.

``DIR`` holds the ``car_NNN_mesh.mat`` files (MATLAB v5), each with ``im`` of shape
(128, 128, 3, 24, 4) uint8: height, width, RGB, azimuth, elevation.  Factors, as
disentanglement_lib orders them: elevation 4, azimuth 24 (15 degrees apart), object (one per
file, in file-name order).  ``object`` is the intrinsic factor; a seeded ``test_fraction``
of the cars (default 10%) is held out as test objects.

The .mat files are not memory-mappable (scipy reads a whole file), so a batch loads the
files it touches, each once, with the last ``cache_files`` kept (4.7 MB each).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .base import DataSourceError, LabelledImages, split_by_factor

WHERE = "the Cars3D data of Reed et al. 2015 (the nips2015-analogy-data archive, folder 'cars')"
PATTERN = re.compile(r"car_.*_mesh\.mat")


def _load_im(path: Path) -> np.ndarray:
    from scipy.io import loadmat

    try:
        data = loadmat(path, variable_names=["im"])
    except NotImplementedError:  # MATLAB v7.3 (HDF5)
        raise DataSourceError(f"cars3d: {path} is a MATLAB v7.3 file; the published files are v5 (scipy.io.loadmat)") from None
    except (ValueError, OSError, TypeError) as exc:
        raise DataSourceError(f"cars3d: {path} is not a readable MATLAB file ({str(exc).splitlines()[0]})") from None
    if "im" not in data:
        raise DataSourceError(f"cars3d: {path} has no variable 'im'")
    im = data["im"]
    if im.ndim != 5 or im.shape[2] != 3 or im.shape[0] != im.shape[1] or im.dtype != np.uint8:
        raise DataSourceError(f"cars3d: {path} 'im' is {im.dtype} of shape {'x'.join(map(str, im.shape))}; "
                              "the published layout is 128x128x3x24x4 uint8")
    return im


class _CarStore:
    def __init__(self, files: list[Path], size: int, n_az: int, n_el: int, keep: int) -> None:
        self.files, self.n_az, self.n_el, self.keep = files, n_az, n_el, keep
        self.per_file = n_az * n_el
        self.shape = (size, size, 3)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.files) * self.per_file

    def __getstate__(self):
        return {**self.__dict__, "_cache": OrderedDict()}

    def _file(self, i: int) -> np.ndarray:
        im = self._cache.get(i)
        if im is None:
            im = _load_im(self.files[i])
            if im.shape != (*self.shape, self.n_az, self.n_el):
                raise DataSourceError(f"cars3d: {self.files[i]} 'im' is {'x'.join(map(str, im.shape))}, the other files "
                                      f"{'x'.join(map(str, (*self.shape, self.n_az, self.n_el)))}")
            self._cache[i] = im
            if len(self._cache) > self.keep:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(i)
        return im

    def read(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), *self.shape), dtype=np.uint8)
        files, within = np.divmod(indices, self.per_file)
        el, az = np.divmod(within, self.n_az)  # factor order: elevation, azimuth, object
        for fi in np.unique(files):
            sel = files == fi
            im = self._file(int(fi))
            out[sel] = np.moveaxis(im[:, :, :, az[sel], el[sel]], -1, 0)
        return out


def open_cars3d(path, test_fraction: float = 0.1, seed: int = 0, cache_files: int = 32) -> LabelledImages:
    """Open the Cars3D folder ``path`` (see the module docstring).

    Only the first file is read here (for the image size); the others are checked when
    first read.

    Raises:
        DataSourceError: missing folder, no car_*_mesh.mat files, or a file whose ``im`` is
            not in the published layout.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataSourceError(f"cars3d: {root} is not a folder; pass the folder of car_*_mesh.mat files from {WHERE}")
    files = sorted(p for p in root.iterdir() if PATTERN.fullmatch(p.name) and p.is_file())
    if not files:
        raise DataSourceError(f"cars3d: no car_*_mesh.mat files in {root}; get them from {WHERE}")
    if len(files) < 2:
        raise DataSourceError(f"cars3d: {root} holds one car; a train / test split by car needs at least 2")
    h, w, _, n_az, n_el = _load_im(files[0]).shape
    store = _CarStore(files, h, n_az, n_el, cache_files)
    sizes = [n_el, n_az, len(files)]
    labels = np.stack(np.unravel_index(np.arange(len(store)), (len(files), n_el, n_az)), axis=1)[:, [1, 2, 0]]
    mask = split_by_factor(labels, 2, len(files), test_fraction, seed)
    return LabelledImages(
        "cars3d", root, store, ("elevation", "azimuth", "object"), labels, sizes,
        factor_values={"azimuth": 360.0 / n_az * np.arange(n_az)}, intrinsic_factors=("object",), test_mask=mask, metrics_split="test",
        split_note=f"a seeded {test_fraction:.0%} of the cars held out as test objects ({int(mask.sum()) // (n_az * n_el)} cars)",
        rebuild=(open_cars3d, (path, test_fraction, seed, cache_files)),
    )
