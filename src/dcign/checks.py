"""Value checks shared by every layer (config sections, model files, reports), and
:func:`setting`, the dataclass field every config section declares its settings with.

``is_*`` return a plain answer; the checks of settings raise ValueError naming the key.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, field, fields
from typing import Any

MAX_SEED = 2**32 - 1
"""Largest seed numpy and Lightning accept."""


def is_int(v) -> bool:
    """True for an int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_finite_number(v) -> bool:
    """True for a finite int or float (not a bool, not an int too large for a float)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int too large for a float
        return False


def finite_or_none(v) -> float | None:
    """``v`` as a float if it is a finite int or float (not a bool), else None."""
    return float(v) if is_finite_number(v) else None


# --------------------------------------------------------------------------------------
# Settings: dataclass fields that carry their help text, flag and check
# --------------------------------------------------------------------------------------


def setting(default, help: str, *, check: Callable[[str, Any], None] | None = None, flag: str | bool | None = None,
            parse: Callable[[str], Any] | None = None, key: str | None = None, multiple: bool = False,
            default_text: str | None = None):
    """A dataclass field of a config section, with what the CLI and the checks need.

    Args:
        default: the default value, or a function making it (for dicts and lists).
        help: the ``--help`` text of its flag, without the default: ``--help`` and the
            README's options table show it from the value (:func:`default_text`).
        check: ``check(key, value)`` raising ValueError naming the key; run by :func:`check_fields`.
        flag: the command-line flag (default ``--`` + the key with dashes; False: none, for
            what only dcign itself records).
        parse: turns the flag's text into the value (default: the flag's type does).
        key: its name in config.json and in messages (default: the field name).
        multiple: the flag may be repeated; ``parse`` gets the list of its texts.
        default_text: how to show a default that its value does not say (e.g. None meaning
            "the method's own"); by default :func:`default_text` writes the value.
    """
    kw = {"default_factory": default} if callable(default) else {"default": default}
    return field(metadata={"help": help, "check": check, "flag": flag, "parse": parse, "key": key, "multiple": multiple,
                           "default_text": default_text}, **kw)


def setting_default(f):
    """The default value of a :func:`setting` field (its factory called, for dicts and lists)."""
    return f.default_factory() if f.default is MISSING else f.default


def setting_flag(f) -> str | None:
    """The command-line flag of a :func:`setting` field (``--`` + its key with dashes), or None."""
    flag = f.metadata.get("flag")
    if flag is False:
        return None
    return flag or "--" + setting_key(f).replace("_", "-")


def default_text(f) -> str:
    """A :func:`setting` field's default as a user would type it: ``2500``, ``0.001``, ``small-64``,
    ``azimuth=0,elevation=1,light_azimuth=2`` (the flag's syntax for dicts), ``none``, ``on``/``off``."""
    if f.metadata.get("default_text"):
        return f.metadata["default_text"]
    v = setting_default(f)
    if v is None or v == {} or v == []:
        return "none"
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict):
        items = [(k, x) for k, xs in v.items() for x in (xs if isinstance(xs, list) else [xs])]
        return ",".join(f"{k}={x:g}" if isinstance(x, float) else f"{k}={x}" for k, x in items)
    return str(v)


def setting_key(f) -> str:
    """The config.json key of a :func:`setting` field."""
    return f.metadata.get("key") or f.name


def check_fields(section) -> None:
    """Run the ``check`` of every :func:`setting` field of a dataclass instance (ValueError on the first bad one)."""
    for f in fields(section):
        check = f.metadata.get("check")
        if check is not None:
            check(setting_key(f), getattr(section, f.name))


def choice(options, label: str | None = None) -> Callable[[str, Any], None]:
    """Check: a string among ``options`` ('unknown LABEL ...; choose one of ...')."""
    def check(key, v):
        if not isinstance(v, str):
            raise ValueError(f"{key} must be a string, got {v!r}")
        if v not in options:
            raise ValueError(f"unknown {label or key} {v!r}; choose one of {', '.join(options)}")
    return check


def positive_int(key: str, v) -> None:
    """Check: an int >= 1."""
    if not is_int(v) or v < 1:
        raise ValueError(f"{key} must be a positive integer, got {v!r}")


def int_at_most(high: int, why: str, base: Callable[[str, Any], None] = positive_int) -> Callable[[str, Any], None]:
    """Check: ``base`` (an int >= 1; :func:`count` for >= 0), and at most ``high`` ('KEY must be at most HIGH (WHY)')."""
    def check(key, v):
        base(key, v)
        if v > high:
            raise ValueError(f"{key} must be at most {high:,} ({why}), got {v!r}")
    return check


def count(key: str, v) -> None:
    """Check: an int >= 0."""
    if not is_int(v) or v < 0:
        raise ValueError(f"{key} must be an integer >= 0, got {v!r}")


def seed_range(key: str, v) -> None:
    """Check: an int in 0..MAX_SEED."""
    if not is_int(v) or not 0 <= v <= MAX_SEED:
        raise ValueError(f"{key} must be an integer in 0..{MAX_SEED}, got {v!r}")


def boolean(key: str, v) -> None:
    """Check: True or False."""
    if not isinstance(v, bool):
        raise ValueError(f"{key} must be true or false, got {v!r}")


def non_negative(key: str, v) -> None:
    """Check: a finite number >= 0."""
    if not is_finite_number(v) or v < 0:
        raise ValueError(f"{key} must be a finite number >= 0, got {v!r}")


def optional_string(key: str, v) -> None:
    """Check: None or a string."""
    if v is not None and not isinstance(v, str):
        raise ValueError(f"{key} must be a string, got {v!r}")


def optional_non_negative(key: str, v) -> None:
    """Check: None or a finite number >= 0."""
    if v is not None:
        non_negative(key, v)


def optional_positive(key: str, v) -> None:
    """Check: None or a finite number > 0."""
    if v is not None:
        positive(key, v)


def positive(key: str, v) -> None:
    """Check: a finite number > 0."""
    if not is_finite_number(v) or v <= 0:
        raise ValueError(f"{key} must be a finite number > 0, got {v!r}")
