"""A run's configuration: four typed sections, each defined and checked where it belongs.

==========  ==========================================  =====================================
section     class                                       holds
==========  ==========================================  =====================================
``model``   :class:`dcign.model.ModelConfig`            preset, latent_dim
``method``  :class:`dcign.objectives.MethodConfig`      method, latent layout, clamp, beta
``data``    :class:`dcign.data.config.DataConfig`       data set, identities, step composition
``run``     :class:`RunConfig` (here)                   steps, optimiser, seed, workers, checkpoints
==========  ==========================================  =====================================

:class:`TrainConfig` holds one of each, checks what spans sections (the layout against the
code size, identity batches against the identities) and is passed as it is, typed, from the
CLI to training, export and evaluation.  Only files see its plain form: ``config.json``,
``model.json`` and checkpoints keep one flat JSON object of :data:`KEYS` (each key belongs to
one section), the form every earlier version wrote, so old run directories load unchanged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .checks import check_fields, choice, count, int_at_most, optional_positive, positive, positive_int, seed_range, setting, setting_key
from .data.config import DataConfig
from .data.engine import EngineConfig
from .factors import normalise_weights
from .layout import check_layout, group_latents
from .model import ModelConfig
from .objectives import MethodConfig, default_beta

OPTIMIZERS = ("adam", "rmsprop")
LR_SCHEDULES = ("constant", "cosine")
ON_NONFINITE = ("stop", "skip")


MAX_TIME_LIMIT = 1e7
"""Most minutes ``--time-limit`` takes (19 years; Python's timedelta overflows near 1.4e12)."""


def time_limit_minutes(key: str, v) -> None:
    """Check: None or a finite number of minutes in (0, :data:`MAX_TIME_LIMIT`]."""
    optional_positive(key, v)
    if v is not None and v > MAX_TIME_LIMIT:
        raise ValueError(f"{key} must be at most {MAX_TIME_LIMIT:g} minutes, got {v!r}; leave --time-limit out for no limit")


MAX_WORKERS = 64
"""Most render worker processes (--workers 10000 started 10000 processes and filled the memory)."""


@dataclass(frozen=True)
class RunConfig:
    """The run section: how long, with which optimiser and seed, on how many render workers.

    The defaults of all four sections are the main job's (``scripts/main_job.sh`` calls
    ``dcign train`` with no training options); the README's options table is generated from
    them (``python scripts/options_table.py``), so a default changes in one place: its field.

    Attributes:
        steps: optimiser steps (the main job's; see the field's default).
        optimizer: 'adam' (what the authors' code ran: Adam(lr, betas 0.9/0.99)) or 'rmsprop'
            (the paper's text); lr: learning rate (the main job's 1e-3 by default: on the CPU
            budget it reached the same Fig. 6 correlations in fewer steps than the paper's 5e-4,
            which the paper-scale plan of ``dcign reproduce --full`` keeps).
        lr_schedule: 'cosine' (the main job's) or 'constant' (the paper's): with 'cosine' the rate
            falls from ``lr`` to ``lr * COSINE_FLOOR`` over ``steps`` on a half cosine
            (Loshchilov & Hutter 2017, without restarts), see :func:`lr_factor`.  Chosen on
            validation faces at the main job's 7,000 steps: MSE 0.00379 (constant) -> 0.00339,
            azimuth novel view 0.0162 -> 0.0156, Fig. 6 unchanged (README, "The main job").
        time_limit: minutes of training wall clock (Lightning's ``max_time``, summed over
            resumes) after which training stops at the end of a step and the run is exported,
            even before ``steps``; None: no limit.  A cosine ``lr_schedule`` still decays over
            ``steps``, so a run stopped by its time limit ends before the rate reaches its floor.
        seed: seeds weights, sampling noise and the data stream.
        num_workers: render processes (0 renders in the training process).
        checkpoint_every, eval_every: steps between checkpoints and between probes.
        on_nonfinite: 'stop' or 'skip' a step whose loss or gradient is NaN/inf.

    Raises:
        ValueError: naming the first bad setting.
    """

    steps: int = setting(7000, "Optimiser steps (the main job's).",
                         check=int_at_most(10**9, "a billion steps is years on any machine; use --time-limit to stop on time"))
    time_limit: float | None = setting(None, "Minutes of training (wall clock, summed over resumes) after which the run "
                                       "stops and is exported even before --steps.", check=time_limit_minutes)
    optimizer: str = setting("adam", "adam (authors' code) or rmsprop (paper text).",
                             check=choice(OPTIMIZERS, "optimizer"))
    lr: float = setting(1e-3, "Learning rate (the main job's: faster to disentangle on a CPU budget than the paper's "
                        "and authors' code's 5e-4, which --lr 5e-4 gives).", check=positive)
    lr_schedule: str = setting("cosine", "cosine (the main job's) or constant (the paper's): cosine decays to 1/50 of --lr over --steps.",
                               check=choice(LR_SCHEDULES, "lr_schedule"))
    seed: int = setting(0, "Seed of weights, noise and data stream.", check=seed_range)
    num_workers: int = setting(1, "Render worker processes (0 renders in the training process; on a CUDA GPU "
                               "dcign train starts more when --workers is not given).",
                               flag="--workers", check=int_at_most(MAX_WORKERS, "each worker is a process holding its own "
                                                                    "renderer and torch, about 150 MB", base=count))
    checkpoint_every: int = setting(250, "Steps between checkpoints.", check=positive_int)
    eval_every: int = setting(250, "Steps between probes of the pose and light latents.",
                              check=positive_int)
    on_nonfinite: str = setting("stop", "stop or skip a batch with a NaN/inf loss.",
                                check=choice(ON_NONFINITE, "on_nonfinite"))

    def __post_init__(self) -> None:
        check_fields(self)


COSINE_FLOOR = 0.02
"""Last learning rate of the cosine schedule, as a fraction of ``lr``."""


def lr_factor(run: RunConfig, step: int) -> float:
    """Learning-rate multiplier at optimiser step ``step`` (0-based) of a run.

    'constant': 1.  'cosine': ``f + (1 - f) * (1 + cos(pi * t)) / 2`` with
    ``t = min(step / steps, 1)`` and ``f`` = :data:`COSINE_FLOOR`; a resumed run that raises
    ``steps`` stretches the rest of the curve.
    """
    if run.lr_schedule == "constant":
        return 1.0
    t = min(max(step, 0) / run.steps, 1.0)
    return COSINE_FLOOR + (1.0 - COSINE_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * t))


