"""The report's sentences: the estimate with its interval first, then what could have been detected; never
"no difference" or "not distinguishable" without a detectable size; seeds needed only for a declared effect."""
import itertools
import math

import pytest

from support.ablations import SMALL_TABLE3

from resnext_bench.analysis import claims, power
from resnext_bench.config.load import load_ablation
from resnext_bench.errors import UserError

LEVEL = power.holm_level(4)


def test_a_significant_difference_is_named_with_its_interval_first():
    s = claims.difference_claim("32x4d", "1x64d", -1.2, -1.9, -0.5, 0.001, 0.004, 0.9, 6, 6, LEVEL, 4)
    assert s.startswith("32x4d minus 1x64d: -1.20 points (95% CI -1.90 to -0.50)")
    assert "1.20 points lower error" in s and "Holm p = 0.004" in s and "significant" in s
    assert claims.guarded(s)


def test_a_difference_not_found_carries_the_mde_at_the_seeds_used():
    s = claims.difference_claim("32x4d", "1x64d", -0.4, -1.6, 0.8, 0.2, 0.6, 2.36, 6, 6, LEVEL, 4)
    assert "-0.40 points (95% CI -1.60 to +0.80)" in s
    assert ("no difference larger than 2.36 points was detectable at 6 seeds "
            "(80% power, Holm level 0.0125 = 0.05/4)") in s
    assert "lower" not in s and "higher" not in s
    assert claims.guarded(s)


def test_a_raw_p_below_alpha_is_not_significant_when_holm_says_otherwise():
    s = claims.difference_claim("a", "b", 1.0, 0.1, 1.9, 0.03, 0.12, 1.5, 5, 5, LEVEL, 4)
    assert "higher" not in s and "was detectable" in s


def test_too_few_seeds_claim_nothing():
    s = claims.difference_claim("a", "b", 0.3, math.nan, math.nan, None, None, math.nan, 1, 6, LEVEL, 4)
    assert "no test is possible" in s and "nothing is claimed" in s and claims.guarded(s)
    s = claims.difference_claim("a", "b", 0.3, -1, 1, 0.5, None, math.nan, 2, 2, LEVEL, 4)
    assert "no test is possible" in s and claims.guarded(s)


# Every combination of outcomes: no sentence says a guarded phrase without the detectable size.
@pytest.mark.parametrize("diff, p, p_holm, mde, n", list(itertools.product(
    [-1.0, 0.0, 0.5, math.nan], [None, 0.001, 0.4], [None, 0.02, 0.9], [0.0, 1.4, math.nan], [1, 2, 6])))
def test_no_difference_sentence_says_a_guarded_phrase_without_an_mde(diff, p, p_holm, mde, n):
    s = claims.difference_claim("a", "b", diff, diff - 1, diff + 1, p, p_holm, mde, n, n, LEVEL, 4)
    assert claims.guarded(s), s
    assert "seed noise" not in s


@pytest.mark.parametrize("d, p, p_holm, mdd, n", list(itertools.product(
    [0.1, 0.5, math.nan], [None, 0.001, 0.3], [None, 0.01, 0.6], [0.39, math.nan], [1, 8, 32])))
def test_no_ks_sentence_says_not_distinguishable_without_an_mdd(d, p, p_holm, mdd, n):
    s = claims.ks_claim("A vs B", d, p, p_holm, mdd, n, n, power.holm_level(3), 3)
    assert claims.guarded(s), s


def test_the_ks_sentence_gives_the_smallest_detectable_distance():
    s = claims.ks_claim("A vs B", 0.19, 0.4, 0.9, 0.39, 32, 32, power.holm_level(3), 3)
    assert s.startswith("A vs B: KS D = 0.19, p = 0.40, Holm p = 0.90")
    assert "no KS distance larger than 0.39 was detectable with 32 models a space" in s
    assert claims.ks_claim("A vs B", 0.6, 0.0004, 0.003, 0.39, 32, 32, 0.05 / 3, 3).endswith(
        "the error distributions differ (KS D = 0.60, p < 0.001, Holm p = 0.003)")


def test_the_guard_catches_a_bare_phrase():
    assert not claims.guarded("A vs B: the error distributions are not distinguishable (p = 0.4)")
    assert not claims.guarded("a minus b: +0.10 points, within seed noise")
    assert claims.guarded("a minus b: +0.10 points; no difference larger than 1.00 points was detectable at 6 seeds")


def test_seeds_needed_only_for_a_declared_effect():
    assert claims.seeds_claim(None, "min_effect", 24, 1.0, LEVEL, 4) == ""
    assert claims.seeds_claim(math.nan, "the paper's difference", 24, 1.0, LEVEL, 4) == ""
    n = power.seeds_for_effect(1.0, 1.0, m=4)
    s = claims.seeds_claim(1.0, "the paper's difference", n, 1.0, LEVEL, 4)
    assert s == (f"seeds needed to detect the paper's difference (1.00 points) at 80% power, Holm level 0.0125 "
                 f"= 0.05/4: {n} per configuration (spread 1.00)")
    assert "more than 1000" in claims.seeds_claim(0.01, "min_effect", math.inf, 1.0, LEVEL, 4)
    assert "unknown" in claims.seeds_claim(0.5, "min_effect", math.nan, math.nan, LEVEL, 4)


def test_a_single_comparison_is_at_plain_alpha():
    s = claims.detectable_words(1.23, 6, 5, 0.05, 1)
    assert s == "no difference larger than 1.23 points was detectable at 6 and 5 seeds (80% power, level 0.05)"


def test_a_robust_estimate_reads_value_then_interval():
    assert claims.estimate_claim("32x4d", 21.4, 21.1, 21.9, "IQM error") == "IQM error of 32x4d: 21.40 (95% CI 21.10 to 21.90)"
    assert "fewer than 2 runs" in claims.estimate_claim("32x4d", 21.4, math.nan, math.nan, "IQM error")
    assert "no test is possible" in claims.estimate_claim("32x4d", math.nan, math.nan, math.nan, "IQM error")


# ---------------------------------------------------------------- min_effect: declared in the ablation file



def test_an_ablation_may_declare_min_effect_before_the_runs(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(SMALL_TABLE3 + "min_effect: 0.5\n")
    assert load_ablation(path).min_effect == 0.5
    path.write_text(SMALL_TABLE3)
    assert load_ablation(path).min_effect is None


@pytest.mark.parametrize("text, expected", [
    ("0", "min_effect: expected a number of points > 0, got 0"),
    ("-1.5", "min_effect: expected a number of points > 0, got -1.5"),
    ("big", "min_effect: expected a number, got 'big'"),
])
def test_a_bad_min_effect_is_refused_in_one_line(tmp_path, text, expected):
    path = tmp_path / "t.yaml"
    path.write_text(SMALL_TABLE3 + f"min_effect: {text}\n")
    with pytest.raises(UserError) as info:
        load_ablation(path)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_min_effect_does_not_change_the_run_ids(tmp_path):
    from resnext_bench.config.runs import resolve_runs

    path = tmp_path / "t.yaml"
    path.write_text(SMALL_TABLE3)
    plain = [r.run_id for r in resolve_runs(load_ablation(path))]
    path.write_text(SMALL_TABLE3 + "min_effect: 0.5\n")
    assert [r.run_id for r in resolve_runs(load_ablation(path))] == plain
