"""The paper's figures from runs.csv and curves.csv, as PNG and PDF, drawn so they cannot mislead.

Rules every figure keeps:

- Our numbers and the paper's never share one panel with independent axes (no twin axes): they
  sit in side-by-side panels, each titled with whose data it shows. Panels of one data set share
  their y-limits; panels of different data get y-ranges of the same height (in points of error),
  so a slope reads the same in every panel while the levels stay honest.
- Each seed is a point; a configuration's mean carries its 95 % confidence interval, Student-t
  over the seeds (`t_ci95`; no interval with one seed). The figure's caption says so.
- The chance level, 100 * (1 - 1/num_classes) (90 % on 10 classes), is drawn as a dotted line
  when any plotted error is within CHANCE_WINDOW points of it.
- A figure with nothing to show is not drawn: its Plot has `figure=None` and a `reason`.

The figures:

- fig_curves: validation and training top-1 error against epoch, one line per configuration
  (mean over seeds, band = the seeds' min-max), every configuration of the Table 3 runs (the
  Table 7 runs when there are none); one row of panels per group. The y-range is fitted to the
  last half of training, so the final differences are visible (early epochs run off the top).
  Not drawn when no run has two epochs.
- fig_cardinality: per group, our top-1 error per configuration (x: configurations in order of
  C), one colour per configuration, one point per seed, the mean with its 95 % t-interval; beside
  them the paper's Table 3 (ImageNet) in its own panel. Not drawn when no group has two
  configurations.
- fig_cifar_size: test error against parameters for the Table 7 runs (the table7 and fig7
  studies; paper Fig. 7): "raising cardinality" keeps the bottleneck width d of the narrowest
  C=1 run and raises C, "raising width" keeps C=1 and raises d (their shared start point belongs
  to both); seeds as points, the means with their 95 % t-intervals, the paper's Table 7 points
  on the same axis only when the data set is the same.
- fig_error_vs_complexity: final top-1 error against FLOPs and against params, every completed
  run, one row per data set, colour = cardinality C (legend "C"); baselines named beside their
  point. No correlation coefficient: a grid that holds complexity equal spreads FLOPs by rounding
  only, so an axis whose values span under MIN_SPAN is drawn +-EQUAL_WINDOW around them (the
  runs stand in one column) and the panel and the caption say the span is equal by construction.

Each `plot_*` function returns a `Plot`: the figure (or None and the reason), the DataFrame it
drew (so what is drawn can be checked on data), and a caption in words for the report.
Figures are drawn on `matplotlib.figure.Figure` objects (no pyplot state).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # files only; never open a window

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..record import schema
from .. import fsutil  # noqa: E402
from ..errors import UserError  # noqa: E402
from .paper import REFERENCE_DIR, load_reference, nearest_depth  # noqa: E402
from .runs import depth_of, group_label, in_group, load_runs, sorted_groups  # noqa: E402
from .stats import chance_error, one_run_per_seed, summarize  # noqa: E402

FORMATS = ("png", "pdf")
ERR = "final_val_top1_err"
CHANCE_WINDOW = 25.0  # points: draw the chance line when a plotted error comes this close to it
MIN_SPAN = 0.10  # a complexity axis spanning less (max/min - 1) holds one value equal by construction ...
EQUAL_WINDOW = 0.25  # ... and is drawn +-25 % around it, so its runs stand in one column, not a spread
CI_WORDS = "mean ± 95% CI (Student t over seeds)"
PAPER_TITLE = "Paper (Xie et al. 2017), Table 3: ImageNet"


@dataclass
class Plot:
    """A drawn figure (or None with the reason it was not drawn), the data it drew, and a caption.

    `reason` (only when `figure` is None) is a clause for "Not drawn: {reason}.". `caption` (only
    when drawn) says in words what the marks are (points, intervals, bands, lines, axis ranges).
    """

    name: str
    figure: Figure | None
    data: pd.DataFrame
    reason: str | None = None
    caption: str = ""


def _skip(name: str, reason: str) -> Plot:
    return Plot(name, None, pd.DataFrame(), reason)


# ---------------------------------------------------------------- shared pieces

def t_ci95(values) -> tuple[float, float]:
    """The 95 % confidence interval of the mean (Student t, n-1 df; stats.summarize); NaNs below n=2."""
    v = [float(x) for x in values if x == x]
    s = summarize(v)
    return s.ci_low, s.ci_high


def _near_chance(dataset, errors) -> float | None:
    """The chance level when any of `errors` lies within CHANCE_WINDOW points of it, else None."""
    chance = chance_error(dataset)
    errors = np.asarray([e for e in errors if e == e], dtype=float)
    if chance is None or not len(errors) or np.min(np.abs(errors - chance)) > CHANCE_WINDOW:
        return None
    return chance


def _draw_chance(ax, chance: float) -> None:
    ax.axhline(chance, linestyle=":", linewidth=1.2, color="0.35", label=f"chance ({chance:g}%)", gid="chance", zorder=0)


def _fit_limits(extents: list[tuple[str, float, float]], pad: float = 0.08, floor: float = 1.0) -> list[tuple[float, float]]:
    """y-limits for panels given (data key, lo, hi): one key shares limits, every panel the same height.

    The height is the widest panel's range (at least `floor` points) plus `pad` on each side; each
    window is centred on its data and kept inside 0..100 where the data allow.
    """
    by_key: dict[str, tuple[float, float]] = {}
    for key, lo, hi in extents:
        old = by_key.get(key, (lo, hi))
        by_key[key] = (min(old[0], lo), max(old[1], hi))
    widest = max(max(hi - lo for lo, hi in by_key.values()), floor)
    margin = widest * pad
    height = widest + 2 * margin
    limits = {}
    for key, (lo, hi) in by_key.items():
        bottom = (lo + hi) / 2 - height / 2
        bottom = max(bottom, min(0.0, lo) - margin)  # no empty room below 0 % ...
        bottom = min(bottom, max(100.0, hi) + margin - height)  # ... nor above 100 %
        limits[key] = (bottom, bottom + height)
    return [limits[key] for key, _, _ in extents]


def _completed(runs: pd.DataFrame, table: str | None = None) -> pd.DataFrame:
    """Completed runs with a final error (one a run id), optionally only those feeding `table`.

    The table is chosen first: a run that two sweeps list for two studies feeds each of their tables."""
    done = runs[(runs["status"] == schema.COMPLETED) & runs[ERR].notna()]
    return one_run_per_seed(done[done["table"] == table] if table else done)


def _in_group_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by group as the tables order them (depth first), stable within a group."""
    rank = {g: i for i, g in enumerate(sorted_groups(frame))}
    return frame.iloc[np.argsort([rank[g] for g in frame["group"]], kind="stable")]


