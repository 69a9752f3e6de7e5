"""What a comparison could have detected: Holm levels, Welch power, minimum detectable effects, seeds
needed for a declared effect, and the smallest KS distance two sets of models could detect.

`t_test_power` and `seeds_needed` are the equal-seeds noncentral-t forms (Table 3's columns);
the rest size a comparison at the level its family uses.

A comparison that finds nothing says nothing unless we also say how large a difference it could have
found. Every function here is a pure function of plain numbers (seeds, spreads, counts); the
`*_METHOD` strings are one-line descriptions the report quotes next to the numbers.

Level: with Holm's step-down correction over a family of m comparisons, the first (strictest) step
tests the smallest p-value at alpha / m. A power or MDE "at the Holm level" is at alpha / m: the level
every comparison of the family is sure to be tested at (later steps are looser, so this is
conservative).

The KS MDD is that of the unweighted two-sample KS test; the report's test (edf.ks_test) permutes
labels within complexity bins on a weighted distance, whose power is close to it when the spaces'
complexity histograms are alike and lower when weights are uneven: the MDD is then a lower bound.
"""
from __future__ import annotations

import functools
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

HOLM_METHOD = ("Holm's step-down correction; power and detectable effects are computed at its strictest step, "
               "alpha / m for a family of m comparisons")
WELCH_POWER_METHOD = ("power of the two-sided Welch t-test from the noncentral t with Welch–Satterthwaite df of the "
                      "assumed spreads (exact for the pooled t-test when spreads and seeds are equal)")
MDE_METHOD = ("minimum detectable effect: the smallest true difference of means the two-sided Welch t-test detects "
              "with 80% power at the Holm level for the seeds used, the observed pooled sample std taken as the true "
              "one (Welch power simulated with estimated variances and df up to 30 seeds, noncentral t above)")
SEEDS_METHOD = ("seeds per configuration for 80% power at the Holm level to detect an effect declared before the "
                "runs (the paper's difference or the ablation's min_effect), never the observed one")
KS_MDD_METHOD = ("minimum detectable KS distance: the population KS distance of a normal location shift that the "
                 "two-sample KS test detects with 80% power at the Holm level, by seeded simulation (the same for "
                 "any continuous distribution transformed monotonically, the KS test being rank-based)")

WELCH_SIMULATIONS = 100_000  # simulated Welch tests behind an MDE at few seeds
WELCH_SEED = 0
SIMULATED_SEEDS = 30  # above this many seeds a side, the noncentral t gives the Welch power (they agree)
KS_SIMULATIONS = 4000  # draws per power evaluation of the KS MDD (common random numbers across shifts)
KS_NULL_SIMULATIONS = 20000  # label arrangements for the KS critical value
KS_SEED = 0


def holm_level(m: int, alpha: float = ALPHA) -> float:
    """The strictest level of Holm's step-down procedure over m comparisons: alpha / m (alpha when m <= 1)."""
    return alpha / max(1, int(m))


