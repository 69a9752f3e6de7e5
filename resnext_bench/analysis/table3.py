"""Table 3: top-1 error by cardinality at equal complexity, its reading, and the figure of error
against cardinality (the same statistics)."""
from __future__ import annotations

from dataclasses import dataclass


import numpy as np
import pandas as pd

from .cells import ABSENT, fmt_diff, fmt_num, fmt_stat, fmt_welch
from .paper import PAPER_DATA, REFERENCE_DIR, load_reference, nearest_depth
from .render import Table
from .rows import STAT_NOTE, WELCH_NOTE, diff_notes, diff_of, table_row, tidy_frame
from .runs import (config_order, configurations, depth_of, group_label, in_group, model_words, runs_of, setting_label,
                   sorted_groups, varying_fields, with_variant)
from .stats import ALPHA, ERR, Trend, at_chance, baseline_config, completed, difference, holm_adjust, stat_of, trend
from .study import Context, FigureStudy, TableStudy
from .table3_robust import CAVEAT, flops_words, robust_columns, robust_items
from .claims import pts
from .words import (NOT_SIGNIFICANT, NO_CLAIM, NO_TEST, bullets, chance_words, data_words, declared_seeds,
                    falls_monotonically, listing, n_range, provenance_words, sentence, summary_words, trend_words,
                    verdict, yes_no)
from ..units import plural
from .style import (CI_WORDS, SEED, Plot, jittered, draw_chance, fit_limits, in_group_order, legend_below, near_chance, new_figure,
                    not_drawn, setting_order, setting_palette, sns, t_ci95)