def _config_order(frame: pd.DataFrame) -> list[str]:
    """The settings ("4x24d") of `frame` in order of cardinality, then width."""
    pairs = {(int(c), int(d), s) for c, d, s in zip(frame["cardinality"], frame["bottleneck_width"], frame["setting"])}
    return [s for _, _, s in sorted(pairs)]


def _palette(settings: list[str]) -> dict[str, tuple]:
    return dict(zip(settings, sns.color_palette("deep" if len(settings) <= 10 else "husl", len(settings))))


def _new_figure(n_rows: int, n_cols: int, width: float = 5.0, height: float = 4.0) -> tuple[Figure, np.ndarray]:
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(width * n_cols, height * n_rows), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, squeeze=False)
    return fig, axes


def _legend_below(ax, ncol: int, title: str | None = None) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.legend(handles, labels, title=title, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=max(1, ncol),
              fontsize=7, title_fontsize=7, frameon=False)


def _span(values) -> float:
    """(max - min) / min of positive values: 0.02 for a range of +-1 %."""
    values = np.asarray(values, dtype=float)
    return float(values.max() / values.min() - 1.0) if len(values) and values.min() > 0 else math.nan


# ---------------------------------------------------------------- (a) training curves

def plot_curves(runs: pd.DataFrame, curves: pd.DataFrame) -> Plot:
    """Fig. 5: val and train top-1 error per epoch, one line per configuration, y fitted to the last half."""
    name = "fig_curves"
    sweep = _completed(runs, "table3")
    sweep = sweep if not sweep.empty else _completed(runs, "table7")
    if sweep.empty or curves.empty or "epoch" not in curves:
        return _skip(name, "no completed run of a cardinality sweep with per-epoch metrics")
    sweep = _in_group_order(sweep).assign(group_label=lambda f: [group_label(g) for g in f["group"]])
    keys = ["sweep", "run_id", "group_label", "dataset", "setting", "cardinality", "bottleneck_width", "seed"]
    merged = curves.merge(sweep[keys], on=["sweep", "run_id"])
    value_vars = [c for c in ("val_top1_err", "train_top1_err") if c in merged]
    data = merged.melt(id_vars=[*keys, "epoch"], value_vars=value_vars, var_name="split", value_name="top1_err")
    data["split"] = data["split"].map({"train_top1_err": "train", "val_top1_err": "val"})
    data = data.dropna(subset=["top1_err", "epoch"]).reset_index(drop=True)
    if data.empty:
        return _skip(name, "the completed runs have no per-epoch errors in curves.csv")
    labels = [label for label in dict.fromkeys(sweep["group_label"])
              if data.loc[data["group_label"] == label, "epoch"].nunique() >= 2]
    if not labels:
        return _skip(name, "every run has one epoch of metrics: a training curve needs two or more (the final "
                           "errors are in the tables and fig_cardinality)")
    data = data[data["group_label"].isin(labels)].reset_index(drop=True)
    data = data.iloc[np.argsort([labels.index(x) for x in data["group_label"]], kind="stable")].reset_index(drop=True)
    palette = _palette(_config_order(data))
    fig, axes = _new_figure(len(labels), 2, width=5.0, height=3.9)
    words = []
    for row, label in zip(axes, labels):
        group = data[data["group_label"] == label]
        last_epoch = int(group["epoch"].max())
        settings = _config_order(group)
        for ax, split in zip(row, ("val", "train")):
            part = group[group["split"] == split]
            if part.empty:
                ax.set_visible(False)
                continue
            order = [s for s in settings if s in set(part["setting"])]
            before = len(ax.lines)
            sns.lineplot(data=part, x="epoch", y="top1_err", hue="setting", hue_order=order, palette=palette,
                         errorbar=("pi", 100), ax=ax, legend=split == "train")
            drawn = [line for line in ax.lines[before:] if len(line.get_xdata())]
            for line, setting in zip(drawn, order):
                line.set_gid(f"curve:{setting}")
            tail = part[part["epoch"] > last_epoch / 2]
            lo, hi = float(tail["top1_err"].min()), float(tail["top1_err"].max())
            chance = _near_chance(part["dataset"].iloc[0], tail["top1_err"])
            if chance is not None:
                _draw_chance(ax, chance)
                lo, hi = min(lo, chance), max(hi, chance)
            (ylim,) = _fit_limits([("", lo, hi)], floor=0.5)
            ax.set_ylim(*ylim)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            split_words = "validation" if split == "val" else "training"
            ax.set(title=f"{label}: {split_words}", xlabel="epoch", ylabel=f"{split_words} top-1 error (%)")
            if split == "train":
                _legend_below(ax, ncol=min(len(order) + (chance is not None), 4), title="configuration (CxDd)")
        first = int(group[group["epoch"] > last_epoch / 2]["epoch"].min())
        words.append(f"{label}: {len(settings)} configurations, y-range fitted to epochs {first}–{last_epoch}")
    caption = ("One line per configuration: the mean over seeds, the band the seeds' min–max (no band with one seed); "
               "validation left, training right. Each y-range is fitted to the last half of training so the final "
               "differences show; earlier, higher errors run off the top. " + "; ".join(words) + ".")
    fig.suptitle("Top-1 error per epoch, every configuration (cf. paper Fig. 5)", fontsize="medium")
    return Plot(name, fig, data, caption=caption)


