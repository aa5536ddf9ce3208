"""Readers of the data sets users already have on disk: ``--dataset NAME:PATH``.

=============  ===================================  =========================================
NAME           PATH                                 module
=============  ===================================  =========================================
``dcign-t7``   folder of ``th_*_VARIED`` batches    :mod:`~dcign.data.sources.torch7`
``dsprites``   ``dsprites_ndarray_...64x64.npz``    :mod:`~dcign.data.sources.grids`
``3dshapes``   ``3dshapes.h5``                      :mod:`~dcign.data.sources.grids`
``mpi3d``      ``mpi3d_{toy,realistic,real}.npz``   :mod:`~dcign.data.sources.grids`
``smallnorb``  folder of ``smallnorb-*.mat[.gz]``   :mod:`~dcign.data.sources.smallnorb`
``cars3d``     folder of ``car_*_mesh.mat``         :mod:`~dcign.data.sources.cars3d`
``chairs3d``   ``rendered_chairs`` folder           :mod:`~dcign.data.sources.chairs3d`
``folder``     folder with ``factors.csv``          :mod:`~dcign.data.sources.folder`
=============  ===================================  =========================================

Each opener returns a :class:`~dcign.data.sources.base.LabelledImages` (or, for
``dcign-t7``, :class:`~dcign.data.sources.torch7.BatchFiles`) that draws one-factor
batches, holds a train / test split and gives :mod:`dcign.metrics` its ground-truth data.
Nothing is downloaded; a missing file is named together with where to obtain it.
These are separate from the rendering engines of :mod:`dcign.data.engine`;
:func:`open_dataset` is the one dispatch from a parsed ``--dataset`` value.
"""

from __future__ import annotations

import inspect

from ..spec import DatasetSpec, parse_dataset_spec
from .base import DataSourceError, LabelledImages
from .cars3d import open_cars3d
from .chairs3d import open_chairs3d
from .folder import open_folder
from .grids import open_3dshapes, open_dsprites, open_mpi3d
from .smallnorb import open_smallnorb
from .torch7 import BatchFiles, open_dcign_t7, read_torch7_tensor

OPENERS = {
    "dcign-t7": open_dcign_t7,
    "dsprites": open_dsprites,
    "3dshapes": open_3dshapes,
    "mpi3d": open_mpi3d,
    "smallnorb": open_smallnorb,
    "cars3d": open_cars3d,
    "chairs3d": open_chairs3d,
    "folder": open_folder,
}
"""``--dataset`` name -> opener ``(path, **options) -> LabelledImages | BatchFiles``."""

FILE_DATASETS = tuple(OPENERS)


def is_file_dataset(name: str) -> bool:
    """Whether ``name`` is one of the file-backed data sets (not a rendering engine)."""
    return name in OPENERS


def dataset_options(name: str) -> tuple[str, ...]:
    """Keyword options the opener of ``name`` accepts (e.g. ``test_fraction``, ``bins``, ``size``)."""
    return tuple(p for p in inspect.signature(OPENERS[name]).parameters if p != "path")


def open_dataset(spec: DatasetSpec | str, **options) -> LabelledImages | BatchFiles:
    """Open a file-backed data set from ``NAME:PATH``.

    Args:
        spec: a :class:`~dcign.data.spec.DatasetSpec` or its string form.
        options: opener options (see :func:`dataset_options`); options set to None are
            left at the opener's defaults.

    Raises:
        DataSourceError: an unknown name, no PATH, an option the opener does not take, or
            any reading error of the opener (missing file, wrong layout).
    """
    if isinstance(spec, str):
        try:
            spec = parse_dataset_spec(spec)
        except ValueError as exc:
            raise DataSourceError(str(exc)) from None
    if spec.name not in OPENERS:
        raise DataSourceError(f"unknown file data set {spec.name!r}; choose one of {', '.join(FILE_DATASETS)} (as NAME:PATH)")
    if spec.path is None:
        raise DataSourceError(f"--dataset {spec.name} needs the path of your files: {spec.name}:PATH")
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(dataset_options(spec.name)))
    if unknown:
        raise DataSourceError(f"{spec.name} takes no option {', '.join(unknown)}; it takes {', '.join(dataset_options(spec.name)) or 'none'}")
    return OPENERS[spec.name](spec.path, **options)


__all__ = ["BatchFiles", "DataSourceError", "FILE_DATASETS", "LabelledImages", "OPENERS", "dataset_options",
           "is_file_dataset", "open_dataset", "read_torch7_tensor"]
