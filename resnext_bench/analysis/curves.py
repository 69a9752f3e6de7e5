"""Training curves (the paper's Fig. 5) and their reading: the largest C against C=1 at the last epoch."""
from __future__ import annotations

import math

import matplotlib.ticker

import numpy as np
import pandas as pd

from .runs import configurations, group_label, in_group, runs_of, setting_label, sorted_groups, varying_fields
from .stats import at_chance, baseline_config, completed, difference, holm_adjust
from .study import Context, FigureStudy
from .words import NO_CLAIM, NO_TEST, chance_words, declared_seeds, sentence, summary_words, verdict
from ..units import plural
from .style import (Plot, draw_chance, fit_limits, in_group_order, legend_below, near_chance, new_figure, not_drawn,
                    setting_order, setting_palette, sns)


FENCE = 3.0  # a y-range keeps the errors within this many interquartile ranges of the quartiles


def robust_range(values) -> tuple[float, float]:
    """(low, high) of the errors, a spike beyond FENCE interquartile ranges of the quartiles left out."""
    v = np.asarray(values, dtype=float)
    q1, q3 = np.quantile(v, [0.25, 0.75])
    iqr = q3 - q1
    return max(float(v.min()), q1 - FENCE * iqr), min(float(v.max()), q3 + FENCE * iqr)


def plot_curves(runs: pd.DataFrame, curves: pd.DataFrame) -> Plot:
    """Fig. 5: val and train top-1 error per epoch, one line per configuration, y fitted to the last half."""
    name = "fig_curves"
    sweep = completed(runs, "table3")
    sweep = sweep if not sweep.empty else completed(runs, "table7")
    if sweep.empty or curves.empty or "epoch" not in curves:
        return not_drawn(name, "no completed run of a cardinality sweep with per-epoch metrics")
    sweep = in_group_order(sweep).assign(group_label=lambda f: [group_label(g) for g in f["group"]])
    keys = ["sweep", "run_id", "group_label", "dataset", "setting", "cardinality", "bottleneck_width", "seed"]
    merged = curves.merge(sweep[keys], on=["sweep", "run_id"])
    value_vars = [c for c in ("val_top1_err", "train_top1_err") if c in merged]
    data = merged.melt(id_vars=[*keys, "epoch"], value_vars=value_vars, var_name="split", value_name="top1_err")
    data["split"] = data["split"].map({"train_top1_err": "train", "val_top1_err": "val"})
    data = data.dropna(subset=["top1_err", "epoch"]).reset_index(drop=True)
    if data.empty:
        return not_drawn(name, "the completed runs have no per-epoch errors in curves.csv")
    labels = [label for label in dict.fromkeys(sweep["group_label"])
              if data.loc[data["group_label"] == label, "epoch"].nunique() >= 2]
    if not labels:
        return not_drawn(name, "every run has one epoch of metrics: a training curve needs two or more (the final "
                           "errors are in the tables and fig_cardinality)")
    data = data[data["group_label"].isin(labels)].reset_index(drop=True)
    data = data.iloc[np.argsort([labels.index(x) for x in data["group_label"]], kind="stable")].reset_index(drop=True)
    palette = setting_palette(setting_order(data))
    fig, axes = new_figure(len(labels), 2, width=5.0, height=3.9)
    words, clipped = [], []
    for row, label in zip(axes, labels):
        group = data[data["group_label"] == label]
        last_epoch = int(group["epoch"].max())
        settings = setting_order(group)
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
            lo, hi = robust_range(tail["top1_err"])
            if lo > float(tail["top1_err"].min()) or hi < float(tail["top1_err"].max()):
                clipped.append(f"{label}, {'validation' if split == 'val' else 'training'}")
            chance = near_chance(part["dataset"].iloc[0], tail["top1_err"])
            if chance is not None:
                draw_chance(ax, chance)
                lo, hi = min(lo, chance), max(hi, chance)
            (ylim,) = fit_limits([("", lo, hi)], floor=0.5)
            ax.set_ylim(*ylim)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            split_words = "validation" if split == "val" else "training"
            ax.set(title=f"{label}: {split_words}", xlabel="epoch", ylabel=f"{split_words} top-1 error (%)"
                   + (", clipped" if clipped and clipped[-1].startswith(f"{label}, {split_words}") else ""))
            if split == "train":
                legend_below(ax, ncol=min(len(order) + (chance is not None), 4), title="configuration (CxDd)")
        first = int(group[group["epoch"] > last_epoch / 2]["epoch"].min())
        words.append(f"{label}: {len(settings)} configurations, y-range fitted to epochs {first}–{last_epoch}")
    caption = ("One line per configuration: the mean over seeds, the band the seeds' min–max (no band with one seed); "
               "validation left, training right. Each y-range is fitted to the last half of training so the final "
               "differences show; earlier, higher errors run off the top. " + "; ".join(words) + "."
               + (f" The y-range is robust: errors beyond {FENCE:g} interquartile ranges of the fitted epochs (a "
                  f"spike) are clipped off in {'; '.join(clipped)}." if clipped else ""))
    fig.suptitle("Top-1 error per epoch, every configuration (cf. paper Fig. 5)", fontsize="medium")
    return Plot(name, fig, data, caption=caption)


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
    done = completed(runs[runs["table"] == "table3"])
    done = done if not done.empty else completed(runs[runs["table"] == "table7"])
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
            parts.append("- " + sentence(head + ". " + chance_words([s_lo, s_hi], means, g[1])))
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
                text += declared_seeds(d, None, pd.concat([lo, hi]))
            words.append(text)
        tested = any(family.get((i, split)) is not None for split in ("train", "val"))
        parts.append("- " + head + ". " + ". ".join(w[0].upper() + w[1:] for w in words) + "."
                     + (f" Holm over the figure's {plural(m, 'comparison')}." if tested else ""))
    return "\n".join(parts)


FIGURE = FigureStudy("fig_curves", "Training curves (cf. Fig. 5)", lambda ctx: plot_curves(ctx.runs, ctx.curves),
                     read_curves)