# ---------------------------------------------------------------- (b) cardinality

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
    done = _in_group_order(_completed(runs, "table3"))
    if done.empty:
        return _skip(name, "no completed run of the equal-complexity cardinality sweep (Table 3)")
    groups = [g for g in sorted_groups(done) if in_group(done, g)["setting"].nunique() >= 2]
    if not groups:
        single = ", ".join(f"{group_label(g)}: {in_group(done, g)['setting'].iloc[0]}" for g in sorted_groups(done))
        return _skip(name, f"no group has two configurations with a completed run ({single}): there is no change "
                           "with cardinality to show")
    done = done[[g in groups for g in done["group"]]]
    ours = pd.DataFrame({
        "source": "ours", "group_label": [group_label(g) for g in done["group"]], "dataset": done["dataset"],
        "depth": done["depth"], "cardinality": done["cardinality"].astype(int),
        "bottleneck_width": done["bottleneck_width"].astype(int), "setting": done["setting"], "seed": done["seed"],
        "run_id": done["run_id"], "top1_err": done[ERR].astype(float),
    })
    paper = _paper_points(reference, groups)
    palette = _palette(_config_order(ours))
    fig, axes = _new_figure(1, len(groups) + 1, width=4.4, height=4.9)
    axes = list(axes[0])
    extents, chances, cis = [], [], []
    for ax, g in zip(axes, groups):
        label = group_label(g)
        part = ours[ours["group_label"] == label]
        order = _config_order(part)
        sns.stripplot(data=part, x="setting", y="top1_err", hue="setting", order=order, hue_order=order,
                      palette=palette, jitter=0.12, size=5.5, alpha=0.8, ax=ax, legend=True)
        sns.pointplot(data=part, x="setting", y="top1_err", order=order, errorbar=t_ci95, color="black",
                      markers="D", markersize=5, linewidth=1.2, capsize=0.18, label=CI_WORDS, ax=ax)
        ci = part.groupby("setting")["top1_err"].apply(lambda v: t_ci95(v)).reindex(order)
        cis += [(label, s, lo, hi) for s, (lo, hi) in ci.items()]
        lows = [lo for lo, _ in ci if lo == lo] + list(part["top1_err"])
        highs = [hi for _, hi in ci if hi == hi] + list(part["top1_err"])
        chance = _near_chance(g[1], part["top1_err"])
        if chance is not None:
            _draw_chance(ax, chance)
            chances.append(f"{label}: chance {chance:g}%")
            lows, highs = lows + [chance], highs + [chance]
        extents.append((str(g[1]), min(lows), max(highs)))
        ax.set(title=f"Ours: {label}", xlabel="configuration CxDd (C rising, equal complexity)",
               ylabel="top-1 error (%)")
        _legend_below(ax, ncol=3, title="configuration: one dot per seed")
    pax = axes[-1]
    paper_order = _config_order(paper)
    sns.pointplot(data=paper, x="setting", y="top1_err", hue="group_label", order=paper_order,
                  palette=["0.25", "0.6"][: paper["group_label"].nunique()], errorbar=None, markers="X",
                  linestyles="--", markersize=6, linewidth=1.2, ax=pax)
    pax.set(title=PAPER_TITLE, xlabel="configuration CxDd (C rising, equal complexity)", ylabel="top-1 error (%)")
    _legend_below(pax, ncol=1, title="paper, one number per row (no spread published)")
    extents.append(("imagenet", float(paper["top1_err"].min()), float(paper["top1_err"].max())))
    for ax, limits in zip(axes, _fit_limits(extents)):
        ax.set_ylim(*limits)
    height = axes[0].get_ylim()[1] - axes[0].get_ylim()[0]
    same = len({key for key, _, _ in extents}) == 1
    caption = (f"Ours, one panel per group: one dot per seed (colour = configuration), black diamonds the {CI_WORDS}; "
               "no interval with one seed. Right: the paper's Table 3 (ImageNet), its own panel. "
               + ("All panels share one y-axis (the same data). " if same else
                  f"Every panel's y-axis spans the same {height:.1f} points, so slopes compare across panels; "
                  "the levels do not (different data). ")
               + (("Dotted: chance (" + "; ".join(chances) + ").") if chances else ""))
    fig.suptitle("Top-1 error against cardinality at equal complexity (cf. paper Table 3)", fontsize="medium")
    data = pd.concat([ours, paper], ignore_index=True)
    ci_frame = pd.DataFrame(cis, columns=["group_label", "setting", "ci_low", "ci_high"])
    data = data.merge(ci_frame, on=["group_label", "setting"], how="left")
    return Plot(name, fig, data, caption=caption.strip())


