"""Fuzz the numeric and string options of ``train``, ``data sample``, ``render`` and ``evaluate``.

Property: every command line either succeeds (exit 0) or is refused with exit code 2, exactly
one stderr line starting ``error:``, and nothing written (the folder tree is unchanged); any
other outcome, a traceback included, fails.  The options are read from the CLI itself, so
flags added later are fuzzed too.  Training and evaluation stop where the work would start
(``Trainer.fit``, Fig. 6): everything before it -- parsing, config validation, Lightning's
set-up, the data stream, model loading -- runs for real.  Cases found are kept as
``@example``s.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import types
import typing
from pathlib import Path
from unittest import mock

import pytest
import typer
from cli_helpers import TINY_RUN, dcign, make_exported_run, tree, write_png
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dcign.cli import app

FUZZ = settings(max_examples=12, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class Reached(Exception):
    """Raised where the real work would start: the command line was accepted."""


def options(*command: str) -> dict[str, object]:
    """Option name -> Click parameter of ``dcign COMMAND`` (path options excluded)."""
    cmd = typer.main.get_command(app)
    for name in command:
        cmd = cmd.commands[name]
    return {p.opts[0]: p for p in cmd.params
            if p.param_type_name == "option" and p.opts[0] not in ("--out", "--config", "--run", "--image", "--help")}


BAD_TEXT = ["", " ", "abc", "1.5", "1e3", "-1", "0x10", "nan", "inf", "--out", "é", "1,2"]
BIG_INTS = [0, -1, 1000, 1001, 2**31, 2**32, 2**63, 10**20, -(10**20)]


def kind(param) -> type | None:
    """The Python type a Click/Typer option converts to (Optional[...] unwrapped)."""
    t = getattr(getattr(param, "type_descriptor", None), "annotation", None) or getattr(getattr(param, "type", None), "name", None)
    t = {"integer": int, "float": float, "text": str, "boolean": bool}.get(t, t)
    args = [a for a in typing.get_args(t) if a is not type(None)]
    return args[0] if typing.get_origin(t) in (typing.Union, types.UnionType) and len(args) == 1 else t


def value(param) -> st.SearchStrategy:
    kind_ = kind(param)
    if kind_ is int:
        return st.one_of(st.integers(-5, 40).map(str), st.sampled_from(BIG_INTS).map(str), st.sampled_from(BAD_TEXT))
    if kind_ is float:
        return st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                         st.sampled_from(["1e999", "-0", "1e-320", "4", "0.5"]), st.sampled_from(BAD_TEXT))
    choices = list(getattr(getattr(param, "type", None), "choices", []) or [])
    known = ["faces", "chairs", "azimuth", "identity", "train", "test", "cpu", "auto", "gpu", "32-true", "bf16-mixed",
             "dcign", "baseline", "beta-vae", "ada-gvae", "small-64", "paper-150", "mean", "first", "z", "params",
             "adam", "rmsprop", "stop", "skip", "1", "0", "4"]
    return st.one_of(st.sampled_from(choices + known), st.sampled_from(BAD_TEXT),
                     st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8))


def command_lines(*command: str, max_options: int = 3) -> st.SearchStrategy:
    """Lists of ``[--option, value]`` (flags alone) for up to ``max_options`` options of the command."""
    opts = options(*command)

    def one(name):
        p = opts[name]
        if getattr(p, "is_flag", False):
            return st.sampled_from([[name]] + ([[p.secondary_opts[0]]] if p.secondary_opts else []))
        return value(p).map(lambda v: [name, v])

    picked = st.lists(st.sampled_from(sorted(opts)), max_size=max_options, unique=True)
    return picked.flatmap(lambda names: st.tuples(*(one(n) for n in names))).map(lambda ts: [a for t in ts for a in t])


def check(code: int, err: str, before: dict, after: dict) -> None:
    if code == 0:
        return
    lines = err.splitlines()
    assert code == 2, f"exit code {code}; stderr:\n{err}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"a refusal must be one error: line, got:\n{err}"
    assert after == before, f"refused, yet wrote {sorted(set(after.items()) ^ set(before.items()))}"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "tiny.json").write_text(json.dumps(TINY_RUN))
    make_exported_run(root / "run")
    write_png(root / "in.png")
    write_png(root / "small.png", size=32)
    (root / "not_an_image.png").write_text("hello")
    return root


def scratch(world: Path) -> Path:
    """A fresh folder per example (the property is checked on its tree)."""
    return Path(tempfile.mkdtemp(dir=world, prefix="ex-"))


@FUZZ
@given(args=command_lines("train"))
@example(args=["--batch-size", "100000"])
@example(args=["--accelerator", "warp-drive"])
@example(args=["--precision", "7-bit"])
@example(args=["--devices", "0"])
@example(args=["--steps", "abc"])
def test_fuzz_train(world, args):
    import lightning.pytorch as pl

    here = scratch(world)
    before = tree(here)
    with mock.patch.object(pl.Trainer, "fit", side_effect=Reached):
        try:
            code, _, err = dcign("train", "--out", here / "run", "--config", world / "tiny.json", "--accelerator", "cpu", *args)
        except Reached:
            return  # accepted; training would start here
    check(code, err, before, tree(here))
    shutil.rmtree(here)


@FUZZ
@given(args=command_lines("data", "sample"))
@example(args=["--batch-size", "100000"])
@example(args=["--seed", str(2**63)])
@example(args=["--size", "150", "--batch-size", "3"])
def test_fuzz_data_sample(world, args):
    here = scratch(world)
    before = tree(here)
    # Keep accepted examples quick: a batch of 41..1000 images is checked like one of 40.
    args = ["40" if a.isdigit() and 40 < int(a) <= 1000 and prev == "--batch-size" else a
            for prev, a in zip([None, *args], args)]
    code, _, err = dcign("data", "sample", "--out", here / "s", *args)
    check(code, err, before, tree(here))
    shutil.rmtree(here)


SET_NAMES = ["azimuth", "elevation", "light_azimuth", "identity", "", "AZIMUTH", "z1"]
DEGREES = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-200, 200).map(str),
                    st.sampled_from(BAD_TEXT + ["1e999", "90", "-90", "91"]))


@FUZZ
@given(sets=st.lists(st.tuples(st.sampled_from(SET_NAMES), DEGREES), min_size=1, max_size=3),
       image=st.sampled_from(["in.png", "small.png", "not_an_image.png", "missing.png", "", ".", "run"]),
       out=st.sampled_from(["o.png", "o.jpg", "missing/o.png", "", ".", "o"]),
       sep=st.sampled_from(["=", ":", "=="]))
@example(sets=[("azimuth", "10"), ("azimuth", "20")], image="in.png", out="o.png", sep="=")
@example(sets=[("azimuth", "1e999")], image="in.png", out="o.png", sep="=")
@example(sets=[("azimuth", "nan")], image="in.png", out="o.png", sep="=")
def test_fuzz_render(world, sets, image, out, sep):
    here = scratch(world)
    before = tree(here)
    image_arg = world / image if image not in ("", ".") else image
    out_arg = here / out if out not in ("", ".") else out
    args = [a for name, v in sets for a in ("--set", f"{name}{sep}{v}")]
    code, _, err = dcign("render", "--run", world / "run", "--image", image_arg, "--out", out_arg, *args)
    check(code, err, before, tree(here))
    shutil.rmtree(here)


@FUZZ
@given(args=command_lines("evaluate"))
@example(args=["--identities", "9"])
@example(args=["--identities", "0"])
@example(args=["--values", "1"])
@example(args=["--values", str(10**9)])  # was accepted: 3 x 20 x 10^9 images to render
def test_fuzz_evaluate(world, args):
    import dcign.evaluation.report as report

    here = scratch(world)
    run = here / "run"
    shutil.copytree(world / "run", run)
    before = tree(here)
    with mock.patch.object(report, "fig6", side_effect=Reached):
        try:
            code, _, err = dcign("evaluate", run, *args)
        except Reached:
            return  # accepted; the evaluation would start here
    check(code, err, before, tree(here))
    shutil.rmtree(here)
