"""The residual table: runs without the shortcut beside the same configuration with it, and its reading."""
from __future__ import annotations

import math

import pandas as pd

from .cells import ABSENT, fmt_diff, fmt_num, fmt_stat, fmt_welch
from .paper import PAPER_DATA, match_rows, nearest_depth, paper_name, paper_value
from .render import Table
from .rows import STAT_NOTE, WELCH_NOTE, diff_notes, diff_of, nan_if_none, table_row, tidy_frame
from .runs import (configurations, depth_of, group_label, in_group, runs_of, setting_label, sorted_groups,
                   varying_fields, with_field)
from .stats import at_chance, contrast, difference, holm_adjust, stat_of
from .study import Context, TableStudy
from .claims import pts
from .words import (CHANCE, NO_CLAIM, NO_TEST, SIGNIFICANT, contrast_detectable, declared_seeds, detectable, p_words,
                    sentence, summary_words)


def with_shortcut(cfg: tuple) -> tuple:
    """The configuration (C, d, variant) with its shortcut kept: what a run without it is compared with."""
    return (*cfg[:2], with_field(cfg[2], "shortcut", True))


def build_residual(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> Table | None:
    """Residual connections: each configuration with and without the shortcut."""
    ours = runs[runs["ours"]]
    without = runs[(runs["table"] == "residual") & (runs["shortcut"] == False)]  # noqa: E712 - None must not match
    if without.empty:
        return None
    paper = reference["residual"]
    columns = ["runs", "setting", "with", "without", "gap", "gap beyond noise",
               "model", "with", "without", "gap", "with", "without"]
    groups = [("", 2), ("ours", 4), ("paper", 4), ("diff (ours - paper)", 2)]
    rows, records, sections = [], [], []
    kept = ours[ours["shortcut"] == True]  # noqa: E712 - None must not match
    family = holm_adjust({(g, cfg): difference(stat_of(runs_of(in_group(without, g), *cfg)),
                                               stat_of(runs_of(in_group(kept, g), *with_shortcut(cfg))))
                          for g in sorted_groups(without) for cfg in configurations(in_group(without, g))})
    for g in sorted_groups(without):
        w_frame = in_group(without, g)
        k_frame = in_group(kept, g)
        pdepth = nearest_depth(depth_of(g[0]), paper["depth"])
        configs = configurations(w_frame)
        shown = varying_fields(v for _, _, v in configs)
        matches = match_rows(sorted({(c, d) for c, d, _ in configs}), paper[paper["depth"] == pdepth])
        same = g[1] in PAPER_DATA["residual"]
        sections.append((g[1], same))
        for c, d, v in configs:
            s_with, s_without = stat_of(runs_of(k_frame, *with_shortcut((c, d, v)))), stat_of(runs_of(w_frame, c, d, v))
            i = matches.get((c, d))
            p_with, p_without = paper_value(paper, i, "top1_err_with"), paper_value(paper, i, "top1_err_without")
            gap = s_without.mean - s_with.mean if s_with.n and s_without.n else math.nan
            tested = family[(g, (c, d, v))]
            p, p_holm = (tested.p, tested.p_holm) if tested is not None else (None, None)
            rows.append([
                group_label(g), setting_label(c, d, v, shown), fmt_stat(s_with), fmt_stat(s_without),
                ABSENT if math.isnan(gap) else f"{gap:+.2f}",
                fmt_welch(p, False, p_holm) if s_with.planned else ABSENT,
                paper_name(paper, i) or ABSENT, fmt_num(p_with), fmt_num(p_without),
                f"{p_without - p_with:+.1f}" if i is not None else ABSENT,
                fmt_diff(s_with, p_with, same), fmt_diff(s_without, p_without, same),
            ])
            records.append(table_row(
                "residual", g, c, d, s_without, p_without, diff_of(s_without, p_without, same), p, p_holm=p_holm,
                with_mean=s_with.mean if s_with.n else math.nan, with_std=s_with.std, with_n=s_with.n,
                paper_with=nan_if_none(p_with), gap=gap, paper_gap=(p_without - p_with) if i is not None else math.nan,
                paper_model=paper_name(paper, i), setting=setting_label(c, d, v, shown)))
    notes = [STAT_NOTE, "with: every run of the same configuration, data and recipe that keeps the shortcut; "
             "without: the runs without it; gap = without - with. gap beyond noise: "
             + WELCH_NOTE.split(": ", 1)[1].replace(
                 "of the configuration's seeds against the C=1 configuration of the same depth",
                 "of the runs without against the runs with the shortcut"),
             "paper: ResNeXt paper Sec. 5.1, ImageNet-1K top-1 error (%), 50-layer; matched by cardinality."]
    notes += diff_notes(sections, "imagenet")
    return Table("residual", "Residual connections: with and without the shortcut (top-1 error, %)",
                 columns, rows, groups, notes, tidy_frame(records), align="ll" + "r" * 4 + "l" + "r" * 5)


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
            words += f"; the data differ from the paper's ({g[1]}): its gap is not compared with ours"
        diff = family.get(i)
        if any(s.n and at_chance(s.mean, g[1]) for s in (s_with, s_without)):
            words += f"; {CHANCE}: {NO_CLAIM}"
        elif diff is None:
            words += f"; fewer than 2 seeds on a side: {NO_TEST}, {NO_CLAIM}"
        elif diff.significant:
            word = "raises" if diff.diff > 0 else "lowers"
            words += (f"; removing the shortcut {word} error by {abs(diff.diff):.2f} points (95% CI "
                      f"{pts(diff.ci_low)} to {pts(diff.ci_high)}; {p_words(diff)}: {SIGNIFICANT})")
        else:
            words += (f"; without minus with: {pts(diff.diff)} points (95% CI {pts(diff.ci_low)} to "
                      f"{pts(diff.ci_high)}); {p_words(diff)}: {detectable(diff)}"
                      + declared_seeds(diff, paper_gap, in_group(without, g), "the paper's gap"))
        parts.append("- " + sentence(words))
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
        each = "; ".join(f"{setting_label(*cfg, shown[g])}: gap minus C=1's gap {pts(v.diff)} (95% CI "
                         f"{pts(v.ci_low)} to {pts(v.ci_high)}, {p_words(v)}"
                         + ("" if v.significant else f"; {contrast_detectable(v)}") + ")" for cfg, v in gaps.items())
        if less:
            tail = " as in the paper (3.9 vs 7.3 points)" if same else ""
            parts.append(f"- **{label}**: the ResNeXt configurations lose less without the shortcut than C=1{tail} "
                         f"({SIGNIFICANT}): {each}.")
        else:
            parts.append(f"- **{label}**: the gap of the ResNeXt configurations against C=1's: not every one is "
                         f"{SIGNIFICANT}, so {NO_CLAIM}: {each}.")
    return "\n".join(parts)


TABLE = TableStudy("residual", build_residual, read_residual)
