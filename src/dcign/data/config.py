"""The data section of a run's config: which scenes, which identities, what one step holds."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from ..checks import check_fields, int_at_most, is_finite_number, optional_string, positive_int, seed_range, setting
from ..factors import DEFAULT_BATCH_WEIGHTS, FACTORS, normalise_weights
from .engine import EngineConfig, check_dataset, data_version
from .sources import FILE_DATASETS, is_file_dataset
from .spec import parse_dataset_spec


def parse_weights(text: str) -> dict[str, float]:
    """'1,1,1,10' (azimuth, elevation, light_azimuth, identity) or 'factor=weight,...' (any factor names).

    Raises:
        ValueError: not numbers, a part without a factor name, a factor named twice, or not four of
            them in the first form.
    """
    if "=" in text:
        out = {}
        for part in filter(None, text.split(",")):
            name, sep, value = part.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"--batch-weights {part!r} in {text!r}: write factor=weight for each, e.g. azimuth=1,identity=10")
            if name.strip() in out:
                raise ValueError(f"--batch-weights names {name.strip()!r} twice in {text!r}; give each factor one weight")
            try:
                out[name.strip()] = float(value)
            except ValueError:
                raise ValueError(f"--batch-weights must be numbers, got {text!r}") from None
        return out
    parts = text.split(",")
    if len(parts) != len(FACTORS):
        raise ValueError(f"--batch-weights takes {len(FACTORS)} numbers '{','.join(FACTORS)}', got {text!r}")
    try:
        return {f: float(p) for f, p in zip(FACTORS, parts)}
    except ValueError:
        raise ValueError(f"--batch-weights must be numbers, got {text!r}") from None


def parse_options(items: list[str]) -> dict:
    """['test_fraction=0.2', 'bins=5'] -> {'test_fraction': 0.2, 'bins': 5} (JSON values, else strings).

    Raises:
        ValueError: an item without '='.
    """
    options = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--data-option takes key=value, got {item!r}")
        key, value = item.split("=", 1)
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options


def check_weights(key: str, w) -> None:
    """Check: factor -> finite weight (a data set's factors are checked when it is opened)."""
    if not isinstance(w, dict) or not all(is_finite_number(v) for v in w.values()):
        raise ValueError(f"{key} must map factor names to finite numbers, got {w!r}")


def check_data_set(key: str, dataset) -> None:
    """Check: a built-in engine (``faces``, ``chairs``, ...; ``bfm:PATH``) or a user's data set ``NAME:PATH``."""
    if not isinstance(dataset, str):
        raise ValueError(f"{key} must be a string, got {dataset!r}")
    spec = parse_dataset_spec(dataset)
    if is_file_dataset(spec.name):
        if spec.path is None:
            raise ValueError(f"data set {spec.name} reads your files: pass {spec.name}:PATH")
        return
    try:
        check_dataset(dataset)
    except ValueError as exc:
        raise ValueError(f"{exc}, or your files as NAME:PATH with NAME one of {', '.join(FILE_DATASETS)}") from None


MAX_IDENTITIES = 1_000_000
"""Most identities of one split: the engine holds a coefficient table per identity (a few
hundred bytes each), so 2**32 identities asked for 32 GiB before this cap."""


MAX_IMAGES_PER_STEP = 65_536
"""Most images of one step (batch_size x groups_per_step; the paper's step is 1 group of 20)."""


identity_count = int_at_most(MAX_IDENTITIES, "the engine keeps a table row per identity")
"""Check: an int in 1..:data:`MAX_IDENTITIES`."""


@dataclass(frozen=True)
class DataConfig:
    """Where training steps come from and what one step holds (paper §3.1-3.2).

    Attributes:
        dataset: a built-in scene engine (:data:`dcign.data.engine.DATASETS`), ``bfm:PATH``, or a
            user's data set ``NAME:PATH`` (:mod:`dcign.data.sources`), whose factors then name the
            batch types, ``latent_layout`` and ``batch_weights`` (:mod:`dcign.data.file_stream`).
        dataset_options: options of a user's data set's reader (e.g. ``{"test_fraction": 0.2}``,
            ``{"bins": 5}``; :func:`dcign.data.sources.dataset_options`).
        data_seed: seeds the identity table and its train / test split.
        num_train_identities, num_test_identities: identity split sizes.
        batch_size: images per one-factor group (paper: 20).
        groups_per_step: one-factor groups stacked per step, each clamped to its own mean.
        batch_weights: batch-type ratio azimuth : elevation : light_azimuth : identity (paper 1:1:1:10).
        data_version: version of the data set the run was trained on (e.g. 'faces-v2'), stamped
            by :func:`dcign.training.train`; evaluation refuses a run whose version differs from
            what its data set renders now.  None: not recorded (a config not trained yet).

    Raises:
        ValueError: naming the first bad setting, or a step of fewer than 2 images.
    """

    dataset: str = setting("faces", "faces, heads (the v1 heads), chairs, bfm:PATH, or your data set "
                           "NAME:PATH (dsprites, 3dshapes, mpi3d, smallnorb, cars3d, chairs3d, dcign-t7, folder).",
                           check=check_data_set)
    dataset_options: dict = setting(dict, "Reader option key=value of a NAME:PATH data set, e.g. test_fraction=0.2 "
                                    "or bins=5 (repeatable).", flag="--data-option", parse=parse_options, multiple=True)
    data_seed: int = setting(0, "Seed of the identity table and its train/test split.", check=seed_range)
    num_train_identities: int = setting(1000, "Training identities.", check=identity_count)
    num_test_identities: int = setting(100, "Test identities, never seen in training.", check=identity_count)
    batch_size: int = setting(20, "Images per one-factor group (paper: 20).",
                              check=int_at_most(MAX_IMAGES_PER_STEP, "images rendered and held per group"))
    groups_per_step: int = setting(4, "One-factor groups per step, each clamped to its own mean (paper: 1).",
                                   check=int_at_most(MAX_IMAGES_PER_STEP, "groups rendered and held per step"))
    batch_weights: dict = setting(lambda: dict(DEFAULT_BATCH_WEIGHTS),
                                  "Batch-type ratio azimuth,elevation,light_azimuth,identity (paper: 1,1,1,10), or "
                                  "factor=weight,... (NAME:PATH data sets: 1 per factor, 10 shared by the identity-like ones).",
                                  parse=parse_weights, check=check_weights)
    data_version: str | None = setting(None, "Version of the data set the run was trained on (stamped by training).",
                                       flag=False, check=optional_string)

    def __post_init__(self) -> None:
        check_fields(self)
        if not isinstance(self.dataset_options, dict) or (self.dataset_options and not self.is_file_data):
            raise ValueError(f"dataset_options apply to a data set NAME:PATH only, got {self.dataset_options!r}")
        if not self.is_file_data:  # a data set's own factors are checked when it is opened
            normalise_weights(self.batch_weights)
        images = self.batch_size * self.groups_per_step
        if images < 2:
            raise ValueError(f"a step needs at least 2 images (batch_size x groups_per_step), got {self.batch_size} x "
                             f"{self.groups_per_step}; raise --batch-size or --groups-per-step")
        if images > MAX_IMAGES_PER_STEP:
            raise ValueError(f"a step holds at most {MAX_IMAGES_PER_STEP:,} images (batch_size x groups_per_step), "
                             f"got {self.batch_size} x {self.groups_per_step}; lower --batch-size or --groups-per-step")

    @property
    def is_file_data(self) -> bool:
        """Whether ``dataset`` is a user's data set (``NAME:PATH``) rather than a built-in engine."""
        return is_file_dataset(self.dataset.partition(":")[0]) and ":" in self.dataset

    def engine_config(self, image_size: int) -> EngineConfig:
        """The scene engine of these settings at ``image_size`` pixels."""
        return EngineConfig(self.dataset, image_size, self.data_seed, self.num_train_identities, self.num_test_identities)

    def with_data_version(self) -> "DataConfig":
        """A copy recording the version of what ``dataset`` renders now (training stamps it)."""
        if self.is_file_data:  # a user's files: nothing is rendered, so there is no engine version
            return self
        return replace(self, data_version=data_version(self.dataset))
