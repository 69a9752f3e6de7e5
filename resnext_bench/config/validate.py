"""Value checks every spec runs on itself: one-line `UserError`s that name the key.

Specs call these from `__post_init__`, so an invalid spec cannot be built, whether it came from a
YAML file, an override or code.
"""
from __future__ import annotations

import math
from typing import Iterable, Optional

from ..errors import UserError


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A finite int or float (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def require_int(key: str, value, minimum: int, optional: bool = False) -> None:
    """`key` holds an integer >= minimum (or None when optional), else a one-line UserError."""
    if optional and value is None:
        return
    if not is_int(value) or value < minimum:
        none = " (or null)" if optional else ""
        raise UserError(f"{key}: expected an integer >= {minimum}{none}, got {value!r}")


def require_number(key: str, value, low: float, low_open: bool, high: Optional[float] = None,
                    high_open: bool = True) -> None:
    """`key` holds a finite number in the given range, else a one-line UserError."""
    ok = is_number(value) and (value > low if low_open else value >= low)
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if ok:
        return
    if high is None:
        expected = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        expected = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    raise UserError(f"{key}: expected {expected}, got {value!r}")


def require_choice(key: str, value, known: Iterable[str]) -> None:
    """`key` holds one of the `known` names (a registry's keys), else a one-line UserError listing them."""
    known = tuple(known)
    if value not in known:
        raise UserError(f"{key}: expected one of {', '.join(known)}, got {value!r}")
