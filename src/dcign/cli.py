"""Command-line interface: ``dcign data sample | train | evaluate | render | app | compare | reproduce``.

Every refusal is one line on stderr starting with ``error:`` and exit code 2; nothing is
written when an argument is bad.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Optional

import typer

from . import __version__

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="DC-IGN (Kulkarni et al., NIPS 2015): train, evaluate and re-render with a learned graphics code.")
data_app = typer.Typer(no_args_is_help=True, help="Look at training data: the built-in graphics engine's, or a data set of your files (--dataset NAME:PATH).")
app.add_typer(data_app, name="data")


class UsageError(ValueError):
    """Bad command-line input (exit code 2)."""


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def path_arg(text: str) -> Path:
    """Parser of every path option: an empty string is refused (Path("") would mean the current folder)."""
    if not str(text).strip():
        raise typer.BadParameter("an empty path; name a file or folder")
    return Path(text)


MAX_SAMPLE_IMAGES = 1000
"""Largest `dcign data sample --batch-size`: images are written as images/000.png .. 999.png."""


MAX_SWEEP_VALUES = 181
"""Largest `dcign evaluate --values`: 1-degree steps over azimuth's -90..90 (each value renders
identities x 3 sweeps of images)."""


def version_callback(value: bool):
    if value:
        typer.echo(f"dcign {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True, help="Print the version.")):
    pass


@data_app.command("sample")
def data_sample(
    dataset: str = typer.Option("faces", help="Data set: faces, heads (the v1 heads), chairs, bfm:PATH (your Basel Face Model file), or your files as NAME:PATH (dsprites:FILE, folder:DIR, ...)."),
    factor: Optional[str] = typer.Option(None, help="Factor that varies: azimuth (default), elevation, light_azimuth or identity; for NAME:PATH one of its factors (default: its first)."),
    batch_size: int = typer.Option(20, "--batch-size", help="Images in the batch."),
    size: int = typer.Option(64, help="Image side in pixels: 64 or 150 (NAME:PATH: any size >= 8)."),
    channels: int = typer.Option(1, help="1 (grey) or 3 (RGB, for colour data sets NAME:PATH)."),
    data_option: list[str] = typer.Option([], "--data-option", help="Reader option key=value of a NAME:PATH data set, e.g. test_fraction=0.2 (repeatable)."),
    seed: int = typer.Option(0, help="Seed (same seed, same pixels)."),
    split: str = typer.Option("train", help="Identities to draw from: train or test (never seen in training)."),
    out: Path = typer.Option(..., parser=path_arg, help="Output folder for batch.png, factors.json and images/NNN.png."),
):
    """Render one batch in which only FACTOR varies; write DIR/batch.png and DIR/factors.json.

    The grid is ordered by the varied factor (left to right, top to bottom); each image is also
    written alone as DIR/images/NNN.png, ready for `dcign render --image`."""
    from .data.engine import EngineConfig, SceneEngine, check_dataset
    from .data.sources import is_file_dataset
    from .factors import FACTORS
    from .atomic import atomic_write_json, check_writable_dir, removed_if_left_empty
    from .images import save_png, tile

    if is_file_dataset(dataset.partition(":")[0]):
        _sample_files(dataset, factor, batch_size, size, channels, seed, split, out, data_option)
        return
    factor = factor or "azimuth"
    if channels != 1:
        fail(f"--channels 3 needs a colour data set NAME:PATH; the {dataset} engine renders grey")
    try:
        check_dataset(dataset)
    except ValueError as exc:
        fail(str(exc))
    if factor not in FACTORS:
        fail(f"unknown factor {factor!r}; choose one of {', '.join(FACTORS)}")
    if size not in (64, 150):
        fail(f"--size must be 64 or 150 pixels, got {size}")
    if not 1 <= batch_size <= MAX_SAMPLE_IMAGES:
        fail(f"--batch-size must be in 1..{MAX_SAMPLE_IMAGES}, got {batch_size}")
    if split not in ("train", "test"):
        fail(f"--split must be train or test, got {split!r}")
    if seed < 0:
        fail(f"--seed must be >= 0, got {seed}")
    with removed_if_left_empty(out):  # a refusal or a failed write leaves no empty --out
        try:
            engine = SceneEngine(EngineConfig(dataset, size, seed))
            import numpy as np

            factors = engine.space.one_factor_batch(np.random.default_rng(seed), factor, batch_size, split)
            factors = factors.subset(np.argsort(factors[factor], kind="stable"))  # grid in the varied factor's order
            images = engine.render(factors)
            out = check_writable_dir(out)  # only once the arguments have proved good: nothing written otherwise
        except ValueError as exc:
            fail(str(exc))
        cols = min(10, batch_size)
        save_png(out / "batch.png", tile(images, -(-batch_size // cols), cols))
        records = []
        for i in range(batch_size):
            records.append({
                "azimuth": float(factors.azimuth[i]), "elevation": float(factors.elevation[i]),
                "light_azimuth": float(factors.light_azimuth[i]), "identity": int(factors.identity[i]),
                "identity_coefficients": [float(c) for c in engine.space.coefficients(factors.identity[i])],
                "varied": factor,
            })
        for i in range(batch_size):
            save_png(out / "images" / f"{i:03d}.png", images[i, 0])
        atomic_write_json(out / "factors.json", records)
        typer.echo(f"wrote {out / 'batch.png'}, {out / 'factors.json'} and {batch_size} images in {out / 'images'}")


def _sample_files(dataset, factor, batch_size, size, channels, seed, split, out, data_option) -> None:
    """``dcign data sample --dataset NAME:PATH`` (see :mod:`dcign.data.file_sample`)."""
    from .data.config import parse_options
    from .data.file_sample import sample_file_batch
    from .data.sources import open_dataset

    if batch_size < 2:
        fail(f"--batch-size must be at least 2 for a one-factor batch, got {batch_size}")
    if size < 8:
        fail(f"--size must be at least 8 pixels, got {size}")
    if channels not in (1, 3):
        fail(f"--channels must be 1 or 3, got {channels}")
    if seed < 0:
        fail(f"--seed must be >= 0, got {seed}")
    try:
        options = parse_options(data_option)
        factor = factor or open_dataset(dataset, **options).factor_names[0]
        sample_file_batch(dataset, factor, batch_size, split, seed, size, channels, out, options)
    except ValueError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write in {out}: {exc.strerror or exc}")
    typer.echo(f"wrote {out / 'batch.png'}, {out / 'factors.json'} and {batch_size} images in {out / 'images'}")


def _config_options() -> list[inspect.Parameter]:
    """One ``--flag`` per config key, generated from the sections' fields (:data:`dcign.config.KEYS`).

    Each flag's help is its field's, with the field's default value shown as ``(default: ...)``
    (:func:`dcign.checks.default_text`); it shows under its section's heading in ``--help``. A
    flag left out keeps the value of ``--config`` (or of the saved run, with ``--resume``).
    """
    from dataclasses import fields

    from .checks import default_text, setting_flag, setting_key
    from .config import SECTIONS

    options = []
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            meta, key, flag = f.metadata, setting_key(f), setting_flag(f)
            if flag is None:  # recorded by dcign itself (data_version)
                continue
            kind = str if meta.get("parse") else {"int": int, "float": float, "bool": bool, "str": str}[f.type.replace(" | None", "")]
            decls = (f"{flag}/--no-{flag[2:]}",) if kind is bool else (flag,)
            option = typer.Option(None, *decls, help=f"{meta['help']} (default: {default_text(f)})",
                                  rich_help_panel=f"{section.capitalize()} settings")
            annotation = Optional[list[str]] if meta.get("multiple") else Optional[kind]
            options.append(inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation))
    return options


def _resume_flags() -> str:
    """'--steps, --time-limit, --workers and --on-nonfinite': the flags of :data:`dcign.config.RESUME_MAY_CHANGE`."""
    from dataclasses import fields

    from .checks import setting_flag, setting_key
    from .config import RESUME_MAY_CHANGE, SECTIONS

    flag = {setting_key(f): setting_flag(f) for cls in SECTIONS.values() for f in fields(cls)}
    names = [flag[k] for k in RESUME_MAY_CHANGE]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _with_flag(message: str, flags: dict[str, str | None]) -> str:
    """Prefix a config error with the flag of the earliest given key it names ('batch_weights' or
    'batch weights'), e.g. 'unknown lr_schedule ...' -> '--lr-schedule: unknown lr_schedule ...'."""
    named = [(m.start(), flag) for key, flag in flags.items() if flag
             for m in [re.search(rf"\b({key}|{key.replace('_', ' ')})\b", message)] if m]
    return f"{min(named)[1]}: {message}" if named else message


def _config_from_flags(out: Path, config: Optional[Path], resume: bool, flags: dict):
    """The run's TrainConfig: --config (or the saved run's, with --resume) updated by the given flags.

    Raises:
        ValueError: a bad flag value, config file or run folder (the message is one line).
    """
    from dataclasses import fields

    from .atomic import check_writable_dir
    from .checks import setting_flag, setting_key
    from .config import KEYS, SECTIONS, TrainConfig, check_resumable
    from .distributed import is_global_zero_by_env

    settings = [f for cls in SECTIONS.values() for f in fields(cls)]
    parse = {setting_key(f): f.metadata.get("parse") for f in settings}
    flag_of = {setting_key(f): setting_flag(f) for f in settings}
    overrides = {k: parse[k](v) if parse[k] else v for k, v in flags.items() if k in KEYS and v not in (None, [])}
    if resume:
        keep = f"--resume keeps the run's saved config; only {_resume_flags()} may change"
        if config is not None:
            raise UsageError(f"{keep} (got --config)")
        saved = out / "config.json"
        if not saved.is_file():
            raise UsageError(f"cannot resume: {saved} does not exist (train without --resume to start a run)")
        try:
            cfg = TrainConfig.load(saved)
        except ValueError as exc:  # a hand-edited config.json (the message names the file)
            raise UsageError(str(exc)) from None
        try:
            cfg = cfg.updated(**overrides)
            check_resumable(out, cfg, may_change=_resume_flags())
        except ValueError as exc:
            raise UsageError(_with_flag(str(exc), {k: flag_of.get(k) for k in overrides})) from None
        return cfg
    base = TrainConfig.load_dict(config) if config else {}  # as given: the method's defaults fill in
    if not isinstance(base, dict):
        raise UsageError(f"config {config} must hold a JSON object, got {type(base).__name__}")
    try:
        cfg = TrainConfig.from_dict({**base, **overrides})
    except ValueError as exc:
        if config:  # name the file if a value it holds is bad on its own (a flag that overrides a key wins)
            try:
                TrainConfig.from_dict({k: v for k, v in base.items() if k not in overrides})
            except ValueError as file_exc:
                raise UsageError(f"config {config}: {file_exc}") from None
        # name the flag, not only its config key ('--workers: num_workers must be ...')
        raise UsageError(_with_flag(str(exc), {k: flag_of.get(k) for k in overrides})) from None
    if cfg.is_file_data:  # read the user's data set (and refuse it) before creating --out
        from .training import make_dataset

        make_dataset(cfg)
        if cfg.method.name == "dcign":
            cfg.file_groups()  # its factors against --latent-layout
    check_writable_dir(out, must_be_new=is_global_zero_by_env())  # DDP ranks > 0 re-run this command once rank 0 writes
    return cfg


def train(
    out: Path = typer.Option(..., parser=path_arg, help="Run folder (config, checkpoints, logs, model, report)."),
    config: Optional[Path] = typer.Option(None, parser=path_arg, help="JSON config file (the keys of config.json); flags override it."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last checkpoint."),
    accelerator: str = typer.Option("auto", help="Lightning accelerator: auto, cpu, gpu (= cuda), mps, tpu."),
    devices: str = typer.Option("auto", help="Lightning devices (e.g. 1, 4, auto)."),
    num_nodes: int = typer.Option(1, "--num-nodes", help="Machines for multi-node DDP."),
    precision: str = typer.Option("32-true", help="Lightning precision, e.g. 32-true, bf16-mixed."),
    channels_last: Optional[bool] = typer.Option(None, "--channels-last/--no-channels-last", help="NHWC layout for the convolutions (default: where measured to help; see README)."),
    compile_net: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the encoder and decoder (default: where measured to help; see README)."),
    **settings,
):
    """Train a DC-IGN (or a baseline) and export it to OUT/model.safetensors + model.json.

    Several devices or machines train with Lightning's DDP: each process renders its own
    one-factor groups (--groups-per-step per process); only rank 0 writes to OUT."""
    from .atomic import removed_if_left_empty
    from .distributed import check_devices

    if devices != "auto" and not (devices.isdigit() and int(devices) > 0):
        fail(f"--devices must be a positive integer or auto, got {devices!r}")
    devices = int(devices) if devices.isdigit() else devices
    try:
        check_devices(accelerator, devices)
    except ValueError as exc:
        fail(str(exc))
    if settings.get("num_workers") is None and not resume:
        settings["num_workers"] = _gpu_workers(accelerator, devices)
    with removed_if_left_empty(out):  # a refused set-up leaves no empty --out folder
        try:
            cfg = _config_from_flags(out, config, resume, settings)
        except ValueError as exc:
            fail(str(exc))
        _train_and_export(cfg, out, resume, accelerator, devices, num_nodes, precision,
                          channels_last=channels_last, compile=compile_net)


def _gpu_workers(accelerator: str, devices) -> int | None:
    """Render workers per process when training on CUDA GPUs and --workers is not given (else None)."""
    import torch

    from .gpu import suggest_workers

    if str(accelerator).lower() not in ("auto", "gpu", "cuda") or not torch.cuda.is_available():
        return None
    return suggest_workers(devices if isinstance(devices, int) else torch.cuda.device_count())


class _GeneratedOptions:
    """``train`` with its config flags generated when Typer first reads its signature, so that
    commands that do not train never import torch (the config sections import it)."""

    def __init__(self, func) -> None:
        self.func = func
        self.__name__, self.__qualname__, self.__module__, self.__doc__ = func.__name__, func.__qualname__, func.__module__, func.__doc__

    @property
    def __signature__(self) -> inspect.Signature:
        own = [p for p in inspect.signature(self.func, eval_str=True).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        return inspect.Signature(own + _config_options())

    @property
    def __annotations__(self) -> dict:
        return {p.name: p.annotation for p in self.__signature__.parameters.values()}

    def __call__(self, **kwargs):
        return self.func(**kwargs)


app.command("train")(_GeneratedOptions(train))


def _train_and_export(cfg, out: Path, resume: bool, accelerator, devices, num_nodes, precision, **fast_path) -> None:
    from .distributed import is_global_zero_by_env
    from .training import NonFiniteLossError, train_and_export

    talk = is_global_zero_by_env()  # DDP ranks > 0 run this command too
    if talk:
        limit = "" if cfg.run.time_limit is None else f" or {cfg.run.time_limit:g} min"
        typer.echo(f"training {cfg.method.name} on {cfg.data.dataset} ({cfg.model.preset}) for {cfg.run.steps} steps{limit} -> {out}")
    try:
        train_and_export(cfg, out, resume=resume, log=typer.echo, accelerator=accelerator,
                         devices=devices, num_nodes=num_nodes, precision=precision, **fast_path)
    except (NonFiniteLossError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the run in {out}: {exc.strerror or exc}")
    if talk:
        typer.echo(f"model written to {out / 'model.safetensors'} (+ model.json)")


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., parser=path_arg, metavar="RUN_DIR", help="A trained run folder."),
    identities: int = typer.Option(20, help="Test identities per Fig. 6 sweep."),
    values: int = typer.Option(19, help="Angles per sweep."),
    metrics: bool = typer.Option(True, help="Add the disentanglement metrics (beta-VAE, FactorVAE, MIG, DCI, SAP, modularity; ~1 min on 2 cores)."),
    dataset: Optional[str] = typer.Option(None, help="Evaluate on this data set NAME:PATH instead of the run's own (e.g. a faces model on dcign-t7:DIR)."),
    data_option: list[str] = typer.Option([], "--data-option", help="Reader option key=value for --dataset (repeatable)."),
):
    """Evaluate on test identities; write RUN_DIR/report (Fig. 6, traversals, reconstructions, metrics, metrics.json).

    Runs trained on NAME:PATH (or given --dataset NAME:PATH) are evaluated on that data set's
    test split: factor correlations over one-factor test batches, traversals, reconstructions, metrics."""
    from .atomic import removed_if_left_empty
    from .data.config import parse_options
    from .data.sources import is_file_dataset
    from .evaluation.report import evaluate as run_evaluate

    if not 2 <= values <= MAX_SWEEP_VALUES:
        fail(f"--values must be in 2..{MAX_SWEEP_VALUES} angles per sweep, got {values}")
    if dataset is not None and not (is_file_dataset(dataset.partition(":")[0]) and ":" in dataset):
        fail(f"--dataset takes a data set of your files as NAME:PATH (dcign-t7, dsprites, ...), got {dataset!r}")
    with removed_if_left_empty(run_dir / "report"):
        try:
            options = parse_options(data_option) if data_option else None
            result = run_evaluate(run_dir, identities, values, progress=lambda m: typer.echo(f"  {m}", err=True), metrics=metrics,
                                  dataset=dataset, dataset_options=options)
        except ValueError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot write the report in {run_dir}: {exc.strerror or exc}")
    for f, r in result["fig6"].items():
        typer.echo(f"{f:14s} Spearman {r['spearman']:+.3f}  Pearson {r['pearson']:+.3f}")
    for f, r in (result.get("angle_readback") or {}).items():
        if r["circular"]:  # a factor that turns all the way (chairs' azimuth): its read-back error is the headline
            typer.echo(f"{f:14s} read back from the code: median error {r['median_abs_error_deg']:.1f} deg "
                       f"(mean {r['mean_abs_error_deg']:.1f}, {r['n_images']} test images)")
    typer.echo(f"test MSE per pixel {result['test_mse']:.5f}")
    if "disentanglement" in result:
        typer.echo("metrics " + "  ".join(f"{k} {v:.3f}" for k, v in result["disentanglement"]["headline"].items()))
    typer.echo(f"report: {Path(run_dir) / 'report' / 'report.md'}")


@app.command()
def render(
    run: Path = typer.Option(..., parser=path_arg, help="A trained run folder."),
    image: Path = typer.Option(..., parser=path_arg, help="Input image (grey or colour; converted to grey; must be the model's size)."),
    set_: list[str] = typer.Option(..., "--set", help="factor=degrees, e.g. azimuth=30 (repeatable)."),
    out: Path = typer.Option(..., parser=path_arg, help="Output PNG."),
):
    """Re-render IMAGE with some factors set to new angles (degrees)."""
    from .export import load_model
    from .images import load_image, save_png
    from .inference import angle_codes, rerender

    try:
        net, cfg, meta = load_model(run)
        degrees = {}
        for item in set_:
            if "=" not in item:
                raise UsageError(f"--set takes factor=degrees, got {item!r}")
            name, value = item.split("=", 1)
            if name in degrees:
                raise UsageError(f"--set {name}= is given twice; set each factor once")
            try:
                degrees[name] = float(value)
            except ValueError:
                raise UsageError(f"--set {name}= needs a number of degrees, got {value!r}") from None
        codes = angle_codes(meta.get("angle_maps", {}), degrees)
        if out.suffix.lower() != ".png":
            raise UsageError(f"--out must end in .png, got {out}")
        if out.parent and not out.parent.is_dir():
            raise UsageError(f"output folder {out.parent} does not exist")
        x = load_image(image, cfg.image_size)
    except ValueError as exc:
        fail(str(exc))
    y = rerender(net, x, codes)
    try:
        save_png(out, y)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    typer.echo(f"wrote {out}")


@app.command("app")
def app_command(
    run_dir: Path = typer.Argument(..., parser=path_arg, metavar="RUN_DIR", help="A trained run folder (with model.safetensors + model.json)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind. The default serves this machine only; 0.0.0.0 exposes the app to every machine that can reach this one, without a password: they can use the model, see its test images, upload files and load any run folder this user can read."),
    port: Optional[int] = typer.Option(None, help="Port (default: the first free one from 7860)."),
):
    """Open a browser app to re-render images with sliders (degrees), as `dcign render` does."""
    from .app import launch

    if port is not None and not 1 <= port <= 65535:
        fail(f"--port must be in 1..65535, got {port}")
    try:
        from .export import read_model_json

        read_model_json(run_dir)  # a missing model is refused before anything starts
        _, url = launch(run_dir, host, port, block=False)
    except ValueError as exc:
        fail(str(exc))
    except ImportError as exc:
        fail(f"the app needs Gradio ({exc}); install it with `pip install 'dcign[app]'`")
    except OSError as exc:
        fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}")
    typer.echo(f"dcign app on {url} (Ctrl+C stops it)")
    import threading

    threading.Event().wait()


@app.command()
def compare(
    run_dirs: list[Path] = typer.Argument(..., parser=path_arg, metavar="RUN_DIRS...", help="Evaluated run folders (each with report/metrics.json)."),
    out: Path = typer.Option(Path("runs/compare"), parser=path_arg, help="Folder for compare.md, compare.json and compare.png."),
    dataset: Optional[str] = typer.Option(None, help="Require every run to have been evaluated on this data set (NAME or NAME:PATH): compare like with like."),
):
    """Table and plot of Fig. 6 correlations, test MSE and disentanglement metrics across runs."""
    from .atomic import check_writable_dir, removed_if_left_empty
    from .evaluation.compare import check_distinct, compare_runs, evaluated_on, load_run_metrics

    with removed_if_left_empty(out):
        try:
            check_distinct(run_dirs)
            for run_dir in run_dirs:  # refuse a run without a report before creating --out
                m = load_run_metrics(run_dir)
                if dataset is not None and not evaluated_on(m, dataset):
                    raise ValueError(f"{run_dir} was evaluated on {m.get('dataset')!r}, not {dataset}; "
                                     f"run `dcign evaluate {run_dir} --dataset {dataset}` first")
            check_writable_dir(out)
            compare_runs(run_dirs, out)
        except ValueError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot write in {out}: {exc.strerror or exc}")
    typer.echo((out / "compare.md").read_text())
    typer.echo(f"written: {out / 'compare.md'}, compare.json, compare.png")


@app.command()
def reproduce(
    out: Path = typer.Option(Path("runs/reproduce"), parser=path_arg, help="Folder for the three runs, figures, report.md and results.json."),
    full: bool = typer.Option(False, help="Paper scale (150 px, paper-150 preset; meant for a GPU)."),
    steps: Optional[int] = typer.Option(None, help="Steps of every run (overrides the plan)."),
    accelerator: str = typer.Option("auto", help="Lightning accelerator: auto, cpu, gpu (= cuda), mps, tpu."),
):
    """Reproduce the paper's experiments, quantified: faces DC-IGN, entangled baseline, chairs (one report).

    Default CPU plan: both face runs take `dcign train`'s defaults (the main job's preset, steps
    and learning rate: see `dcign train --help`), chairs 1500 steps (about 50 min on 2 cores).
    --full: paper-150 preset, 20000 steps each, Adam at the paper's lr 5e-4 (a GPU job).
    Interrupted runs resume from their checkpoints when the command is run again.
    """
    from .atomic import removed_if_left_empty
    from .reproduce import reproduce as run_reproduce
    from .training import NonFiniteLossError

    if steps is not None and steps < 1:
        fail(f"--steps must be a positive integer, got {steps}")
    with removed_if_left_empty(out):
        try:
            results = run_reproduce(out, full=full, steps=steps, progress=typer.echo, accelerator=accelerator)
        except (NonFiniteLossError, ValueError) as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot write in {out}: {exc.strerror or exc}")
    nv = results.get("novel_view_mse", {})
    for model in ("dcign", "baseline"):
        if model in nv:
            typer.echo(f"novel-view MSE {model:8s} " + "  ".join(f"{f} {v:.5f}" for f, v in nv[model].items()))
    for t in results.get("targets", {}).values():
        verdict = {True: "met", False: "MISSED", None: "not measurable"}[t["met"]]
        typer.echo(f"target: {t['target']}: {verdict}")
    typer.echo(f"report: {out / 'report.md'}")


def main(argv: list[str] | None = None) -> None:
    """The ``dcign`` command (``argv``: the arguments, default ``sys.argv[1:]``); exits with its status.

    Exit codes: 0 done, 2 refused (one ``error:`` line on stderr, nothing written), 130
    interrupted.  Click's usage errors (a missing option, ``--steps abc``) are reported as
    one ``error:`` line too, not as a framed box.
    """
    import warnings

    # Keep the terminal readable: library notices that a user cannot act on.
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="lightning")
    try:
        from sklearn.exceptions import ConvergenceWarning

        warnings.filterwarnings("ignore", category=ConvergenceWarning)
    except ImportError:
        pass
    import logging

    advert = logging.Filter()
    advert.filter = lambda record: not str(record.msg).startswith("💡 Tip")  # Lightning's product tips
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(advert)
    try:
        code = app(args=argv, prog_name="dcign", standalone_mode=False)
    except typer.TyperException as exc:  # Click's usage errors: missing argument, not an integer, ...
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `dcign data`: the help text
            exc.show()
            sys.exit(2)
        typer.echo(f"error: {usage_error_line(exc)}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def usage_error_line(exc) -> str:
    """Click's usage error as one line naming the fix: "Missing option '--out'. (see `dcign train --help`)"."""
    message = " ".join(exc.format_message().split()) if hasattr(exc, "format_message") else str(exc)
    ctx = getattr(exc, "ctx", None)
    return f"{message} (see `{ctx.command_path} --help`)" if ctx is not None else message


if __name__ == "__main__":
    main()
