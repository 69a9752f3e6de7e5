"""The paper's figures from runs.csv and curves.csv, as PNG and PDF.

- fig_curves: training and validation top-1 error against epoch, C=1 against the largest C of
  the same group (paper Fig. 5), mean over seeds with a band of one std; from the Table 3 runs
  (the Table 7 runs when there are none).
- fig_cardinality: top-1 error against cardinality at equal complexity, one point per run
  (configuration x seed), a line through the means, and the paper's Table 3 points; when our data
  are not ImageNet the paper's points sit on a second y axis labelled "paper (ImageNet)".
- fig_cifar_size: test error against parameters for the Table 7 runs (the table7 and fig7
  studies; paper Fig. 7): the "cardinality" series keeps the bottleneck width d of the narrowest
  C=1 run and raises C, the "width" series keeps C=1 and raises d (their shared start point
  belongs to both).
- fig_error_vs_complexity: final top-1 error against FLOPs and against params, every completed run.

Each `plot_*` function returns a `Plot` holding the figure and the DataFrame it drew, so what is
drawn can be checked on the data rather than on pixels. A figure without data is skipped with a
printed reason. Figures are drawn on `matplotlib.figure.Figure` objects (no pyplot state).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # files only; never open a window

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..engine import rundir  # noqa: E402
from .. import fsutil  # noqa: E402
from ..errors import UserError  # noqa: E402
from .paper import REFERENCE_DIR, load_reference, nearest_depth  # noqa: E402
from .runs import depth_of, group_label, in_group, load_runs, sorted_groups  # noqa: E402
from .stats import baseline_config, one_run_per_seed  # noqa: E402

FORMATS = ("png", "pdf")
ERR = "final_val_top1_err"


@dataclass
class Plot:
    """A drawn figure (or None with the reason) and the data it drew."""

    name: str
    figure: Figure | None
    data: pd.DataFrame
    reason: str | None = None


def _skip(name: str, reason: str) -> Plot:
    return Plot(name, None, pd.DataFrame(), reason)


def _completed(runs: pd.DataFrame, table: str | None = None) -> pd.DataFrame:
    """Completed runs with a final error (one per seed), optionally only those feeding `table`."""
    done = one_run_per_seed(runs[(runs["status"] == rundir.COMPLETED) & runs[ERR].notna()])
    return done[done["table"] == table] if table else done


def _in_group_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by group as the tables order them (depth first), stable within a group."""
    rank = {g: i for i, g in enumerate(sorted_groups(frame))}
    return frame.iloc[np.argsort([rank[g] for g in frame["group"]], kind="stable")]


def _new_figure(n_panels: int, width: float = 5.0, height: float = 4.0) -> tuple[Figure, list]:
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(width * n_panels, height), layout="constrained")
        axes = fig.subplots(1, n_panels, squeeze=False)[0]
    return fig, list(axes)


# ---------------------------------------------------------------- (a) training curves

