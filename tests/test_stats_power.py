"""What a comparison could detect: Holm levels, Welch power, MDEs, seeds for a declared effect, KS MDD."""
import math

import numpy as np
import pytest

from resnext_bench.analysis import power


def test_the_holm_level_is_the_strictest_step_alpha_over_m():
    assert power.holm_level(1) == 0.05
    assert power.holm_level(4) == pytest.approx(0.0125)
    assert power.holm_level(0) == 0.05  # an empty family tests nothing stricter than alpha
    assert "alpha / m" in power.HOLM_METHOD


def test_welch_power_with_equal_spreads_is_the_textbook_two_sample_t_power():
    # Cohen's d = 1, 17 a group, alpha 0.05 two-sided: power 0.807 (G*Power, pwr.t.test)
    assert power.welch_power(1.0, 17, 17, 1.0) == pytest.approx(0.807, abs=0.001)
    # d = 0.5, 64 a group: 0.801
    assert power.welch_power(0.5, 64, 64, 1.0) == pytest.approx(0.801, abs=0.001)
    assert power.welch_power(1.0, 10, 10, 2.0) == pytest.approx(power.t_test_power(10, 1.0, 2.0))


def test_welch_power_edge_cases_are_values_not_crashes():
    assert math.isnan(power.welch_power(1.0, 1, 5, 1.0))
    assert math.isnan(power.welch_power(1.0, 5, 5, math.nan))
    assert power.welch_power(0.0, 5, 5, 1.0) == 0.05
    assert power.welch_power(1.0, 5, 5, 0.0) == 1.0
    assert power.welch_power(40.0, 3, 3, 1.0) == pytest.approx(1.0)  # scipy's far tail is NaN: read as 0


def test_the_simulated_welch_power_is_below_the_noncentral_t_at_few_seeds_and_meets_it_at_many():
    # estimating the variances and df costs power at 3 seeds; at 30 the two agree
    assert power.welch_power_simulated(3.0, 3, 3, 1.0) < power.welch_power(3.0, 3, 3, 1.0) - 0.05
    assert power.welch_power_simulated(0.8, 30, 30, 1.0) == pytest.approx(power.welch_power(0.8, 30, 30, 1.0),
                                                                          abs=0.01)


def test_the_mde_is_detected_with_80_percent_power_and_shrinks_with_seeds():
    level = power.holm_level(4)
    mdes = [power.mde(n, n, 1.0, alpha=level) for n in (3, 5, 6, 10, 40)]
    assert mdes == sorted(mdes, reverse=True)
    assert power.welch_power(mdes[-1], 40, 40, 1.0, alpha=level) == pytest.approx(0.80, abs=0.002)
    assert power.welch_power_simulated(mdes[2], 6, 6, 1.0, alpha=level) == pytest.approx(0.80, abs=0.002)
    # the MDE scales with the spread
    assert power.mde(6, 6, 0.5, alpha=level) == pytest.approx(mdes[2] / 2)


def test_six_seeds_detect_nothing_below_about_1_4_to_2_4_points_at_spreads_of_0_6_to_1():
    # seed spreads of 0.6-1.0 points, a Table 3 group's 4 comparisons: the MDE the report must state
    assert 1.3 < power.mde(6, 6, 0.6, alpha=power.holm_level(4)) < 1.5
    assert 2.2 < power.mde(6, 6, 1.0, alpha=power.holm_level(4)) < 2.5


def test_the_mde_edge_cases():
    assert math.isnan(power.mde(1, 6, 1.0))
    assert math.isnan(power.mde(6, 6, math.nan))
    assert power.mde(6, 6, 0.0) == 0.0


def test_seeds_for_a_declared_effect_use_the_holm_level():
    single = power.seeds_for_effect(1.0, 1.0)
    holm = power.seeds_for_effect(1.0, 1.0, m=4)
    assert single == 17 == power.seeds_needed(1.0, 1.0)  # textbook n for d = 1 at 80%
    assert holm > single
    # the smallest n reaching 80% at alpha/4, and n - 1 does not
    level = power.holm_level(4)
    assert power.welch_power_simulated(1.0, holm, holm, 1.0, alpha=level) >= 0.80
    assert power.welch_power_simulated(1.0, holm - 1, holm - 1, 1.0, alpha=level) < 0.80


def test_seeds_for_effect_edge_cases():
    assert math.isnan(power.seeds_for_effect(None, 1.0))  # nothing declared: nothing computed
    assert math.isnan(power.seeds_for_effect(1.0, math.nan))
    assert power.seeds_for_effect(0.0, 1.0) == math.inf
    assert power.seeds_for_effect(1.0, 0.0) == 2
    assert power.seeds_for_effect(0.01, 1.0, cap=100) == math.inf


def test_ks_statistics_equal_scipy():
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((5, 7)), rng.standard_normal((5, 11))
    ours = power.ks_statistics(a, b)
    assert ours == pytest.approx([ks_2samp(x, y).statistic for x, y in zip(a, b)])


def test_the_ks_critical_value_holds_the_level_of_scipys_exact_test():
    from scipy.stats import ks_2samp

    crit = power.ks_critical(16, 16, 0.05)
    # a D at the critical value is significant by scipy's exact test, one lattice step below is not
    a = np.arange(16.0)
    k = round(crit * 16)
    assert ks_2samp(a, a + k - 0.5, method="exact").pvalue <= 0.05
    assert ks_2samp(a, a + k - 1.5, method="exact").pvalue > 0.05


def test_the_ks_mdd_at_32_models_a_space_is_about_a_third():
    assert power.ks_mdd(32, 32, 0.05) == pytest.approx(0.32, abs=0.02)
    assert power.ks_mdd(32, 32, power.holm_level(3)) > power.ks_mdd(32, 32, 0.05)
    assert power.ks_mdd(8, 8, 0.05) > power.ks_mdd(32, 32, 0.05)
    assert math.isnan(power.ks_mdd(1, 32))
    assert "simulation" in power.KS_MDD_METHOD


def test_the_population_ks_distance_of_a_normal_shift():
    assert power.ks_distance_of_shift(0.0) == 0.0
    # 2 Phi(0.5) - 1 for a shift of one sd
    assert power.ks_distance_of_shift(1.0) == pytest.approx(0.38292, abs=1e-5)
