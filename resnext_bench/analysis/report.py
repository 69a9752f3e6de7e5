"""One report: collect the sweeps, write the tables and figures, and read each of them in words.

Statistics first, words from them. Every sentence of a reading is generated, with fixed wording,
from the results of `stats` (see the report's "How the readings are computed" section):

- each configuration: mean ± sample std (n) and the 95 % Student-t confidence interval of the mean;
- each comparison with the C=1 configuration of the same group: the difference with its 95 % CI
  (Welch–Satterthwaite df), Welch's p and Holm's adjusted p over the comparisons of the table. A
  difference is called lower or higher only when its Holm-adjusted p < 0.05; otherwise it reads
  "within seed noise (Welch p = …, Holm p = …)", followed by the seeds per configuration that
  would detect the paper's effect (same data) or the observed difference (other data) at 80 %
  power ("seeds needed …");
- "error falls as C grows" and "the paper's ordering is reproduced" only when the trend test
  (Spearman's rho between C and error over all runs, every seed a point) is significant and in the
  paper's direction; otherwise "within seed noise; no trend is claimed";
- the paper's numbers appear beside ours only when our data are the paper's (paper.PAPER_DATA);
  otherwise the reading says the data differ and compares the direction of the trend only;
- fewer than 2 seeds per configuration: "no test is possible", and nothing is claimed;
- a configuration whose mean error is within stats.CHANCE_MARGIN points of guessing is "at chance
  level", and nothing in its group is ranked or tested.

The header names the sweeps, the runs by status, the files that were skipped, and the provenance
of the runs (device model, threads, precision) with what it means for reproducing the numbers.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..record import schema
from .. import fsutil
from .collect import STATUSES, CollectResult, collect
from .plots import Plot, make_plots, save_plots
from .cells import ABSENT, fmt_count, fmt_stat
from .paper import PAPER_DATA, REFERENCE_DIR, load_reference
from .render import Table, to_markdown
from .runs import (config_order, configurations, group_label, in_group, load_runs, model_words, runs_of,
                   setting_label, sorted_groups, varying_fields, with_variant)
from .stats import (ALPHA, CHANCE_MARGIN, MAX_SEEDS, POWER, POWER_METHOD, TREND_METHOD, Difference, Trend,
                    at_chance, baseline_config, chance_error, contrast, difference, fmt_p, holm_adjust,
                    mixed_provenance, one_run_per_seed, seeds_needed, stat_of, summarize, trend)
from .tables import build_tables, table4_configs, with_shortcut, write_tables
from ..units import plural, si

MAX_LISTED = 30  # skipped files / failed runs listed in the header; the CSVs hold them all
ERR = "final_val_top1_err"

# Fixed phrases of the readings (tests look for them).
NOISE = "within seed noise"
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


def _pts(x: float) -> str:
    """'+1.25', '-0.40'; never '-0.00'."""
    return f"{round(x, 2) + 0.0:+.2f}"


def _is_zero(x: float) -> bool:
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


def p_is(p: float | None) -> str:
    """'p = 0.012', 'p < 0.001'."""
    text = fmt_p(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def p_words(d: Difference) -> str:
    """'Welch p = 0.012, Holm p = 0.036' (the Holm part only when adjusted)."""
    holm = f", Holm {p_is(d.p_holm)}" if d.p_holm is not None else ""
    return f"Welch {p_is(d.p)}{holm}"


def verdict(d: Difference, subject: str, reference: str, what: str = "error") -> str:
    """One comparison in fixed words: lower/higher only when `d.significant`, else within seed noise.

    `d` is subject - reference.
    """
    ci = f"95% CI {_pts(d.ci_low)} to {_pts(d.ci_high)}"
    if d.significant and not _is_zero(d.diff):
        word = "lower" if d.diff < 0 else "higher"
        return (f"{subject} has {abs(d.diff):.2f} points {word} {what} than {reference} "
                f"(difference {_pts(d.diff)}, {ci}; {p_words(d)}: {SIGNIFICANT})")
    return f"{subject} minus {reference}: {_pts(d.diff)} points ({ci}), {NOISE} ({p_words(d)})"


def seeds_words(d: Difference, effect: float | None = None, whose: str = "the observed difference") -> str:
    """'seeds needed to detect the observed difference (1.00 points) at 80% power: 24 per configuration'."""
    effect = d.diff if effect is None else effect
    if isinstance(effect, float) and math.isnan(effect):
        return f"{SEEDS}: unknown ({whose} is unknown)"
    if _is_zero(effect):
        return f"{SEEDS}: no number of seeds detects a difference of 0 ({whose} is 0.00 points)"
    n = seeds_needed(effect, d.spread)
    head = f"{SEEDS} to detect {whose} ({abs(effect):.2f} points) at {POWER:.0%} power"
    if isinstance(n, float) and math.isnan(n):
        return f"{head}: unknown (no spread known)"
    if n == math.inf:
        return f"{head}: more than {MAX_SEEDS} per configuration (spread {d.spread:.2f})"
    return f"{head}: {n} per configuration (spread {d.spread:.2f})"


def trend_words(t: Trend | None, x_name: str = "C", y_name: str = "error", paper_direction: str | None = "falls",
                same_data: bool = False) -> str:
    """The trend test in fixed words; a direction only when significant."""
    if t is None:
        return f"Trend of {y_name} with {x_name}: {NO_TEST} (too few runs or {x_name} values with 2 or more seeds)"
    head = f"Trend (Spearman's rho between {x_name} and {y_name} over all {t.n} runs): rho = {t.rho:+.2f}, {p_is(t.p)}"
    if not t.significant:
        return f"{head}: {NOISE}; no trend is claimed"
    word = "falls" if t.rho < 0 else "rises"
    text = f"{head}: {y_name} {word} as {x_name} {'grow' if x_name.endswith('s') else 'grows'} ({SIGNIFICANT})"
    if paper_direction is not None:
        if word == paper_direction:
            text += ("; the paper's ordering is reproduced" if same_data
                     else "; the direction of the paper's ordering (on other data)")
        else:
            text += "; against the paper's direction"
    return text


def _bullets(items: list[str], indent: int = 0) -> str:
    pad = " " * indent
    return "\n".join(f"{pad}- {item}" for item in items)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(".") else text + "."


# ---------------------------------------------------------------- what the readers see

@dataclass
class Context:
    """What every reader may use: the prepared runs, the per-epoch curves and the paper's numbers."""

    runs: pd.DataFrame
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    reference: dict = field(default_factory=dict)


def _completed(frame: pd.DataFrame) -> pd.DataFrame:
    """Completed runs with a final error, one a run id."""
    done = frame[(frame["status"] == schema.COMPLETED) & frame[ERR].notna()]
    return one_run_per_seed(done)


def _n_range(ns) -> str:
    ns = [int(n) for n in ns]
    lo, hi = min(ns), max(ns)
    return f"n = {lo}" if lo == hi else f"n = {lo}–{hi}"


def _chance_words(settings: list[str], means: list[float], dataset) -> str:
    chance = chance_error(dataset)
    classes = round(100.0 / (100.0 - chance)) if chance is not None and chance < 100 else None
    span = f"{min(means):.2f}" if len(means) == 1 or min(means) == max(means) else f"{min(means):.2f}–{max(means):.2f}"
    return (f"{listing(settings)} {CHANCE}: mean error {span}, against {chance:.1f}% for guessing among "
            f"{classes} classes (within {CHANCE_MARGIN:.0f} points counts as chance): the models learned nothing "
            f"measurable, so nothing is ranked and no difference is tested")


