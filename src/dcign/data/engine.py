"""Scene engines: a factor space, a mesh model (faces or chairs) and a renderer together.

:class:`SceneEngine` turns :class:`~dcign.factors.Factors` into images.  It is cheap to
pickle (only its configuration travels) and creates its GL context lazily in the process
that first renders, so it can be handed to spawn-started DataLoader workers.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass

import numpy as np

from ..factors import AngleRange, Factors, FactorSpace

DATASETS = ("faces", "chairs")

# Factor ranges in degrees (faces as in the paper's face renders; chairs turn all the way round).
_RANGES = {
    "faces": {"azimuth": (-90.0, 90.0), "elevation": (-25.0, 25.0), "light_azimuth": (-80.0, 80.0)},
    "chairs": {"azimuth": (-180.0, 180.0), "elevation": (10.0, 30.0), "light_azimuth": (-80.0, 80.0)},
}


def mesh_model(dataset: str):
    """The mesh model of ``dataset`` ('faces' or 'chairs').

    Raises:
        ValueError: unknown data set name.
    """
    if dataset == "faces":
        from ..render.faces import FaceModel

        return FaceModel()
    if dataset == "chairs":
        from ..render.chairs import ChairModel

        return ChairModel()
    raise ValueError(f"unknown data set {dataset!r}; choose one of {', '.join(DATASETS)}")


@dataclass(frozen=True)
class EngineConfig:
    """Everything that determines an engine's pixels.

    Attributes:
        dataset: 'faces' or 'chairs'.
        size: image side in pixels (64 default, 150 as in the paper).
        seed: seeds the identity table and its train/test split.
        num_train_identities, num_test_identities: identity split sizes.
    """

    dataset: str = "faces"
    size: int = 64
    seed: int = 0
    num_train_identities: int = 1000
    num_test_identities: int = 100

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown data set {self.dataset!r}; choose one of {', '.join(DATASETS)}")
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
        self.model = mesh_model(self.config.dataset)
        r = _RANGES[self.config.dataset]
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
