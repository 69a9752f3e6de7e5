"""Aggregates that do not lean on normality: interquartile mean, probability of improvement, stratified
bootstrap intervals, performance profiles and the expected best-of-k error of a design space.

Pure numpy (scipy only for `trim_mean` and `gammaln`), seeded. Scores are errors: lower is better.
The definitions follow rliable (Agarwal et al. 2021) and, for best-of-k, Dodge et al. 2019 with the
unbiased (sampling without replacement) estimator of Tang et al. 2020.

Why not a library: rliable 1.2.0 does not import beside pandas 3.1 (its dependency arch 7.2.0 calls
pandas' `deprecate_kwarg` with the old signature: TypeError at import) and would bring arch,
statsmodels, seaborn and absl-py for ~40 lines of arithmetic. scipy.stats.bootstrap (percentile
method) gives the same intervals at the same speed (~5-8 ms for 2000 resamples of 6 seeds, measured
on a loaded 2-core machine); the resampler below is kept for its edge rules (one value: NaN interval,
not a warning) and to resample every statistic here, best-of-k included, the same way. Coverage at
few seeds: results/stats-validation.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .stats import CONFIDENCE

RESAMPLES = 2000  # bootstrap resamples of every interval here
SEED = 0
MIN_PROFILE_RUNS = 10  # completed runs a configuration needs for a performance profile to say anything

IQM_METHOD = "interquartile mean: the mean of the middle 50% of runs (scipy.stats.trim_mean, 25% cut from each end)"
POI_METHOD = ("probability of improvement: P(X < Y) + P(X = Y) / 2 over every pair of runs of X and Y "
              "(the Mann-Whitney U over n_x * n_y)")
BOOTSTRAP_METHOD = (f"stratified bootstrap: each configuration's runs resampled apart, {RESAMPLES} resamples, "
                    "percentile 95% interval, seeded")
BEST_OF_K_METHOD = ("expected best-of-k error: the mean of the minimum error of k models drawn without replacement "
                    "from the n trained (unbiased; Dodge et al. 2019, Tang et al. 2020), with a bootstrap 95% band")


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its (bootstrap) confidence interval; NaN bounds when no interval is possible."""

    value: float
    ci_low: float
    ci_high: float
    n: tuple[int, ...]
    confidence: float = CONFIDENCE


def _finite(values) -> np.ndarray:
    v = np.asarray(list(getattr(values, "values", values)), dtype=float).ravel()
    return v[np.isfinite(v)]


def iqm_rows(matrix: np.ndarray) -> np.ndarray:
    """The interquartile mean of each row of a 2-D array."""
    from scipy.stats import trim_mean

    return np.asarray(trim_mean(matrix, 0.25, axis=-1), dtype=float)


def iqm(values) -> float:
    """The interquartile mean (IQM_METHOD) of the finite values; NaN when there are none.

    With fewer than 4 values nothing is trimmed (25% of n rounds down to 0) and it is the mean.
    """
    v = _finite(values)
    return float(iqm_rows(v[None, :])[0]) if len(v) else math.nan


