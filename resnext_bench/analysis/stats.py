"""The numbers behind a table cell and behind every sentence of the report's readings.

Our number is the final top-1 (top-5) validation error of completed runs: mean +- sample std (n).
A run (one run id) counts once, however many sweeps list it.

Significance: with >= 2 seeds, a configuration is compared with a reference configuration (in
Table 3 the C=1 configuration of the same group, see `baseline_config`) by Welch's t-test
(scipy.stats.ttest_ind, equal_var=False); significant when p < ALPHA. Two groups with no spread
at all differ significantly exactly when their means differ.

For the report's words (the second half of this module; pure functions):

- `summarize`: mean, sample std, n and the 95 % Student-t confidence interval of the mean (n-1 df).
- `difference` / `contrast`: a difference of means (a linear contrast of them) with its 95 % CI on
  Welch–Satterthwaite df and Welch's two-sided p (the p of scipy.stats.ttest_ind equal_var=False).
- `holm`, `holm_adjust`, `compare_to_baseline`: Holm's step-down correction over the comparisons a
  table makes; "significant" means Holm-adjusted p < ALPHA (`Difference.significant`).
- `trend`: Spearman's rho over runs (every seed a point, never over means alone) with its p.
- `power.mde` (what a comparison could detect) and `power.seeds_for_effect` (seeds for an effect
  declared before the runs), both at the strictest Holm level of the comparison's family
  (`Difference.family`, set by `holm_adjust`).
- `chance_error`, `at_chance`: the error of guessing, 100 * (1 - 1/classes), and whether a mean
  error is within CHANCE_MARGIN points of it.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..config.specs import DATASET_SHAPES
from ..record import schema

ALPHA = 0.05
ERR = "final_val_top1_err"  # the number every table and reading is about


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


def one_run_per_seed(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep one row per run id, a completed one first (then by sweep); rows without a run id are kept.

    The run id is the configuration's identity (model, data, recipe, seed, precision): the same run
    listed by two sweeps (32x4d in Table 3 and in the residual ablation) counts once, not as two
    seeds, and two models that differ in any field (base planes, stem width, ...) stay two runs.
    """
    if frame.empty or "run_id" not in frame:
        return frame
    order = frame.assign(_done=frame["status"] != schema.COMPLETED).sort_values(["_done", "sweep", "run_id"], kind="stable")
    keep = ~order["run_id"].duplicated().to_numpy() | order["run_id"].isna().to_numpy()
    return frame.loc[order.index[keep]].sort_index()


def completed(runs: pd.DataFrame, table: str | None = None) -> pd.DataFrame:
    """Completed runs with a final error (one a run id), optionally only those feeding `table`.

    The table is chosen first: a run that two sweeps list for two studies feeds each of their tables."""
    done = runs[(runs["status"] == schema.COMPLETED) & runs[ERR].notna()]
    return one_run_per_seed(done[done["table"] == table] if table else done)


def stat_of(frame: pd.DataFrame, column: str = "final_val_top1_err") -> Stat:
    """The Stat of `column` over the completed runs of `frame`, one row a run id (each counts as planned)."""
    frame = one_run_per_seed(frame)
    done = frame[(frame["status"] == schema.COMPLETED) & frame[column].notna()]
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
    """Welch's t-test p-value of a vs b, or None with fewer than 2 values on a side (`difference`'s p)."""
    d = difference(a, b)
    return d.p if d is not None else None


def baseline_config(frame: pd.DataFrame, variant: tuple | None = None) -> tuple[int, int, tuple] | None:
    """The group's C=1 configuration (1, d, variant): of `variant` (the other model fields of the
    configuration it is compared with) when given; the one with most completed runs, then the smallest d."""
    ones = one_run_per_seed(frame[frame["cardinality"] == 1])
    if variant is not None:
        ones = ones[np.array([v == variant for v in ones["variant"]], dtype=bool)]
    if ones.empty:
        return None
    counts: dict = {}
    for d, v, done in zip(ones["bottleneck_width"], ones["variant"], ones["status"] == schema.COMPLETED):
        counts[(int(d), v)] = counts.get((int(d), v), 0) + int(done)
    (d, v), _ = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0], str(kv[0][1])))[0]
    return 1, d, v


# ---------------------------------------------------------------- inference for the report's words
#
# Everything below is a pure function of the numbers it is given. scipy is imported inside the
# functions that need it (~1 s to import). The readings (words.py) turn these results into fixed
# sentences: a difference is called lower or higher only when `Difference.significant`, a trend only
# when `Trend.significant`; otherwise it reads "not significant; no trend is claimed".

