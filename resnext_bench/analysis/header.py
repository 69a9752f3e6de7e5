"""The report's head: the sweeps, runs by status, skipped files, environment and provenance, and how
the readings are computed."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..record import schema
from ..units import plural
from .collect import STATUSES, CollectResult
from .power import HOLM_METHOD, MAX_SEEDS, MDE_METHOD, SEEDS_METHOD
from .robust import BOOTSTRAP_METHOD, IQM_METHOD, POI_METHOD
from .stats import ALPHA, CHANCE_MARGIN, TREND_METHOD
from .words import listing


MAX_LISTED = 30  # skipped files / failed runs listed in the header; the CSVs hold them all


def _counts(series: pd.Series) -> str:
    counts = series.astype(object).where(series.notna(), schema.UNKNOWN).astype(str).value_counts()
    return listing(f"{value} ({n})" for value, n in counts.items())


def _known(frame: pd.DataFrame, column: str) -> list[str]:
    """The distinct recorded values of `column` (ints shown without '.0'), sorted."""
    if column not in frame:
        return []
    values = set()
    for v in frame[column].dropna():
        values.add(str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    return sorted(values)


def _column_counts(frame: pd.DataFrame, column: str) -> str:
    if column not in frame or frame[column].isna().all():
        return "not recorded"
    series = frame[column]
    if pd.api.types.is_float_dtype(series):
        series = series.astype("Int64")
    return _counts(series)


def commit_words(commits: pd.Series) -> str:
    """The commit every run trained with (from the runs, not the report's own), "mixed: ..." when they differ."""
    known = commits.dropna().astype(str)
    if known.empty:
        return "not recorded"
    if known.nunique() == 1 and len(known) == len(commits):
        return f"{known.iloc[0]} (all {len(commits)} runs)"
    return f"mixed: {_counts(commits)}"


def provenance_lines(ended: pd.DataFrame) -> list[str]:
    """What the numbers depend on besides the seed, and what that means for reproducing them."""
    devices = _known(ended, "device")
    cpu = [d for d in devices if d.lower().startswith("cpu")]
    gpu = [d for d in devices if not d.lower().startswith("cpu")]
    threads, precisions = _known(ended, "threads"), _known(ended, "precision")
    lines = []
    if cpu:
        lines.append(
            "- On CPU, these numbers are bit-exact only when rerun on the same CPU model with the same thread count "
            "(and the same software versions); on another CPU model, or with another thread count, the same command "
            "may give different numbers, and where a difference is not significant the story can change. CPU runs "
            f"here: {listing(cpu)}; threads: {listing(threads, 'not recorded')}.")
    if gpu:
        lines.append(
            "- On GPU, the numbers repeat at most on the same GPU model with the same precision and software "
            f"versions; another GPU model may give different numbers. GPU runs here: {listing(gpu)}.")
    mixed = [f"{what} ({'; '.join(values)})" for what, values in
             (("devices", devices), ("thread counts", threads), ("precisions", precisions)) if len(values) > 1]
    if mixed:
        lines.append(f"- These runs mix {' and '.join(mixed)}: a difference between configurations trained on "
                     "different machines, threads or precisions may be theirs, not the configuration's; table cells "
                     "that pool runs of different device or precision are marked †.")
    return lines


def _sweeps_of(cell) -> list[str]:
    """A `shared_with` cell as sweep names ('a;b' -> ['a', 'b']); [] when empty."""
    return [s for s in cell.split(";") if s] if isinstance(cell, str) else []


def shared_lines(runs: pd.DataFrame) -> list[str]:
    """Which runs of the report other sweeps list too (runs.csv's `shared_with`); [] when none, or no column."""
    if "shared_with" not in runs:
        return []
    here: dict = {}
    others: dict = {}
    for run_id, sweep, cell in zip(runs["run_id"], runs["sweep"], runs["shared_with"]):
        if _sweeps_of(cell):
            here.setdefault(run_id, set()).add(str(sweep))
            others.setdefault(run_id, set()).update(_sweeps_of(cell))
    if not others:
        return []
    lines = [f"- shared with other sweeps: {plural(len(others), 'run')} of this report "
             f"{'is' if len(others) == 1 else 'are'} listed by other sweeps too (one run id, trained once: the "
             "same numbers, counted once, not another seed):"]
    for run_id in sorted(others)[:MAX_LISTED]:
        elsewhere = sorted(others[run_id] - here[run_id])
        lines.append(f"  - `{run_id}` in {listing(sorted(here[run_id]))}"
                     + (f", also listed by {listing(elsewhere)}" if elsewhere else ""))
    if len(others) > MAX_LISTED:
        lines.append(f"  - … and {len(others) - MAX_LISTED} more (column shared_with of `runs.csv`)")
    return lines


def header(sweeps: list[Path], result: CollectResult, runs: pd.DataFrame, out: Path) -> list[str]:
    """Sweeps, runs by status, runs shared with other sweeps, skipped files, environment and provenance."""
    lines = ["# resnext-bench report", "", "## Runs", ""]
    for sweep in sweeps:
        name = Path(sweep).resolve().name
        lines.append(f"- sweep `{sweep}`: {plural(runs.loc[runs['sweep'] == name, 'run_id'].nunique(), 'run')}")
    unique = runs.drop_duplicates("run_id")  # a model two spaces share has a row in each, and is one run
    counts = unique["status"].value_counts()
    lines.append(f"- runs by status: {listing(f'{s} {counts[s]}' for s in STATUSES if s in counts)} "
                 f"(total {len(unique)})")
    lines += shared_lines(runs)
    failed = runs[runs["status"].isin([schema.FAILED, schema.UNKNOWN])].drop_duplicates("run_id")
    if len(failed):
        lines.append(f"- failed or unknown ({len(failed)}):")
        lines += [f"  - `{r.run_id}`: {r.reason if isinstance(r.reason, str) else 'no reason given'}"
                  for r in failed.head(MAX_LISTED).itertuples()]
    lines.append(f"- skipped files or lines: {len(result.skipped)}" + (" (all in `skipped.csv`)" if result.skipped else ""))
    lines += [f"  - `{os.path.relpath(p, out)}`: {why}" for p, why in result.skipped[:MAX_LISTED]]
    if len(result.skipped) > MAX_LISTED:
        lines.append(f"  - … and {len(result.skipped) - MAX_LISTED} more")
    ended = runs[runs["status"].isin(list(schema.ENDED))]
    lines += ["", "## Environment (from result.json)", ""]
    if ended.empty:
        lines.append("No run has ended yet.")
    else:
        lines += [f"- device: {_counts(ended['device'])}",
                  f"- threads: {_column_counts(ended, 'threads')}",
                  f"- precision: {_column_counts(ended, 'precision')}",
                  f"- torch: {_counts(ended['torch_version'])}",
                  f"- GPUs per run: {_counts(ended['num_gpus'].astype('Int64'))}",
                  f"- compute: {pd.to_numeric(ended['gpu_hours'], errors='coerce').sum():.2f} device-hours "
                  "(GPU-hours; wall hours on CPU runs)",
                  "- git commit the runs trained with: "
                  + commit_words(ended.drop_duplicates("run_id")["git_commit"])]
        lines += ["", "Reproducing these numbers:", ""] + provenance_lines(ended)
    lines += ["", "Files: `runs.csv` (one row a run), `curves.csv` (one row an epoch), `skipped.csv`; each table "
              "as `.md`, `.tex` (standalone LaTeX) and `.csv` (the numbers)."]
    return lines


def methods_section() -> list[str]:
    """How every number of the readings is computed (the words are fixed; see the module docstring)."""
    return [
        "", "## How the readings are computed", "",
        "- Each configuration: mean ± sample std (n seeds, one completed run per seed) and the 95% confidence "
        "interval of the mean, Student t with n−1 degrees of freedom (t-based).",
        "- Each comparison with C=1 (same group): the difference of means with its 95% CI on Welch–Satterthwaite "
        "degrees of freedom, and Welch's two-sided p (scipy.stats.ttest_ind, equal_var=False). Holm's correction "
        "over the comparisons of a table (or figure) gives the adjusted p; both are shown. Significant means "
        f"Holm-adjusted p < {ALPHA}; a difference is called lower or higher only then.",
        f"- Every comparison states its estimate and 95% interval first. When it is not significant, the reading "
        f"gives the {MDE_METHOD}; {HOLM_METHOD}. A comparison that finds nothing says what it could have found: "
        "\"no difference larger than X points was detectable\", never \"no difference\".",
        f"- Trend: {TREND_METHOD} (scipy.stats.spearmanr, t approximation, tied ranks averaged); never over the "
        "means alone. A trend, or the paper's ordering, is claimed only when it is significant and in the paper's "
        "direction.",
        f"- Seeds needed: {SEEDS_METHOD}; more than {MAX_SEEDS} is not searched. The declared effect is the paper's "
        "difference where our data are the paper's, else the ablation file's `min_effect` (runs.csv's column of "
        "that name, per run and sweep). Where neither was declared no seeds-needed is shown: the observed "
        "difference is not an effect fixed before the runs, and the seeds to detect it would read as a promise "
        "the data cannot make.",
        f"- Robust aggregates (Table 3): {IQM_METHOD}; {POI_METHOD}; {BOOTSTRAP_METHOD}. Descriptive only: at 3-6 "
        "seeds the bootstrap intervals cover less than 95% (results/stats-validation.md), so no claim rests on "
        "them.",
        "- Differences to the paper's numbers are computed only where our data are the paper's (ImageNet for "
        "Tables 3 and 4 and the residual table, CIFAR for Table 7); elsewhere the paper's numbers stand in the "
        "tables for reference and only the direction of its trend is compared.",
        f"- Fewer than 2 seeds per configuration: no test is possible and nothing is claimed. A mean error within "
        f"{CHANCE_MARGIN:.0f} points of guessing, 100·(1 − 1/classes), is chance level: nothing is ranked.",
    ]
