"""The figures cannot mislead: claims checked on the matplotlib Figure objects, never on pixels.

No twin axes (ours and the paper's never share a panel with independent y-limits); every
configuration's seeds as points with a legend entry, the mean with its Student-t 95 % interval;
the chance line exactly when errors come near chance; one curve per configuration on a y-range
set by the last half of training; figures with nothing to show skipped with a reason; the
complexity figure labels every point's C and says nothing of a correlation.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib.colors
import matplotlib.text
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from support.sweeps import TABLE3_RUNS, make_run, make_table3_sweep

from resnext_bench.analysis.collect import collect
from resnext_bench.analysis.paper import load_reference
from resnext_bench.analysis.curves import plot_curves
from resnext_bench.analysis.plots import make_plots, save_plots
from resnext_bench.analysis.stats import chance_error
from resnext_bench.analysis.style import CI_WORDS, t_ci95
from resnext_bench.analysis.table3 import plot_cardinality
from resnext_bench.analysis.runs import load_runs

G50, G101 = "50-layer (digits, short, 3 ep)", "101-layer (digits, short, 3 ep)"


# ---------------------------------------------------------------- sweeps

def _collected(root: Path, build) -> Path:
    sweep = root / "sweep"
    build(sweep)
    out = root / "results"
    collect([sweep], out, verbose=False)
    return out


@pytest.fixture(scope="module")
def far_dir(tmp_path_factory):
    """The Table 3 sweep (errors 26-32 % on 10 classes: far below chance), CIFAR size runs and a baseline."""
    def build(sweep):
        make_table3_sweep(sweep)
        for c, err, params in [(1, 5.0, 64_000), (2, 4.6, 128_000), (8, 4.0, 512_000)]:
            for seed in range(2):
                make_run(sweep, f"cifar-{c}x64d-s{seed}", ablation="fig7", study="fig7", template="cifar-29",
                         cardinality=c, bottleneck_width=64, dataset="cifar10", seed=seed, err=err + seed * 0.1,
                         params=params)
        make_run(sweep, "tv-resnet50", baseline="torchvision:resnet50", err=33.0)
    return _collected(tmp_path_factory.mktemp("far"), build)


# near chance (90 % on digits), 6 epochs, FLOPs within +-1 % as the equal-complexity grid holds them
NEAR = {(1, 64): 86.0, (2, 40): 84.5, (4, 24): 83.0, (32, 4): 81.0}


@pytest.fixture(scope="module")
def near_dir(tmp_path_factory):
    def build(sweep):
        for (c, d), err in NEAR.items():
            for seed in range(3):
                make_run(sweep, f"near-{c}x{d}d-s{seed}", cardinality=c, bottleneck_width=d, seed=seed,
                         err=err + 0.8 * seed, epochs=6, params=int(25.0e6 * (1 + 0.0003 * c)),
                         flops=int(4.2e9 * (1 + 0.0003 * c)))
    return _collected(tmp_path_factory.mktemp("near"), build)


@pytest.fixture(scope="module")
def far_plots(far_dir):
    return {p.name: p for p in make_plots(far_dir)}


@pytest.fixture(scope="module")
def near_plots(near_dir):
    return {p.name: p for p in make_plots(near_dir)}


# ---------------------------------------------------------------- helpers on figures

def _position(ax) -> tuple:
    spec = ax.get_subplotspec()
    return (spec.rowspan.start, spec.rowspan.stop, spec.colspan.start, spec.colspan.stop)


def assert_no_twin_axes(fig: Figure):
    """No axes shares its x axis with another (twinx does), and no two axes sit in one subplot position."""
    for ax in fig.axes:
        assert ax.get_shared_x_axes().get_siblings(ax) == [ax], f"{ax.get_title()!r} has a twin"
        assert ax.get_subplotspec() is not None, "an axes outside the subplot grid"
    positions = [_position(ax) for ax in fig.axes]
    assert len(set(positions)) == len(positions), "two axes in one subplot position"


def panels(fig: Figure) -> dict[str, object]:
    return {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def chance_lines(ax) -> list:
    return [line for line in ax.lines if line.get_gid() == "chance"]


def all_text(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]


def seed_points(ax) -> np.ndarray:
    """Every scatter point of the panel (seeds), as (x, y) rows."""
    parts = [np.asarray(c.get_offsets()) for c in ax.collections if len(c.get_offsets())]
    return np.concatenate(parts) if parts else np.empty((0, 2))


def vertical_segments(ax) -> list[tuple[float, float, float]]:
    """(x, y low, y high) of every vertical stretch drawn as a line (error bars)."""
    found = []
    for line in ax.lines:
        xy = np.asarray(line.get_xydata(), dtype=float)
        for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:]):
            if np.isfinite([x0, y0, x1, y1]).all() and x0 == x1 and y0 != y1:
                found.append((x0, min(y0, y1), max(y0, y1)))
    return found


# ---------------------------------------------------------------- shared rules

def test_no_figure_has_twin_axes(far_plots, near_plots):
    drawn = [p for plots in (far_plots, near_plots) for p in plots.values() if p.figure is not None]
    assert {p.name for p in drawn} >= {"fig_curves", "fig_cardinality", "fig_cifar_size", "fig_error_vs_complexity"}
    for plot in drawn:
        assert_no_twin_axes(plot.figure)


def test_the_twin_check_catches_a_twin():
    fig = Figure()
    ax = fig.subplots()
    ax.twinx()
    with pytest.raises(AssertionError, match="twin"):
        assert_no_twin_axes(fig)


def test_no_text_speaks_of_a_correlation(far_plots, near_plots):
    for plot in [*far_plots.values(), *near_plots.values()]:
        texts = [plot.caption or "", plot.reason or ""]
        if plot.figure is not None:
            texts += all_text(plot.figure)
        for text in texts:
            assert not re.search(r"\brho\b|ρ|spearman|correlat", text, re.I), (plot.name, text)


def test_t_interval_and_chance_levels():
    lo, hi = t_ci95([26.0, 26.5, 27.0])
    assert (lo, hi) == pytest.approx(stats.t.interval(0.95, 2, loc=26.5, scale=0.5 / math.sqrt(3)))
    assert all(math.isnan(v) for v in t_ci95([3.0]))
    assert chance_error("digits") == chance_error("cifar10") == chance_error("synthetic") == pytest.approx(90.0)
    assert chance_error("cifar100") == pytest.approx(99.0)
    assert chance_error("imagenet") == pytest.approx(99.9)
    assert chance_error("unknown-set") is None


def test_figures_keep_their_file_names_as_png_and_pdf(far_plots, tmp_path):
    paths = save_plots(list(far_plots.values()), tmp_path, verbose=False)
    assert sorted(p.name for p in paths) == sorted(f"{n}.{e}" for n in ("fig_curves", "fig_cardinality",
                                                                         "fig_cifar_size", "fig_error_vs_complexity")
                                                   for e in ("png", "pdf"))
    for p in paths:
        head = p.read_bytes()[:8]
        assert head.startswith(b"\x89PNG") if p.suffix == ".png" else head.startswith(b"%PDF-")


# ---------------------------------------------------------------- cardinality

def test_cardinality_puts_ours_and_the_paper_in_separate_titled_panels(far_plots):
    fig = far_plots["fig_cardinality"].figure
    titles = list(panels(fig))
    assert titles == [f"Ours: {G50}", f"Ours: {G101}", "Paper (Xie et al. 2017), Table 3: ImageNet"]
    paper = panels(fig)[titles[-1]]
    assert "paper" in paper.get_title().lower()
    drawn = np.concatenate([line.get_ydata() for line in paper.lines if len(line.get_ydata())])
    assert sorted(drawn) == sorted(load_reference()["table3"]["top1_err"]), "the paper's 50- and 101-layer rows"
    assert legend_texts(paper) == ["paper (ImageNet, 50-layer)", "paper (ImageNet, 101-layer)"]


def test_cardinality_legend_has_each_configuration_and_the_interval(far_plots):
    axes = panels(far_plots["fig_cardinality"].figure)
    assert legend_texts(axes[f"Ours: {G50}"]) == ["1x16d", "2x10d", "4x6d", "8x4d", CI_WORDS]
    assert legend_texts(axes[f"Ours: {G101}"]) == ["1x16d", "2x10d", "4x6d", CI_WORDS], "8x4d never completed"
    assert "95% CI" in CI_WORDS and "t" in CI_WORDS.split()
    assert "Student t" in far_plots["fig_cardinality"].caption


def test_cardinality_draws_every_seed_and_t_intervals(far_plots):
    plot = far_plots["fig_cardinality"]
    ax = panels(plot.figure)[f"Ours: {G50}"]
    errors = [e for _, errs in TABLE3_RUNS[50].values() for e in errs]
    assert sorted(seed_points(ax)[:, 1]) == sorted(errors), "one point per seed"
    bars = vertical_segments(ax)
    order = ["1x16d", "2x10d", "4x6d", "8x4d"]
    assert len({x for x, _, _ in bars}) == len(order), "an interval per configuration with spread"
    for x, (c, (_, errs)) in enumerate(TABLE3_RUNS[50].items()):
        lo, hi = stats.t.interval(0.95, len(errs) - 1, loc=np.mean(errs), scale=stats.sem(errs))
        assert any(bx == x and blo == pytest.approx(lo) and bhi == pytest.approx(hi) for bx, blo, bhi in bars), c
    ours = plot.data[(plot.data["source"] == "ours") & (plot.data["setting"] == "4x6d")
                     & (plot.data["group_label"] == G50)]
    assert ours["ci_low"].iloc[0] == pytest.approx(26.5 - stats.t.ppf(0.975, 2) * 0.5 / math.sqrt(3))


def test_cardinality_panels_of_other_data_span_the_same_height(far_plots):
    axes = list(panels(far_plots["fig_cardinality"].figure).values())
    heights = [ax.get_ylim()[1] - ax.get_ylim()[0] for ax in axes]
    assert heights == pytest.approx([heights[0]] * len(axes)), "a slope reads the same in every panel"
    assert axes[0].get_ylim() == axes[1].get_ylim(), "two digits panels share their limits"
    for ax in axes:
        lo, hi = ax.get_ylim()
        assert all(lo <= y <= hi for y in seed_points(ax)[:, 1])


def test_chance_line_only_near_chance(far_plots, near_plots):
    for name in ("fig_cardinality", "fig_curves", "fig_error_vs_complexity"):
        far = far_plots[name].figure
        assert not any(chance_lines(ax) for ax in far.axes), f"{name}: errors of 26-32 % are far below 90 %"
        near = near_plots[name].figure
        lines = [line for ax in near.axes for line in chance_lines(ax)]
        assert lines, f"{name}: errors of 81-88 % are within 25 points of 90 %"
        assert all(np.allclose(line.get_ydata(), 90.0) for line in lines)
        for ax in near.axes:
            if chance_lines(ax):
                assert ax.get_ylim()[0] <= 90.0 <= ax.get_ylim()[1], "the chance line is inside the panel"
    card = panels(near_plots["fig_cardinality"].figure)
    assert not chance_lines(card["Paper (Xie et al. 2017), Table 3: ImageNet"]), "the paper is far from 99.9 %"
    assert "chance (90%)" in legend_texts(card["Ours: 50-layer (digits, short, 6 ep)"])


def test_one_configuration_is_not_drawn_and_says_why(tmp_path):
    def build(sweep):
        for seed in range(3):
            make_run(sweep, f"only-s{seed}", cardinality=32, bottleneck_width=4, seed=seed, err=30.0 + seed)
    out = _collected(tmp_path, build)
    plot = plot_cardinality(load_runs(out), load_reference())
    assert plot.figure is None
    assert "two configurations" in plot.reason and "32x4d" in plot.reason


# ---------------------------------------------------------------- curves

def test_curves_draw_one_line_per_configuration(far_plots):
    axes = panels(far_plots["fig_curves"].figure)
    for label, configs in ((G50, ["1x16d", "2x10d", "4x6d", "8x4d"]), (G101, ["1x16d", "2x10d", "4x6d"])):
        for split in ("validation", "training"):
            ax = axes[f"{label}: {split}"]
            curves = [line.get_gid() for line in ax.lines if (line.get_gid() or "").startswith("curve:")]
            assert curves == [f"curve:{c}" for c in configs]
            assert len(ax.collections) == len(configs), "a seed band per configuration"
    assert legend_texts(axes[f"{G50}: training"]) == ["1x16d", "2x10d", "4x6d", "8x4d"]


def test_curves_y_range_comes_from_the_last_half_of_training(near_dir, near_plots):
    curves = pd.read_csv(near_dir / "curves.csv")
    ax = panels(near_plots["fig_curves"].figure)["50-layer (digits, short, 6 ep): validation"]
    lo, hi = ax.get_ylim()
    first = curves.loc[curves["epoch"] == 1, "val_top1_err"]
    last_half = curves.loc[curves["epoch"] > 3, "val_top1_err"]
    assert first.min() > last_half.max(), "the fabricated errors fall"
    assert hi < first.min(), "epoch 1 does not set the range: it runs off the top"
    assert lo <= last_half.min() and max(last_half.max(), 90.0) <= hi, "the last half (and chance) fit"
    assert hi - lo < first.max() - last_half.min(), "narrower than the whole run's range"
    assert "last half" in near_plots["fig_curves"].caption


def test_a_one_epoch_sweep_draws_no_curves_and_says_why(tmp_path, capsys):
    def build(sweep):
        for c, d in ((1, 64), (32, 4)):
            for seed in range(2):
                make_run(sweep, f"e1-{c}x{d}d-s{seed}", cardinality=c, bottleneck_width=d, seed=seed,
                         err=40.0 - c / 8, epochs=1)
    out = _collected(tmp_path, build)
    plot = plot_curves(load_runs(out), pd.read_csv(out / "curves.csv"))
    assert plot.figure is None and "one epoch" in plot.reason
    save_plots([plot], out)
    assert f"skipped fig_curves: {plot.reason}" in capsys.readouterr().out
    assert plot_cardinality(load_runs(out), load_reference()).figure is not None, "the final errors still plot"


# ---------------------------------------------------------------- error vs complexity

def test_complexity_labels_every_point_with_its_c(near_dir, near_plots):
    plot = near_plots["fig_error_vs_complexity"]
    runs = load_runs(near_dir)
    for ax in panels(plot.figure).values():
        legend = ax.get_legend() or next(a.get_legend() for a in plot.figure.axes if a.get_legend())
        assert legend.get_title().get_text() == "C"
        colours = {t.get_text(): matplotlib.colors.to_hex(h.get_facecolor()[0] if hasattr(h, "get_facecolor")
                                                          else h.get_markerfacecolor())
                   for t, h in zip(legend.get_texts(), legend.legend_handles) if t.get_text().isdigit()}
        assert sorted(colours, key=int) == ["1", "2", "4", "32"]
        points = [matplotlib.colors.to_hex(c) for coll in ax.collections for c in coll.get_facecolors()]
        assert len(points) == len(runs), "one point per run"
        by_colour = pd.Series(points).value_counts().to_dict()
        expected = runs["cardinality"].astype(int).astype(str).value_counts().to_dict()
        assert {c: by_colour[colours[c]] for c in colours} == expected, "each point's colour names its C"


def test_complexity_held_equal_is_not_spread_across_the_axis(near_plots):
    plot = near_plots["fig_error_vs_complexity"]
    ax = panels(plot.figure)["digits: error against FLOPs"]
    lo, hi = ax.get_xlim()
    xs = seed_points(ax)[:, 0]
    assert (xs.max() - xs.min()) / (hi - lo) < 0.05, "runs of equal FLOPs stand in one column"
    assert "matched within that by construction, not equal; the axis is drawn ±25%" in plot.caption
    assert any("matched by construction" in t for t in all_text(plot.figure))


def test_complexity_names_baselines_and_keeps_datasets_apart(far_plots):
    plot = far_plots["fig_error_vs_complexity"]
    titles = list(panels(plot.figure))
    assert titles == ["cifar10: error against FLOPs", "cifar10: error against parameters",
                      "digits: error against FLOPs", "digits: error against parameters"]
    assert "torchvision:resnet50" in all_text(plot.figure)