def _data_words(dataset, same: bool, recipe=None, epochs=None, paper_recipe: str = "paper-imagenet",
                paper_data: str = "ImageNet") -> str:
    if not same:
        return (f"The data differ from the paper's ({dataset}, not {paper_data}): the paper's numbers are not set "
                f"beside ours; only the direction of its trend is compared.")
    words = f"{dataset}, the paper's data: the paper's numbers are set beside ours."
    if recipe is not None and recipe != paper_recipe:
        words += (f" The recipe is not the paper's ({recipe}, {epochs} epochs): levels need not match the paper's.")
    return words


def _provenance_words(frame: pd.DataFrame) -> str:
    mixed = mixed_provenance(frame)
    return (f" The runs of this group differ in {mixed}: part of a difference may come from the machine or the "
            "precision, not from the configuration." if mixed else "")


# ---------------------------------------------------------------- Table 3

@dataclass
class _Sweep:
    """One Table 3 group: the statistics its reading is made of."""

    key: tuple
    label: str
    dataset: str
    same_data: bool
    frame: pd.DataFrame
    stats: dict  # (C, d, variant) -> Stat, every configuration of the group (of one variant)
    base: tuple | None
    paper: dict  # (C, d, variant) -> the paper's error at that C (same depth), None when it has no row
    paper_base: float | None
    chance: list  # settings at chance level
    shown: frozenset = frozenset()  # the model fields besides C and d that the labels show

    def setting(self, cfg) -> str:
        return setting_label(*cfg, self.shown)

    @property
    def done(self) -> list:
        return [cfg for cfg, s in self.stats.items() if s.n > 0]

    @property
    def seeded(self) -> list:
        """Configurations with 2 or more completed seeds."""
        return [cfg for cfg, s in self.stats.items() if s.n >= 2]

    @property
    def tested(self) -> list:
        """Configurations tested against C=1 (both sides with 2 or more seeds, nothing at chance)."""
        if self.chance or self.base is None or self.stats[self.base].n < 2:
            return []
        return [cfg for cfg in self.seeded if cfg != self.base]

    def trend(self) -> Trend | None:
        """Spearman over the runs of the configurations with 2 or more seeds (None when fewer than 2 of them)."""
        cfgs = self.seeded
        if self.chance or len(cfgs) < 2:
            return None
        x = [cfg[0] for cfg in cfgs for _ in self.stats[cfg].values]
        y = [v for cfg in cfgs for v in self.stats[cfg].values]
        return trend(x, y)

    def paper_effect(self, cfg) -> float | None:
        """The paper's difference to C=1 at this C (same data only)."""
        p = self.paper.get(cfg)
        if not self.same_data or p is None or self.paper_base is None:
            return None
        return p - self.paper_base


def _paper_of(data: pd.DataFrame, label: str, c: int, d: int | None = None) -> float | None:
    if data.empty or "paper" not in data:
        return None
    rows = data[(data["group"] == label) & (data["cardinality"] == c)]
    if d is not None and "bottleneck_width" in rows:
        exact = rows[rows["bottleneck_width"] == d]
        rows = exact if len(exact) else rows
    values = pd.to_numeric(rows["paper"], errors="coerce").dropna()
    return float(values.iloc[0]) if len(values) else None


def table3_sweeps(runs: pd.DataFrame, data: pd.DataFrame | None = None) -> list[_Sweep]:
    """Every Table 3 group's statistics, one sweep per other model fields (base planes, ...) when the
    group's models differ in them; `data` (Table.data) gives the paper's numbers."""
    data = pd.DataFrame() if data is None else data
    sel = runs[runs["table"] == "table3"]
    shown = frozenset(varying_fields(v for _, _, v in configurations(sel)))
    out = []
    for g in sorted_groups(sel):
        group = in_group(sel, g)
        label = group_label(g)
        for variant in sorted(set(group["variant"]), key=lambda v: config_order((v,))):
            frame = with_variant(group, variant)
            stats = {cfg: stat_of(runs_of(frame, *cfg)) for cfg in configurations(frame)}
            same = g[1] in PAPER_DATA["table3"]
            paper = {cfg: _paper_of(data, label, *cfg[:2]) for cfg in stats}
            chance = [setting_label(*cfg, shown) for cfg, s in stats.items() if s.n and at_chance(s.mean, g[1])]
            model = model_words(variant, shown)
            out.append(_Sweep(g, f"{label}, {model}" if model else label, g[1], same, frame, stats,
                              baseline_config(frame), paper, _paper_of(data, label, 1), chance, shown))
    return out


def _table3_family(sweeps: list[_Sweep]) -> dict:
    """{(group index, cfg): Difference to C=1}, Holm-adjusted over every comparison of the table."""
    family = {(i, cfg): difference(sw.stats[cfg], sw.stats[sw.base]) for i, sw in enumerate(sweeps) for cfg in sw.tested}
    return holm_adjust(family)


def _read_sweep(sw: _Sweep, diffs: dict, m: int) -> str:
    """One Table 3 group as a bullet with sub-bullets, every clause from `stats`."""
    done = sw.done
    if not done:
        return f"- **{sw.label}**: no completed run."
    head = (f"**{sw.label}**: seeds per configuration: {_n_range(sw.stats[c].n for c in done)}. "
            + _data_words(sw.dataset, sw.same_data, sw.key[2], sw.key[3])
            + _provenance_words(_completed(sw.frame)))
    items = []
    if sw.chance:
        means = [sw.stats[c].mean for c in done if sw.setting(c) in sw.chance]
        items.append(_sentence(_chance_words(sw.chance, means, sw.dataset)))
        return f"- {head}\n" + _bullets(items, 2)
    paper_note = (lambda cfg: f"; paper at C={cfg[0]}: {sw.paper[cfg]:.1f}"
                  if sw.same_data and sw.paper.get(cfg) is not None else "")
    if sw.base is None:
        items.append(f"No C=1 configuration: {NO_TEST} against C=1.")
    elif sw.stats[sw.base].n < 2 or not sw.tested:
        fewest = "the C=1 configuration has" if sw.stats[sw.base].n < 2 else "every other configuration has"
        items.append(f"Fewer than 2 seeds ({fewest} fewer than 2 completed runs): {NO_TEST} against C=1, "
                     f"and {NO_CLAIM}.")
    for cfg in sorted(sw.stats, key=config_order):
        s = sw.stats[cfg]
        name = f"C=1 baseline {sw.setting(cfg)}" if cfg == sw.base else sw.setting(cfg)
        if s.n == 0:
            items.append(f"{name}: missing (no completed run).")
            continue
        words = f"{name}: {summary_words(s)}{paper_note(cfg)}"
        d = diffs.get(cfg)
        if cfg != sw.base and d is not None:
            words += f"; {verdict(d, sw.setting(cfg), 'C=1')}"
            effect = sw.paper_effect(cfg)
            if effect is not None:
                words += f"; the paper's difference to C=1: {_pts(effect)}"
            if not d.significant:
                words += ("; " + seeds_words(d, effect, "the paper's difference") if effect is not None
                          else "; " + seeds_words(d))
        elif cfg != sw.base and sw.base is not None and s.n < 2 and sw.stats[sw.base].n >= 2:
            words += f"; fewer than 2 seeds: {NO_TEST}"
        items.append(_sentence(words))
    t = sw.trend()
    if t is not None or len(sw.seeded) >= 1:
        words = trend_words(t, same_data=sw.same_data)
        if t is not None and t.falls:
            means = [sw.stats[c].mean for c in sorted(sw.seeded, key=config_order)]
            words += (f"; error falls monotonically with C: {yes_no(falls_monotonically(means))} "
                      f"(means {' → '.join(f'{v:.2f}' for v in means)})")
        items.append(_sentence(words))
    if diffs:
        sig = [sw.setting(c) for c, d in diffs.items() if d is not None and d.significant]
        ns = [sw.setting(c) for c, d in diffs.items() if d is not None and not d.significant]
        items.append(f"Beyond seed noise vs C=1 (Welch, p < 0.05): {listing(sig)}; {NOISE}: {listing(ns)} "
                     f"(p Holm-adjusted over the table's {plural(m, 'comparison')}).")
    if sw.same_data:
        gaps = [sw.stats[c].mean - sw.paper[c] for c in done if sw.paper.get(c) is not None]
        if gaps:
            items.append(f"Ours minus paper: {np.mean(gaps):+.2f} points on average (a difference of level).")
    return f"- {head}\n" + _bullets(items, 2)


