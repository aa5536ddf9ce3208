"""Training configuration: one JSON-serialisable dataclass, saved in every run directory."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .checks import MAX_SEED, is_finite_number, is_int
from .clamp import REFERENCES
from .data.engine import EngineConfig, check_dataset, data_version
from .data.sources import FILE_DATASETS, is_file_dataset
from .data.spec import parse_dataset_spec
from .factors import DEFAULT_BATCH_WEIGHTS, normalise_weights
from .layout import check_layout, default_layout, group_latents
from .model import PRESETS
from .objectives import CLAMP_TARGETS, METHODS

OPTIMIZERS = ("adam", "rmsprop")


DEFAULT_BETA = {"beta-vae": 4.0}
"""KL weight of a method when none is given (others: 1, the ELBO).  beta = 4: the value of
disentanglement_lib's study grid used most often for beta-VAE, and Higgins et al.'s (2017)
for 2D shapes; a beta-VAE left at 1 would silently be the plain baseline."""


@dataclass
class TrainConfig:
    """Everything a training run depends on.

    Attributes (units and defaults):
        method: 'dcign' (clamped one-factor batches, paper §3.1), 'baseline' (plain SGVB on
            random images, paper §4.1.1), 'beta-vae' (Higgins et al. 2017), 'ada-gvae'
            (Locatello et al. 2020).
        dataset, image_size, preset, latent_dim: data and network.  ``dataset`` is a
            built-in engine ('faces', 'chairs') or a user's data set as ``NAME:PATH``
            (:mod:`dcign.data.sources`, e.g. 'dsprites:/data/dsprites.npz'), whose factors
            then name the batch types, ``latent_layout`` and ``batch_weights`` (the paper's
            untouched defaults mean the data set's own: one latent per factor, intrinsic
            factors sharing the rest; see :mod:`dcign.data.file_stream`).
        channels: image channels, 1 (grey, the paper's) or 3 (RGB; users' colour data sets).
        dataset_options: options of a user's data set's reader (e.g. ``{"test_fraction": 0.2}``,
            ``{"bins": 5}``; :func:`dcign.data.sources.dataset_options`).
        steps: optimiser steps; batch_size: images per one-factor group (paper: 20);
        groups_per_step: one-factor groups stacked per step (each clamped separately).
        batch_weights: batch-type ratio (paper: 1:1:1:10).
        latent_layout: factor -> latent indices; unlisted factors (and 'identity') share
            the remaining latents (the intrinsic group).
        invariance_lambda: strength of the invariance-targeting gradient (paper: 0.01).
        clamp_reference: 'mean' (paper) or 'first' (authors' code).
        clamp_target: 'z' (paper: clamp the sample) or 'params' (authors' code: clamp mu
            and log sigma^2 before sampling).
        kl_on_clamped: keep the KL gradient of clamped latents (paper) or drop it (code).
        beta: KL weight; left out (None) it is the method's default, :data:`DEFAULT_BETA`:
            4 for 'beta-vae' (the value disentanglement_lib's study used most and Higgins et
            al. 2017 report for their shapes; beta = 1 would be the plain baseline), 1 (the
            ELBO) for the other methods.  Saved configs hold the number.
        optimizer: 'adam' (what the authors' code ran: Adam(5e-4, betas 0.9/0.99)) or
            'rmsprop' (the paper's text); lr: learning rate.
        seed: seeds weights, sampling noise and the data stream; data_seed seeds the
            identity table (train/test split).
        num_workers: render processes; checkpoint_every / eval_every: steps.
        data_version: version of the data set the run was trained on (e.g. 'faces-v2'),
            stamped by :func:`dcign.training.train`; evaluation refuses a run whose version
            differs from what its data set renders now.  None: not recorded (a config not
            trained yet).
    """

    method: str = "dcign"
    dataset: str = "faces"
    preset: str = "small-64"
    latent_dim: int = 200
    channels: int = 1
    dataset_options: dict = field(default_factory=dict)
    steps: int = 3000
    batch_size: int = 20
    groups_per_step: int = 4
    batch_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_BATCH_WEIGHTS))
    latent_layout: dict[str, list[int]] = field(default_factory=default_layout)
    invariance_lambda: float = 0.01
    clamp_reference: str = "mean"
    clamp_target: str = "z"
    kl_on_clamped: bool = True
    beta: float | None = None
    optimizer: str = "adam"
    lr: float = 5e-4
    seed: int = 0
    data_seed: int = 0
    num_train_identities: int = 1000
    num_test_identities: int = 100
    num_workers: int = 1
    checkpoint_every: int = 250
    eval_every: int = 250
    on_nonfinite: str = "stop"
    data_version: str | None = None

    def __post_init__(self) -> None:
        if self.beta is None and isinstance(self.method, str):
            self.beta = DEFAULT_BETA.get(self.method, 1.0)
        self.validate()

    def with_data_version(self) -> "TrainConfig":
        """A copy recording the version of what ``dataset`` renders now (training stamps it)."""
        from dataclasses import replace

        if self.is_file_data:  # a user's files: nothing is rendered, so there is no engine version
            return self
        return replace(self, data_version=data_version(self.dataset))

    @property
    def image_size(self) -> int:
        return PRESETS[self.preset].image_size

    def validate(self) -> None:
        """Raise ValueError naming the first bad field and how to fix it."""

        def bad(msg):
            raise ValueError(msg)

        for name in ("method", "dataset", "preset", "clamp_reference", "clamp_target", "optimizer", "on_nonfinite"):
            if not isinstance(getattr(self, name), str):
                bad(f"{name} must be a string, got {getattr(self, name)!r}")
        if self.method not in METHODS:
            bad(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        try:
            spec = parse_dataset_spec(self.dataset)
        except ValueError as exc:
            bad(str(exc))
        if is_file_dataset(spec.name):
            if spec.path is None:
                bad(f"data set {spec.name} reads your files: pass {spec.name}:PATH")
        else:
            try:
                check_dataset(self.dataset)
            except ValueError as exc:
                bad(f"{exc}, or your files as NAME:PATH with NAME one of {', '.join(FILE_DATASETS)}")
        if self.data_version is not None and not isinstance(self.data_version, str):
            bad(f"data_version must be a string, got {self.data_version!r}")
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            bad(f"channels must be 1 (grey) or 3 (RGB), got {self.channels!r}")
        if self.channels == 3 and not self.is_file_data:
            bad(f"the {self.dataset} engine renders grey images; channels 3 needs a colour data set NAME:PATH")
        if not isinstance(self.dataset_options, dict) or (self.dataset_options and not self.is_file_data):
            bad(f"dataset_options apply to a data set NAME:PATH only, got {self.dataset_options!r}")
        if self.preset not in PRESETS:
            bad(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        for name in ("latent_dim", "steps", "batch_size", "groups_per_step", "checkpoint_every", "eval_every",
                     "num_train_identities", "num_test_identities"):
            v = getattr(self, name)
            if not is_int(v) or v < 1:
                bad(f"{name} must be a positive integer, got {v!r}")
        if not is_int(self.num_workers) or self.num_workers < 0:
            bad(f"num_workers must be an integer >= 0, got {self.num_workers!r}")
        for name in ("seed", "data_seed"):
            v = getattr(self, name)
            if not is_int(v) or not 0 <= v <= MAX_SEED:
                bad(f"{name} must be an integer in 0..{MAX_SEED}, got {v!r}")
        if not isinstance(self.kl_on_clamped, bool):
            bad(f"kl_on_clamped must be true or false, got {self.kl_on_clamped!r}")
        for name in ("invariance_lambda", "beta", "lr"):
            v = getattr(self, name)
            if not is_finite_number(v) or v < 0:
                bad(f"{name} must be a finite number >= 0, got {v!r}")
        if self.lr <= 0:
            bad(f"lr must be > 0, got {self.lr}")
        if self.clamp_reference not in REFERENCES:
            bad(f"clamp_reference must be one of {REFERENCES}, got {self.clamp_reference!r}")
        if self.clamp_target not in CLAMP_TARGETS:
            bad(f"clamp_target must be one of {CLAMP_TARGETS}, got {self.clamp_target!r}")
        if self.optimizer not in OPTIMIZERS:
            bad(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.on_nonfinite not in ("stop", "skip"):
            bad(f"on_nonfinite must be 'stop' or 'skip', got {self.on_nonfinite!r}")
        if not isinstance(self.batch_weights, dict) or not all(is_finite_number(v) for v in self.batch_weights.values()):
            bad(f"batch_weights must map factor names to finite numbers, got {self.batch_weights!r}")
        if self.is_file_data:  # factor names are the data set's: checked when it is opened
            if not isinstance(self.latent_layout, dict):
                bad(f"latent_layout must map factor names to latent indices, got {self.latent_layout!r}")
        else:
            normalise_weights(self.batch_weights)
            self.latent_layout = check_layout(self.latent_layout, self.latent_dim)
        if self.batch_size * self.groups_per_step < 2:
            bad("a step needs at least 2 images")
        if not self.is_file_data and self.method == "dcign" and normalise_weights(self.batch_weights)["identity"] > 0 and self.batch_size > self.num_train_identities:
            bad("identity batches need batch_size <= num_train_identities")

    @property
    def is_file_data(self) -> bool:
        """Whether ``dataset`` is a user's data set (``NAME:PATH``) rather than a built-in engine."""
        return is_file_dataset(self.dataset.partition(":")[0]) and ":" in self.dataset

    def open_data(self):
        """Open the user's data set of this run (:func:`dcign.data.sources.open_dataset`)."""
        from .data.sources import open_dataset

        return open_dataset(self.dataset, **self.dataset_options)

    def file_groups(self, data=None) -> dict[str, list[int]]:
        """Active latents of each factor of the user's data set, in its factor order (DC-IGN's batch types).

        Raises:
            DataSourceError (a ValueError): a layout naming factors the data set lacks, etc.
        """
        from .data.file_stream import file_layout, layout_override

        data = data if data is not None else self.open_data()
        return file_layout(data.factor_names, data.intrinsic_factors, self.latent_dim, layout_override(self.latent_layout))

    def group_latents(self) -> dict[str, list[int]]:
        """Active latents of each batch type; factors without own latents use the intrinsic group."""
        return group_latents(self.latent_layout, self.latent_dim)

    def engine_config(self) -> EngineConfig:
        """The scene engine this run trains and is evaluated on (data set, image size, identities)."""
        return EngineConfig(self.dataset, self.image_size, self.data_seed, self.num_train_identities, self.num_test_identities)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Build from a dict; unknown keys raise ValueError naming them."""
        if not isinstance(data, dict):
            raise ValueError(f"a config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known, key=str)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; known keys: {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except (TypeError, AttributeError, OverflowError) as exc:  # a value of an unexpected type
            raise ValueError(f"bad config: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        """Read a JSON config file.

        Raises:
            ValueError: unreadable file, invalid JSON or invalid values.
        """
        return cls.from_dict(cls.load_dict(path))

    @staticmethod
    def load_dict(path: str | Path) -> dict:
        """The JSON object of a config file as written (defaults not filled in).

        Raises:
            ValueError: unreadable file or invalid JSON.
        """
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read config {path}: {exc}") from exc
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, huge int literals, absurd nesting
            raise ValueError(f"config {path} is not valid JSON: {exc}") from exc
        return data


RESUME_MAY_CHANGE = ("steps", "num_workers", "on_nonfinite")
"""TrainConfig fields a resumed run may change (the rest define the run)."""


def resume_conflicts(saved: TrainConfig, wanted: TrainConfig, may_change: tuple[str, ...] = RESUME_MAY_CHANGE) -> list[str]:
    """Sorted names of the fields, other than ``may_change``, in which ``wanted`` differs from ``saved``."""
    a, b = json.loads(saved.to_json()), json.loads(wanted.to_json())
    return sorted(k for k in b if k not in may_change and a.get(k) != b[k])
