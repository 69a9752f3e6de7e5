"""The numbers behind a table cell: mean, sample std and n of completed runs, and Welch's test.

Our number is the final top-1 (top-5) validation error of completed runs: mean +- sample std (n).
A seed counts once per configuration and group, however many ablations trained it.

Significance: with >= 2 seeds, a configuration is compared with a reference configuration (in
Table 3 the C=1 configuration of the same group, see `baseline_config`) by Welch's t-test
(scipy.stats.ttest_ind, equal_var=False); significant when p < ALPHA. Two groups with no spread
at all differ significantly exactly when their means differ.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine import rundir

ALPHA = 0.05


@dataclass(frozen=True)
class Stat:
    """Completed-run values of one configuration: mean, sample std, n and the values."""

    values: tuple[float, ...]
    planned: int
    mixed: str = ""  # what differs between the pooled runs beyond the seed, e.g. "precision bf16/fp32"

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if self.n >= 2 else math.nan


SAME_RUN = ["group", "baseline", "cardinality", "bottleneck_width", "shortcut", "seed"]


def one_run_per_seed(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep one run per (group, configuration, seed), a completed one first (then by sweep, run id).

    The same configuration and seed trained by two ablations (32x4d in Table 3 and in the
    residual ablation) repeats one experiment: it must count once, not as two seeds.
    """
    if frame.empty or "seed" not in frame or frame["seed"].isna().all():
        return frame
    order = frame.assign(_done=frame["status"] != rundir.COMPLETED).sort_values(["_done", "sweep", "run_id"], kind="stable")
    key = pd.Series(["|".join(map(str, row)) for row in zip(*(order[c] for c in SAME_RUN))])
    keep = ~key.duplicated().to_numpy() | order["seed"].isna().to_numpy()
    return frame.loc[order.index[keep]].sort_index()


def stat_of(frame: pd.DataFrame, column: str = "final_val_top1_err") -> Stat:
    """The Stat of `column` over the completed runs of `frame`, one run per seed (each seed counts as planned)."""
    frame = one_run_per_seed(frame)
    done = frame[(frame["status"] == rundir.COMPLETED) & frame[column].notna()]
    return Stat(tuple(float(v) for v in done[column]), len(frame), mixed_provenance(done))


# What can move a result's last digits besides the seed: a cell that pools runs differing in one
# of these says so (its spread is not seed noise alone).
PROVENANCE = ("precision", "device")


def mixed_provenance(frame: pd.DataFrame) -> str:
    """'precision bf16/fp32; device ...' for the provenance columns whose values differ, else ''."""
    parts = []
    for column in PROVENANCE:
        if column in frame:
            values = sorted({str(v) for v in frame[column].dropna()})
            if len(values) > 1:
                parts.append(f"{column} {'/'.join(values)}")
    return "; ".join(parts)


def welch(a: Stat, b: Stat) -> float | None:
    """Welch's t-test p-value of a vs b, or None with fewer than 2 values on a side."""
    if a.n < 2 or b.n < 2:
        return None
    if np.var(a.values) == 0 and np.var(b.values) == 0:
        return 1.0 if a.mean == b.mean else 0.0  # no spread: any gap is beyond the (zero) noise
    with warnings.catch_warnings():  # near-identical samples only warn about precision; p is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        from scipy import stats  # ~1 s to import: only when a test is due

        return float(stats.ttest_ind(a.values, b.values, equal_var=False).pvalue)


def baseline_config(frame: pd.DataFrame) -> tuple[int, int] | None:
    """The group's C=1 configuration (the one with most completed runs, then the smallest d)."""
    ones = frame[frame["cardinality"] == 1]
    if ones.empty:
        return None
    done = ones["status"] == rundir.COMPLETED
    counts = ones[done].groupby("bottleneck_width").size().reindex(ones["bottleneck_width"].unique(), fill_value=0)
    best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return 1, int(best)
