"""CIFAR: Table 7 (test error and model size), its reading, and Fig. 7 (error against size)."""
from __future__ import annotations

import matplotlib.ticker


import pandas as pd

from .cells import ABSENT, NOT_SAME_DATA, fmt_count, fmt_diff, fmt_num, fmt_stat
from .paper import PAPER_DATA, REFERENCE_DIR, load_reference, match_rows, paper_name, paper_value
from .render import Table
from .rows import STAT_NOTE, diff_notes, diff_of, table_row, tidy_frame
from .runs import (complexity_of, config_order, configurations, group_label, in_group, runs_of, setting_label,
                   sorted_groups, varying_fields)
from .stats import ERR, at_chance, completed, stat_of, trend
from .study import Context, FigureStudy, TableStudy
from .words import (CHANCE, NO_CLAIM, NO_TEST, bullets, chance_words, count_words, data_words, sentence, summary_words,
                    trend_words)
from .style import CI_WORDS, Plot, draw_chance, legend_below, near_chance, new_figure, not_drawn, sns, t_ci95, unit_axis


def build_table7(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> Table | None:
    """Table 7: CIFAR test error and model size beside the paper's."""
    sel = runs[runs["table"] == "table7"]
    if sel.empty:
        return None
    paper = reference["table7"]
    columns = ["runs", "setting", "params", "test err", "model", "params", "CIFAR-10 err", "CIFAR-100 err", "diff"]
    groups = [("", 1), ("ours", 3), ("paper", 4), ("", 1)]
    rows, records, sections = [], [], []
    for g in sorted_groups(sel):
        frame = in_group(sel, g)
        ranked = sorted(configurations(frame),
                        key=lambda cfg: (complexity_of(runs_of(frame, *cfg), "params") or 0, config_order(cfg)))
        shown = varying_fields(v for _, _, v in ranked)
        pairs = match_rows(list(dict.fromkeys(cfg[:2] for cfg in ranked)),
                           paper[paper["cardinality"].notna()].astype({"cardinality": int}))
        matches = {cfg: pairs[cfg[:2]] for cfg in ranked if cfg[:2] in pairs}
        err_col = {"cifar10": "cifar10_err", "cifar100": "cifar100_err"}.get(g[1])
        same = err_col is not None
        sections.append((g[1], same))
        # our configurations by size, then the paper's rows we have no configuration for
        order = [(cfg, matches.get(cfg)) for cfg in ranked]
        order += [(None, i) for i in paper.index if i not in matches.values()]
        for cfg, i in order:
            s = stat_of(runs_of(frame, *cfg)) if cfg else None
            params = complexity_of(runs_of(frame, *cfg), "params") if cfg else None
            pval = paper_value(paper, i, err_col) if same else None
            diff = fmt_diff(s, pval, same) if cfg and i is not None else (ABSENT if same else NOT_SAME_DATA)
            rows.append([
                group_label(g), setting_label(*cfg, shown) if cfg else ABSENT, fmt_count(params), fmt_stat(s),
                paper_name(paper, i) or ABSENT, fmt_count(float(paper.at[i, "params"])) if i is not None else ABSENT,
                fmt_num(paper_value(paper, i, "cifar10_err"), 2), fmt_num(paper_value(paper, i, "cifar100_err"), 2),
                diff,
            ])
            records.append(table_row("table7", g, *(cfg[:2] if cfg else (None, None)), s, pval,
                                   diff_of(s, pval, same), None,
                                   setting=setting_label(*cfg, shown) if cfg else None,
                                   params=params, paper_model=paper_name(paper, i),
                                   paper_params=float(paper.at[i, "params"]) if i is not None else None))
    notes = [STAT_NOTE.replace("top-1 validation error", "top-1 test error"),
             "paper: ResNeXt paper Table 7, CIFAR test error (%), mean of 10 runs; matched by cardinality."]
    notes += diff_notes(sections, "cifar10 or cifar100")
    return Table("table7", "Table 7: CIFAR test error and model size", columns, rows, groups, notes,
                 tidy_frame(records), align="llrrlrrrr")


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
        items = [data_words(g[1], same, paper_data="CIFAR-10 or CIFAR-100").rstrip()]
        for cfg in done:
            size = count_words(params[cfg].iloc[0]) if len(params[cfg]) else ABSENT
            items.append(f"{name(cfg)} ({size} params): {summary_words(stats[cfg])}.")
        chance = [name(cfg) for cfg in done if at_chance(stats[cfg].mean, g[1])]
        seeded = [cfg for cfg in done if stats[cfg].n >= 2 and len(params[cfg])]
        if chance:
            items.append(sentence(chance_words(chance, [stats[c].mean for c in done if name(c) in chance], g[1])))
        elif len(seeded) < 2:
            items.append(f"Fewer than 2 configurations with 2 or more seeds: {NO_TEST} of error against size, "
                         f"{NO_CLAIM}.")
        else:
            x = [params[cfg].iloc[0] for cfg in seeded for _ in stats[cfg].values]
            y = [v for cfg in seeded for v in stats[cfg].values]
            items.append(sentence(trend_words(trend(x, y), "size (parameters)", "error", None)))
        if same and "diff" in data:
            diffs = data[data["group"] == label]["diff"].dropna()
            if len(diffs):
                items.append(f"Ours minus paper on matched rows: {diffs.mean():+.2f} points on average.")
        parts.append(f"- **{label}**:\n" + bullets(items, 2))
    return "\n".join(parts)


# ---------------------------------------------------------------- Fig. 7


def _size_series(frame: pd.DataFrame) -> pd.DataFrame:
    """Label each run 'cardinality', 'width' or 'other' (the shared start point gets both)."""
    ones = frame[frame["cardinality"] == 1]
    d0 = ones["bottleneck_width"].min() if not ones.empty else frame["bottleneck_width"].min()
    parts = [frame[frame["bottleneck_width"] == d0].assign(series="raising cardinality (d fixed)"),
             frame[frame["cardinality"] == 1].assign(series="raising width (C=1)")]
    rest = frame[(frame["bottleneck_width"] != d0) & (frame["cardinality"] != 1)]
    if not rest.empty:
        parts.append(rest.assign(series="other"))
    return pd.concat(parts)


def plot_cifar_size(runs: pd.DataFrame, reference: dict | None = None) -> Plot:
    """Fig. 7: CIFAR test error against params, raising cardinality vs raising width."""
    name = "fig_cifar_size"
    reference = reference or load_reference(REFERENCE_DIR)
    done = completed(runs, "table7")
    done = done[done["params"].notna()]
    if done.empty or len(set(done["setting"])) < 2:
        return not_drawn(name, "fewer than two CIFAR (Table 7 / Fig. 7) configurations with a completed run")
    groups = sorted_groups(done)
    labelled = [_size_series(in_group(done, g)).assign(group_label=group_label(g)) for g in groups]
    data = pd.concat(labelled)[["run_id", "group_label", "dataset", "series", "setting", "cardinality",
                                "bottleneck_width", "seed", "params", ERR]].rename(columns={ERR: "test_err"})
    data["source"] = "ours"
    fig, axes = new_figure(1, len(groups), width=5.5, height=4.6)
    series_order = list(dict.fromkeys(data["series"]))
    colours = dict(zip(series_order, sns.color_palette("deep", len(series_order))))
    extras, chances = [], []
    for ax, g in zip(axes[0], groups):
        label = group_label(g)
        part = data[data["group_label"] == label]
        sns.scatterplot(data=part, x="params", y="test_err", hue="series", hue_order=series_order, palette=colours,
                        ax=ax, s=25, alpha=0.55, legend=False)
        sns.lineplot(data=part, x="params", y="test_err", hue="series", hue_order=series_order, palette=colours,
                     errorbar=t_ci95, err_style="bars", err_kws={"capsize": 3}, marker="D", markersize=5, ax=ax)
        means = part.groupby("setting").agg(params=("params", "first"), test_err=("test_err", "mean"))
        for setting, row in means.iterrows():
            ax.annotate(setting, (row["params"], row["test_err"]), textcoords="offset points", xytext=(5, 4),
                        fontsize=7)
        err_col = {"cifar10": "cifar10_err", "cifar100": "cifar100_err"}.get(g[1])
        if err_col:  # the paper's Table 7 points are only comparable on the same CIFAR set
            paper = reference["table7"]
            ax.scatter(paper["params"], paper[err_col], marker="x", color="black", label="paper Table 7 (same data)")
            extras.append(pd.DataFrame({"source": "paper", "group_label": label, "params": paper["params"],
                                        "test_err": paper[err_col], "setting": paper["setting"]}))
        chance = near_chance(g[1], part["test_err"])
        if chance is not None:
            draw_chance(ax, chance)
            chances.append(f"{label}: chance {chance:g}%")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set(title=f"Ours: {label}", xlabel=unit_axis(ax, "params"), ylabel="test top-1 error (%)")
        legend_below(ax, ncol=2, title=f"series: {CI_WORDS}; dots = seeds")
    fig.suptitle("Test error against model size (cf. paper Fig. 7)", fontsize="medium")
    caption = (f"Dots: one per seed; diamonds with bars: the {CI_WORDS} of each configuration (labelled CxDd). "
               "Raising cardinality keeps d and raises C; raising width keeps C=1 and raises d; they share the start "
               "point. Black crosses: the paper's Table 7, drawn only on the same CIFAR set."
               + (" Dotted: chance (" + "; ".join(chances) + ")." if chances else ""))
    return Plot(name, fig, pd.concat([data, *extras], ignore_index=True), caption=caption)


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


TABLE = TableStudy("table7", build_table7, read_table7)


FIGURE = FigureStudy("fig_cifar_size", "CIFAR error against model size (cf. Fig. 7)",
                     lambda ctx: plot_cifar_size(ctx.runs, ctx.reference), read_cifar_size)