def plot_curves(runs: pd.DataFrame, curves: pd.DataFrame) -> Plot:
    """Fig. 5: train and val top-1 error per epoch, C=1 vs the largest C of each group."""
    name = "fig_curves"
    sweep = _completed(runs, "table3")
    sweep = sweep if not sweep.empty else _completed(runs, "table7")
    if sweep.empty or curves.empty:
        return _skip(name, "no completed run of a cardinality sweep with per-epoch metrics")
    picked = []
    for g in sorted_groups(sweep):
        frame = in_group(sweep, g)
        base = baseline_config(frame)
        top = int(frame["cardinality"].max())
        if base is None or top == 1:
            continue
        widest = frame[frame["cardinality"] == top]["bottleneck_width"].min()
        chosen = frame[((frame["cardinality"] == 1) & (frame["bottleneck_width"] == base[1]))
                       | ((frame["cardinality"] == top) & (frame["bottleneck_width"] == widest))]
        picked.append(chosen.assign(group_label=group_label(g)))
    if not picked:
        return _skip(name, "no group has both a C=1 and a C>1 configuration")
    chosen = pd.concat(picked)[["sweep", "run_id", "group_label", "setting", "cardinality", "seed"]]
    merged = curves.merge(chosen, on=["sweep", "run_id"])
    data = merged.melt(id_vars=["sweep", "run_id", "group_label", "setting", "cardinality", "seed", "epoch"],
                       value_vars=["train_top1_err", "val_top1_err"], var_name="split", value_name="top1_err")
    data["split"] = data["split"].map({"train_top1_err": "train", "val_top1_err": "val"})
    rank = {p["group_label"].iloc[0]: i for i, p in enumerate(picked)}
    data = data.iloc[np.argsort([rank[x] for x in data["group_label"]], kind="stable")].reset_index(drop=True)
    data = data.dropna(subset=["top1_err"])
    if data.empty:
        return _skip(name, "the chosen runs have no per-epoch errors in curves.csv")
    labels = [p["group_label"].iloc[0] for p in picked if p["group_label"].iloc[0] in set(data["group_label"])]
    fig, axes = _new_figure(len(labels))
    for ax, label in zip(axes, labels):
        sns.lineplot(data=data[data["group_label"] == label], x="epoch", y="top1_err", hue="setting",
                     style="split", style_order=["val", "train"], errorbar=("pi", 100), ax=ax)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set(title=label, xlabel="epoch", ylabel="top-1 error (%)")
    # The band spans the seeds (min to max): a +-sd band crosses 0% and 100% on a few seeds.
    fig.suptitle("C=1 vs the largest C (cf. paper Fig. 5)\nmean over seeds, band = min-max; val solid, train dashed",
                 fontsize="medium")
    return Plot(name, fig, data)


# ---------------------------------------------------------------- (b) cardinality

def _paper_points(reference: dict, groups: list[tuple]) -> pd.DataFrame:
    """The paper's Table 3 rows at the depths our groups meet (nearest paper depth)."""
    paper = reference["table3"]
    depths = sorted({nearest_depth(depth_of(g[0]), paper["depth"]) for g in groups})
    rows = paper[paper["depth"].isin(depths)]
    return pd.DataFrame({
        "source": "paper", "group_label": [f"paper (ImageNet, {d}-layer)" for d in rows["depth"]],
        "depth": rows["depth"].to_numpy(), "cardinality": rows["cardinality"].to_numpy(),
        "setting": rows["setting"].to_numpy(), "seed": np.nan, "run_id": None,
        "top1_err": rows["top1_err"].to_numpy(),
    })


