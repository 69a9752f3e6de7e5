"""One report: collect the sweeps, write the tables and figures, and read each of them in words.

Every sentence of the report is computed from the numbers: whether error falls monotonically
with cardinality, Spearman's rank correlation between our per-cardinality means and the paper's,
the gains in points, the mean seed spread, and which differences Welch's test finds beyond seed
noise. The header names the sweeps, the runs by status, the files that were skipped and the
environment the runs report in result.json (device, torch version).
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine import rundir
from .. import fsutil
from .collect import CollectResult, collect
from .plots import Plot, make_plots, save_plots
from .cells import ABSENT, fmt_count, fmt_stat
from .paper import REFERENCE_DIR, load_reference
from .render import Table, to_markdown
from .runs import load_runs
from .stats import stat_of
from .tables import build_tables, write_tables
from ..units import plural, si

MAX_LISTED = 30  # skipped files / failed runs listed in the header; the CSVs hold them all


# ---------------------------------------------------------------- small number words

def spearman(x, y) -> float:
    """Spearman's rho of two sequences, NaN with fewer than 3 pairs or a constant side."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from scipy import stats  # ~1 s to import: only when a correlation is due

        return float(stats.spearmanr(x, y).statistic)


def rho_words(rho: float, n: int) -> str:
    if math.isnan(rho):
        return f"undefined ({plural(n, 'point')}, or no spread)"
    return f"{rho:+.2f} over {plural(n, 'point')}"