SECTIONS = {"model": ModelConfig, "method": MethodConfig, "data": DataConfig, "run": RunConfig}
"""Section name -> its class, in the order of the CLI's help."""

KEYS: dict[str, tuple[str, str]] = {setting_key(f): (name, f.name) for name, cls in SECTIONS.items() for f in fields(cls)}
"""config.json key -> (section, field); e.g. ``"method"`` -> ``("method", "name")``."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on, by section (see the module docstring).

    Raises:
        ValueError: a section of the wrong type, a latent layout that does not fit the code,
            or DC-IGN identity batches larger than the training identities.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    data: DataConfig = field(default_factory=DataConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        for name, cls in SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise ValueError(f"the {name} section must be a {cls.__name__}, got {type(getattr(self, name)).__name__}")
        if self.method.beta is None:  # the method's default, which may depend on the image size
            object.__setattr__(self, "method", replace(self.method, beta=default_beta(self.method.name, self.model.image_size)))
        d = self.data
        if self.model.channels == 3 and not d.is_file_data:
            raise ValueError(f"the {d.dataset} engine renders grey images; channels 3 needs a colour data set NAME:PATH")
        if d.is_file_data:  # factor names are the data set's: checked when it is opened
            if not isinstance(self.method.latent_layout, dict):
                raise ValueError(f"latent_layout must map factor names to latent indices, got {self.method.latent_layout!r}")
            return
        layout = check_layout(self.method.latent_layout, self.model.latent_dim)
        if layout != self.method.latent_layout:  # kept as plain lists of ints
            object.__setattr__(self, "method", replace(self.method, latent_layout=layout))
        if self.method.name == "dcign" and normalise_weights(d.batch_weights)["identity"] > 0 and d.batch_size > d.num_train_identities:
            raise ValueError("identity batches need batch_size <= num_train_identities")

    @property
    def image_size(self) -> int:
        """Input and output side in pixels (the preset's)."""
        return self.model.image_size

    def group_latents(self) -> dict[str, list[int]]:
        """Active latents of each batch type; factors without own latents use the intrinsic group."""
        return group_latents(self.method.latent_layout, self.model.latent_dim)

    def with_data_version(self) -> "TrainConfig":
        """A copy recording the version of what its data set renders now (training stamps it)."""
        return replace(self, data=self.data.with_data_version())

    @property
    def is_file_data(self) -> bool:
        """Whether the data set is a user's (``NAME:PATH``) rather than a built-in engine."""
        return self.data.is_file_data

    def open_data(self):
        """Open the user's data set of this run (:func:`dcign.data.sources.open_dataset`)."""
        from .data.sources import open_dataset

        return open_dataset(self.data.dataset, **self.data.dataset_options)

    def file_groups(self, data=None) -> dict[str, list[int]]:
        """Active latents of each factor of the user's data set, in its factor order (DC-IGN's batch types).

        Raises:
            DataSourceError (a ValueError): a layout naming factors the data set lacks, etc.
        """
        from .data.file_stream import file_layout, layout_override

        data = data if data is not None else self.open_data()
        return file_layout(data.factor_names, data.intrinsic_factors, self.model.latent_dim,
                           layout_override(self.method.latent_layout))

    def engine_config(self) -> EngineConfig:
        """The scene engine this run trains and is evaluated on (data set, image size, identities)."""
        return self.data.engine_config(self.image_size)

    def to_dict(self) -> dict:
        """The flat plain-data form written to files: {key: value} for every key of :data:`KEYS`."""
        out = {}
        for key, (section, name) in KEYS.items():
            v = getattr(getattr(self, section), name)
            out[key] = json.loads(json.dumps(v)) if isinstance(v, dict) else v
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def updated(self, **changes) -> "TrainConfig":
        """A copy with some keys of :data:`KEYS` changed (checked like :meth:`from_dict`).

        The other keys keep this config's values (``beta`` included: a method changed here
        keeps the old method's number; build from :meth:`from_dict` to get the new one's default).
        """
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Build from the flat form (any subset of :data:`KEYS`; the rest keep their defaults).

        Raises:
            ValueError: not a dict, unknown keys (named), or invalid values.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a config must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(KEYS), key=str)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; known keys: {', '.join(sorted(KEYS))}")
        parts: dict[str, dict] = {name: {} for name in SECTIONS}
        for key, value in data.items():
            section, name = KEYS[key]
            parts[section][name] = value
        try:
            return cls(**{name: SECTIONS[name](**kw) for name, kw in parts.items()})
        except (TypeError, AttributeError, OverflowError) as exc:  # a value of an unexpected type
            raise ValueError(f"bad config: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        """Read a JSON config file (the flat form; written by every version of dcign).

        A key that an earlier version did not write takes the value that version trained with
        (:data:`BEFORE_THE_KEY`), not today's default, so an old run resumes as it began.

        Raises:
            ValueError: unreadable file, invalid JSON or invalid values (the message names the file).
        """
        data = cls.load_dict(path)
        if isinstance(data, dict):
            data = {**BEFORE_THE_KEY, **data}
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"config {path}: {exc}") from exc

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


BEFORE_THE_KEY = {"lr_schedule": "constant"}
"""Saved-run keys whose default changed after earlier versions wrote run folders without them:
the value those runs trained with (the learning rate was constant before ``lr_schedule``)."""

RESUME_MAY_CHANGE = ("steps", "time_limit", "num_workers", "on_nonfinite")
"""Keys a resumed run may change (the rest define the run)."""


def resume_conflicts(saved: TrainConfig, wanted: TrainConfig) -> list[str]:
    """Sorted keys, other than :data:`RESUME_MAY_CHANGE`, in which ``wanted`` differs from ``saved``."""
    a, b = saved.to_dict(), wanted.to_dict()
    return _differing(a, b, b)


def checkpoint_conflicts(trained: dict, wanted: dict) -> list[str]:
    """Sorted keys, other than :data:`RESUME_MAY_CHANGE`, in which the config dict ``wanted``
    differs from ``trained``, a checkpoint's own config; keys only one of them records (a
    checkpoint written before the key existed) are not compared."""
    return _differing(trained, wanted, trained.keys() & wanted.keys())


def _differing(saved: dict, wanted: dict, keys) -> list[str]:
    return sorted(k for k in keys if k not in RESUME_MAY_CHANGE and saved.get(k) != wanted.get(k))


def _recorded(path: Path, key: str):
    """The value ``key`` has in the JSON file ``path`` (None when absent or null)."""
    try:
        return json.loads(path.read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None


def check_resumable(run_dir: str | Path, wanted: TrainConfig, may_change: str | None = None) -> TrainConfig:
    """The saved config of ``run_dir`` if ``wanted`` may resume it: the one resume check.

    ``may_change`` names what may differ in the message (default: the keys of
    :data:`RESUME_MAY_CHANGE`; ``dcign train`` passes their flags).

    Raises:
        ValueError: ``run_dir/config.json`` missing or unreadable, or ``wanted`` differs from it
            in a key other than :data:`RESUME_MAY_CHANGE` (the message names them).
    """
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ValueError(f"cannot resume: {path} does not exist (train without --resume to start a new run)")
    saved = TrainConfig.load(path)
    if _recorded(path, "beta") is None:  # a hand-edited or foreign file: the default would silently change the run
        raise ValueError(f"cannot resume {run_dir}: {path} records no KL weight (\"beta\"); add the value it was trained "
                         f"with (its checkpoint's hyper-parameters hold it), e.g. \"beta\": 1.0")
    changed = resume_conflicts(saved, wanted)
    if changed == ["data_version"]:
        raise ValueError(f"cannot resume {run_dir}: it was trained on data set version {saved.data.data_version or 'unrecorded'}, "
                         f"but --dataset {wanted.data.dataset} now renders {wanted.data.data_version}; train a new run")
    if changed:
        raise ValueError(f"cannot resume {run_dir} with a different config: {', '.join(changed)} "
                         f"{'differs' if len(changed) == 1 else 'differ'} from its config.json "
                         f"(only {may_change or ', '.join(RESUME_MAY_CHANGE)} may change)")
    return saved
