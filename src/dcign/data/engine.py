"""Scene engines: a factor space, a mesh model (faces, heads, chairs, bfm:PATH) and a renderer.

Data sets are versioned: every mesh model has a ``version`` string (``faces-v2``, ``heads-v1``,
``chairs-v1``, ``bfm-...`` naming the user's file by checksum), exposed as
:attr:`SceneEngine.data_version`.  Training runs record it and evaluation refuses a run whose
recorded version differs from what the engine renders now.

:class:`SceneEngine` turns :class:`~dcign.factors.Factors` into images.  It is cheap to
pickle (only its configuration travels) and creates its GL context lazily in the process
that first renders, so it can be handed to spawn-started DataLoader workers.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass

import numpy as np

from ..factors import AngleRange, Factors, FactorSpace
from .spec import parse_dataset_spec

DATASETS = ("faces", "heads", "chairs")
"""Built-in engines; ``bfm:PATH`` renders a Basel Face Model file the user has."""
MODEL_FILE_DATASETS = ("bfm",)  # engines that render from a user's model file (bfm:PATH)
LEGACY_VERSIONS = {"faces": "faces-v1", "heads": "heads-v1", "chairs": "chairs-v1"}
"""Versions of runs recorded before data sets were versioned (faces were then the v1 heads)."""

_FACE_RANGES = {"azimuth": (-90.0, 90.0), "elevation": (-25.0, 25.0), "light_azimuth": (-80.0, 80.0)}
# Factor ranges in degrees (faces as in the paper's face renders; chairs turn all the way round).
_RANGES = {
    "faces": _FACE_RANGES,
    "heads": _FACE_RANGES,
    "bfm": _FACE_RANGES,
    "chairs": {"azimuth": (-180.0, 180.0), "elevation": (10.0, 30.0), "light_azimuth": (-80.0, 80.0)},
}


def check_dataset(dataset: str) -> None:
    """Raise ValueError unless ``dataset`` is a built-in engine or ``bfm:PATH``."""
    if not isinstance(dataset, str):
        raise ValueError(f"data set must be a string, got {dataset!r}")
    spec = parse_dataset_spec(dataset)
    if spec.path is None and spec.name in DATASETS:
        return
    if spec.path is not None and spec.name in MODEL_FILE_DATASETS:
        return
    if spec.name in MODEL_FILE_DATASETS:
        raise ValueError(f"--dataset {spec.name} needs the file: pass {spec.name}:PATH (e.g. bfm:/data/01_MorphableModel.mat)")
    raise ValueError(f"unknown data set {dataset!r}; choose one of {', '.join(DATASETS)} or bfm:PATH")


def _model_class(name: str):
    if name == "faces":
        from ..render.faces import FaceModel as cls
    elif name == "heads":
        from ..render.heads import HeadModel as cls
    elif name == "chairs":
        from ..render.chairs import ChairModel as cls
    else:
        from ..render.bfm import BFMModel as cls
    return cls


def mesh_model(dataset: str, bfm_modes: int = 10):
    """The mesh model of ``dataset`` ('faces', 'heads', 'chairs' or 'bfm:PATH').

    Args:
        bfm_modes: for ``bfm:PATH``, how many leading PCA modes of shape and of colour make
            the identity.

    Raises:
        ValueError: unknown data set name; for ``bfm:PATH``, a missing or malformed file.
    """
    check_dataset(dataset)
    spec = parse_dataset_spec(dataset)
    cls = _model_class(spec.name)
    return cls(spec.path, num_modes=bfm_modes) if spec.path is not None else cls()


def data_version(dataset: str, bfm_modes: int = 10) -> str:
    """The version string of what ``dataset`` renders now (see the module docstring).

    Raises:
        ValueError: unknown data set; for ``bfm:PATH``, a file that does not exist.
    """
    check_dataset(dataset)
    spec = parse_dataset_spec(dataset)
    if spec.path is not None:
        from ..render.bfm import file_version

        return file_version(spec.path, bfm_modes)
    return _model_class(spec.name).version


def check_data_version(recorded: str | None, dataset: str, current: str) -> None:
    """Refuse a run trained on another version of its data set.

    Args:
        recorded: the run's ``data_version`` (None: a config not yet trained, nothing to check).
        dataset: the run's ``--dataset``; current: what that data set renders now.

    Raises:
        ValueError: the versions differ (the message names both and what to do).
    """
    if recorded is None or recorded == current:
        return
    hint = " (the v1 cartoon heads are still available as --dataset heads)" if recorded == "faces-v1" else ""
    raise ValueError(
        f"this run was trained on data set version {recorded}, but --dataset {dataset} now renders {current}{hint}; "
        "its numbers would describe a different data set. Evaluate it with the dcign version it was trained with, "
        "or train a new run"
    )


@dataclass(frozen=True)
class EngineConfig:
    """Everything that determines an engine's pixels.

    Attributes:
        dataset: 'faces' (v2, MediaPipe face mesh), 'heads' (the v1 cartoon heads), 'chairs'
            or 'bfm:PATH' (a Basel Face Model file).
        size: image side in pixels (64 default, 150 as in the paper).
        seed: seeds the identity table and its train/test split.
        num_train_identities, num_test_identities: identity split sizes.
    """

    dataset: str = "faces"
    size: int = 64
    seed: int = 0
    num_train_identities: int = 1000
    num_test_identities: int = 100
    bfm_modes: int = 10

    def __post_init__(self) -> None:
        check_dataset(self.dataset)
        if not isinstance(self.bfm_modes, int) or self.bfm_modes < 1:
            raise ValueError(f"bfm_modes must be a positive integer, got {self.bfm_modes!r}")
        if not isinstance(self.size, int) or self.size < 8:
            raise ValueError(f"image size must be an integer >= 8 pixels, got {self.size!r}")
        if self.num_train_identities < 1 or self.num_test_identities < 1:
            raise ValueError("identity counts must be >= 1")


class SceneEngine:
    """Renders scenes of one data set.

    Args:
        config: an :class:`EngineConfig` (or keyword arguments for one).
        mesh_cache: how many identity meshes to keep (a face mesh takes about 0.25 MB; building
            one takes about 3 ms, so the default keeps every identity of a default run).
    """

    def __init__(self, config: EngineConfig | None = None, mesh_cache: int = 2048, **kwargs) -> None:
        self.config = config or EngineConfig(**kwargs)
        self.model = mesh_model(self.config.dataset, self.config.bfm_modes)
        r = _RANGES[parse_dataset_spec(self.config.dataset).name]
        self.space = FactorSpace(
            ranges={name: AngleRange(name, *r[name]) for name in r},
            sample_identity=self.model.sample_identity,
            num_train_identities=self.config.num_train_identities,
            num_test_identities=self.config.num_test_identities,
            seed=self.config.seed,
        )
        self._cache: OrderedDict[int, object] = OrderedDict()
        self._cache_size = mesh_cache
        self._renderer = None

    def __reduce__(self):
        return (_rebuild, (asdict(self.config), self._cache_size))

    @property
    def data_version(self) -> str:
        """Version of what this engine renders, e.g. 'faces-v2' (runs record it)."""
        return self.model.version

    @property
    def size(self) -> int:
        return self.config.size

    @property
    def renderer(self):
        if self._renderer is None:
            from ..render.renderer import Renderer

            self._renderer = Renderer(self.config.size)
        return self._renderer

    def mesh(self, identity: int):
        """The mesh of identity index ``identity`` (cached)."""
        identity = int(identity)
        m = self._cache.get(identity)
        if m is None:
            m = self.model.mesh(self.space.coefficients(identity))
            self._cache[identity] = m
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(identity)
        return m

    def render(self, factors: Factors) -> np.ndarray:
        """Render a batch.

        Args:
            factors: B scenes (angles in degrees, identity indices).

        Returns:
            (B, 1, size, size) float32 grey images in [0, 1].

        Raises:
            ValueError: an angle outside its range or an unknown identity index.
        """
        for name in ("azimuth", "elevation", "light_azimuth"):
            self.space.ranges[name].check(factors[name])
        ids, index = np.unique(factors.identity, return_inverse=True)
        meshes = [self.mesh(i) for i in ids]
        return self.renderer.render(meshes, index, factors.azimuth, factors.elevation, factors.light_azimuth)


def _rebuild(config: dict, cache: int) -> SceneEngine:
    return SceneEngine(EngineConfig(**config), mesh_cache=cache)