def poi_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X < Y) + P(X = Y)/2 of each row pair of x (R x n) and y (R x m)."""
    below = (x[:, :, None] < y[:, None, :]).mean(axis=(1, 2))
    ties = (x[:, :, None] == y[:, None, :]).mean(axis=(1, 2))
    return below + ties / 2


def probability_of_improvement(x, y) -> float:
    """P(X improves on Y) (POI_METHOD): a run of x has lower error than a run of y; NaN if a side is empty."""
    x, y = _finite(x), _finite(y)
    if not len(x) or not len(y):
        return math.nan
    return float(poi_rows(x[None, :], y[None, :])[0])


def _resample(v: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    return v[rng.integers(0, len(v), size=(resamples, len(v)))]


def stratified_bootstrap(statistic, samples, resamples: int = RESAMPLES, confidence: float = CONFIDENCE,
                         seed: int = SEED) -> Estimate:
    """`statistic(*samples)` with a percentile bootstrap interval, each sample resampled on its own (a stratum).

    `statistic` takes one (resamples x n_i) array per sample and returns one value per row. The
    interval is NaN when a sample has fewer than 2 values (resampling one value shows no spread).
    """
    vs = [_finite(s) for s in samples]
    ns = tuple(len(v) for v in vs)
    if any(n == 0 for n in ns):
        return Estimate(math.nan, math.nan, math.nan, ns, confidence)
    value = float(statistic(*[v[None, :] for v in vs])[0])
    if any(n < 2 for n in ns):
        return Estimate(value, math.nan, math.nan, ns, confidence)
    rng = np.random.default_rng(seed)
    boot = statistic(*[_resample(v, rng, resamples) for v in vs])
    tail = (1 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1 - tail])
    return Estimate(value, float(low), float(high), ns, confidence)


def iqm_interval(values, resamples: int = RESAMPLES, confidence: float = CONFIDENCE, seed: int = SEED) -> Estimate:
    """The IQM of `values` with its bootstrap interval (BOOTSTRAP_METHOD)."""
    return stratified_bootstrap(iqm_rows, [values], resamples, confidence, seed)


def poi_interval(x, y, resamples: int = RESAMPLES, confidence: float = CONFIDENCE, seed: int = SEED) -> Estimate:
    """P(X improves on Y) with its stratified bootstrap interval (x and y resampled apart)."""
    return stratified_bootstrap(poi_rows, [x, y], resamples, confidence, seed)


def performance_profile(samples: dict, thresholds=None, min_runs: int = MIN_PROFILE_RUNS) -> dict | None:
    """{'thresholds': tau, name: fraction of the runs with error <= tau} for configurations with >= min_runs runs.

    The thresholds default to every distinct error observed. None when no configuration has enough
    runs (a profile of 3 seeds is three steps, not a distribution).
    """
    kept = {name: np.sort(_finite(v)) for name, v in samples.items()}
    kept = {name: v for name, v in kept.items() if len(v) >= min_runs}
    if not kept:
        return None
    if thresholds is None:
        thresholds = np.unique(np.concatenate(list(kept.values())))
    tau = np.asarray(thresholds, dtype=float)
    out = {"thresholds": tau}
    for name, v in kept.items():
        out[name] = np.searchsorted(v, tau, side="right") / len(v)
    return out


def best_of_k_rows(matrix: np.ndarray, k: int) -> np.ndarray:
    """Unbiased expected minimum of k of the n values of each row, drawn without replacement."""
    n = matrix.shape[-1]
    ranked = np.sort(matrix, axis=-1)[..., ::-1]  # descending: the i-th (1-based) is the min of a k-set
    i = np.arange(1, n + 1)  # with probability C(i-1, k-1) / C(n, k) when the set is drawn from the first i
    log_w = _log_comb(i - 1, k - 1) - _log_comb(n, k)
    w = np.where(i >= k, np.exp(log_w), 0.0)
    return ranked @ w


def _log_comb(n, k):
    from scipy.special import gammaln

    n, k = np.asarray(n, dtype=float), np.asarray(k, dtype=float)
    with np.errstate(invalid="ignore"):
        return gammaln(n + 1) - gammaln(k + 1) - gammaln(np.maximum(n - k, 0) + 1)


def expected_best_of_k(values, ks=None, resamples: int = RESAMPLES, confidence: float = CONFIDENCE,
                       seed: int = SEED) -> dict[int, Estimate]:
    """{k: expected best-of-k error with its bootstrap band} for k = 1..n (BEST_OF_K_METHOD).

    k = 1 is the mean and k = n the minimum. The band resamples the n models; {} when none.
    """
    v = _finite(values)
    n = len(v)
    ks = range(1, n + 1) if ks is None else [k for k in ks if 1 <= k <= n]
    return {int(k): stratified_bootstrap(lambda m, k=k: best_of_k_rows(m, k), [v], resamples, confidence, seed)
            for k in ks}