# ---------------------------------------------------------------- (c) CIFAR size

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
    done = _completed(runs, "table7")
    done = done[done["params"].notna()]
    if done.empty or len(set(done["setting"])) < 2:
        return _skip(name, "fewer than two CIFAR (Table 7 / Fig. 7) configurations with a completed run")
    groups = sorted_groups(done)
    labelled = [_size_series(in_group(done, g)).assign(group_label=group_label(g)) for g in groups]
    data = pd.concat(labelled)[["run_id", "group_label", "dataset", "series", "setting", "cardinality",
                                "bottleneck_width", "seed", "params", ERR]].rename(columns={ERR: "test_err"})
    data["source"] = "ours"
    fig, axes = _new_figure(1, len(groups), width=5.5, height=4.6)
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
        chance = _near_chance(g[1], part["test_err"])
        if chance is not None:
            _draw_chance(ax, chance)
            chances.append(f"{label}: chance {chance:g}%")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set(title=f"Ours: {label}", xlabel="parameters", ylabel="test top-1 error (%)")
        _legend_below(ax, ncol=2, title=f"series: {CI_WORDS}; dots = seeds")
    fig.suptitle("Test error against model size (cf. paper Fig. 7)", fontsize="medium")
    caption = (f"Dots: one per seed; diamonds with bars: the {CI_WORDS} of each configuration (labelled CxDd). "
               "Raising cardinality keeps d and raises C; raising width keeps C=1 and raises d; they share the start "
               "point. Black crosses: the paper's Table 7, drawn only on the same CIFAR set."
               + (" Dotted: chance (" + "; ".join(chances) + ")." if chances else ""))
    return Plot(name, fig, pd.concat([data, *extras], ignore_index=True), caption=caption)