def plot_cardinality(runs: pd.DataFrame, reference: dict | None = None) -> Plot:
    """Top-1 error against cardinality: a point per run, a line through the means, the paper's points."""
    name = "fig_cardinality"
    reference = reference or load_reference(REFERENCE_DIR)
    done = _in_group_order(_completed(runs, "table3"))
    if done.empty:
        return _skip(name, "no completed run of the equal-complexity cardinality sweep (Table 3)")
    groups = sorted_groups(done)
    ours = pd.DataFrame({
        "source": "ours", "group_label": [group_label(g) for g in done["group"]], "depth": done["depth"],
        "cardinality": done["cardinality"].astype(int), "setting": done["setting"], "seed": done["seed"],
        "run_id": done["run_id"], "top1_err": done[ERR].astype(float),
    })
    paper = _paper_points(reference, groups)
    same_data = all(g[1] == "imagenet" for g in groups)
    fig, (ax,) = _new_figure(1, width=6.5, height=4.5)
    palette = dict(zip(dict.fromkeys(ours["group_label"]), sns.color_palette("deep")))
    sns.scatterplot(data=ours, x="cardinality", y="top1_err", hue="group_label", palette=palette, ax=ax,
                    s=30, alpha=0.7, legend=False)
    means = ours.groupby(["group_label", "cardinality"], sort=True)["top1_err"].mean().reset_index()
    for label in palette:
        m = means[means["group_label"] == label]
        ax.plot(m["cardinality"], m["top1_err"], "-o", color=palette[label], label=f"ours: {label} (mean)")
    pax = ax if same_data else ax.twinx()
    for i, (label, p) in enumerate(paper.groupby("group_label", sort=True)):
        pax.plot(p["cardinality"], p["top1_err"], "--x", color="0.3" if i == 0 else "0.6", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(set(ours["cardinality"]) | set(paper["cardinality"])))
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set(xlabel="cardinality C (equal complexity)", ylabel="our top-1 error (%)",
           title="Top-1 error against cardinality (cf. paper Table 3)")
    if not same_data:
        pax.set_ylabel("paper (ImageNet) top-1 error (%)")
        pax.grid(False)
    handles = ax.get_legend_handles_labels()
    if pax is not ax:
        extra = pax.get_legend_handles_labels()
        handles = (handles[0] + extra[0], handles[1] + extra[1])
    ax.legend(*handles, fontsize=7, loc="best")
    return Plot(name, fig, pd.concat([ours, paper], ignore_index=True))


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
    labelled = [_size_series(in_group(done, g)).assign(group_label=group_label(g))
                for g in sorted_groups(done)]
    data = pd.concat(labelled)[["run_id", "group_label", "series", "setting", "cardinality", "bottleneck_width",
                                "seed", "params", ERR]].rename(columns={ERR: "test_err"})
    data["source"] = "ours"
    labels = list(dict.fromkeys(data["group_label"]))
    fig, axes = _new_figure(len(labels), width=5.5)
    for ax, (label, g) in zip(axes, zip(labels, sorted_groups(done))):
        part = data[data["group_label"] == label]
        sns.scatterplot(data=part, x="params", y="test_err", hue="series", ax=ax, s=30, alpha=0.7)
        means = part.groupby(["series", "setting"]).agg(params=("params", "first"), test_err=("test_err", "mean"))
        for series, m in means.reset_index().sort_values("params").groupby("series", sort=False):
            ax.plot(m["params"], m["test_err"], "-", alpha=0.8)
        err_col = {"cifar10": "cifar10_err", "cifar100": "cifar100_err"}.get(g[1])
        if err_col:  # the paper's Table 7 points are only comparable on the same CIFAR set
            paper = reference["table7"]
            ax.scatter(paper["params"], paper[err_col], marker="x", color="black", label="paper Table 7")
            data = pd.concat([data, pd.DataFrame({"source": "paper", "group_label": label, "params": paper["params"],
                                                  "test_err": paper[err_col], "setting": paper["setting"]})])
            ax.legend(fontsize=7)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set(title=label, xlabel="parameters", ylabel="test top-1 error (%)")
    fig.suptitle("Test error against model size (cf. paper Fig. 7)")
    return Plot(name, fig, data.reset_index(drop=True))


# ---------------------------------------------------------------- (d) error vs complexity

def plot_error_vs_complexity(runs: pd.DataFrame) -> Plot:
    """Final top-1 error against FLOPs and against params, every completed run."""
    name = "fig_error_vs_complexity"
    done = _completed(runs)
    done = done[done["params"].notna() & done["flops"].notna()]
    if done.empty:
        return _skip(name, "no completed run with params and FLOPs")
    data = pd.DataFrame({
        "run_id": done["run_id"], "dataset": done["dataset"].fillna("?"),
        "family": np.where(done["ours"], "ResNeXt (ours)", "baseline"),
        "label": done["setting"].fillna(done["baseline"]), "params": done["params"].astype(float),
        "flops": done["flops"].astype(float), "top1_err": done[ERR].astype(float),
    })
    fig, axes = _new_figure(2)
    for ax, x, xlabel in zip(axes, ("flops", "params"), ("FLOPs (multiply-adds)", "parameters")):
        sns.scatterplot(data=data, x=x, y="top1_err", hue="dataset", style="family", ax=ax, s=35, alpha=0.8,
                        legend=ax is axes[-1])
        lo, hi = data[x].min(), data[x].max()
        if hi > 10 * lo:  # a log axis only pays off over more than a decade; within one it shows no ticks
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        else:
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter())
        ax.set(xlabel=xlabel, ylabel="final top-1 error (%)")
    if axes[-1].get_legend() is not None:
        sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    fig.suptitle("Error against complexity, every completed run")
    return Plot(name, fig, data)


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
    """Every figure (drawn, or skipped with its reason) from results_dir's runs.csv and curves.csv."""
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
