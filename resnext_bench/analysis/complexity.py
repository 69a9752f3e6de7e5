"""Error against complexity (FLOPs and parameters) of every completed run, and its reading."""
from __future__ import annotations

import math

import matplotlib.ticker

import numpy as np
import pandas as pd

from .stats import ERR, completed
from .study import Context, FigureStudy
from .words import NO_CLAIM
from ..units import plural
from .style import Plot, draw_chance, near_chance, new_figure, not_drawn, relative_span, sns, unit_axis


MIN_SPAN = 0.10  # a complexity axis spanning less (max/min - 1) holds one value equal by construction ...


EQUAL_WINDOW = 0.25  # ... and is drawn +-25 % around it, so its runs stand in one column, not a spread


def _complexity_axis(ax, values, what: str) -> None:
    lo, hi = float(np.min(values)), float(np.max(values))
    if lo > 0 and hi > 10 * lo:  # a log axis only pays off over more than a decade
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    else:
        if lo > 0 and relative_span(values) < MIN_SPAN:  # one value held equal: show it as one column, not a spread
            mid = (lo + hi) / 2
            ax.set_xlim(mid * (1 - EQUAL_WINDOW), mid * (1 + EQUAL_WINDOW))
            ax.text(0.03, 0.03, f"{what} matched by construction\n(span {100 * relative_span(values):.1f}%)",
                    transform=ax.transAxes, fontsize=7, color="0.3", ha="left", va="bottom")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))


def _span_words(values, what: str) -> str:
    span = relative_span(values)
    if span != span:
        return f"{what}: unknown span"
    if span < MIN_SPAN:
        return (f"{what} span {100 * span:.2f}% (matched within that by construction, not equal; the axis is drawn "
                f"±{100 * EQUAL_WINDOW:.0f}% around it; whether that spread moves the error was not tested)")
    return f"{what} span {100 * span:.0f}%"


def plot_error_vs_complexity(runs: pd.DataFrame) -> Plot:
    """Final top-1 error against FLOPs and against params, every completed run, coloured by C."""
    name = "fig_error_vs_complexity"
    done = completed(runs)
    done = done[done["params"].notna() & done["flops"].notna()]
    if done.empty:
        return not_drawn(name, "no completed run with params and FLOPs")
    data = pd.DataFrame({
        "run_id": done["run_id"], "dataset": done["dataset"].fillna("?"),
        "family": np.where(done["ours"], "ResNeXt (ours)", "baseline"),
        "label": done["setting"].fillna(done["baseline"]),
        "cardinality": done["cardinality"],
        "C": [str(int(c)) if ours and c == c else "baseline" for c, ours in zip(done["cardinality"], done["ours"])],
        "params": done["params"].astype(float), "flops": done["flops"].astype(float), "top1_err": done[ERR].astype(float),
    }).reset_index(drop=True)
    datasets = sorted(data["dataset"].unique())
    c_order = [str(c) for c in sorted({int(c) for c in data["cardinality"].dropna()})]
    c_palette = dict(zip(c_order, sns.color_palette("viridis", len(c_order))))
    fig, axes = new_figure(len(datasets), 2, width=5.0, height=4.0)
    words = []
    for row, dataset in zip(axes, datasets):
        part = data[data["dataset"] == dataset]
        ours, base = part[part["family"] != "baseline"], part[part["family"] == "baseline"]
        chance = near_chance(dataset, part["top1_err"])
        for ax, x in zip(row, ("flops", "params")):
            present = [c for c in c_order if c in set(ours["C"])]
            if not ours.empty:
                sns.scatterplot(data=ours, x=x, y="top1_err", hue="C", style="C", hue_order=present, style_order=present,
                                palette=c_palette, ax=ax, s=45, alpha=0.85, legend=True)
            for b in base.itertuples():
                ax.scatter(getattr(b, x), b.top1_err, marker="X", s=50, color="black")
            if chance is not None:
                draw_chance(ax, chance)
            _complexity_axis(ax, part[x], "FLOPs" if x == "flops" else "params")
            xlabel = unit_axis(ax, x)
            for b in base.itertuples():  # the name on the side of the point facing the middle of the panel
                left, right = ax.get_xlim()
                scale = np.log if ax.get_xscale() == "log" else float
                right = scale(getattr(b, x)) - scale(left) > (scale(right) - scale(left)) / 2
                ax.annotate(b.label, (getattr(b, x), b.top1_err), textcoords="offset points",
                            xytext=(-6 if right else 6, 4), ha="right" if right else "left", fontsize=7)
            ax.set(title=f"{dataset}: error against {'FLOPs' if x == 'flops' else 'parameters'}", xlabel=xlabel,
                   ylabel="final top-1 error (%)")
            if ax.get_legend() is not None:
                ax.get_legend().remove()
        handles, labels = row[-1].get_legend_handles_labels()
        if handles:
            row[-1].legend(handles, labels, title="C", loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7,
                           title_fontsize=8)
        words.append(f"{dataset}: {len(part)} runs; " + _span_words(part["flops"], "FLOPs") + "; "
                     + _span_words(part["params"], "params") + (f"; dotted: chance {chance:g}%" if chance else ""))
    fig.suptitle("Error against complexity, every completed run (colour = cardinality C)", fontsize="medium")
    caption = ("One point per completed run, coloured by cardinality C; baselines are black crosses with their name. "
               + ". ".join(words) + ".")
    return Plot(name, fig, data, caption=caption)


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
                     f"is tested here and {NO_CLAIM}; within a Table 3 group complexity is matched by design (within "
                     "the template's tolerance, not exactly: see the FLOPs span of each group in Table 2), the Table 3 "
                     "reading tests cardinality, and whether the remaining FLOPs spread moves the error was not "
                     "tested.")
    return "\n".join(parts)


FIGURE = FigureStudy("fig_error_vs_complexity", "Error against complexity",
                     lambda ctx: plot_error_vs_complexity(ctx.runs), read_error_vs_complexity)