# ---------------------------------------------------------------- (d) error vs complexity

def _complexity_axis(ax, values, what: str) -> None:
    lo, hi = float(np.min(values)), float(np.max(values))
    if lo > 0 and hi > 10 * lo:  # a log axis only pays off over more than a decade
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    else:
        if lo > 0 and _span(values) < MIN_SPAN:  # one value held equal: show it as one column, not a spread
            mid = (lo + hi) / 2
            ax.set_xlim(mid * (1 - EQUAL_WINDOW), mid * (1 + EQUAL_WINDOW))
            ax.text(0.03, 0.03, f"{what} equal by construction\n(span {100 * _span(values):.1f}%)",
                    transform=ax.transAxes, fontsize=7, color="0.3", ha="left", va="bottom")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter())


def _span_words(values, what: str) -> str:
    span = _span(values)
    if span != span:
        return f"{what}: unknown span"
    if span < MIN_SPAN:
        return (f"{what} span only {100 * span:.1f}% (held equal by construction; the axis is drawn ±"
                f"{100 * EQUAL_WINDOW:.0f}% around it, and differences in error along it are not a {what} effect)")
    return f"{what} span {100 * span:.0f}%"


def plot_error_vs_complexity(runs: pd.DataFrame) -> Plot:
    """Final top-1 error against FLOPs and against params, every completed run, coloured by C."""
    name = "fig_error_vs_complexity"
    done = _completed(runs)
    done = done[done["params"].notna() & done["flops"].notna()]
    if done.empty:
        return _skip(name, "no completed run with params and FLOPs")
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
    fig, axes = _new_figure(len(datasets), 2, width=5.0, height=4.0)
    words = []
    for row, dataset in zip(axes, datasets):
        part = data[data["dataset"] == dataset]
        ours, base = part[part["family"] != "baseline"], part[part["family"] == "baseline"]
        chance = _near_chance(dataset, part["top1_err"])
        for ax, x, xlabel in zip(row, ("flops", "params"), ("FLOPs (multiply-adds)", "parameters")):
            present = [c for c in c_order if c in set(ours["C"])]
            if not ours.empty:
                sns.scatterplot(data=ours, x=x, y="top1_err", hue="C", style="C", hue_order=present, style_order=present,
                                palette=c_palette, ax=ax, s=45, alpha=0.85, legend=True)
            for b in base.itertuples():
                ax.scatter(getattr(b, x), b.top1_err, marker="X", s=50, color="black")
            if chance is not None:
                _draw_chance(ax, chance)
            _complexity_axis(ax, part[x], "FLOPs" if x == "flops" else "params")
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


