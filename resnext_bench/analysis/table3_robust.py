"""Table 3's robust aggregates: each configuration's interquartile mean and its probability of
improving on C=1, with stratified bootstrap 95% intervals (robust.py).

Descriptive only: at 3-6 seeds the percentile bootstrap undercovers (results/stats-validation.md),
so these intervals are narrower than 95% and no claim rests on them; the claims are the Welch/Holm
comparisons of the reading.
"""
from __future__ import annotations

import math

import pandas as pd

from .claims import estimate_claim
from .robust import iqm_interval, poi_interval
from .runs import config_order
from .stats import Stat

CAVEAT = ("descriptive only: at 3-6 seeds the bootstrap intervals cover less than 95% "
          "(results/stats-validation.md), so no claim rests on them")


def robust_columns(s: Stat | None, base: Stat | None, is_base: bool) -> dict:
    """table3.csv's IQM and P(improvement vs C=1) columns of one configuration (NaN when not computable)."""
    iqm = iqm_interval(s.values) if s is not None and s.n else None
    poi = poi_interval(s.values, base.values) if (s is not None and base is not None and not is_base
                                                   and s.n and base.n) else None
    return {"iqm": iqm.value if iqm else math.nan, "iqm_ci_low": iqm.ci_low if iqm else math.nan,
            "iqm_ci_high": iqm.ci_high if iqm else math.nan,
            "p_improve_vs_c1": poi.value if poi else math.nan,
            "p_improve_ci_low": poi.ci_low if poi else math.nan,
            "p_improve_ci_high": poi.ci_high if poi else math.nan}


def robust_items(sw) -> list[str]:
    """One reading item: the IQM and P(improvement vs C=1) of every configuration with 2 or more seeds
    (P(improvement): the chance that a run of the configuration has less error than a run of C=1)."""
    cfgs = sorted(sw.seeded, key=config_order)
    if not cfgs:
        return []
    parts = [estimate_claim(sw.setting(c), *_triple(iqm_interval(sw.stats[c].values)), "IQM error") for c in cfgs]
    base = sw.base if sw.base is not None and sw.stats[sw.base].n >= 2 else None
    if base is not None:
        for c in cfgs:
            if c == base:
                continue
            e = poi_interval(sw.stats[c].values, sw.stats[base].values)
            parts.append(estimate_claim(f"{sw.setting(c)} vs C=1", *_triple(e), "P(improvement)"))
    return [f"Robust aggregates ({CAVEAT}): " + "; ".join(parts) + "."]


def flops_words(frame) -> str:
    """' FLOPs differ by 4.35% across the configurations ...': "equal complexity" is a match within a
    tolerance, and nothing here tests whether the remaining spread moves the error."""
    flops = pd.to_numeric(frame["flops"], errors="coerce").dropna() if "flops" in frame else pd.Series(dtype=float)
    if flops.empty or flops.min() <= 0:
        return " FLOPs not recorded: how equal the complexity is is unknown."
    span = 100 * (flops.max() / flops.min() - 1)
    return (f" FLOPs differ by {span:.2f}% across the configurations (matched, not equal); whether that spread "
            "moves the error was not tested.")


def _triple(e) -> tuple[float, float, float]:
    return e.value, e.ci_low, e.ci_high
