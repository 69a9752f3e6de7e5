"""The report's sentences about differences, from plain numbers: the estimate with its 95% interval
first, then what the comparison could have detected.

Rules every function keeps (tests/test_claims.py checks them):
- a difference is called lower or higher only when its Holm-adjusted p < ALPHA;
- otherwise the sentence never says "no difference", "within seed noise" or "not distinguishable"
  alone: it says that no difference larger than the MDE was detectable at the seeds used (80% power,
  Holm level), or that no test was possible;
- seeds needed are given only for an effect declared before the runs (the paper's difference or the
  ablation's `min_effect`), never for the observed difference.
The inputs are plain numbers so any table or study can call them.
"""
from __future__ import annotations

import math

from .power import MAX_SEEDS, POWER
from .stats import ALPHA, fmt_p

NO_TEST = "no test is possible"
DETECTABLE = "was detectable"
SEEDS = "seeds needed"
# Words a sentence may not use unless the detectable size stands beside it.
GUARDED = ("no difference", "within seed noise", "not distinguishable", "indistinguishable")


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def p_is(p: float | None, name: str = "p") -> str:
    """'p = 0.042' or 'p < 0.001'."""
    text = fmt_p(p)
    return f"{name} {text[0]} {text[1:]}" if text.startswith("<") else f"{name} = {text}"


def pts(x: float) -> str:
    """'+1.25', '-0.40'; never '-0.00'."""
    return f"{round(x, 2) + 0.0:+.2f}"


def level_words(level: float, m: int) -> str:
    """'Holm level 0.0125 = 0.05/4' (or 'level 0.05' for a single comparison)."""
    if m <= 1:
        return f"level {level:.3g}"
    return f"Holm level {level:.3g} = {ALPHA:g}/{m}"


def interval_words(estimate: float, low: float, high: float, unit: str = " points") -> str:
    """'+0.42 points (95% CI -0.31 to +1.15)'; the interval is omitted when unknown."""
    if not (_finite(low) and _finite(high)):
        return f"{pts(estimate)}{unit} (no interval: fewer than 2 values on a side)"
    return f"{pts(estimate)}{unit} (95% CI {pts(low)} to {pts(high)})"


def detectable_words(mde: float, n_a: int, n_b: int, level: float, m: int, unit: str = " points") -> str:
    """'no difference larger than 1.40 points was detectable at 6 and 6 seeds (80% power, Holm level ...)'."""
    seeds = f"{n_a} seeds" if n_a == n_b else f"{n_a} and {n_b} seeds"
    if not _finite(mde):
        return f"{NO_TEST} at {seeds} (no spread known), so nothing is claimed"
    return (f"no difference larger than {mde:.2f}{unit} {DETECTABLE} at {seeds} "
            f"({POWER:.0%} power, {level_words(level, m)})")


def approx_detectable_words(size: float, seeds: str, level: float, m: int) -> str:
    """'no difference larger than 1.40 points was detectable at 6 seeds (80% power, Holm level ..., t approximation)'
    for a size from power.mde_t_approx; `seeds` says over what ('at 6 seeds', 'over 3 paired runs')."""
    return (f"no difference larger than {size:.2f} points {DETECTABLE} {seeds} "
            f"({POWER:.0%} power, {level_words(level, m)}, t approximation)")


def difference_claim(subject: str, reference: str, diff: float, ci_low: float, ci_high: float, p: float | None,
                     p_holm: float | None, mde: float, n_a: int, n_b: int, level: float, m: int,
                     what: str = "error") -> str:
    """One comparison (subject - reference) in fixed words: estimate and interval, then the verdict.

    Called lower/higher only when the Holm-adjusted p (the raw p when p_holm is None) < ALPHA;
    otherwise the MDE at the seeds used follows. n < 2 on a side: no test, nothing claimed.
    """
    head = f"{subject} minus {reference}: {interval_words(diff, ci_low, ci_high)}"
    if n_a < 2 or n_b < 2 or p is None or not _finite(diff):
        return f"{head}; {NO_TEST} (fewer than 2 seeds on a side), so nothing is claimed"
    adjusted = p if p_holm is None else p_holm
    ps = p_is(p, "Welch p") + (f", {p_is(p_holm, 'Holm p')}" if p_holm is not None else "")
    if adjusted < ALPHA and diff != 0:
        word = "lower" if diff < 0 else "higher"
        return f"{head}; {subject} has {abs(diff):.2f} points {word} {what} than {reference} ({ps}: significant)"
    return f"{head}; {ps}: {detectable_words(mde, n_a, n_b, level, m)}"


def seeds_claim(effect: float | None, source: str, seeds: float, spread: float, level: float, m: int) -> str:
    """Seeds per configuration to detect a DECLARED effect, e.g. source 'the paper's difference' or
    'min_effect'; '' when no effect was declared before the runs (none is computed after the fact)."""
    if effect is None or (isinstance(effect, float) and math.isnan(effect)):
        return ""
    head = f"{SEEDS} to detect {source} ({abs(effect):.2f} points) at {POWER:.0%} power, {level_words(level, m)}"
    if isinstance(seeds, float) and math.isnan(seeds):
        return f"{head}: unknown (no spread known)"
    if seeds == math.inf:
        return f"{head}: more than {MAX_SEEDS} per configuration (spread {spread:.2f})"
    return f"{head}: {int(seeds)} per configuration (spread {spread:.2f})"


def ks_claim(pair: str, d: float, p: float | None, p_holm: float | None, mdd: float, n_a: int, n_b: int,
             level: float, m: int) -> str:
    """Two design spaces' KS comparison: the distance and p first, then 'differ' or the detectable distance.

    The direction (which space is better) is the caller's to add: it needs the EDFs, not just D.
    """
    if p is None or not _finite(d):
        return f"{pair}: {NO_TEST} (too few models), so nothing is claimed"
    adjusted = p if p_holm is None else p_holm
    ps = f"KS D = {d:.2f}, {p_is(p)}" + (f", {p_is(p_holm, 'Holm p')}" if p_holm is not None else "")
    if adjusted < ALPHA:
        return f"{pair}: the error distributions differ ({ps})"
    models = f"{n_a} models" if n_a == n_b else f"{n_a} and {n_b} models"
    if not _finite(mdd):
        return f"{pair}: {ps}; {NO_TEST} at {models} at this level, so nothing is claimed"
    return (f"{pair}: {ps}; no KS distance larger than {mdd:.2f} {DETECTABLE} with {models} a space "
            f"({POWER:.0%} power, {level_words(level, m)})")


def estimate_claim(name: str, value: float, low: float, high: float, what: str) -> str:
    """'IQM error of 32x4d: 21.40 (95% CI 21.10 to 21.90)' for a robust estimate (robust.Estimate's fields)."""
    if not _finite(value):
        return f"{what} of {name}: {NO_TEST} (no completed runs)"
    if not (_finite(low) and _finite(high)):
        return f"{what} of {name}: {value:.2f} (no interval: fewer than 2 runs)"
    return f"{what} of {name}: {value:.2f} (95% CI {low:.2f} to {high:.2f})"


def guarded(sentence: str) -> bool:
    """True when the sentence uses none of GUARDED's words, or uses them with a detectable size beside them."""
    text = sentence.lower()
    return not any(g in text for g in GUARDED) or DETECTABLE in text