# ---------------------------------------------------------------- writing

def save_figure(fig: Figure, results_dir: Path, name: str) -> list[Path]:
    """Write NAME.png and NAME.pdf atomically; return their paths."""
    paths = []
    for fmt in FORMATS:
        path = Path(results_dir) / f"{name}.{fmt}"
        meta = {"CreationDate": None} if fmt == "pdf" else {}  # same data, same bytes
        fsutil.atomic_write(path, lambda f, fmt=fmt: fig.savefig(f, format=fmt, dpi=150, metadata=meta))
        paths.append(path)
    return paths


def load_curves(results_dir: Path) -> pd.DataFrame:
    path = Path(results_dir) / "curves.csv"
    return pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame()


def make_plots(results_dir: Path, reference_dir: Path = REFERENCE_DIR) -> list[Plot]:
    """Every figure (drawn with its caption, or skipped with its reason) from runs.csv and curves.csv."""
    runs = load_runs(results_dir)
    reference = load_reference(reference_dir)
    return [
        plot_curves(runs, load_curves(results_dir)),
        plot_cardinality(runs, reference),
        plot_cifar_size(runs, reference),
        plot_error_vs_complexity(runs),
    ]


def save_plots(plots: list[Plot], results_dir: Path, verbose: bool = True) -> list[Path]:
    """Save the drawn plots as PNG and PDF, print why the others were skipped; return the paths."""
    paths = []
    for plot in plots:
        if plot.figure is None:
            if verbose:
                print(f"skipped {plot.name}: {plot.reason}")
            continue
        paths += save_figure(plot.figure, results_dir, plot.name)
    if verbose:
        print(f"wrote {len(paths) // len(FORMATS)} figure(s) to {results_dir}")
    return paths


def write_plots(results_dir: Path, reference_dir: Path = REFERENCE_DIR, verbose: bool = True) -> list[Path]:
    """Write each figure the data allow as PNG and PDF into results_dir; return the paths."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UserError(f"{results_dir}: no such directory")
    return save_plots(make_plots(results_dir, reference_dir), results_dir, verbose)