def count_words(value) -> str:
    """A parameter or FLOP count in prose: 3 significant figures ("25.6M", "11.7M"), "—" when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ABSENT
    return si(value)


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def falls_monotonically(values) -> bool:
    """True when each value is below the one before (strictly)."""
    values = list(values)
    return len(values) >= 2 and all(b < a for a, b in zip(values, values[1:]))


def listing(items, empty: str = "none") -> str:
    items = list(items)
    return ", ".join(items) if items else empty


# ---------------------------------------------------------------- readings of tables

def read_table3(table: Table) -> str:
    """Per depth group: ordering, gains, rank correlation with the paper, spread, significance."""
    data = table.data
    parts = []
    for label, g in data.groupby("group", sort=False):
        done = g[g["n"] > 0].sort_values("cardinality")
        if done.empty:
            parts.append(f"{label}: no completed run.")
            continue
        base = done[done["baseline"] == True]  # noqa: E712
        best = done.loc[done["mean"].idxmin()]
        trail = " → ".join(f"{r.mean:.2f} ({r.setting})" for r in done.itertuples())
        words = [f"**{label}**: error falls monotonically with C: {yes_no(falls_monotonically(done['mean']))} "
                 f"({trail})."]
        if not base.empty:
            gain = base.iloc[0]["mean"] - best["mean"]
            paper_gain = _paper_gain(g, int(best["cardinality"]))
            tail = f"; the paper's gain at that C is {paper_gain:.1f} points." if paper_gain is not None else "."
            words.append(f"Lowest error at C={int(best['cardinality'])} ({best['setting']}), "
                         f"{gain:.2f} points below C=1{tail}")
        both = done[done["paper"].notna()]
        rho = spearman(both["mean"], both["paper"])
        words.append(f"Paper's ordering reproduced (Spearman rho of our means vs the paper's per-cardinality "
                     f"errors): {rho_words(rho, len(both))}.")
        spread = done["std"].dropna()
        if len(spread):
            words.append(f"Seed spread: mean std {spread.mean():.2f} points "
                         f"({_n_range(done['n'])} runs per configuration).")
            tested = done[done["p_value"].notna()]
            words.append(f"Beyond seed noise vs C=1 (Welch, p < 0.05): "
                         f"{listing(tested[tested['significant'] == True]['setting'])}; within noise: "  # noqa: E712
                         f"{listing(tested[tested['significant'] == False]['setting'])}.")  # noqa: E712
        else:
            words.append("One run per configuration: seed noise unknown, no significance test.")
        diffs = done["diff"].dropna()
        if len(diffs):
            words.append(f"Ours minus paper: {diffs.mean():+.2f} points on average.")
        missing = g[(g["planned"] > 0) & (g["n"] == 0)]["setting"]
        if len(missing):
            words.append(f"Missing (no completed run): {listing(missing)}.")
        parts.append(" ".join(words))
    return " ".join(parts)


def _n_range(n: pd.Series) -> str:
    lo, hi = int(n.min()), int(n.max())
    return f"n = {lo}" if lo == hi else f"n = {lo}–{hi}"


def _paper_gain(g: pd.DataFrame, cardinality: int) -> float | None:
    one, at = g[g["cardinality"] == 1]["paper"].dropna(), g[g["cardinality"] == cardinality]["paper"].dropna()
    return float(one.iloc[0] - at.iloc[0]) if len(one) and len(at) else None


def read_table2(table: Table) -> str:
    data = table.data
    parts = []
    for template, g in data.groupby("template", sort=False):
        dev = g["params_vs_c1_pct"].dropna()
        if len(dev):
            worst = g.loc[dev.abs().idxmax()]
            parts.append(f"**{template}**: {plural(len(g), 'configuration')}; parameters within {dev.abs().max():.1f}% of "
                         f"the C=1 configuration (largest deviation {int(worst['cardinality'])}x"
                         f"{int(worst['bottleneck_width'])}d, {worst['params_vs_c1_pct']:+.1f}%); FLOPs "
                         f"{count_words(g['flops'].min())}–{count_words(g['flops'].max())}.")
        else:
            parts.append(f"**{template}**: {plural(len(g), 'configuration')}; no C=1 configuration to compare complexity with.")
    return " ".join(parts)


def read_table4(table: Table) -> str:
    data = table.data
    parts = []
    for label, g in data.groupby("group", sort=False):
        ours = g[g["n"] > 0]
        if ours.empty:
            parts.append(f"**{label}**: no completed run.")
            continue
        best = ours.loc[ours["mean"].idxmin()]
        matched = ours[ours["paper"].notna()]
        words = [f"**{label}**: lowest top-1 error {best['mean']:.2f} at {best['depth']}-layer {best['setting']}"
                 + (f" (paper: {best['paper_model']}, {best['paper']:.1f})." if isinstance(best["paper_model"], str)
                    else ".")]
        rho = spearman(matched["mean"], matched["paper"])
        words.append(f"Rank agreement with the paper over matched rows: {rho_words(rho, len(matched))}.")
        if matched["diff"].notna().any():
            words.append(f"Ours minus paper: {matched['diff'].mean():+.2f} points on average.")
        parts.append(" ".join(words))
    return " ".join(parts)


def read_residual(table: Table) -> str:
    data = table.data
    parts = []
    for r in data.itertuples():
        if math.isnan(r.gap):
            parts.append(f"**{r.group}, {r.setting}**: not enough completed runs with and without the shortcut.")
            continue
        words = [f"**{r.group}, {r.setting}**: removing the shortcut raises error by {r.gap:+.2f} points "
                 f"(hurts: {yes_no(r.gap > 0)})"]
        if not math.isnan(r.paper_gap):
            words.append(f"; paper ({r.paper_model}): {r.paper_gap:+.1f}")
        if not math.isnan(r.p_value):
            words.append(f"; beyond seed noise (Welch): {yes_no(bool(r.significant))} (p={r.p_value:.3f})")
        parts.append("".join(words) + ".")
    by_c = data.dropna(subset=["gap"]).groupby("group")
    for label, g in by_c:
        one, many = g[g["cardinality"] == 1], g[g["cardinality"] > 1]
        if len(one) and len(many):
            less = bool((many["gap"] < one["gap"].iloc[0]).all())
            parts.append(f"**{label}**: the ResNeXt configurations lose less without the shortcut than C=1, "
                         f"as in the paper (3.9 vs 7.3 points): {yes_no(less)}.")
    return " ".join(parts)


def read_table7(table: Table) -> str:
    data = table.data
    parts = []
    for label, g in data.groupby("group", sort=False):
        ours = g[g["n"] > 0].sort_values("params")
        if ours.empty:
            parts.append(f"**{label}**: no completed run.")
            continue
        rho = spearman(ours["params"], ours["mean"])
        trail = ", ".join(f"{r.setting} {count_words(r.params)} params: {r.mean:.2f}" for r in ours.itertuples())
        words = [f"**{label}**: {trail}. Rank correlation of size and error: {rho_words(rho, len(ours))} "
                 "(negative: bigger is better)."]
        if ours["diff"].notna().any():
            words.append(f"Ours minus paper on matched rows: {ours['diff'].mean():+.2f} points on average.")
        parts.append(" ".join(words))
    return " ".join(parts)


READERS = {"table2": read_table2, "table3": read_table3, "table4": read_table4,
           "residual": read_residual, "table7": read_table7}


# ---------------------------------------------------------------- readings of figures

def read_curves(plot: Plot) -> str:
    data = plot.data
    parts = []
    for label, g in data.groupby("group_label", sort=False):
        last = g[g["epoch"] == g.groupby("run_id")["epoch"].transform("max")]
        means = last.groupby(["cardinality", "setting", "split"])["top1_err"].mean().unstack("split")
        if len(means) < 2 or not {"train", "val"} <= set(means.columns):
            continue
        lo, hi = means.iloc[0], means.iloc[-1]
        (_, s_lo), (_, s_hi) = means.index[0], means.index[-1]
        parts.append(
            f"**{label}**: at the last epoch {s_hi} has train {hi['train']:.2f} / val {hi['val']:.2f} against "
            f"{s_lo}'s {lo['train']:.2f} / {lo['val']:.2f}. Higher cardinality lowers the training error too, "
            f"as in the paper's Fig. 5 (a stronger representation, not regularisation): "
            f"{yes_no(hi['train'] < lo['train'])}; and the validation error: {yes_no(hi['val'] < lo['val'])}.")
    return " ".join(parts) or "Too few epochs to compare."


def read_cardinality(plot: Plot) -> str:
    ours = plot.data[plot.data["source"] == "ours"]
    parts = [f"{plural(len(ours), 'run')} (one point each) over "
             f"{plural(ours.groupby(['group_label', 'setting']).ngroups, 'configuration')}; the line joins the means."]
    for label, g in ours.groupby("group_label", sort=False):
        means = g.groupby("cardinality")["top1_err"].mean()
        parts.append(f"{label}: error falls monotonically with C: {yes_no(falls_monotonically(means))}.")
    return " ".join(parts)


def read_cifar_size(plot: Plot) -> str:
    data = plot.data[plot.data["source"] == "ours"]
    parts = []
    for label, g in data.groupby("group_label", sort=False):
        words = []
        for series, s in g.groupby("series", sort=False):
            means = s.groupby("setting").agg(params=("params", "first"), err=("test_err", "mean"))
            best = means.loc[means["err"].idxmin()]
            words.append(f"{series}: lowest error {best['err']:.2f} at {means['err'].idxmin()} "
                         f"({count_words(best['params'])} params)")
        parts.append(f"**{label}**: " + "; ".join(words) + ".")
    return " ".join(parts)


def read_error_vs_complexity(plot: Plot) -> str:
    parts = []
    for dataset, g in plot.data.groupby("dataset"):
        rho = spearman(g["flops"], g["top1_err"])
        parts.append(f"{dataset}: {plural(len(g), 'run')}, Spearman rho of FLOPs and error {rho_words(rho, len(g))}.")
    return " ".join(parts)


FIGURE_READERS = {"fig_curves": read_curves, "fig_cardinality": read_cardinality,
                  "fig_cifar_size": read_cifar_size, "fig_error_vs_complexity": read_error_vs_complexity}
FIGURE_TITLES = {"fig_curves": "Training curves (cf. Fig. 5)", "fig_cardinality": "Error against cardinality",
                 "fig_cifar_size": "CIFAR error against model size (cf. Fig. 7)",
                 "fig_error_vs_complexity": "Error against complexity"}


# ---------------------------------------------------------------- header

def _counts(series: pd.Series) -> str:
    counts = series.astype(object).where(series.notna(), rundir.UNKNOWN).astype(str).value_counts()
    return listing(f"{value} ({n})" for value, n in counts.items())


def header(sweeps: list[Path], result: CollectResult, runs: pd.DataFrame, out: Path) -> list[str]:
    """Sweeps, runs by status, skipped files, environment."""
    lines = ["# resnext-bench report", "", "## Runs", ""]
    for sweep in sweeps:
        name = Path(sweep).resolve().name
        lines.append(f"- sweep `{sweep}`: {plural(int((runs['sweep'] == name).sum()), 'run')}")
    lines.append(f"- runs by status: {listing(f'{s} {n}' for s, n in result.status_counts().items())} "
                 f"(total {result.n_runs})")
    failed = runs[runs["status"].isin([rundir.FAILED, rundir.UNKNOWN])]
    if len(failed):
        lines.append(f"- failed or unknown ({len(failed)}):")
        lines += [f"  - `{r.run_id}`: {r.reason if isinstance(r.reason, str) else 'no reason given'}"
                  for r in failed.head(MAX_LISTED).itertuples()]
    lines.append(f"- skipped files or lines: {len(result.skipped)}" + (" (all in `skipped.csv`)" if result.skipped else ""))
    lines += [f"  - `{os.path.relpath(p, out)}`: {why}" for p, why in result.skipped[:MAX_LISTED]]
    if len(result.skipped) > MAX_LISTED:
        lines.append(f"  - … and {len(result.skipped) - MAX_LISTED} more")
    ended = runs[runs["status"].isin(list(rundir.ENDED))]
    lines += ["", "## Environment (from result.json)", ""]
    if ended.empty:
        lines.append("No run has ended yet.")
    else:
        lines += [f"- device: {_counts(ended['device'])}", f"- torch: {_counts(ended['torch_version'])}",
                  f"- GPUs per run: {_counts(ended['num_gpus'].astype('Int64'))}",
                  f"- compute: {pd.to_numeric(ended['gpu_hours'], errors='coerce').sum():.2f} device-hours "
                  "(GPU-hours; wall hours on CPU runs)",
                  f"- git commit: {_counts(ended['git_commit'])}"]
    lines += ["", "Files: `runs.csv` (one row a run), `curves.csv` (one row an epoch), `skipped.csv`; each table "
              "as `.md`, `.tex` (standalone LaTeX) and `.csv` (the numbers)."]
    return lines


def baselines_section(runs: pd.DataFrame) -> list[str]:
    """timm/torchvision runs: they sit in no paper table, so they get a short table here."""
    base = runs[runs["baseline"].notna()]
    if base.empty:
        return []
    lines = ["", "## Baselines (timm / torchvision)", "", "| model | data | recipe | params | FLOPs | top-1 err (%) |",
             "|:--|:--|:--|--:|--:|--:|"]
    for (model, dataset, recipe), g in base.groupby(["baseline", "dataset", "recipe"], dropna=False, sort=True):
        params = pd.to_numeric(g["params"], errors="coerce").dropna()
        flops = pd.to_numeric(g["flops"], errors="coerce").dropna()
        lines.append(f"| {model} | {dataset} | {recipe} | {fmt_count(params.iloc[0]) if len(params) else '—'} | "
                     f"{fmt_count(flops.iloc[0]) if len(flops) else '—'} | {fmt_stat(stat_of(g))} |")
    return lines


# ---------------------------------------------------------------- the report

def write_report(sweeps: list[Path], out: Path, reference_dir: Path = REFERENCE_DIR) -> Path:
    """Collect `sweeps` into `out`, write tables (md, latex, csv) and figures there, then out/report.md."""
    out = Path(out)
    result = collect(sweeps, out)
    write_tables(out, formats=("md", "latex", "csv"), reference_dir=reference_dir)
    runs = load_runs(out)
    tables = build_tables(runs, load_reference(reference_dir))
    plots = make_plots(out, reference_dir)
    save_plots(plots, out)
    lines = header(sweeps, result, runs, out)
    lines += ["", "## Tables"]
    if not tables:
        lines += ["", "No run feeds any of the paper's tables."]
    for name, table in tables.items():
        lines += ["", f"### {table.title}", "", to_markdown(table).split("\n", 2)[2].rstrip(), "",
                  f"Files: [{name}.md]({name}.md), [{name}.tex]({name}.tex), [{name}.csv]({name}.csv)", "",
                  "**Reading.** " + READERS[name](table)]
    lines += baselines_section(runs)
    lines += ["", "## Figures"]
    for plot in plots:
        title = FIGURE_TITLES[plot.name]
        if plot.figure is None:
            lines += ["", f"### {title}", "", f"Not drawn: {plot.reason}."]
            continue
        lines += ["", f"### {title}", "", f"![{title}]({plot.name}.png)", "",
                  f"[PDF]({plot.name}.pdf)", "", "**Reading.** " + FIGURE_READERS[plot.name](plot)]
    path = out / "report.md"
    fsutil.write_text(path, "\n".join(lines) + "\n")
    print(f"wrote {path}")
    return path