CONFIDENCE = 0.95  # level of every confidence interval
CHANCE_MARGIN = 5.0  # points: a mean error this close to the chance level (or above it) is chance level
TREND_METHOD = "Spearman's rho between C and error over all completed runs (one per seed), two-sided p"


def _values(sample) -> np.ndarray:
    """The finite values of a Stat, a Summary-like object with `.values`, or a sequence."""
    values = getattr(sample, "values", sample)
    v = np.asarray(list(values), dtype=float)
    return v[np.isfinite(v)]


def _t_quantile(confidence: float, df: float) -> float:
    from scipy import stats  # ~1 s to import: only when an interval is due

    return float(stats.t.ppf(0.5 + confidence / 2, df))


@dataclass(frozen=True)
class Summary:
    """mean ± sample std (n) of one configuration, with the t-based confidence interval of the mean."""

    n: int
    mean: float
    std: float  # sample std (ddof=1); NaN below n=2
    ci_low: float  # Student-t interval of the mean with n-1 df; NaN below n=2
    ci_high: float
    confidence: float = CONFIDENCE


def summarize(sample, confidence: float = CONFIDENCE) -> Summary:
    """Mean, sample std and the Student-t confidence interval of the mean (n-1 df) of `sample`.

    `sample` is a Stat or a sequence of numbers. With n < 2 the std and the interval are NaN;
    with zero spread the interval is the mean itself.
    """
    v = _values(sample)
    n = len(v)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan, confidence)
    mean = float(np.mean(v))
    if n < 2:
        return Summary(1, mean, math.nan, math.nan, math.nan, confidence)
    std = float(np.std(v, ddof=1))
    half = _t_quantile(confidence, n - 1) * std / math.sqrt(n) if std > 0 else 0.0
    return Summary(n, mean, std, mean - half, mean + half, confidence)


def pooled_std(*samples) -> float:
    """The pooled sample std sqrt(sum((n_i - 1) s_i^2) / sum(n_i - 1)) of samples with n >= 2; NaN if none."""
    num, den = 0.0, 0
    for sample in samples:
        v = _values(sample)
        if len(v) >= 2:
            num += float(np.var(v, ddof=1)) * (len(v) - 1)
            den += len(v) - 1
    return math.sqrt(num / den) if den else math.nan


@dataclass(frozen=True)
class Difference:
    """A difference of means (or a contrast of them) with its CI and Welch test.

    `diff` is mean(a) - mean(b) (or sum w_i mean_i); `df` the Welch–Satterthwaite degrees of
    freedom; `p` the raw two-sided p-value; `p_holm` the Holm-adjusted p-value within the family
    of comparisons it was adjusted with (None until `holm_adjust` sets it).
    """

    diff: float
    ci_low: float
    ci_high: float
    se: float
    df: float
    t: float
    p: float
    ns: tuple[int, ...]
    spread: float  # pooled sample std of the samples (for `power.mde` and `power.seeds_for_effect`)
    p_holm: float | None = None
    confidence: float = CONFIDENCE
    family: int = 1  # comparisons in its Holm family (set by `holm_adjust`): power and MDE are at ALPHA / family

    @property
    def p_adjusted(self) -> float:
        """The Holm-adjusted p-value when set, else the raw one."""
        return self.p if self.p_holm is None else self.p_holm

    @property
    def significant(self) -> bool:
        """(Holm-adjusted) p < ALPHA."""
        return self.p_adjusted < ALPHA


def contrast(samples, weights, confidence: float = CONFIDENCE) -> Difference | None:
    """Welch's test of the linear contrast sum_i w_i * mean_i (e.g. weights (1, -1): a difference of means).

    se^2 = sum w_i^2 s_i^2 / n_i; Welch–Satterthwaite df = se^4 / sum((w_i^2 s_i^2 / n_i)^2 / (n_i - 1));
    t = contrast / se, two-sided p from Student t with that df, CI = contrast ± t_q * se.
    None when a sample has fewer than 2 values. With no spread in any sample, the contrast is
    exact: p = 1 when it is 0, else 0 (any gap is beyond the zero noise), and the CI is the point.
    """
    vs = [_values(s) for s in samples]
    weights = [float(w) for w in weights]
    if len(vs) != len(weights) or any(len(v) < 2 for v in vs):
        return None
    ns = tuple(len(v) for v in vs)
    value = float(sum(w * np.mean(v) for w, v in zip(weights, vs)))
    terms = [w * w * float(np.var(v, ddof=1)) / len(v) for w, v in zip(weights, vs)]
    se2 = sum(terms)
    spread = pooled_std(*vs)
    if se2 <= 0 or not math.isfinite(se2):
        p = 1.0 if value == 0 else 0.0
        df = float(sum(n - 1 for n in ns))
        t = 0.0 if value == 0 else math.copysign(math.inf, value)
        return Difference(value, value, value, 0.0, df, t, p, ns, spread, confidence=confidence)
    se = math.sqrt(se2)
    df = se2 ** 2 / sum(term ** 2 / (n - 1) for term, n in zip(terms, ns) if term > 0)
    t = value / se
    from scipy import stats  # ~1 s to import: only when a test is due

    p = float(min(1.0, 2.0 * stats.t.sf(abs(t), df)))
    half = _t_quantile(confidence, df) * se
    return Difference(value, value - half, value + half, se, float(df), float(t), p, ns, spread,
                      confidence=confidence)


