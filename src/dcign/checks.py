"""Value checks shared by every layer (config sections, model files, reports).

Each returns a plain answer (no message); the caller names the field and the fix.
"""

from __future__ import annotations

import math

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
