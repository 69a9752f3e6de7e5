"""Value checks every spec runs on itself: one-line `UserError`s that name the key.

Specs call these from `__post_init__`, so an invalid spec cannot be built, whether it came from a
YAML file, an override or code.
"""
from __future__ import annotations

import math
import re
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


def shown(value, limit: int = 80) -> str:
    """`value` as an error message quotes it: on one line, cut at `limit` characters, a huge integer by its size."""
    if is_int(value) and abs(value) >= 10**30:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def shown_key(key) -> str:
    """A mapping key as an error message names it: as written when it is a field-like name, else quoted."""
    return key if isinstance(key, str) and _IDENTIFIER.fullmatch(key) else shown(key, 40)


def _beyond(key: str, value, limit) -> UserError:
    bound = f"{int(limit):,}" if float(limit).is_integer() and abs(limit) < 1e15 else f"{limit:g}"
    return UserError(f"{key}: expected at most {bound} (no real experiment goes beyond), got {shown(value)}")


def require_int(key: str, value, minimum: int, optional: bool = False, limit: Optional[int] = None) -> None:
    """`key` holds an integer >= minimum and <= limit (or None when optional), else a one-line UserError."""
    if optional and value is None:
        return
    if not is_int(value) or value < minimum:
        none = " (or null)" if optional else ""
        raise UserError(f"{key}: expected an integer >= {minimum}{none}, got {shown(value)}")
    if limit is not None and value > limit:
        raise _beyond(key, value, limit)


def require_number(key: str, value, low: float, low_open: bool, high: Optional[float] = None,
                    high_open: bool = True, limit: Optional[float] = None) -> None:
    """`key` holds a finite number in the given range (and <= limit), else a one-line UserError.

    `high` is part of the value's meaning (momentum < 1) and shows in every message; `limit` is a
    sanity bound (config/specs.py LIMITS) named only when it is passed.
    """
    ok = is_number(value) and (value > low if low_open else value >= low)
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if ok:
        if limit is not None and value > limit:
            raise _beyond(key, value, limit)
        return
    if high is None:
        expected = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        expected = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    raise UserError(f"{key}: expected {expected}, got {shown(value)}")


# A name that becomes a folder or file name (an ablation's sweep folder, a configuration's label):
# one path component, so no name can climb out of its folder, hide as a dot file or hold a newline.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
MAX_NAME = 100


def require_name(key: str, value) -> None:
    """`key` holds a safe path component: letters, digits, . _ + - (not first), at most MAX_NAME characters."""
    if isinstance(value, str) and SAFE_NAME.fullmatch(value) and len(value) <= MAX_NAME:
        return
    raise UserError(f"{key}: expected a name of letters, digits, '.', '_', '+' and '-' (starting with a letter or "
                    f"digit, at most {MAX_NAME} characters; it names a folder), got {shown(value)}")


def require_choice(key: str, value, known: Iterable[str]) -> None:
    """`key` holds one of the `known` names (a registry's keys), else a one-line UserError listing them."""
    known = tuple(known)
    if value not in known:
        raise UserError(f"{key}: expected one of {', '.join(known)}, got {shown(value)}")
