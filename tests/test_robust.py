"""Robust aggregates: IQM, probability of improvement, stratified bootstrap, profiles, expected best-of-k."""
import itertools
import math

import numpy as np
import pytest

from resnext_bench.analysis import robust


def test_the_iqm_is_the_mean_of_the_middle_half():
    assert robust.iqm(range(1, 9)) == 4.5  # 3, 4, 5, 6
    assert robust.iqm([1.0, 2.0, 3.0, 4.0, 100.0, 5.0, 6.0, 7.0]) == 4.5  # an outlier moves nothing
    assert robust.iqm([1.0, 2.0, 6.0]) == 3.0  # under 4 runs nothing is trimmed: the mean
    assert math.isnan(robust.iqm([]))
    assert robust.iqm([2.0, math.nan, 2.0]) == 2.0  # missing values are left out


def test_the_probability_of_improvement_counts_pairs_and_halves_ties():
    assert robust.probability_of_improvement([1, 2], [3, 4]) == 1.0  # lower error always
    assert robust.probability_of_improvement([3, 4], [1, 2]) == 0.0
    assert robust.probability_of_improvement([1, 3], [2]) == 0.5
    assert robust.probability_of_improvement([2, 2], [2, 2]) == 0.5
    assert math.isnan(robust.probability_of_improvement([], [1]))


def test_the_probability_of_improvement_is_the_mann_whitney_u_over_pairs():
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 1, 7).round(1), rng.normal(0.5, 1, 9).round(1)  # rounded: ties happen
    assert robust.probability_of_improvement(x, y) == pytest.approx(mannwhitneyu(y, x).statistic / (7 * 9))


def test_a_bootstrap_interval_is_seeded_and_holds_the_estimate():
    x = [21.3, 21.9, 22.4, 21.1, 22.0, 21.7]
    a, b = robust.iqm_interval(x, seed=5), robust.iqm_interval(x, seed=5)
    assert a == b
    assert a.ci_low <= a.value <= a.ci_high and a.ci_low < a.ci_high
    wider = x + [22.6, 20.9]
    assert robust.iqm_interval(wider, resamples=20, seed=6) != robust.iqm_interval(wider, resamples=20, seed=5)
    assert a.n == (6,)


def test_the_percentile_interval_agrees_with_scipy_bootstrap():
    from scipy.stats import bootstrap

    x = np.random.default_rng(2).normal(20, 1, 30)
    ours = robust.stratified_bootstrap(lambda m: m.mean(axis=1), [x], resamples=20000)
    ref = bootstrap((x,), np.mean, n_resamples=20000, method="percentile", random_state=0).confidence_interval
    assert ours.ci_low == pytest.approx(ref.low, abs=0.03)
    assert ours.ci_high == pytest.approx(ref.high, abs=0.03)


def test_the_stratified_bootstrap_resamples_each_configuration_apart():
    x, y = [1.0, 2.0, 3.0], [10.0, 11.0]
    seen = []

    def statistic(a, b):
        seen.append((a.shape, b.shape))
        return a.mean(axis=1) - b.mean(axis=1)

    e = robust.stratified_bootstrap(statistic, [x, y], resamples=50)
    assert seen == [((1, 3), (1, 2)), ((50, 3), (50, 2))]
    assert e.ci_high < 0  # every resample of x stays below every resample of y


def test_bootstrap_edge_cases_give_nan_or_the_point_never_a_crash():
    one = robust.iqm_interval([3.0])
    assert one.value == 3.0 and math.isnan(one.ci_low) and math.isnan(one.ci_high)
    none = robust.poi_interval([], [1.0, 2.0])
    assert math.isnan(none.value)
    flat = robust.iqm_interval([2.0, 2.0, 2.0])
    assert flat.value == flat.ci_low == flat.ci_high == 2.0


def test_the_performance_profile_is_the_share_of_runs_at_or_below_each_threshold():
    a, b = list(range(10)), [5.0] * 3
    profile = robust.performance_profile({"a": a, "b": b}, thresholds=[-1, 0, 4.5, 9])
    assert list(profile) == ["thresholds", "a"]  # b has too few runs for a profile
    assert profile["a"].tolist() == [0.0, 0.1, 0.5, 1.0]
    assert robust.performance_profile({"b": b}) is None


def test_expected_best_of_k_is_the_mean_over_all_k_subsets():
    v = [23.1, 21.4, 25.0, 22.2, 24.3, 21.9]
    best = robust.expected_best_of_k(v, resamples=200)
    for k in range(1, len(v) + 1):
        brute = np.mean([min(c) for c in itertools.combinations(v, k)])
        assert best[k].value == pytest.approx(brute)
    assert best[1].value == pytest.approx(np.mean(v)) and best[len(v)].value == min(v)
    values = [best[k].value for k in sorted(best)]
    assert values == sorted(values, reverse=True)  # more models tried, lower expected best error
    assert best[2].ci_low <= best[2].value <= best[2].ci_high


def test_expected_best_of_k_edge_cases():
    assert robust.expected_best_of_k([]) == {}
    assert robust.expected_best_of_k([1.0, 2.0], ks=[5]) == {}  # k above n is not estimable
    one = robust.expected_best_of_k([4.0])
    assert one[1].value == 4.0 and math.isnan(one[1].ci_low)