def read_table3(table: Table, ctx: Context) -> str:
    """Per depth group: each configuration against C=1 (Holm over the table), the trend test, seeds needed."""
    sweeps = table3_sweeps(ctx.runs, table.data)
    family = _table3_family(sweeps)
    m = sum(d is not None for d in family.values())
    parts = []
    for i, sw in enumerate(sweeps):
        parts.append(_read_sweep(sw, {cfg: d for (j, cfg), d in family.items() if j == i}, m))
    return "\n".join(parts) or "No run feeds Table 3."


# ---------------------------------------------------------------- Table 2

def read_table2(table: Table, ctx: Context | None = None) -> str:
    data = table.data
    parts = []
    for template, g in data.groupby("template", sort=False):
        dev = g["params_vs_c1_pct"].dropna()
        if len(dev):
            worst = g.loc[dev.abs().idxmax()]
            parts.append(f"**{template}**: {plural(len(g), 'configuration')}; parameters within {dev.abs().max():.1f}% of "
                         f"the C=1 configuration (largest deviation {int(worst['cardinality'])}x"
                         f"{int(worst['bottleneck_width'])}d, {worst['params_vs_c1_pct']:+.1f}%); FLOPs "
                         f"{count_words(g['flops'].min())}–{count_words(g['flops'].max())}.")
        else:
            parts.append(f"**{template}**: {plural(len(g), 'configuration')}; no C=1 configuration to compare complexity with.")
    return " ".join(parts)


# ---------------------------------------------------------------- Table 4

def read_table4(table: Table, ctx: Context) -> str:
    """Per data section: the configuration with the smallest mean against the next, tested; paper only on its data."""
    from .runs import data_label, depth_of

    sel = ctx.runs[ctx.runs["table"] == "table4"]
    data = table.data
    sections = []
    for key in sorted({g[1:] for g in sel["group"]}, key=lambda k: tuple(str(x) for x in k)):
        frame = sel[[g[1:] == key for g in sel["group"]]]
        configs = table4_configs(frame)
        stats = {cfg: stat_of(runs_of(frame[frame["template"] == cfg[0]], *cfg[1:])) for cfg in configs}
        sections.append((key, frame, stats))
    family = {}
    for i, (key, frame, stats) in enumerate(sections):
        ranked = sorted([cfg for cfg, s in stats.items() if s.n], key=lambda cfg: stats[cfg].mean)
        if len(ranked) >= 2 and not any(at_chance(stats[c].mean, key[0]) for c in ranked):
            family[i] = difference(stats[ranked[0]], stats[ranked[1]])
    family = holm_adjust(family)
    parts = []
    for i, (key, frame, stats) in enumerate(sections):
        label = data_label(*key)
        shown = varying_fields(cfg[3] for cfg in stats)
        name = lambda cfg: f"{depth_of(cfg[0])}-layer {setting_label(*cfg[1:], shown)}"  # noqa: E731
        ranked = sorted([cfg for cfg, s in stats.items() if s.n], key=lambda cfg: stats[cfg].mean)
        if not ranked:
            parts.append(f"- **{label}**: no completed run.")
            continue
        same = key[0] in PAPER_DATA["table4"]
        items = [(_data_words(key[0], same, key[1], key[2]) + _provenance_words(_completed(frame))).rstrip()]
        chance = [name(c) for c in ranked if at_chance(stats[c].mean, key[0])]
        for cfg in ranked:
            paper = None
            if same and not data.empty and "paper" in data:
                rows = data[(data["group"] == label) & (data["template"] == cfg[0])
                            & (data["setting"] == setting_label(*cfg[1:], shown))]
                if len(rows) and pd.notna(rows["paper"].iloc[0]):
                    paper = (rows["paper_model"].iloc[0], float(rows["paper"].iloc[0]))
            items.append(_sentence(f"{name(cfg)}: {summary_words(stats[cfg])}"
                                   + (f"; paper ({paper[0]}): {paper[1]:.1f}" if paper else "")))
        if chance:
            items.append(_sentence(_chance_words(chance, [stats[c].mean for c in ranked if name(c) in chance], key[0])))
        elif len(ranked) == 1:
            items.append(f"One configuration: nothing to compare, {NO_CLAIM}.")
        elif family.get(i) is None:
            items.append(f"Smallest mean {name(ranked[0])} against the next, {name(ranked[1])}: fewer than 2 seeds, "
                         f"{NO_TEST} and {NO_CLAIM}.")
        else:
            d = family[i]
            words = verdict(d, name(ranked[0]), f"the next, {name(ranked[1])}", "top-1 error")
            words += "" if d.significant else "; " + seeds_words(d)
            items.append(_sentence(words + f" (Holm over the table's {plural(len(family), 'comparison')})"))
        if same:
            diffs = data[(data["group"] == label)]["diff"].dropna() if "diff" in data else []
            if len(diffs):
                items.append(f"Ours minus paper: {np.mean(diffs):+.2f} points on average.")
        parts.append(f"- **{label}**:\n" + _bullets(items, 2))
    return "\n".join(parts) or "No completed run."


# ---------------------------------------------------------------- residual

