"""Numbers and counts as words people read: `si(12_345_678)` is "12.3M", `plural(1, "thread")` is "1 thread".

Torch-free and dependency-free, so the grid (which runs before torch is imported) and the report can
share it. Only for text meant to be read: CSV, JSON and result files keep exact numbers.
"""
from __future__ import annotations

import math
import numbers
from decimal import ROUND_HALF_UP, Decimal

PREFIXES = ("", "K", "M", "G", "T")  # powers of 1000; beyond T the mantissa grows ("1500T")


def si(n, unit: str = "") -> str:
    """`n` with a K/M/G/T prefix and 3 significant figures, then `unit` (appended as given).

    12_345_678 -> "12.3M", 4_089_184_256 -> "4.09G", 999_950 -> "1.00M" (rounding carries into the
    next prefix), 1000 -> "1.00K". Whole numbers below 1000 print exactly ("0", "950"); other numbers
    below 1000 get 3 significant figures ("2.50", "0.123"); below 0.001 and from 1,000,000T on,
    scientific ("1.23e-5"). Negatives keep their sign ("-12.3M");
    NaN and infinities print as "nan", "inf", "-inf". Exact halves round up (124_500 -> "125K").
    Not a number (None, a string, a bool): TypeError.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Real):
        raise TypeError(f"si: expected a number, got {n!r}")
    if isinstance(n, numbers.Integral):  # ints (numpy's too) stay exact, however big
        v = int(n)
        sign, mag = "-" if v < 0 else "", abs(v)
    else:
        x = float(n)
        if math.isnan(x):
            return "nan" + unit
        if math.isinf(x):
            return ("inf" if x > 0 else "-inf") + unit
        sign, mag = "-" if x < 0 else "", abs(x)
    if mag < 1000 and float(mag).is_integer():
        return f"{sign}{int(mag)}{unit}"
    # Round to 3 significant figures once, in decimal and half up (124_500 -> "125K"), so that no
    # float drift from dividing by 1e6 can show up in the text.
    d = Decimal(mag)  # exact: ints stay ints, a float is its exact binary value
    exp = d.adjusted()  # 7 for 12_345_678
    mantissa = d.scaleb(-exp).quantize(Decimal("1.00"), rounding=ROUND_HALF_UP)
    if mantissa >= 10:  # 9.995 -> 10.00: carry into the next power of ten
        mantissa, exp = (mantissa / 10).quantize(Decimal("1.00"), rounding=ROUND_HALF_UP), exp + 1
    digits = f"{mantissa:.2f}".replace(".", "")  # "123"
    k = min(exp // 3, len(PREFIXES) - 1) if exp >= 3 else 0
    shift = exp - 3 * k  # digits before the point, minus one
    if exp < -3 or shift > 5:  # below 0.001 or from 1,000,000T on: scientific, still 3 figures
        return f"{sign}{digits[0]}.{digits[1:]}e{exp:+d}{unit}"
    if shift < 0:
        text = "0." + "0" * (-shift - 1) + digits
    elif shift >= 2:
        text = digits + "0" * (shift - 2)
    else:
        text = digits[:shift + 1] + "." + digits[shift + 1:]
    return f"{sign}{text}{PREFIXES[k]}{unit}"


def plural(n, word: str, words: str | None = None) -> str:
    """The count and the noun: "1 thread", "2 threads", "0 runs"; `words` for an irregular plural.

    Whole numbers get thousands separators ("10,000 configurations").
    """
    many = words if words is not None else word + "s"
    shown = f"{n:,}" if isinstance(n, numbers.Integral) and not isinstance(n, bool) else f"{n}"
    return f"{shown} {word if n == 1 else many}"
