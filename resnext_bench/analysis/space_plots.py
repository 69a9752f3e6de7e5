"""The design-space figures: fig_edf, fig_space_params and fig_space_cost."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .edf import (BAND, COLUMN_WORDS, COST_COLUMNS, ERR, MIN_RUNS, PARAM_COLUMNS, RESAMPLES, SEED, SPACE,
                  bootstrap_band, complexity_column, edf_at)
from .spaces import SpaceStudy
from .style import Plot, new_figure, not_drawn, sns, unit_axis


def _palette(studies: list[SpaceStudy]) -> dict:
    names = sorted({s for st in studies for s in st.spaces})
    return dict(zip(names, sns.color_palette("colorblind", max(len(names), 1))))


def _not_drawable(name: str, studies: list[SpaceStudy]) -> Plot | None:
    """The skipped Plot when no group has 2 spaces with MIN_RUNS or more completed runs, else None."""
    if any(s.drawable for s in studies):
        return None
    if not studies:
        return not_drawn(name, "no completed run of a design space")
    counts = "; ".join(f"{s.label}: " + ", ".join(f"{n} ({st.n})" for n, st in s.spaces.items()) for s in studies)
    return not_drawn(name, f"fewer than 2 design spaces with {MIN_RUNS} or more completed runs in one group "
                       f"(completed runs per space: {counts})")


def _left_out(studies: list[SpaceStudy]) -> str:
    out = [f"{n} ({st.n} runs)" for s in studies if s.drawable for n, st in s.spaces.items() if not st.testable]
    return f" Left out (fewer than {MIN_RUNS} completed runs): {', '.join(out)}." if out else ""


def _axis(ax, values) -> None:
    """Log base 2 for counts (C, d, group width) spanning a factor of 4; log base 10 for others spanning a decade."""
    import matplotlib.ticker

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v) or v.min() <= 0:
        return
    if v.max() <= 4096 and np.allclose(v, np.round(v)) and v.max() >= 4 * v.min():
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    elif v.max() > 10 * v.min():
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    else:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter())


def plot_edf(studies: list[SpaceStudy], resamples: int = RESAMPLES, seed: int = SEED) -> Plot:
    """The complexity-weighted error EDF of each space with its BAND pointwise bootstrap band, one panel per group."""
    name = "fig_edf"
    skip = _not_drawable(name, studies)
    if skip is not None:
        return skip
    drawn = [s for s in studies if s.drawable]
    palette = _palette(drawn)
    fig, axes = new_figure(1, len(drawn), width=5.5, height=4.2)
    parts, scales = [], []
    for ax, study in zip(axes[0], drawn):
        errors = np.concatenate([study.spaces[n].errors for n in study.testable])
        pad = max(float(np.ptp(errors)) * 0.04, 0.05)
        grid = np.r_[errors.min() - pad, np.unique(errors), errors.max() + pad]
        for n in study.testable:
            st = study.spaces[n]
            f = edf_at(st.errors, st.weights, grid)
            lo, hi = bootstrap_band(st.errors, st.weights, grid, BAND, resamples, seed)
            colour = palette[n]
            ax.fill_between(grid, lo, hi, step="post", color=colour, alpha=0.2, linewidth=0,
                            label=f"{n}: pointwise {BAND:.0%} band")
            ax.step(grid, f, where="post", color=colour, linewidth=1.6, label=f"{n} (n = {st.n})")
            parts.append(pd.DataFrame({"group": study.label, "space": n, "error": grid, "edf": f, "band_low": lo,
                                       "band_high": hi}))
        what = COLUMN_WORDS.get(complexity_column(study.complexity), study.complexity)
        if errors.min() > 0 and errors.max() > 10 * errors.min():  # errors over a decade: a log axis
            ax.set_xscale("log")
            scales.append("log")
        ax.set(title=study.label, xlabel="final top-1 error (%)" + (", log scale" if ax.get_xscale() == "log" else ""),
               ylabel=f"cumulative fraction of models (weighted for {what})",
               ylim=(-0.02, 1.02), xlim=(grid[0], grid[-1]))
        ax.legend(title="space", loc="lower right", fontsize=8, title_fontsize=8)
    fig.suptitle("Error EDF per design space (complexity-normalised)", fontsize="medium")
    caption = (f"Lines: the fraction of a space's models with error at most x, each model weighted so that every "
               f"space has the same complexity histogram ({COLUMN_WORDS.get(complexity_column(drawn[0].complexity))}, "
               f"{drawn[0].bins} quantile bins). "
               f"Shaded: {BAND:.0%} pointwise bootstrap bands ({resamples} resamples of the space's models, seed "
               f"{seed}). A curve further left has more low-error models. x: the models' errors, clipped to their range"
               + (" (log scale where they span over a decade)" if scales else "") + "." + _left_out(studies))
    return Plot(name, fig, pd.concat(parts, ignore_index=True), caption=caption)


def _scatter_grid(name: str, studies: list[SpaceStudy], columns, title: str, what: str) -> Plot:
    skip = _not_drawable(name, studies)
    if skip is not None:
        return skip
    drawn = [s for s in studies if s.drawable]
    palette = _palette(drawn)
    fig, axes = new_figure(len(drawn), len(columns), width=4.0, height=3.6)
    parts, missing = [], []
    for row, study in zip(axes, drawn):
        frame = study.frame[study.frame[SPACE].isin(study.testable)]
        for ax, column in zip(row, columns):
            words = COLUMN_WORDS.get(column, column)
            values = pd.to_numeric(frame[column], errors="coerce") if column in frame else pd.Series(dtype=float)
            if values.notna().sum() == 0:
                ax.text(0.5, 0.5, f"{words}: not recorded", transform=ax.transAxes, ha="center", va="center",
                        fontsize=9, color="0.3")
                ax.set(title=f"error against {words}", xticks=[], yticks=[])
                missing.append(f"{study.label}: {words}")
                continue
            data = pd.DataFrame({"space": frame[SPACE].to_numpy(), "x": values.to_numpy(float),
                                 "error": frame[ERR].to_numpy(float)}).dropna()
            sns.scatterplot(data=data, x="x", y="error", hue="space", hue_order=study.testable, palette=palette,
                            ax=ax, s=28, alpha=0.75, legend=column == columns[-1])
            _axis(ax, data["x"])
            ax.set(title=f"{study.label}" if column == columns[0] else "", xlabel=unit_axis(ax, column) or words,
                   ylabel="final top-1 error (%)")
            parts.append(data.assign(group=study.label, column=column))
        legend = row[-1].get_legend()
        if legend is not None:
            legend.set_title("space")
    fig.suptitle(title, fontsize="medium")
    caption = (f"One point per sampled model (completed run), colour = space; {what}. No relation is tested here."
               + (f" Not recorded: {'; '.join(missing)}." if missing else "") + _left_out(studies))
    data = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return Plot(name, fig, data, caption=caption)


def plot_space_params(studies: list[SpaceStudy]) -> Plot:
    """Error against each sampled parameter (C, d, group width), hue = space, one row per group."""
    return _scatter_grid("fig_space_params", studies, PARAM_COLUMNS, "Error against the sampled parameters",
                         "x: cardinality C, bottleneck width d and group width C·d (log base 2 where they span a "
                         "factor of 4)")


def plot_space_cost(studies: list[SpaceStudy]) -> Plot:
    """Error against FLOPs, params, activations and measured images/s, hue = space, one row per group."""
    return _scatter_grid("fig_space_cost", studies, COST_COLUMNS, "Error against cost",
                         "x: FLOPs, parameters, activations (config complexity) and measured training images/s "
                         "(result.json; measured while other runs may have shared the machine)")


def make_space_plots(studies: list[SpaceStudy]) -> list[Plot]:
    """fig_edf, fig_space_params, fig_space_cost (each drawn, or skipped with its reason)."""
    return [plot_edf(studies), plot_space_params(studies), plot_space_cost(studies)]