def read_residual(table: Table, ctx: Context) -> str:
    """Each configuration with and without the shortcut (Holm over the table), and whether C>1 loses less."""
    runs = ctx.runs
    ours = runs[runs["ours"]]
    without = runs[(runs["table"] == "residual") & (runs["shortcut"] == False)]  # noqa: E712
    data = table.data
    rows, shown = [], {}
    for g in sorted_groups(without):
        w_frame = in_group(without, g)
        k_frame = in_group(ours[ours["shortcut"] == True], g)  # noqa: E712
        shown[g] = varying_fields(v for _, _, v in configurations(w_frame))
        for cfg in configurations(w_frame):
            rows.append((g, cfg, stat_of(runs_of(k_frame, *with_shortcut(cfg))), stat_of(runs_of(w_frame, *cfg))))
    family = holm_adjust({i: difference(s_without, s_with) for i, (g, cfg, s_with, s_without) in enumerate(rows)
                          if not any(s.n and at_chance(s.mean, g[1]) for s in (s_with, s_without))})
    parts = []
    for i, (g, cfg, s_with, s_without) in enumerate(rows):
        label, setting, same = group_label(g), setting_label(*cfg, shown[g]), g[1] in PAPER_DATA["residual"]
        prow = data[(data["group"] == label) & (data["setting"] == setting)] if not data.empty else data
        paper_gap = float(prow["paper_gap"].iloc[0]) if same and len(prow) and pd.notna(prow["paper_gap"].iloc[0]) \
            else None
        words = f"**{label}, {setting}**: with the shortcut {summary_words(s_with)}, without {summary_words(s_without)}"
        if paper_gap is not None:
            words += f"; paper ({prow['paper_model'].iloc[0]}): gap {paper_gap:+.1f}"
        elif not same:
            words += f"; the data differ from the paper's ({g[1]}): its gap is not set beside ours"
        diff = family.get(i)
        if any(s.n and at_chance(s.mean, g[1]) for s in (s_with, s_without)):
            words += f"; {CHANCE}: {NO_CLAIM}"
        elif diff is None:
            words += f"; fewer than 2 seeds on a side: {NO_TEST}, {NO_CLAIM}"
        elif diff.significant:
            word = "raises" if diff.diff > 0 else "lowers"
            words += (f"; removing the shortcut {word} error by {abs(diff.diff):.2f} points (95% CI "
                      f"{_pts(diff.ci_low)} to {_pts(diff.ci_high)}; {p_words(diff)}: {SIGNIFICANT})")
        else:
            words += (f"; without minus with: {_pts(diff.diff)} points (95% CI {_pts(diff.ci_low)} to "
                      f"{_pts(diff.ci_high)}), {NOISE} ({p_words(diff)}); "
                      + (seeds_words(diff, paper_gap, "the paper's gap") if paper_gap is not None else seeds_words(diff)))
        parts.append("- " + _sentence(words))
    # Does C>1 lose less than C=1? A contrast of the two gaps, Holm over the group's C>1 configurations.
    for g in sorted({r[0] for r in rows}, key=lambda k: sorted_groups(without).index(k)):
        mine = [r for r in rows if r[0] == g]
        ones = {}
        for r in mine:  # the C=1 of the same other model fields (the first, as configurations sort them)
            if r[1][0] == 1:
                ones.setdefault(r[1][2], r)
        many = [r for r in mine if r[1][0] > 1 and r[1][2] in ones]
        if not ones or not many:
            continue
        gaps = holm_adjust({r[1]: contrast([r[3], r[2], ones[r[1][2]][3], ones[r[1][2]][2]], [1, -1, -1, 1])
                            for r in many})
        label, same = group_label(g), g[1] in PAPER_DATA["residual"]
        if any(v is None for v in gaps.values()):
            parts.append(f"- **{label}**: whether C>1 loses less without the shortcut than C=1: fewer than 2 seeds "
                         f"on a side, {NO_TEST}.")
            continue
        less = all(v.significant and v.diff < 0 for v in gaps.values())
        each = "; ".join(f"{setting_label(*cfg, shown[g])}: gap minus C=1's gap {_pts(v.diff)} (95% CI "
                         f"{_pts(v.ci_low)} to {_pts(v.ci_high)}, {p_words(v)})" for cfg, v in gaps.items())
        if less:
            tail = " as in the paper (3.9 vs 7.3 points)" if same else ""
            parts.append(f"- **{label}**: the ResNeXt configurations lose less without the shortcut than C=1{tail} "
                         f"({SIGNIFICANT}): {each}.")
        else:
            parts.append(f"- **{label}**: the gap of the ResNeXt configurations against C=1's: not every one beyond "
                         f"seed noise, so no difference is claimed, {NOISE} where not significant: {each}.")
    return "\n".join(parts)


# ---------------------------------------------------------------- Table 7

def read_table7(table: Table, ctx: Context) -> str:
    """Per CIFAR group: each configuration's error, and the trend of error with size over runs."""
    sel = ctx.runs[ctx.runs["table"] == "table7"]
    data = table.data
    parts = []
    for g in sorted_groups(sel):
        frame = in_group(sel, g)
        label = group_label(g)
        stats = {cfg: stat_of(runs_of(frame, *cfg)) for cfg in configurations(frame)}
        shown = varying_fields(v for _, _, v in stats)
        name = lambda cfg: setting_label(*cfg, shown)  # noqa: E731
        params = {cfg: pd.to_numeric(runs_of(frame, *cfg)["params"], errors="coerce").dropna() for cfg in stats}
        done = sorted([cfg for cfg, s in stats.items() if s.n],
                      key=lambda cfg: (params[cfg].iloc[0] if len(params[cfg]) else 0, config_order(cfg)))
        if not done:
            parts.append(f"- **{label}**: no completed run.")
            continue
        same = g[1] in PAPER_DATA["table7"]
        items = [_data_words(g[1], same, paper_data="CIFAR-10 or CIFAR-100").rstrip()]
        for cfg in done:
            size = count_words(params[cfg].iloc[0]) if len(params[cfg]) else ABSENT
            items.append(f"{name(cfg)} ({size} params): {summary_words(stats[cfg])}.")
        chance = [name(cfg) for cfg in done if at_chance(stats[cfg].mean, g[1])]
        seeded = [cfg for cfg in done if stats[cfg].n >= 2 and len(params[cfg])]
        if chance:
            items.append(_sentence(_chance_words(chance, [stats[c].mean for c in done if name(c) in chance], g[1])))
        elif len(seeded) < 2:
            items.append(f"Fewer than 2 configurations with 2 or more seeds: {NO_TEST} of error against size, "
                         f"{NO_CLAIM}.")
        else:
            x = [params[cfg].iloc[0] for cfg in seeded for _ in stats[cfg].values]
            y = [v for cfg in seeded for v in stats[cfg].values]
            items.append(_sentence(trend_words(trend(x, y), "size (parameters)", "error", None)))
        if same and "diff" in data:
            diffs = data[data["group"] == label]["diff"].dropna()
            if len(diffs):
                items.append(f"Ours minus paper on matched rows: {diffs.mean():+.2f} points on average.")
        parts.append(f"- **{label}**:\n" + _bullets(items, 2))
    return "\n".join(parts)


READERS = {"table2": read_table2, "table3": read_table3, "table4": read_table4,
           "residual": read_residual, "table7": read_table7}


# ---------------------------------------------------------------- readings of figures

def _last_epoch(curves: pd.DataFrame) -> pd.DataFrame:
    """The last recorded epoch of each run (sweep, run_id)."""
    if curves.empty or "epoch" not in curves:
        return pd.DataFrame(columns=["sweep", "run_id", "epoch", "train_top1_err", "val_top1_err"])
    keep = [c for c in ("sweep", "run_id", "epoch", "train_top1_err", "val_top1_err") if c in curves]
    last = curves.sort_values("epoch", kind="stable").groupby(["sweep", "run_id"], as_index=False).tail(1)[keep]
    for column in ("train_top1_err", "val_top1_err"):
        if column not in last:
            last[column] = math.nan
    return last


