"""Data: scene engines over the built-in graphics engine and the streaming pipeline."""

from .engine import DATASETS, EngineConfig, SceneEngine
from .stream import RenderedSteps, make_loader

__all__ = ["DATASETS", "EngineConfig", "SceneEngine", "RenderedSteps", "make_loader"]