def _welch_df(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Welch–Satterthwaite degrees of freedom of the assumed variances."""
    ta, tb = var_a / n_a, var_b / n_b
    if ta + tb == 0:
        return float(n_a + n_b - 2)
    return (ta + tb) ** 2 / (ta ** 2 / (n_a - 1) + tb ** 2 / (n_b - 1))


def welch_power(effect: float, n_a: int, n_b: int, sd_a: float, sd_b: float | None = None,
                alpha: float = ALPHA) -> float:
    """Power of the two-sided Welch t-test with n_a and n_b seeds to detect a true difference `effect`.

    See WELCH_POWER_METHOD. NaN with fewer than 2 seeds on a side or an unknown spread; with zero
    spread, 1 for a nonzero effect and alpha for none.
    """
    sd_b = sd_a if sd_b is None else sd_b
    effect, sd_a, sd_b = abs(float(effect)), float(sd_a), float(sd_b)
    if n_a < 2 or n_b < 2 or not all(math.isfinite(v) for v in (effect, sd_a, sd_b)):
        return math.nan
    if effect == 0:
        return alpha
    var_a, var_b = sd_a ** 2, sd_b ** 2
    if var_a + var_b == 0:
        return 1.0
    from scipy import stats  # ~1 s to import: only when a power is due

    df = _welch_df(var_a, n_a, var_b, n_b)
    ncp = effect / math.sqrt(var_a / n_a + var_b / n_b)
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    upper = float(stats.nct.sf(crit, df, ncp))
    lower = float(stats.nct.cdf(-crit, df, ncp))
    # scipy's noncentral t returns NaN for a tail far beyond the noncentrality: it is 0 (or 1 for the sf)
    upper = upper if math.isfinite(upper) else 1.0 - float(np.nan_to_num(stats.nct.cdf(crit, df, ncp)))
    return min(1.0, upper + (lower if math.isfinite(lower) else 0.0))


@functools.lru_cache(maxsize=512)
def _welch_draws(n_a: int, n_b: int, alpha: float, simulations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(noise of the difference of means, critical |difference|) of simulated Welch tests, unit spreads.

    The test rejects when |effect + noise| > critical: its critical value moves with the estimated
    variances and Welch–Satterthwaite df of each draw, which is what costs power at few seeds.
    """
    from scipy import stats

    rng = np.random.default_rng([seed, n_a, n_b])
    noise = rng.standard_normal(simulations) * math.sqrt(1 / n_a + 1 / n_b)
    va = rng.chisquare(n_a - 1, simulations) / (n_a - 1)
    vb = rng.chisquare(n_b - 1, simulations) / (n_b - 1)
    ta, tb = va / n_a, vb / n_b
    df = (ta + tb) ** 2 / (ta ** 2 / (n_a - 1) + tb ** 2 / (n_b - 1))
    return noise, stats.t.ppf(1 - alpha / 2, df) * np.sqrt(ta + tb)


def welch_power_simulated(effect: float, n_a: int, n_b: int, spread: float, alpha: float = ALPHA,
                          simulations: int = WELCH_SIMULATIONS, seed: int = WELCH_SEED) -> float:
    """Power of the Welch test as run (variances and df estimated from the seeds), by seeded simulation.

    Equal true spreads `spread` on both sides; NaN with fewer than 2 seeds a side or an unknown spread.
    """
    effect, spread = abs(float(effect)), float(spread)
    if n_a < 2 or n_b < 2 or not (math.isfinite(effect) and math.isfinite(spread)):
        return math.nan
    if spread == 0:
        return 1.0 if effect > 0 else alpha
    noise, critical = _welch_draws(int(n_a), int(n_b), float(alpha), simulations, seed)
    return float(np.mean(np.abs(effect / spread + noise) > critical))


def mde_t_approx(se: float, df: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The detectable size of an estimate with standard error `se` on `df` degrees of freedom (a contrast of
    several means, a mean of paired differences): (t_{1-alpha/2} + t_{power}) * se, the t approximation."""
    from scipy import stats  # ~1 s to import: only when a power is due

    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * se)


def mde(n_a: int, n_b: int, spread: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The minimum detectable effect (MDE_METHOD): the smallest |difference| detected with `power` at `alpha`.

    `spread` is the pooled sample std, taken as both configurations' true std. The Welch test's power
    is simulated (`welch_power_simulated`) up to SIMULATED_SEEDS seeds a side and from the noncentral t
    above (where the two agree). NaN with fewer than 2 seeds on a side or no spread known; 0 with
    zero spread.
    """
    spread = float(spread)
    if n_a < 2 or n_b < 2 or not math.isfinite(spread):
        return math.nan
    if spread == 0:
        return 0.0
    return spread * _unit_mde(int(n_a), int(n_b), float(alpha), float(power))


def _power(effect: float, n_a: int, n_b: int, alpha: float) -> float:
    """Welch power at unit spread: simulated at few seeds, noncentral t at many."""
    if max(n_a, n_b) <= SIMULATED_SEEDS:
        return welch_power_simulated(effect, n_a, n_b, 1.0, alpha)
    return welch_power(effect, n_a, n_b, 1.0, alpha=alpha)


@functools.lru_cache(maxsize=512)
def _unit_mde(n_a: int, n_b: int, alpha: float, power: float) -> float:
    lo, hi = 0.0, math.sqrt(1 / n_a + 1 / n_b)
    while _power(hi, n_a, n_b, alpha) < power:
        hi *= 2
    for _ in range(50):  # bisection: power rises with the effect
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if _power(mid, n_a, n_b, alpha) >= power else (mid, hi)
    return hi


def seeds_for_effect(effect: float | None, spread: float, m: int = 1, alpha: float = ALPHA,
                     power: float = POWER, cap: int = MAX_SEEDS) -> float:
    """Seeds per configuration to detect a DECLARED `effect` with `power` at the Holm level of m comparisons.

    See SEEDS_METHOD; the power is `mde`'s. NaN when no effect was declared (None) or the spread is
    unknown; math.inf above `cap` seeds or for a zero effect; 2 with zero spread.
    """
    if effect is None:
        return math.nan
    effect, spread = abs(float(effect)), float(spread)
    if not (math.isfinite(effect) and math.isfinite(spread)):
        return math.nan
    if effect == 0:
        return math.inf
    if spread == 0:
        return 2
    level = holm_level(m, alpha)
    lo, hi = 2, cap
    if _power(effect / spread, hi, hi, level) < power:
        return math.inf
    while lo < hi:  # power grows with n: bisect for the smallest n reaching it
        mid = (lo + hi) // 2
        if _power(effect / spread, mid, mid, level) >= power:
            hi = mid
        else:
            lo = mid + 1
    return lo


# ---------------------------------------------------------------- the KS test's detectable distance

def ks_statistics(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two-sample KS distance of each row pair of a (S x n) and b (S x m) (continuous data, no ties)."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    n, m = a.shape[1], b.shape[1]
    values = np.concatenate([a, b], axis=1)
    order = np.argsort(values, axis=1, kind="stable")
    step = np.where(order < n, 1.0 / n, -1.0 / m)
    return np.abs(np.cumsum(step, axis=1)).max(axis=1)


@functools.lru_cache(maxsize=256)
def ks_critical(n: int, m: int, level: float, simulations: int = KS_NULL_SIMULATIONS, seed: int = KS_SEED) -> float:
    """The smallest KS distance d with P(D >= d) <= level under the null, n vs m models (seeded simulation)."""
    rng = np.random.default_rng([seed, n, m])
    null = np.sort(ks_statistics(rng.random((simulations, n)), rng.random((simulations, m))))
    # D takes values on a lattice: P(D >= d) for each observed d, the smallest d at or under level
    tail = 1.0 - np.searchsorted(null, null - 1e-12, side="left") / simulations
    ok = null[tail <= level]
    return float(ok.min()) if len(ok) else math.inf


def ks_distance_of_shift(delta: float) -> float:
    """The population KS distance between N(0, 1) and N(delta, 1): 2 * Phi(|delta| / 2) - 1."""
    return math.erf(abs(delta) / 2 / math.sqrt(2))


@functools.lru_cache(maxsize=256)
def ks_mdd(n: int, m: int, level: float = ALPHA, power: float = POWER,
           simulations: int = KS_SIMULATIONS, seed: int = KS_SEED) -> float:
    """The minimum detectable KS distance (KS_MDD_METHOD) of n vs m models at `level`; NaN below 2 a side.

    Power of the test at the critical value of `ks_critical` is found for normal shifts by bisection on
    the shift with common random numbers (monotone, reproducible); the answer is the shift's
    population KS distance.
    """
    if n < 2 or m < 2:
        return math.nan
    crit = ks_critical(n, m, level)
    if not math.isfinite(crit):
        return math.nan  # no arrangement of so few models reaches the level
    rng = np.random.default_rng([seed, n, m, 1])
    za, zb = rng.standard_normal((simulations, n)), rng.standard_normal((simulations, m))

    def detected(delta: float) -> float:
        return float(np.mean(ks_statistics(za, zb + delta) >= crit - 1e-12))

    lo, hi = 0.0, 1.0
    while detected(hi) < power:
        hi *= 2
        if hi > 64:
            return 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if detected(mid) >= power else (mid, hi)
    return ks_distance_of_shift(hi)