def read_curves(plot: Plot, ctx: Context) -> str:
    """Per group: the largest C against C=1 at the last epoch, training and validation error, tested."""
    runs = ctx.runs
    done = _completed(runs[runs["table"] == "table3"])
    done = done if not done.empty else _completed(runs[runs["table"] == "table7"])
    last = _last_epoch(ctx.curves)
    if done.empty or last.empty:
        return "Too few epochs to compare."
    merged = done.merge(last, on=["sweep", "run_id"], how="inner", suffixes=("", "_curve"))
    pairs = []
    for g in sorted_groups(merged):
        frame = in_group(merged, g)
        cfgs = [cfg for cfg in configurations(frame) if baseline_config(frame, cfg[2]) is not None]
        if len(cfgs) < 2:
            continue
        top = max(cfgs, key=lambda cfg: (cfg[0], len(runs_of(frame, *cfg)), -cfg[1]))
        base = baseline_config(frame, top[2])  # the C=1 of the same other model fields
        if top == base:
            continue
        shown = varying_fields(v for _, _, v in cfgs)
        pairs.append((g, base, top, runs_of(frame, *base), runs_of(frame, *top), shown))
    if not pairs:
        return "No group has a C=1 configuration and a larger C with per-epoch metrics to compare."
    family = {}
    for i, (g, base, top, lo, hi, _) in enumerate(pairs):
        if any(at_chance(f["val_top1_err"].mean(), g[1]) for f in (lo, hi)):
            continue
        for split in ("train", "val"):
            family[(i, split)] = difference(hi[f"{split}_top1_err"].dropna(), lo[f"{split}_top1_err"].dropna())
    family = holm_adjust(family)
    m = sum(d is not None for d in family.values())
    parts = []
    for i, (g, base, top, lo, hi, shown) in enumerate(pairs):
        s_lo, s_hi = setting_label(*base, shown), setting_label(*top, shown)
        head = (f"**{group_label(g)}**: at the last epoch, {s_hi} has training error {summary_words(hi['train_top1_err'])} "
                f"and validation error {summary_words(hi['val_top1_err'])}; {s_lo} has "
                f"{summary_words(lo['train_top1_err'])} and {summary_words(lo['val_top1_err'])}")
        if any(at_chance(f["val_top1_err"].mean(), g[1]) for f in (lo, hi)):
            means = [float(f["val_top1_err"].mean()) for f in (lo, hi)]
            parts.append("- " + _sentence(head + ". " + _chance_words([s_lo, s_hi], means, g[1])))
            continue
        words = []
        for split, name in (("train", "training"), ("val", "validation")):
            d = family.get((i, split))
            if d is None:
                words.append(f"{name} error: fewer than 2 seeds, {NO_TEST}, {NO_CLAIM}")
                continue
            text = f"{name} error: " + verdict(d, s_hi, s_lo, f"{name} error")
            if split == "train" and d.significant and d.diff < 0:
                text += (", as in the paper's Fig. 5, where higher cardinality lowers the training error too "
                         "(a stronger representation, not regularisation)")
            elif split == "train" and d.significant:
                text += ", unlike the paper's Fig. 5"
            if not d.significant:
                text += "; " + seeds_words(d)
            words.append(text)
        tested = any(family.get((i, split)) is not None for split in ("train", "val"))
        parts.append("- " + head + ". " + ". ".join(w[0].upper() + w[1:] for w in words) + "."
                     + (f" Holm over the figure's {plural(m, 'comparison')}." if tested else ""))
    return "\n".join(parts)


def read_cardinality(plot: Plot, ctx: Context) -> str:
    """The trend test of every group (the same numbers as Table 3's reading)."""
    sweeps = table3_sweeps(ctx.runs)
    done = _completed(ctx.runs[ctx.runs["table"] == "table3"])
    n_cfg = sum(len(sw.done) for sw in sweeps)
    parts = [f"{plural(len(done), 'run')} (one point each) over {plural(n_cfg, 'configuration')}.", ""]
    for sw in sweeps:
        if not sw.done:
            continue
        if sw.chance:
            parts.append(f"- {sw.label}: " + _sentence(_chance_words(
                sw.chance, [sw.stats[c].mean for c in sw.done if sw.setting(c) in sw.chance], sw.dataset)))
        elif len(sw.seeded) < 2:
            parts.append(f"- {sw.label}: fewer than 2 configurations with 2 or more seeds: {NO_TEST}, {NO_CLAIM}.")
        else:
            parts.append(f"- {sw.label}: " + _sentence(trend_words(sw.trend(), same_data=sw.same_data)))
    return "\n".join(parts)


def read_cifar_size(plot: Plot, ctx: Context) -> str:
    """Per group and series (raising C, raising width): the trend of error with parameters over runs."""
    data = plot.data
    need = {"source", "group_label", "series", "params", "test_err"}
    if data.empty or not need <= set(data.columns):
        return "No series to read."
    data = data[data["source"] == "ours"]
    parts = []
    for label, g in data.groupby("group_label", sort=False):
        dataset = g["dataset"].iloc[0] if "dataset" in g else None
        words = []
        for series, s in g.groupby("series", sort=False):
            counts = s.groupby("setting").size()
            if at_chance(float(s["test_err"].mean()), dataset):
                words.append(f"{series}: {CHANCE}, {NO_CLAIM}")
            elif (counts >= 2).sum() < 2:
                words.append(f"{series}: fewer than 2 configurations with 2 or more seeds, {NO_TEST}")
            else:
                keep = s[s["setting"].isin(counts[counts >= 2].index)]
                words.append(f"{series}: " + trend_words(trend(keep["params"], keep["test_err"]), "size (parameters)",
                                                         "error", None))
        parts.append(f"- **{label}**: " + "; ".join(words) + ".")
    return "\n".join(parts)


def read_error_vs_complexity(plot: Plot, ctx: Context) -> str:
    """Per data set: the runs and the span of FLOPs; no test (the runs pool groups, studies and baselines)."""
    data = plot.data
    if data.empty or not {"dataset", "flops", "top1_err"} <= set(data.columns):
        return "No run to read."
    parts = []
    for dataset, g in data.groupby("dataset"):
        flops = pd.to_numeric(g["flops"], errors="coerce").dropna()
        span = float(flops.max() / flops.min() - 1) if len(flops) and flops.min() > 0 else math.nan
        span_words = "unknown" if span != span else f"{100 * span:.0f}%"
        parts.append(f"- {dataset}: {plural(len(g), 'run')}, FLOPs span {span_words}. The points pool every group, "
                     f"study and baseline on these data (depths, shortcuts, recipes), so no relation of error and FLOPs "
                     f"is tested here and {NO_CLAIM}; within a Table 3 group complexity is held equal by design, and "
                     "the Table 3 reading tests cardinality.")
    return "\n".join(parts)


FIGURE_READERS = {"fig_curves": read_curves, "fig_cardinality": read_cardinality,
                  "fig_cifar_size": read_cifar_size, "fig_error_vs_complexity": read_error_vs_complexity}
FIGURE_TITLES = {"fig_curves": "Training curves (cf. Fig. 5)", "fig_cardinality": "Error against cardinality",
                 "fig_cifar_size": "CIFAR error against model size (cf. Fig. 7)",
                 "fig_error_vs_complexity": "Error against complexity"}

# ---------------------------------------------------------------- header

def _counts(series: pd.Series) -> str:
    counts = series.astype(object).where(series.notna(), schema.UNKNOWN).astype(str).value_counts()
    return listing(f"{value} ({n})" for value, n in counts.items())


