"""The statistics behind the report's words (analysis/stats.py): CIs, Welch, Holm, trend, seeds needed."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from resnext_bench.analysis.power import MAX_SEEDS, fmt_seeds, seeds_needed, t_test_power
from resnext_bench.analysis.stats import (
    Stat, at_chance, chance_error, compare_to_baseline, contrast, difference, holm, holm_adjust, pooled_std,
    summarize, trend, welch)

SAMPLES = [
    ([30.0, 31.0, 32.0], [29.0, 30.0, 31.0]),
    ([30.0, 31.0, 32.5], [26.0, 26.5, 27.0, 27.2]),
    ([28.0, 28.0, 28.0], [26.0, 26.2, 26.4]),  # one side without spread
    ([5.1, 4.9, 5.3, 5.0, 4.7], [4.2, 4.4, 4.1, 4.6, 4.3, 4.0, 4.5]),
]


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy's, on the zero-spread sample
@pytest.mark.parametrize("a, b", SAMPLES)
def test_welch_p_is_scipys_ttest_ind_with_unequal_variances(a, b):
    expected = sps.ttest_ind(a, b, equal_var=False).pvalue
    assert difference(a, b).p == pytest.approx(expected, rel=1e-9)
    assert welch(Stat(tuple(a), len(a)), Stat(tuple(b), len(b))) == pytest.approx(expected, rel=1e-9)


def test_the_ci_of_a_difference_is_welch_satterthwaite_by_hand():
    a, b = [1.0, 2.0, 3.0], [4.0, 6.0, 8.0]  # means 2 and 6, variances 1 and 4
    d = difference(a, b)
    se = math.sqrt(1 / 3 + 4 / 3)
    df = (5 / 3) ** 2 / ((1 / 3) ** 2 / 2 + (4 / 3) ** 2 / 2)
    assert df == pytest.approx(50 / 17)
    half = sps.t.ppf(0.975, 50 / 17) * se
    assert d.diff == pytest.approx(-4.0)
    assert d.se == pytest.approx(se) and d.df == pytest.approx(50 / 17)
    assert (d.ci_low, d.ci_high) == (pytest.approx(-4.0 - half), pytest.approx(-4.0 + half))
    assert d.t == pytest.approx(-4.0 / se)
    assert d.ns == (3, 3) and d.spread == pytest.approx(math.sqrt(2.5))  # pooled: (2*1 + 2*4) / 4


def test_a_difference_needs_two_values_a_side_and_zero_spread_is_exact():
    assert difference([1.0], [2.0, 3.0]) is None
    exact = difference([2.0, 2.0], [1.0, 1.0])
    assert exact.p == 0.0 and exact.ci_low == exact.ci_high == 1.0 and exact.significant
    same = difference([2.0, 2.0], [2.0, 2.0])
    assert same.p == 1.0 and not same.significant


def test_a_contrast_of_two_means_is_their_difference():
    a, b = SAMPLES[1]
    c, d = contrast([a, b], [1, -1]), difference(a, b)
    assert (c.diff, c.p, c.df, c.ci_low) == (d.diff, d.p, d.df, d.ci_low)


def test_the_mean_ci_is_student_t_with_n_minus_1_df():
    values = [30.0, 31.0, 32.5, 29.5]
    s = summarize(values)
    half = sps.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2
    assert (s.n, s.mean) == (4, pytest.approx(30.75))
    assert (s.ci_low, s.ci_high) == (pytest.approx(30.75 - half), pytest.approx(30.75 + half))
    one = summarize([5.0])
    assert one.n == 1 and math.isnan(one.std) and math.isnan(one.ci_low)
    assert summarize(Stat((1.0, 3.0), 2)).mean == 2.0


def test_holm_on_known_p_values():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.01, None, 0.04]) == [pytest.approx(0.02), None, pytest.approx(0.04)]
    assert holm([0.5, 0.6, 0.9]) == pytest.approx([1.0, 1.0, 1.0]), "capped at 1, never below an earlier one"
    assert holm([]) == []


def test_holm_adjust_and_compare_to_baseline_adjust_one_family():
    base = [31.0, 30.0, 32.0]
    samples = {"c1": base, "c2": [30.0, 29.0, 31.0], "c4": [26.0, 26.5, 27.0], "one": [25.0]}
    diffs = compare_to_baseline(samples, "c1")
    assert diffs["one"] is None, "one seed: no test"
    raw = [difference(samples[k], base).p for k in ("c2", "c4")]
    assert [diffs[k].p for k in ("c2", "c4")] == pytest.approx(raw)
    assert [diffs[k].p_holm for k in ("c2", "c4")] == pytest.approx(holm(raw))
    assert diffs["c4"].significant and not diffs["c2"].significant
    assert holm_adjust({"x": None}) == {"x": None}


def test_the_trend_test_runs_over_runs_and_says_its_direction():
    x = [1] * 5 + [2] * 5 + [4] * 5 + [8] * 5
    y = [30 - 5 * math.log2(c) + e for c, e in zip(x, [0.1, -0.2, 0.3, 0.0, -0.1] * 4)]
    t = trend(x, y)
    assert t.n == 20 and t.levels == 4 and t.falls and not t.rises
    assert (t.rho, t.p) == (pytest.approx(sps.spearmanr(x, y).statistic), pytest.approx(sps.spearmanr(x, y).pvalue))
    flat = trend(x, [20.1, 20.4, 20.7, 21.0, 21.3] * 4)
    assert flat.rho == pytest.approx(0.0) and not flat.significant
    assert trend([1, 2], [3.0, 4.0]) is None and trend([1, 1, 1], [1.0, 2.0, 3.0]) is None


def test_seeds_needed_meets_the_power_and_no_fewer_seeds_do():
    n = seeds_needed(1.0, 1.0)
    assert t_test_power(n, 1.0, 1.0) >= 0.8 > t_test_power(n - 1, 1.0, 1.0)
    normal = 2 * ((sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) * 1.0 / 1.0) ** 2  # 15.7: z approximation
    assert normal < n <= normal + 2, "the t-test needs slightly more than the normal approximation"


def test_seeds_needed_grows_as_the_effect_shrinks_and_the_spread_grows():
    by_effect = [seeds_needed(e, 0.5) for e in (2.0, 1.0, 0.5, 0.25, 0.1)]
    assert by_effect == sorted(by_effect) and by_effect[0] < by_effect[-1]
    by_spread = [seeds_needed(0.9, s) for s in (0.05, 0.2, 0.5, 1.0, 2.0)]
    assert by_spread == sorted(by_spread) and by_spread[0] < by_spread[-1]


def test_seeds_needed_at_the_papers_effect_with_tiny_spread_is_two_or_three():
    paper_effect = 23.9 - 23.0  # ImageNet, 50-layer: C=1 against C=2
    assert seeds_needed(paper_effect, 0.05) in (2, 3)
    assert seeds_needed(paper_effect, 0.0) == 2, "no spread: any difference shows with 2 seeds"


def test_seeds_needed_handles_zero_effect_huge_spread_and_unknown_spread():
    assert seeds_needed(0.0, 1.0) == math.inf
    assert seeds_needed(0.01, 5.0) == math.inf and fmt_seeds(seeds_needed(0.01, 5.0)) == f">{MAX_SEEDS}"
    assert math.isnan(seeds_needed(1.0, math.nan)) and fmt_seeds(math.nan) == "unknown"
    assert seeds_needed(-1.0, 1.0) == seeds_needed(1.0, 1.0), "the sign of the effect does not matter"


def test_pooled_std_and_chance_level():
    assert pooled_std([1.0, 2.0, 3.0], [4.0, 6.0, 8.0]) == pytest.approx(math.sqrt(2.5))
    assert math.isnan(pooled_std([1.0]))
    assert chance_error("digits") == pytest.approx(90.0) and chance_error("imagenet") == pytest.approx(99.9)
    assert chance_error("nonsense") is None
    assert at_chance(87.0, "digits") and at_chance(91.0, "digits") and not at_chance(80.0, "digits")
    assert not at_chance(87.0, None)