def difference(a, b, confidence: float = CONFIDENCE) -> Difference | None:
    """mean(a) - mean(b) with its Welch–Satterthwaite CI and Welch's two-sided p-value.

    The p-value is that of scipy.stats.ttest_ind(a, b, equal_var=False). None with fewer than 2
    values on a side. `a` and `b` are Stats or sequences.
    """
    return contrast([a, b], [1, -1], confidence)


def holm(pvalues) -> list[float | None]:
    """Holm's step-down adjustment of `pvalues` (None entries are skipped and kept as None).

    Sorted ascending, the i-th smallest of m p-values becomes max over j <= i of (m - j + 1) p_(j),
    capped at 1; returned in the input order.
    """
    pvalues = list(pvalues)
    idx = [i for i, p in enumerate(pvalues) if p is not None and not (isinstance(p, float) and math.isnan(p))]
    m = len(idx)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))
        out[i] = running
    return out


def holm_adjust(diffs: dict) -> dict:
    """{key: Difference or None} with each Difference's `p_holm` set, Holm over all of them (one family)."""
    keys = [k for k, d in diffs.items() if d is not None]
    adjusted = holm([diffs[k].p for k in keys])
    out = dict(diffs)
    for k, p in zip(keys, adjusted):
        out[k] = replace(diffs[k], p_holm=p, family=len(keys))
    return out


def compare_to_baseline(samples: dict, baseline_key, confidence: float = CONFIDENCE) -> dict:
    """{key: Difference of samples[key] - samples[baseline_key]} for every key but the baseline, Holm-adjusted.

    A key whose sample or the baseline has fewer than 2 values maps to None (no test possible) and
    is not counted in the Holm family. To adjust over several groups at once (a whole table), call
    `difference` per comparison and `holm_adjust` on all of them.
    """
    base = samples[baseline_key]
    return holm_adjust({k: difference(s, base, confidence) for k, s in samples.items() if k != baseline_key})


@dataclass(frozen=True)
class Trend:
    """Spearman's rank correlation over runs (not over means) and its two-sided p-value."""

    rho: float
    p: float
    n: int  # runs
    levels: int  # distinct x values (cardinalities)
    method: str = TREND_METHOD

    @property
    def significant(self) -> bool:
        return self.p < ALPHA

    @property
    def falls(self) -> bool:
        """y falls significantly as x grows (the paper's direction for error against C)."""
        return self.significant and self.rho < 0

    @property
    def rises(self) -> bool:
        return self.significant and self.rho > 0


def trend(x, y) -> Trend | None:
    """Spearman's rho of y against x over every (x, y) pair given (one pair a run), with its p-value.

    scipy.stats.spearmanr: ties get average ranks, p from the t approximation with n-2 df. None
    with fewer than 3 pairs or fewer than 2 distinct x values; rho 0 and p 1 when y has no spread.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    levels = len(set(x.tolist()))
    if len(x) < 3 or levels < 2:
        return None
    if np.ptp(y) == 0:
        return Trend(0.0, 1.0, len(x), levels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from scipy import stats  # ~1 s to import: only when a test is due

        result = stats.spearmanr(x, y)
    rho, p = float(result.statistic), float(result.pvalue)
    if math.isnan(p):  # perfect correlation of tiny samples can give NaN in old scipy
        p = 0.0 if abs(rho) == 1 else 1.0
    return Trend(rho, p, len(x), levels)


def fmt_p(p: float | None) -> str:
    """'0.042', '0.31', '<0.001'; '—' for None/NaN."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "—"
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def chance_error(dataset) -> float | None:
    """Top-1 error of guessing, 100 * (1 - 1/num_classes), for a known data set; None otherwise."""
    shape = DATASET_SHAPES.get(dataset) if isinstance(dataset, str) else None
    return 100.0 * (1.0 - 1.0 / shape[0]) if shape else None


def at_chance(mean: float, dataset, margin: float = CHANCE_MARGIN) -> bool:
    """True when a mean top-1 error is within `margin` points of guessing (or above it) on `dataset`."""
    chance = chance_error(dataset)
    return chance is not None and mean == mean and mean >= chance - margin