def _known(frame: pd.DataFrame, column: str) -> list[str]:
    """The distinct recorded values of `column` (ints shown without '.0'), sorted."""
    if column not in frame:
        return []
    values = set()
    for v in frame[column].dropna():
        values.add(str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    return sorted(values)


def _column_counts(frame: pd.DataFrame, column: str) -> str:
    if column not in frame or frame[column].isna().all():
        return "not recorded"
    series = frame[column]
    if pd.api.types.is_float_dtype(series):
        series = series.astype("Int64")
    return _counts(series)


def provenance_lines(ended: pd.DataFrame) -> list[str]:
    """What the numbers depend on besides the seed, and what that means for reproducing them."""
    devices = _known(ended, "device")
    cpu = [d for d in devices if d.lower().startswith("cpu")]
    gpu = [d for d in devices if not d.lower().startswith("cpu")]
    threads, precisions = _known(ended, "threads"), _known(ended, "precision")
    lines = []
    if cpu:
        lines.append(
            "- On CPU, these numbers are bit-exact only when rerun on the same CPU model with the same thread count "
            "(and the same software versions); on another CPU model, or with another thread count, the same command "
            "gives different numbers, and where differences are within seed noise the story can change. CPU runs "
            f"here: {listing(cpu)}; threads: {listing(threads, 'not recorded')}.")
    if gpu:
        lines.append(
            "- On GPU, the numbers repeat at most on the same GPU model with the same precision and software "
            f"versions; another GPU model gives different numbers. GPU runs here: {listing(gpu)}.")
    mixed = [f"{what} ({'; '.join(values)})" for what, values in
             (("devices", devices), ("thread counts", threads), ("precisions", precisions)) if len(values) > 1]
    if mixed:
        lines.append(f"- These runs mix {' and '.join(mixed)}: a difference between configurations trained on "
                     "different machines, threads or precisions may be theirs, not the configuration's; table cells "
                     "that pool runs of different device or precision are marked †.")
    return lines


def _sweeps_of(cell) -> list[str]:
    """A `shared_with` cell as sweep names ('a;b' -> ['a', 'b']); [] when empty."""
    return [s for s in cell.split(";") if s] if isinstance(cell, str) else []


def shared_lines(runs: pd.DataFrame) -> list[str]:
    """Which runs of the report other sweeps list too (runs.csv's `shared_with`); [] when none, or no column."""
    if "shared_with" not in runs:
        return []
    here: dict = {}
    others: dict = {}
    for run_id, sweep, cell in zip(runs["run_id"], runs["sweep"], runs["shared_with"]):
        if _sweeps_of(cell):
            here.setdefault(run_id, set()).add(str(sweep))
            others.setdefault(run_id, set()).update(_sweeps_of(cell))
    if not others:
        return []
    lines = [f"- shared with other sweeps: {plural(len(others), 'run')} of this report "
             f"{'is' if len(others) == 1 else 'are'} listed by other sweeps too (one run id, trained once: the "
             "same numbers, counted once, not another seed):"]
    for run_id in sorted(others)[:MAX_LISTED]:
        elsewhere = sorted(others[run_id] - here[run_id])
        lines.append(f"  - `{run_id}` in {listing(sorted(here[run_id]))}"
                     + (f", also listed by {listing(elsewhere)}" if elsewhere else ""))
    if len(others) > MAX_LISTED:
        lines.append(f"  - … and {len(others) - MAX_LISTED} more (column shared_with of `runs.csv`)")
    return lines


def header(sweeps: list[Path], result: CollectResult, runs: pd.DataFrame, out: Path) -> list[str]:
    """Sweeps, runs by status, runs shared with other sweeps, skipped files, environment and provenance."""
    lines = ["# resnext-bench report", "", "## Runs", ""]
    for sweep in sweeps:
        name = Path(sweep).resolve().name
        lines.append(f"- sweep `{sweep}`: {plural(runs.loc[runs['sweep'] == name, 'run_id'].nunique(), 'run')}")
    unique = runs.drop_duplicates("run_id")  # a model two spaces share has a row in each, and is one run
    counts = unique["status"].value_counts()
    lines.append(f"- runs by status: {listing(f'{s} {counts[s]}' for s in STATUSES if s in counts)} "
                 f"(total {len(unique)})")
    lines += shared_lines(runs)
    failed = runs[runs["status"].isin([schema.FAILED, schema.UNKNOWN])].drop_duplicates("run_id")
    if len(failed):
        lines.append(f"- failed or unknown ({len(failed)}):")
        lines += [f"  - `{r.run_id}`: {r.reason if isinstance(r.reason, str) else 'no reason given'}"
                  for r in failed.head(MAX_LISTED).itertuples()]
    lines.append(f"- skipped files or lines: {len(result.skipped)}" + (" (all in `skipped.csv`)" if result.skipped else ""))
    lines += [f"  - `{os.path.relpath(p, out)}`: {why}" for p, why in result.skipped[:MAX_LISTED]]
    if len(result.skipped) > MAX_LISTED:
        lines.append(f"  - … and {len(result.skipped) - MAX_LISTED} more")
    ended = runs[runs["status"].isin(list(schema.ENDED))]
    lines += ["", "## Environment (from result.json)", ""]
    if ended.empty:
        lines.append("No run has ended yet.")
    else:
        lines += [f"- device: {_counts(ended['device'])}",
                  f"- threads: {_column_counts(ended, 'threads')}",
                  f"- precision: {_column_counts(ended, 'precision')}",
                  f"- torch: {_counts(ended['torch_version'])}",
                  f"- GPUs per run: {_counts(ended['num_gpus'].astype('Int64'))}",
                  f"- compute: {pd.to_numeric(ended['gpu_hours'], errors='coerce').sum():.2f} device-hours "
                  "(GPU-hours; wall hours on CPU runs)",
                  f"- git commit: {_counts(ended['git_commit'])}"]
        lines += ["", "Reproducing these numbers:", ""] + provenance_lines(ended)
    lines += ["", "Files: `runs.csv` (one row a run), `curves.csv` (one row an epoch), `skipped.csv`; each table "
              "as `.md`, `.tex` (standalone LaTeX) and `.csv` (the numbers)."]
    return lines


def methods_section() -> list[str]:
    """How every number of the readings is computed (the words are fixed; see the module docstring)."""
    return [
        "", "## How the readings are computed", "",
        "- Each configuration: mean ± sample std (n seeds, one completed run per seed) and the 95% confidence "
        "interval of the mean, Student t with n−1 degrees of freedom (t-based).",
        "- Each comparison with C=1 (same group): the difference of means with its 95% CI on Welch–Satterthwaite "
        "degrees of freedom, and Welch's two-sided p (scipy.stats.ttest_ind, equal_var=False). Holm's correction "
        "over the comparisons of a table (or figure) gives the adjusted p; both are shown. Significant means "
        f"Holm-adjusted p < {ALPHA}; a difference is called lower or higher only then, otherwise it is within "
        "seed noise.",
        f"- Trend: {TREND_METHOD} (scipy.stats.spearmanr, t approximation, tied ranks averaged); never over the "
        "means alone. A trend, or the paper's ordering, is claimed only when it is significant and in the paper's "
        "direction.",
        f"- Seeds needed: the seeds per configuration that give {POWER:.0%} power at α = {ALPHA} two-sided, per "
        f"comparison before Holm's correction: {POWER_METHOD}; for the paper's difference where the data are "
        f"the paper's, otherwise for the observed difference; more than {MAX_SEEDS} is not searched.",
        "- The paper's numbers stand beside ours only where our data are the paper's (ImageNet for Tables 3 and 4 "
        "and the residual table, CIFAR for Table 7); elsewhere only the direction of its trend is compared.",
        f"- Fewer than 2 seeds per configuration: no test is possible and nothing is claimed. A mean error within "
        f"{CHANCE_MARGIN:.0f} points of guessing, 100·(1 − 1/classes), is chance level: nothing is ranked.",
    ]


def baselines_section(runs: pd.DataFrame) -> list[str]:
    """timm/torchvision runs: they sit in no paper table, so they get a short table here."""
    base = runs[runs["baseline"].notna()]
    if base.empty:
        return []
    lines = ["", "## Baselines (timm / torchvision)", "", "| model | data | recipe | params | FLOPs | top-1 err (%) |",
             "|:--|:--|:--|--:|--:|--:|"]
    for (model, dataset, recipe), g in base.groupby(["baseline", "dataset", "recipe"], dropna=False, sort=True):
        params = pd.to_numeric(g["params"], errors="coerce").dropna()
        flops = pd.to_numeric(g["flops"], errors="coerce").dropna()
        lines.append(f"| {model} | {dataset} | {recipe} | {fmt_count(params.iloc[0]) if len(params) else '—'} | "
                     f"{fmt_count(flops.iloc[0]) if len(flops) else '—'} | {fmt_stat(stat_of(g))} |")
    return lines


# ---------------------------------------------------------------- the report

def reading(text: str) -> str:
    """'**Reading.** text', with a blank line before a list so markdown renders it."""
    text = text.strip()
    return "**Reading.**\n\n" + text if text.startswith("- ") else "**Reading.** " + text


def _load_curves(out: Path) -> pd.DataFrame:
    path = Path(out) / "curves.csv"
    try:
        return pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame()
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame()


def write_report(sweeps: list[Path], out: Path, reference_dir: Path = REFERENCE_DIR) -> Path:
    """Collect `sweeps` into `out`, write tables (md, latex, csv) and figures there, then out/report.md."""
    out = Path(out)
    result = collect(sweeps, out)
    write_tables(out, formats=("md", "latex", "csv"), reference_dir=reference_dir)
    runs = load_runs(out)
    reference = load_reference(reference_dir)
    tables = build_tables(runs, reference)
    plots = make_plots(out, reference_dir)
    save_plots(plots, out)
    ctx = Context(runs, _load_curves(out), reference)
    lines = header(sweeps, result, runs, out)
    lines += methods_section()
    lines += ["", "## Tables"]
    if not tables:
        lines += ["", "No run feeds any of the paper's tables."]
    for name, table in tables.items():
        lines += ["", f"### {table.title}", "", to_markdown(table).split("\n", 2)[2].rstrip(), "",
                  f"Files: [{name}.md]({name}.md), [{name}.tex]({name}.tex), [{name}.csv]({name}.csv)", "",
                  reading(READERS[name](table, ctx))]
    lines += baselines_section(runs)
    lines += design_space_section(runs, out, reference)
    lines += ["", "## Figures"]
    for plot in plots:
        title = FIGURE_TITLES[plot.name]
        if plot.figure is None:
            lines += ["", f"### {title}", "", f"Not drawn: {plot.reason}."]
            continue
        lines += ["", f"### {title}", "", f"![{title}]({plot.name}.png)", "", f"[PDF]({plot.name}.pdf)"]
        caption = getattr(plot, "caption", "")
        if caption:
            lines += ["", f"*{caption}*"]
        lines += ["", reading(FIGURE_READERS[plot.name](plot, ctx))]
    path = out / "report.md"
    fsutil.write_text(path, "\n".join(lines) + "\n")
    print(f"wrote {path}")
    return path


# ---------------------------------------------------------------- design spaces (analysis/edf.py)
#
# The section reads the design-space statistics of edf.py with fixed words: a space is called better
# ("its EDF lies to the left") only when the KS test of the complexity-weighted EDFs is significant
# (Holm-adjusted permutation p < ALPHA) and the direction is clear (edf.KSTest.better); otherwise
# "the error distributions of the spaces are not distinguishable (KS D = ..., p = ...)".

SPACE_BETTER = "its EDF lies to the left"
SPACE_SAME = "the error distributions of the spaces are not distinguishable"
SPACE_FIGURE_TITLES = {"fig_edf": "Design spaces: error EDFs", "fig_space_params": "Design spaces: error against "
                       "the sampled parameters", "fig_space_cost": "Design spaces: error against cost"}


def ks_words(t) -> str:
    """One pair of spaces (edf.KSTest) in fixed words: better/worse only when significant and clear."""
    holm_p = f", Holm {p_is(t.p_holm)}" if t.p_holm is not None else ""
    stat = f"KS D = {t.d:.2f}, permutation {p_is(t.p)}{holm_p}"
    plain = f"unweighted scipy ks_2samp: D = {t.d_unweighted:.2f}, {p_is(t.p_unweighted)}"
    medians = {t.a: t.median_a, t.b: t.median_b}
    if t.better is not None:
        good, bad = t.better, t.worse
        return (f"{good} is better than {bad}: {SPACE_BETTER} ({stat}; weighted median error {medians[good]:.2f} "
                f"against {medians[bad]:.2f}; {plain}); {bad} is worse ({SIGNIFICANT})")
    pair = f"{t.a} and {t.b}"
    if t.significant:
        return (f"{pair}: the error distributions differ ({stat}) but the EDFs cross (weighted median error "
                f"{t.median_a:.2f} and {t.median_b:.2f}), so no space is ranked and {NO_CLAIM} beyond that ({plain})")
    return (f"{pair}: {SPACE_SAME} ({stat}; {plain}; weighted median error {t.median_a:.2f} and "
            f"{t.median_b:.2f})")


def normalisation_words(study) -> str:
    """How the EDFs of one group were normalised for complexity (edf.complexity_weights), in words."""
    from .edf import COLUMN_WORDS, complexity_column

    what = COLUMN_WORDS.get(complexity_column(study.complexity), study.complexity)
    n = len(study.frame)
    if study.unknown_complexity == n:
        return f"Complexity normalisation: none ({what} not recorded for any model): the EDFs are unweighted."
    if study.filled_bins <= 1 and not study.unknown_complexity:
        return (f"Complexity normalisation: {what} fall in one quantile bin (no spread to match): the weights are "
                "uniform.")
    edges = ", ".join(count_words(e) for e in study.edges)
    words = (f"Complexity normalisation: {what} of all {plural(n, 'model')} of the group cut into {study.bins} "
             f"quantile bins (edges {edges}; {study.filled_bins} filled); each model weighs its bin's share of all "
             f"models divided by its space's count in that bin, normalised to 1 per space, so every space has the "
             f"pooled complexity histogram (Radosavovic et al. 2019; with equal quantile bins this is 1 / count).")
    if study.unknown_complexity:
        words += f" {plural(study.unknown_complexity, 'model')} without a recorded {what} form a bin of their own."
    gaps = [f"{s} ({100 * st.uncovered:.0f}% of the models lie in bins it has none in)"
            for s, st in study.spaces.items() if st.uncovered > 0]
    if gaps:
        words += f" Not matched everywhere: {listing(gaps)}; its histogram matches only on the bins it covers."
    return words


def _space_rows(study) -> list[str]:
    lines = ["| space | runs | mean error | median error | weighted median error | min error | model at the min "
             "error (C×d; params; FLOPs) |", "|:--|--:|--:|--:|--:|--:|:--|"]
    for name, st in study.spaces.items():
        frame = study.frame[study.frame["space"] == name].sort_values(ERR, kind="stable")
        top = frame.iloc[0]
        setting = top.get("setting") if isinstance(top.get("setting"), str) else top.get("configuration")
        model = f"{setting}; {count_words(top.get('params'))}; {count_words(top.get('flops'))}"
        lines.append(f"| {name} | {st.n} | {st.mean:.2f} | {st.median:.2f} | {st.weighted_median:.2f} | "
                     f"{st.min:.2f} | {model} |")
    return lines


def _best_table(studies, reference):
    """The best models of every space as a render.Table (design_spaces.md / .csv)."""
    from .edf import best_models

    frames = [best_models(s, 3, reference) for s in studies]
    data = pd.concat([f for f in frames if not f.empty], ignore_index=True) if any(
        not f.empty for f in frames) else pd.DataFrame()
    columns = ["group", "space", "rank", "configuration", "C", "d", "group width", "params", "FLOPs", "activations",
               "images/s", "top-1 err (%)", "paper Table 3, same C (%)"]
    rows = []
    for r in data.to_dict("records"):
        paper = r.get("paper_err_same_c")
        rows.append([str(r["group"]), str(r["space"]), str(r["rank"]), str(r.get("configuration") or ABSENT)]
                    + [fmt_count(r.get(c)) if c in ("params", "flops", "complexity.acts") else
                       (ABSENT if r.get(c) is None or pd.isna(r.get(c)) else f"{r.get(c):.0f}")
                       for c in ("cardinality", "bottleneck_width", "group_width", "params", "flops",
                                 "complexity.acts", "images_per_sec")]
                    + [f"{r[ERR]:.2f}", ABSENT if paper is None or pd.isna(paper)
                       else f"{r.get('paper_setting_same_c')} {paper:.1f}"])
    return Table("design_spaces", "Design spaces: the lowest-error models found (3 per space)", columns, rows,
                 notes=["The paper's Table 3 error of the same C at the nearest depth stands beside a model only "
                        "where the data are the paper's (ImageNet); its hand-picked models have the complexity of "
                        "that depth's ResNet."], data=data, n_label=4)


def design_space_section(runs: pd.DataFrame, out: Path | None = None, reference: dict | None = None) -> list[str]:
    """The "Design spaces" section (only when runs.csv has 2 or more non-empty spaces).

    With `out`, it also writes design_spaces.md/.csv and the figures fig_edf, fig_space_params and
    fig_space_cost (PNG and PDF) there; without, only the lines.
    """
    from .edf import (BAND, BINS, MIN_RUNS, PERMUTATIONS, RESAMPLES, SEED, design_spaces, make_space_plots,
                      paper_points, space_names)
    from .plots import save_figure
    from .render import to_csv

    names = space_names(runs)
    if len(names) < 2:
        return []
    studies = design_spaces(runs)
    lines = ["", "## Design spaces", "",
             f"Sampled design spaces ({listing(names)}; Radosavovic et al. 2019): each completed run with a space is "
             "one model drawn from it, and a space is judged by the distribution of its models' errors, within one "
             "group (template, data, recipe, epochs). EDF: the fraction of a space's models with top-1 error at most "
             f"x, each model weighted for complexity (FLOPs, {BINS} quantile bins; see each group). KS D: the largest "
             "gap between two spaces' weighted EDFs; its p-value is a permutation p on the weighted D (the space "
             f"labels permuted within each complexity bin, {PERMUTATIONS} times, seed {SEED}), Holm-adjusted over the "
             "pairs when there are several; the unweighted scipy.stats.ks_2samp D and p stand beside it. A space is "
             f"called better ({SPACE_BETTER}) only when that p < {ALPHA} and the direction is clear (its EDF lies "
             "above the other's where they differ most, its weighted median error is the smaller, and the other's EDF "
             f"nowhere lies above it beyond permutation noise, one-sided p >= {ALPHA}: EDFs that cross rank nothing); "
             f"otherwise nothing is ranked. A space needs {MIN_RUNS} completed runs to be tested or drawn. Bands: "
             f"{BAND:.0%} pointwise bootstrap bands ({RESAMPLES} resamples of the space's models, seed {SEED})."]
    if not studies:
        return lines + ["", "No run of a design space has completed yet: nothing to compare."]
    table = _best_table(studies, reference)
    if out is not None:
        fsutil.write_text(Path(out) / "design_spaces.md", to_markdown(table))
        fsutil.write_text(Path(out) / "design_spaces.csv", to_csv(table))
        lines += ["", "Files: [design_spaces.md](design_spaces.md), [design_spaces.csv](design_spaces.csv) (the "
                  "lowest-error models of each space)."]
    for study in studies:
        lines += ["", f"### Design spaces: {study.label}", ""] + _space_rows(study) + ["", normalisation_words(study)]
        paper = paper_points(study, reference)
        if not paper.empty:
            points = ", ".join(f"{r.setting} {r.top1_err:.1f}" for r in paper.itertuples())
            lines += ["", f"The paper's hand-picked models at this complexity (Table 3, {int(paper['depth'].iloc[0])}"
                          f"-layer, ImageNet, the data of these runs): {points}."]
        else:
            lines += ["", f"The data differ from the paper's ({study.dataset}, not ImageNet): the paper's hand-picked "
                          "models are not set beside the models found."]
        items = [ks_words(t) for t in study.tests]
        items += [f"{s}: {plural(st.n, 'completed run')}, fewer than {MIN_RUNS}: {NO_TEST}, {NO_CLAIM}"
                  for s, st in study.spaces.items() if not st.testable]
        if len(study.spaces) < 2:
            items.append(f"Only one space ({listing(study.spaces)}) has completed runs in this group: nothing to "
                         f"compare, {NO_CLAIM}")
        lines += ["", reading("\n".join("- " + _sentence(i) for i in items))]  # space names keep their case
    readers = {"fig_edf": "The curves of the tests above; the comparison of the spaces is the KS reading of each "
                          f"group, and {NO_CLAIM} from the figure beyond it.",
               "fig_space_params": f"One point per model; no relation of error with a parameter is tested, so "
                                   f"{NO_CLAIM} from this figure.",
               "fig_space_cost": f"One point per model; no relation of error with a cost is tested, so {NO_CLAIM} "
                                 "from this figure."}
    for plot in make_space_plots(studies):
        title = SPACE_FIGURE_TITLES[plot.name]
        if plot.figure is None:
            lines += ["", f"### {title}", "", f"Not drawn: {plot.reason}."]
            continue
        if out is not None:
            save_figure(plot.figure, out, plot.name)
            lines += ["", f"### {title}", "", f"![{title}]({plot.name}.png)", "", f"[PDF]({plot.name}.pdf)"]
        else:
            lines += ["", f"### {title}"]
        if plot.caption:
            lines += ["", f"*{plot.caption}*"]
        lines += ["", reading(readers[plot.name])]
    return lines
