"""How many seeds a comparison needs: the power of a two-sided two-sample t-test, exact (noncentral t)."""
from __future__ import annotations

import math

import numpy as np

from .stats import ALPHA

POWER = 0.80  # target power of `seeds_needed`
MAX_SEEDS = 1000  # `seeds_needed` gives up above this many seeds per configuration
POWER_METHOD = ("exact power of a two-sided two-sample t-test with equal seeds per configuration (noncentral t, "
                "scipy.stats.nct), the pooled sample std of the two configurations as the spread")


def t_test_power(n: int, effect: float, spread: float, alpha: float = ALPHA) -> float:
    """Power of a two-sided two-sample t-test with n values per side to detect a true `effect`.

    Exact, from the noncentral t: df = 2n - 2, noncentrality effect / (spread * sqrt(2 / n)).
    Zero spread with a nonzero effect: power 1; zero effect: power alpha.
    """
    if n < 2:
        return 0.0
    effect, spread = abs(float(effect)), float(spread)
    if effect == 0:
        return alpha
    if spread == 0:
        return 1.0
    from scipy import stats  # ~1 s to import: only when a power is due

    df = 2 * n - 2
    ncp = effect / (spread * math.sqrt(2.0 / n))
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def seeds_needed(effect: float, spread: float, alpha: float = ALPHA, power: float = POWER,
                 cap: int = MAX_SEEDS) -> float:
    """Seeds per configuration for a two-sided two-sample t-test to detect `effect` with `power`.

    The smallest n >= 2 with `t_test_power(n, effect, spread, alpha) >= power` (see POWER_METHOD):
    exact noncentral-t power, not a normal approximation. Returns math.inf when more than `cap`
    seeds would be needed or the effect is 0; 2 when the spread is 0 and the effect is not; NaN
    when the spread is unknown (NaN). alpha is per comparison (before any Holm correction).
    """
    effect, spread = abs(float(effect)), float(spread)
    if math.isnan(effect) or math.isnan(spread):
        return math.nan
    if effect == 0:
        return math.inf
    if spread == 0:
        return 2
    from scipy import stats  # ~1 s to import: only when a power is due

    n = np.arange(2, cap + 1)
    df = 2 * n - 2
    ncp = effect / (spread * np.sqrt(2.0 / n))
    crit = stats.t.ppf(1 - alpha / 2, df)
    with np.errstate(all="ignore"):
        achieved = stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)
    achieved = np.where(np.isnan(achieved), np.where(ncp > 40, 1.0, 0.0), achieved)
    enough = np.nonzero(achieved >= power)[0]
    return int(n[enough[0]]) if len(enough) else math.inf


def fmt_seeds(n: float, cap: int = MAX_SEEDS) -> str:
    """'12', '>1000' (math.inf) or 'unknown' (NaN)."""
    if isinstance(n, float) and math.isnan(n):
        return "unknown"
    return f">{cap}" if n == math.inf else str(int(n))
