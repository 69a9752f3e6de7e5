"""The fixed words of the readings: every clause is generated from a statistic of `stats`.

How a reading is made (the report's "How the readings are computed" section says the same):
from the results of `stats` (see the report's "How the readings are computed" section):

- each configuration: mean ± sample std (n) and the 95 % Student-t confidence interval of the mean;
- each comparison with the C=1 configuration of the same group: the difference with its 95 % CI
  (Welch–Satterthwaite df), Welch's p and Holm's adjusted p over the comparisons of the table. A
  difference is called lower or higher only when its Holm-adjusted p < 0.05; otherwise it reads
  "no difference larger than X points was detectable at n seeds (80% power, Holm level ...)"
  (power.mde at the strictest Holm level of the family), followed, only for an effect declared
  before the runs (the paper's difference on the paper's data, or the ablation's min_effect), by
  the seeds per configuration that would detect it at that level ("seeds needed …");
- "error falls as C grows" and "the paper's ordering is reproduced" only when the trend test
  (Spearman's rho between C and error over all runs, every seed a point) is significant and in the
  paper's direction; otherwise "not significant; no trend is claimed";
- differences to the paper's numbers are computed only when our data are the paper's
  (paper.PAPER_DATA); otherwise the reading says the data differ and compares the direction of the
  trend only;
- fewer than 2 seeds per configuration: "no test is possible", and nothing is claimed;
- a configuration whose mean error is within stats.CHANCE_MARGIN points of guessing is "at chance
  level", and nothing in its group is ranked or tested.

The header names the sweeps, the runs by status, the files that were skipped, and the provenance
of the runs (device model, threads, precision) with what it means for reproducing the numbers.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from ..units import plural, si
from .cells import ABSENT
from .claims import approx_detectable_words, detectable_words, difference_claim, p_is, seeds_claim
from .power import holm_level, mde, mde_t_approx, seeds_for_effect
from .stats import CHANCE_MARGIN, Difference, Trend, chance_error, mixed_provenance, summarize


# Fixed phrases of the readings (tests look for them).
NOT_SIGNIFICANT = "not significant"


NO_TEST = "no test is possible"


CHANCE = "at chance level"


SEEDS = "seeds needed"


SIGNIFICANT = "significant"


NO_CLAIM = "nothing is claimed"


# ---------------------------------------------------------------- small number words


def spearman(x, y) -> float:
    """Spearman's rho of two sequences, NaN with fewer than 3 pairs or a constant side (no p-value: see stats.trend)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from scipy import stats  # ~1 s to import: only when a correlation is due

        return float(stats.spearmanr(x, y).statistic)


def rho_words(rho: float, n: int) -> str:
    if math.isnan(rho):
        return f"undefined ({plural(n, 'point')}, or no spread)"
    return f"{rho:+.2f} over {plural(n, 'point')}"


def count_words(value) -> str:
    """A parameter or FLOP count in prose: 3 significant figures ("25.6M", "11.7M"), "—" when unknown."""
    if value is None or pd.isna(value):
        return ABSENT
    return si(value)


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def falls_monotonically(values) -> bool:
    """True when each value is below the one before (strictly)."""
    values = list(values)
    return len(values) >= 2 and all(b < a for a, b in zip(values, values[1:]))


def listing(items, empty: str = "none") -> str:
    items = list(items)
    return ", ".join(items) if items else empty


def is_zero(x: float) -> bool:
    """Zero up to floating-point noise (a difference of equal means computed in another order)."""
    return abs(x) < 1e-9


def summary_words(sample) -> str:
    """'31.00 ± 1.00 (n = 3; 95% CI 28.52 to 33.48)', '31.00 (n = 1)'."""
    s = summarize(sample)
    if s.n == 0:
        return "no completed run"
    if s.n == 1:
        return f"{s.mean:.2f} (n = 1)"
    return f"{s.mean:.2f} ± {s.std:.2f} (n = {s.n}; 95% CI {s.ci_low:.2f} to {s.ci_high:.2f})"


def p_words(d: Difference) -> str:
    """'Welch p = 0.012, Holm p = 0.036' (the Holm part only when adjusted)."""
    holm = f", {p_is(d.p_holm, 'Holm p')}" if d.p_holm is not None else ""
    return f"{p_is(d.p, 'Welch p')}{holm}"


def detectable(d: Difference) -> str:
    """'no difference larger than 1.40 points was detectable at 6 seeds (80% power, Holm level ...)'.

    The MDE of the Welch test at the seeds `d` compared, at the strictest Holm level of its family."""
    level = holm_level(d.family)
    return detectable_words(mde(d.ns[0], d.ns[-1], d.spread, alpha=level), d.ns[0], d.ns[-1], level, d.family)


def contrast_detectable(d: Difference) -> str:
    """The detectable size of a contrast of several means (a difference of gaps) on its Welch df at the Holm
    level of its family (power.mde_t_approx; power.mde covers two means)."""
    level = holm_level(d.family)
    return approx_detectable_words(mde_t_approx(d.se, d.df, alpha=level), f"at {n_range(d.ns)} seeds", level,
                                   d.family)


