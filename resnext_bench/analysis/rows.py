"""What every paper table shares: the notes on our numbers and the tidy rows of Table.data."""
from __future__ import annotations

import math

import pandas as pd

from .render import with_counts
from .runs import depth_of, group_label
from .stats import ALPHA, Stat


WELCH_NOTE = (
    "vs C=1: Welch's t-test (unequal variances, scipy.stats.ttest_ind equal_var=False) of the "
    "configuration's seeds against the C=1 configuration of the same depth; yes = Holm-adjusted "
    "p < 0.05, Holm over every comparison of the table (the report's readings use the same family)."
)


STAT_NOTE = (
    "ours: final top-1 validation error (%) of completed runs, mean ± sample std (n runs); "
    "missing = configuration in the runs with no completed run; — = not in the runs."
)


def tidy_frame(records: list[dict]) -> pd.DataFrame:
    """Tidy records as a DataFrame with nullable integer counts (no '16.0' widths or
    '25557032.0' parameters in the CSV): `render.with_counts`."""
    return with_counts(pd.DataFrame(records))


def diff_notes(sections: list[tuple[str, bool]], paper_data: str) -> list[str]:
    """The notes on a diff column, from (our data, whether it is the paper's) of each section:
    where the difference is given, and why it is not elsewhere."""
    notes = []
    if any(same for _, same in sections):
        notes.append(f"diff = ours - paper, given only for runs on the paper's data ({paper_data}).")
    other = sorted({str(data) for data, same in sections if not same})
    if other:
        notes.append(f"no diff for runs on {', '.join(other)}: not the paper's data ({paper_data}); comparable "
                     "with the paper in ordering, not in level.")
    return notes


def table_row(table, group, c, d, s: Stat | None, paper, diff, p, label: str | None = None,
            p_holm: float | None = None, **extra) -> dict:
    """One tidy CSV row (`label` names the group when it is not the group key's own label)."""
    return {
        "table": table, "group": label or group_label(group), "template": group[0], "depth": depth_of(group[0]),
        "dataset": group[1], "recipe": group[2], "epochs_planned": group[3],
        "cardinality": c, "bottleneck_width": d,
        "setting": f"{c}x{d}d" if d is not None else None,
        "planned": s.planned if s else 0, "n": s.n if s else 0,
        "mean": s.mean if s and s.n else math.nan, "std": s.std if s else math.nan,
        "paper": paper if paper is not None else math.nan, "diff": diff,
        "p_value": p if p is not None else math.nan,
        "p_holm": p_holm if p_holm is not None else math.nan,
        "significant": ((p_holm if p_holm is not None else p) < ALPHA) if p is not None else None,
        **extra,
    }


def diff_of(ours: Stat | None, paper, same_data: bool) -> float:
    if not same_data or ours is None or ours.n == 0 or paper is None:
        return math.nan
    return ours.mean - float(paper)


def nan_if_none(value) -> float:
    return math.nan if value is None else value
