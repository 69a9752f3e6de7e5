"""Numbers as the text of table cells.

A configuration in the runs without a completed run shows MISSING; ABSENT ("—") means the runs do
not have that configuration at all (or there is no value). A difference to the paper between
different data reads NOT_SAME_DATA. A cell that says nothing (empty, ABSENT, "n/a ...") is blank
(`is_blank`): a column of blank cells is dropped from a table's display.
"""
from __future__ import annotations

import math

from .stats import ALPHA, Stat

MISSING = "missing"
ABSENT = "—"
NOT_SAME_DATA = "n/a (different data)"


MIXED = "†"  # marks a cell that pools runs of different precision or device
MIXED_NOTE = (f"{MIXED} the cell pools runs of different precision or device (columns precision and device "
              "of runs.csv): its spread is not seed noise alone.")


def is_blank(cell) -> bool:
    """A cell that holds no value: empty, ABSENT ("—"), or "n/a" with or without its reason."""
    text = "" if cell is None else str(cell).strip()
    return text in ("", ABSENT, "-") or text == "n/a" or text.startswith("n/a ")


def fmt_stat(s: Stat | None, digits: int = 2) -> str:
    """'mean ± std (n)', 'mean (1)', 'missing' (planned, none completed) or '—' (not run)."""
    if s is None or s.planned == 0:
        return ABSENT
    if s.n == 0:
        return MISSING
    mark = f" {MIXED}" if s.mixed else ""
    if s.n == 1:
        return f"{s.mean:.{digits}f} (1)"
    return f"{s.mean:.{digits}f} ± {s.std:.{digits}f} ({s.n}){mark}"


def fmt_num(value, digits: int = 1) -> str:
    return ABSENT if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def fmt_diff(ours: Stat | None, paper, same_data: bool) -> str:
    """ours - paper, or why there is none."""
    if not same_data:
        return NOT_SAME_DATA
    if ours is None or ours.n == 0 or paper is None or (isinstance(paper, float) and math.isnan(paper)):
        return ABSENT
    return f"{ours.mean - paper:+.2f}"


def fmt_welch(p: float | None, is_baseline: bool, p_holm: float | None = None) -> str:
    """'yes'/'no' by the Holm-adjusted p when there is a family of tests (shown), else by the raw p."""
    if is_baseline:
        return "baseline"
    if p is None:
        return "n/a (n<2)"
    shown = "p<0.001" if p < 0.001 else f"p={p:.3f}"
    if p_holm is None:
        return f"{'yes' if p < ALPHA else 'no'} ({shown})"
    holm = "p<0.001" if p_holm < 0.001 else f"p={p_holm:.3f}"
    return f"{'yes' if p_holm < ALPHA else 'no'} (Holm {holm})"  # the raw p is in the CSV


def fmt_count(value, unit: str = "") -> str:
    """A parameter or FLOP count with a k/M/G suffix."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ABSENT
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}{unit}"
    return f"{value:.0f}{unit}"