def build_table3(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> Table | None:
    """Table 3: top-1 error by cardinality at equal complexity, a column group per depth/data.

    Each group's label spans its columns: ours, paper, diff (only for a group on the paper's data)
    and vs C=1 (only where a configuration has two or more completed runs).
    """
    sel = runs[runs["table"] == "table3"]
    if sel.empty:
        return None
    paper = reference["table3"]
    groups = sorted_groups(sel)
    # rows: every (C, ours d, other model fields) of any group, plus the paper's cardinalities that no group has.
    ours_keys = sorted({k for g in groups for k in configurations(in_group(sel, g))}, key=config_order)
    shown = varying_fields(v for _, _, v in ours_keys)
    paper_only = sorted(set(int(c) for c in paper["cardinality"]) - {c for c, _, _ in ours_keys})
    row_keys = sorted(ours_keys + [(c, None, ()) for c in paper_only],
                      key=lambda k: config_order((k[0], k[1] or 0, k[2])))
    columns, spans, records, welch_cols = ["C", "ours", "paper"], [("", 1), ("setting", 2)], [], {}
    same_data = {g: g[1] in PAPER_DATA["table3"] for g in groups}
    for g in groups:
        frame = in_group(sel, g)
        welch_cols[g] = any(stat_of(runs_of(frame, *cfg)).n >= 2 for cfg in configurations(frame))
        leaf = ["ours", "paper"] + (["diff"] if same_data[g] else []) + (["vs C=1"] if welch_cols[g] else [])
        columns += leaf
        spans.append((group_label(g), len(leaf)))
    # Every comparison with C=1 (of the same other model fields) in the table is one family for Holm's correction.
    family = {}
    for g in groups:
        frame = in_group(sel, g)
        for cfg in configurations(frame):
            base = baseline_config(frame, cfg[2])
            if base and cfg != base:
                family[(g, cfg)] = difference(stat_of(runs_of(frame, *cfg)), stat_of(runs_of(frame, *base)))
    family = holm_adjust(family)
    table_rows = []
    for c, d, v in row_keys:
        paper_setting = paper[paper["cardinality"] == c]["setting"]
        label = setting_label(c, d, v, shown) if d is not None else None
        row = [str(c), label or ABSENT, paper_setting.iloc[0] if len(paper_setting) else ABSENT]
        for g in groups:
            frame = in_group(sel, g)
            pdepth = nearest_depth(depth_of(g[0]), paper["depth"])
            prow = paper[(paper["depth"] == pdepth) & (paper["cardinality"] == c)]
            pval = float(prow["top1_err"].iloc[0]) if len(prow) else None
            same = same_data[g]
            s = stat_of(runs_of(frame, c, d, v)) if d is not None else None
            base = baseline_config(frame, v) if d is not None else None
            tested = family.get((g, (c, d, v))) if d is not None else None
            p, p_holm = (tested.p, tested.p_holm) if tested is not None else (None, None)
            row += [fmt_stat(s), fmt_num(pval)]
            if same:
                row.append(fmt_diff(s, pval, same))
            if welch_cols[g]:
                row.append(fmt_welch(p, (c, d, v) == base, p_holm) if s is not None and s.planned else ABSENT)
            # The CSV holds the number on every row; `same_data` says whether it compares like with like
            # (on other data it is a difference of level that the paper's numbers cannot judge).
            base_stat = stat_of(runs_of(frame, *base)) if base else None
            records.append(table_row("table3", g, c, d, s, pval, diff_of(s, pval, True), p, p_holm=p_holm,
                                   paper_depth=pdepth, baseline=(c, d, v) == base, setting=label, same_data=same,
                                   **robust_columns(s, base_stat, (c, d, v) == base)))
        table_rows.append(row)
    depths = sorted({(depth_of(g[0]), nearest_depth(depth_of(g[0]), paper["depth"])) for g in groups},
                    key=lambda x: (x[0] or 0, x[1]))
    at = "; ".join(f"{d or '?'}-layer groups: the paper's {pd_}-layer row" for d, pd_ in depths if d != pd_)
    notes = [STAT_NOTE, "paper: ResNeXt paper Table 3, ImageNet-1K top-1 error (%) at the paper's depth nearest "
             "the group's" + (f" ({at})" if at else "") + ", matched by cardinality C (setting, paper: the paper's "
             "configuration of that C)."]
    notes += diff_notes([(g[1], same_data[g]) for g in groups], "imagenet")
    if any(welch_cols.values()):
        notes.append(WELCH_NOTE)
    notes.append("table3.csv also holds each configuration's interquartile mean and its probability of lower error "
                 f"than C=1 with bootstrap 95% intervals, {CAVEAT}.")
    return Table("table3", "Table 3: cardinality vs width at equal complexity (top-1 error, %)",
                 columns, table_rows, spans, notes, tidy_frame(records), n_label=3)


# ---------------------------------------------------------------- the reading


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
    head = (f"**{sw.label}**: seeds per configuration: {n_range(sw.stats[c].n for c in done)}. "
            + data_words(sw.dataset, sw.same_data, sw.key[2], sw.key[3])
            + provenance_words(completed(sw.frame)) + flops_words(sw.frame))
    items = []
    if sw.chance:
        means = [sw.stats[c].mean for c in done if sw.setting(c) in sw.chance]
        items.append(sentence(chance_words(sw.chance, means, sw.dataset)))
        return f"- {head}\n" + bullets(items, 2)
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
                words += f"; the paper's difference to C=1: {pts(effect)}"
            if not d.significant:
                words += declared_seeds(d, effect, sw.frame)
        elif cfg != sw.base and sw.base is not None and s.n < 2 and sw.stats[sw.base].n >= 2:
            words += f"; fewer than 2 seeds: {NO_TEST}"
        items.append(sentence(words))
    t = sw.trend()
    if t is not None or len(sw.seeded) >= 1:
        words = trend_words(t, same_data=sw.same_data)
        if t is not None and t.falls:
            means = [sw.stats[c].mean for c in sorted(sw.seeded, key=config_order)]
            words += (f"; error falls monotonically with C: {yes_no(falls_monotonically(means))} "
                      f"(means {' → '.join(f'{v:.2f}' for v in means)})")
        items.append(sentence(words))
    if diffs:
        sig = [sw.setting(c) for c, d in diffs.items() if d is not None and d.significant]
        ns = [sw.setting(c) for c, d in diffs.items() if d is not None and not d.significant]
        items.append(f"Significant vs C=1 (Holm-adjusted Welch p < {ALPHA:g} over the table's "
                     f"{plural(m, 'comparison')}): {listing(sig)}; {NOT_SIGNIFICANT} (each with its detectable "
                     f"difference above): {listing(ns)}.")
    items += robust_items(sw)
    if sw.same_data:
        gaps = [sw.stats[c].mean - sw.paper[c] for c in done if sw.paper.get(c) is not None]
        if gaps:
            items.append(f"Ours minus paper: {np.mean(gaps):+.2f} points on average (a difference of level).")
    return f"- {head}\n" + bullets(items, 2)


def read_table3(table: Table, ctx: Context) -> str:
    """Per depth group: each configuration against C=1 (Holm over the table), the trend test, seeds needed."""
    sweeps = table3_sweeps(ctx.runs, table.data)
    family = _table3_family(sweeps)
    m = sum(d is not None for d in family.values())
    parts = []
    for i, sw in enumerate(sweeps):
        parts.append(_read_sweep(sw, {cfg: d for (j, cfg), d in family.items() if j == i}, m))
    return "\n".join(parts) or "No run feeds Table 3."


# ---------------------------------------------------------------- the figure


PAPER_TITLE = "Paper (Xie et al. 2017), Table 3: ImageNet"


def _paper_points(reference: dict, groups: list[tuple]) -> pd.DataFrame:
    """The paper's Table 3 rows at the depths our groups meet (nearest paper depth)."""
    paper = reference["table3"]
    depths = sorted({nearest_depth(depth_of(g[0]), paper["depth"]) for g in groups})
    rows = paper[paper["depth"].isin(depths)].sort_values(["depth", "cardinality"])
    return pd.DataFrame({
        "source": "paper", "group_label": [f"paper (ImageNet, {d}-layer)" for d in rows["depth"]],
        "dataset": "imagenet", "depth": rows["depth"].to_numpy(), "cardinality": rows["cardinality"].to_numpy(),
        "bottleneck_width": rows["bottleneck_width"].to_numpy(), "setting": rows["setting"].to_numpy(),
        "seed": np.nan, "run_id": None, "top1_err": rows["top1_err"].to_numpy(),
    })


def plot_cardinality(runs: pd.DataFrame, reference: dict | None = None) -> Plot:
    """Top-1 error per configuration, ours (a panel per group) beside the paper's Table 3 (its own panel)."""
    name = "fig_cardinality"
    reference = reference or load_reference(REFERENCE_DIR)
    done = in_group_order(completed(runs, "table3"))
    if done.empty:
        return not_drawn(name, "no completed run of the equal-complexity cardinality sweep (Table 3)")
    groups = [g for g in sorted_groups(done) if in_group(done, g)["setting"].nunique() >= 2]
    if not groups:
        single = ", ".join(f"{group_label(g)}: {in_group(done, g)['setting'].iloc[0]}" for g in sorted_groups(done))
        return not_drawn(name, f"no group has two configurations with a completed run ({single}): there is no change "
                           "with cardinality to show")
    done = done[[g in groups for g in done["group"]]]
    ours = pd.DataFrame({
        "source": "ours", "group_label": [group_label(g) for g in done["group"]], "dataset": done["dataset"],
        "depth": done["depth"], "cardinality": done["cardinality"].astype(int),
        "bottleneck_width": done["bottleneck_width"].astype(int), "setting": done["setting"], "seed": done["seed"],
        "run_id": done["run_id"], "top1_err": done[ERR].astype(float),
    })
    paper = _paper_points(reference, groups)
    palette = setting_palette(setting_order(ours))
    fig, axes = new_figure(1, len(groups) + 1, width=4.4, height=4.9)
    axes = list(axes[0])
    extents, chances, cis = [], [], []
    rng = np.random.default_rng(SEED)  # the dots' jitter: the same runs give the same figure
    for ax, g in zip(axes, groups):
        label = group_label(g)
        part = ours[ours["group_label"] == label]
        order = setting_order(part)
        for i, setting in enumerate(order):  # category i of `order` sits at x = i, as pointplot places it
            values = part.loc[part["setting"] == setting, "top1_err"]
            ax.scatter(jittered([i] * len(values), rng), values, color=palette[setting], s=30, alpha=0.8,
                       label=setting, zorder=3)
        # Means as points with their intervals on a category axis: no line joins configurations.
        sns.pointplot(data=part, x="setting", y="top1_err", order=order, errorbar=t_ci95, color="black",
                      markers="D", markersize=5, linewidth=1.2, linestyle="none", capsize=0.18, label=CI_WORDS,
                      ax=ax, zorder=4)
        ci = part.groupby("setting")["top1_err"].apply(lambda v: t_ci95(v)).reindex(order)
        cis += [(label, s, lo, hi) for s, (lo, hi) in ci.items()]
        lows = [lo for lo, _ in ci if lo == lo] + list(part["top1_err"])
        highs = [hi for _, hi in ci if hi == hi] + list(part["top1_err"])
        chance = near_chance(g[1], part["top1_err"])
        if chance is not None:
            draw_chance(ax, chance)
            chances.append(f"{label}: chance {chance:g}%")
            lows, highs = lows + [chance], highs + [chance]
        extents.append((str(g[1]), min(lows), max(highs)))
        ax.set(title=f"Ours: {label}", xlabel="configuration CxDd (C rising, equal complexity)",
               ylabel="top-1 error (%)")
        legend_below(ax, ncol=3, title="configuration: one dot per seed")
    pax = axes[-1]
    paper_order = setting_order(paper)
    sns.pointplot(data=paper, x="setting", y="top1_err", hue="group_label", order=paper_order,
                  palette=["0.25", "0.6"][: paper["group_label"].nunique()], errorbar=None, markers="X",
                  linestyle="none", markersize=6, linewidth=1.2, ax=pax)
    pax.set(title=PAPER_TITLE, xlabel="configuration CxDd (C rising, equal complexity)", ylabel="top-1 error (%)")
    legend_below(pax, ncol=1, title="paper, one number per row (no spread published)")
    extents.append(("imagenet", float(paper["top1_err"].min()), float(paper["top1_err"].max())))
    for ax, limits in zip(axes, fit_limits(extents)):
        ax.set_ylim(*limits)
    height = axes[0].get_ylim()[1] - axes[0].get_ylim()[0]
    same = len({key for key, _, _ in extents}) == 1
    caption = (f"Ours, one panel per group: one dot per seed (colour = configuration), black diamonds the {CI_WORDS} (points: no line joins "
               "configurations); dots spread sideways by a seeded jitter; "
               "no interval with one seed. Right: the paper's Table 3 (ImageNet), its own panel. "
               + ("All panels share one y-axis (the same data). " if same else
                  f"Every panel's y-axis spans the same {height:.1f} points, so a slope reads at the same scale in "
                  "every panel; the panels are different data, so neither their slopes nor their levels are "
                  "compared across panels. ")
               + (("Dotted: chance (" + "; ".join(chances) + ").") if chances else ""))
    fig.suptitle("Top-1 error against cardinality at equal complexity (cf. paper Table 3)", fontsize="medium")
    data = pd.concat([ours, paper], ignore_index=True)
    ci_frame = pd.DataFrame(cis, columns=["group_label", "setting", "ci_low", "ci_high"])
    data = data.merge(ci_frame, on=["group_label", "setting"], how="left")
    return Plot(name, fig, data, caption=caption.strip())


def read_cardinality(plot: Plot, ctx: Context) -> str:
    """The trend test of every group (the same numbers as Table 3's reading)."""
    sweeps = table3_sweeps(ctx.runs)
    done = completed(ctx.runs[ctx.runs["table"] == "table3"])
    n_cfg = sum(len(sw.done) for sw in sweeps)
    parts = [f"{plural(len(done), 'run')} (one point each) over {plural(n_cfg, 'configuration')}.", ""]
    for sw in sweeps:
        if not sw.done:
            continue
        if sw.chance:
            parts.append(f"- {sw.label}: " + sentence(chance_words(
                sw.chance, [sw.stats[c].mean for c in sw.done if sw.setting(c) in sw.chance], sw.dataset)))
        elif len(sw.seeded) < 2:
            parts.append(f"- {sw.label}: fewer than 2 configurations with 2 or more seeds: {NO_TEST}, {NO_CLAIM}.")
        else:
            parts.append(f"- {sw.label}: " + sentence(trend_words(sw.trend(), same_data=sw.same_data)))
    return "\n".join(parts)


TABLE = TableStudy("table3", build_table3, read_table3)


FIGURE = FigureStudy("fig_cardinality", "Error against cardinality",
                     lambda ctx: plot_cardinality(ctx.runs, ctx.reference), read_cardinality)