def verdict(d: Difference, subject: str, reference: str, what: str = "error") -> str:
    """One comparison in fixed words (claims.difference_claim): the estimate and its 95% CI first, then
    lower/higher only when `d.significant`, else the minimum detectable effect at the seeds used and the
    Holm level of `d`'s family. `d` is subject - reference."""
    level = holm_level(d.family)
    return difference_claim(subject, reference, d.diff, d.ci_low, d.ci_high, d.p, d.p_holm,
                            mde(d.ns[0], d.ns[-1], d.spread, alpha=level), d.ns[0], d.ns[-1], level, d.family, what)


def seeds_words(d: Difference, effect: float | None, whose: str) -> str:
    """Seeds per configuration to detect an effect DECLARED before the runs (the paper's difference,
    the ablation's min_effect) at 80% power and the Holm level of `d`'s family; '' when none was declared."""
    if effect is None or (isinstance(effect, float) and math.isnan(effect)):
        return ""
    if is_zero(effect):
        return f"{SEEDS}: no number of seeds detects a difference of 0 ({whose} is 0.00 points)"
    n = seeds_for_effect(effect, d.spread, m=d.family)
    return seeds_claim(effect, whose, n, d.spread, holm_level(d.family), d.family)


def declared_effect(frame: pd.DataFrame) -> float | None:
    """The ablation's `min_effect` its runs carry (runs.csv's column, from the sweep's ablation file), or None."""
    if frame is None or "min_effect" not in frame:
        return None
    values = pd.to_numeric(frame["min_effect"], errors="coerce").dropna().unique()
    return float(min(values)) if len(values) else None  # two sweeps declaring two sizes: the stricter


def declared_seeds(d: Difference, paper_effect: float | None, frame: pd.DataFrame | None = None,
                   paper_words: str = "the paper's difference") -> str:
    """'; seeds needed ...' for the paper's effect (same data) or else the ablation's min_effect; '' for none."""
    if paper_effect is not None:
        words = seeds_words(d, paper_effect, paper_words)
    else:
        words = seeds_words(d, declared_effect(frame), "the declared min_effect")
    return f"; {words}" if words else ""


def trend_words(t: Trend | None, x_name: str = "C", y_name: str = "error", paper_direction: str | None = "falls",
                same_data: bool = False) -> str:
    """The trend test in fixed words; a direction only when significant."""
    if t is None:
        return f"Trend of {y_name} with {x_name}: {NO_TEST} (too few runs or {x_name} values with 2 or more seeds)"
    head = (f"Trend (Spearman's rho between {x_name} and {y_name} over all {t.n} runs): rho = {t.rho:+.2f}, "
            f"{p_is(t.p)}")
    if not t.significant:
        return f"{head}: {NOT_SIGNIFICANT}; no trend is claimed"
    word = "falls" if t.rho < 0 else "rises"
    text = f"{head}: {y_name} {word} as {x_name} {'grow' if x_name.endswith('s') else 'grows'} ({SIGNIFICANT})"
    if paper_direction is not None:
        if word == paper_direction:
            text += ("; the paper's ordering is reproduced" if same_data
                     else "; the direction of the paper's ordering (on other data)")
        else:
            text += "; against the paper's direction"
    return text


def bullets(items: list[str], indent: int = 0) -> str:
    pad = " " * indent
    return "\n".join(f"{pad}- {item}" for item in items)


def sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(".") else text + "."


def n_range(ns) -> str:
    ns = [int(n) for n in ns]
    lo, hi = min(ns), max(ns)
    return f"n = {lo}" if lo == hi else f"n = {lo}–{hi}"


def chance_words(settings: list[str], means: list[float], dataset) -> str:
    chance = chance_error(dataset)
    classes = round(100.0 / (100.0 - chance)) if chance is not None and chance < 100 else None
    span = f"{min(means):.2f}" if len(means) == 1 or min(means) == max(means) else f"{min(means):.2f}–{max(means):.2f}"
    return (f"{listing(settings)} {CHANCE}: mean error {span}, against {chance:.1f}% for guessing among "
            f"{classes} classes (within {CHANCE_MARGIN:.0f} points counts as chance): the models learned nothing "
            f"measurable, so nothing is ranked or tested")


def data_words(dataset, same: bool, recipe=None, epochs=None, paper_recipe: str = "paper-imagenet",
                paper_data: str = "ImageNet") -> str:
    if not same:
        return (f"The data differ from the paper's ({dataset}, not {paper_data}): the paper's numbers stand in the "
                f"table for reference only, ours are not compared with them, and only the direction of its trend "
                f"is compared.")
    words = f"{dataset}, the paper's data: the paper's numbers are set beside ours."
    if recipe is not None and recipe != paper_recipe:
        words += (f" The recipe is not the paper's ({recipe}, {epochs} epochs): levels need not match the paper's.")
    return words


def provenance_words(frame: pd.DataFrame) -> str:
    mixed = mixed_provenance(frame)
    return (f" The runs of this group differ in {mixed}: part of a difference may come from the machine or the "
            "precision, not from the configuration." if mixed else "")


def reading(text: str) -> str:
    """'**Reading.** text', with a blank line before a list so markdown renders it."""
    text = text.strip()
    return "**Reading.**\n\n" + text if text.startswith("- ") else "**Reading.** " + text
