"""How every figure is drawn and saved (PNG and PDF), so that none can mislead.

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
  last half of training, so the final differences are visible (early epochs run off the top), and is
  robust: an error beyond 3 interquartile ranges of the quartiles (a spike) is clipped off, and the
  caption and the axis say so.
  Not drawn when no run has two epochs.
- fig_cardinality: per group, our top-1 error per configuration (x: configurations in order of
  C), one colour per configuration, one point per seed (spread by a jitter from
  numpy.random.default_rng(SEED), so the same runs give the same bytes), the mean as a point with
  its 95 % t-interval, no line between configurations; beside
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
import matplotlib.ticker  # noqa: F401  (the figures' axes use it)

matplotlib.use("Agg")  # files only; never open a window
matplotlib.rcParams["svg.hashsalt"] = "resnext-bench"  # same figure, same bytes (no random SVG ids)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .. import fsutil  # noqa: E402
from .runs import sorted_groups  # noqa: E402
from .stats import chance_error, summarize  # noqa: E402


FORMATS = ("png", "pdf")


CHANCE_WINDOW = 25.0  # points: draw the chance line when a plotted error comes this close to it


CI_WORDS = "mean ± 95% CI (Student t over seeds)"


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


def not_drawn(name: str, reason: str) -> Plot:
    return Plot(name, None, pd.DataFrame(), reason)


def t_ci95(values) -> tuple[float, float]:
    """The 95 % confidence interval of the mean (Student t, n-1 df; stats.summarize); NaNs below n=2."""
    v = [float(x) for x in values if x == x]
    s = summarize(v)
    return s.ci_low, s.ci_high


def near_chance(dataset, errors) -> float | None:
    """The chance level when any of `errors` lies within CHANCE_WINDOW points of it, else None."""
    chance = chance_error(dataset)
    errors = np.asarray([e for e in errors if e == e], dtype=float)
    if chance is None or not len(errors) or np.min(np.abs(errors - chance)) > CHANCE_WINDOW:
        return None
    return chance


def draw_chance(ax, chance: float) -> None:
    ax.axhline(chance, linestyle=":", linewidth=1.2, color="0.35", label=f"chance ({chance:g}%)", gid="chance", zorder=0)


def fit_limits(extents: list[tuple[str, float, float]], pad: float = 0.08, floor: float = 1.0) -> list[tuple[float, float]]:
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


def in_group_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by group as the tables order them (depth first), stable within a group."""
    rank = {g: i for i, g in enumerate(sorted_groups(frame))}
    return frame.iloc[np.argsort([rank[g] for g in frame["group"]], kind="stable")]


def setting_order(frame: pd.DataFrame) -> list[str]:
    """The settings ("4x24d") of `frame` in order of cardinality, then width."""
    pairs = {(int(c), int(d), s) for c, d, s in zip(frame["cardinality"], frame["bottleneck_width"], frame["setting"])}
    return [s for _, _, s in sorted(pairs)]


def setting_palette(settings: list[str]) -> dict[str, tuple]:
    return dict(zip(settings, sns.color_palette("deep" if len(settings) <= 10 else "husl", len(settings))))


def new_figure(n_rows: int, n_cols: int, width: float = 5.0, height: float = 4.0) -> tuple[Figure, np.ndarray]:
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(width * n_cols, height * n_rows), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, squeeze=False)
    return fig, axes


def legend_below(ax, ncol: int, title: str | None = None) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.legend(handles, labels, title=title, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=max(1, ncol),
              fontsize=7, title_fontsize=7, frameon=False)


def relative_span(values) -> float:
    """(max - min) / min of positive values: 0.02 for a range of +-1 %."""
    values = np.asarray(values, dtype=float)
    return float(values.max() / values.min() - 1.0) if len(values) and values.min() > 0 else math.nan


# A count axis in the unit the paper speaks: parameters in millions, FLOPs (multiply-adds) in billions.
UNITS = {"params": (1e6, "parameters (M)"), "flops": (1e9, "FLOPs (GFLOPs, multiply-adds)"),
         "complexity.acts": (1e6, "activations (M)")}
JITTER = 0.12  # half-width of the seeded horizontal spread of seed dots on a category axis
SEED = 0  # every random mark of a figure (jitter) comes from numpy.random.default_rng(SEED)


def unit_axis(ax, column: str, axis: str = "x") -> str | None:
    """Tick labels of a count axis in its unit (UNITS); return the axis label, None for other columns."""
    if column not in UNITS:
        return None
    scale, label = UNITS[column]
    fmt = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / scale:.3g}")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(fmt)
    target.set_minor_formatter(matplotlib.ticker.NullFormatter())
    return label


def jittered(positions, rng: np.random.Generator, width: float = JITTER) -> np.ndarray:
    """Category positions spread by a seeded uniform jitter, so every dot of a seed stays visible."""
    positions = np.asarray(positions, dtype=float)
    return positions + rng.uniform(-width, width, len(positions))


def save_figure(fig: Figure, results_dir: Path, name: str) -> list[Path]:
    """Write NAME.png and NAME.pdf atomically; return their paths."""
    paths = []
    for fmt in FORMATS:
        path = Path(results_dir) / f"{name}.{fmt}"
        meta = {"CreationDate": None} if fmt == "pdf" else {"Software": None}  # same data, same bytes
        fsutil.atomic_write(path, lambda f, fmt=fmt: fig.savefig(f, format=fmt, dpi=150, metadata=meta))
        paths.append(path)
    return paths
