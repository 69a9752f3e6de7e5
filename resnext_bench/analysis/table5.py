"""Table 5: single-crop test error at several test crops (the paper: 224 and 320), beside the paper's.

Our numbers come from the runs' evaluations after training (`resnext-bench evaluate`, recorded in
RUN/evaluations.json, collected as the runs.csv columns eval_err1_VIEW / eval_err5_VIEW, VIEW =
crop320, or crop320_resize320 for a resize other than crop * 256/224). A row is one model (the
runs of one configuration, data and recipe; a run id counts once) at one view: mean ± sample std
(n runs) of the top-1 and top-5 error. The paper's row is the same C x d at the same depth and
crop with the usual resize; the difference is given only on the paper's data (imagenet).

The reading compares two views of one model run by run (the same weights seen at two crops): the
mean paired difference with a paired t-test (scipy.stats.ttest_rel), Holm over the table's paired
tests, called lower or higher only when the Holm-adjusted p < ALPHA, otherwise with the smallest
paired difference it could have detected; with fewer than 2 runs evaluated at both, no test is
possible and nothing is claimed.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pandas as pd

from ..record.runcolumns import EVAL_PREFIX, evaluation_order
from .cells import ABSENT, fmt_diff, fmt_num, fmt_stat
from .paper import REFERENCE_DIR, load_reference
from .claims import approx_detectable_words, p_is
from .power import holm_level, mde_t_approx
from .render import Table, with_counts
from .runs import data_label, depth_of, setting_label, varying_fields
from .stats import ALPHA, Stat, holm, one_run_per_seed, stat_of
from .study import Context, TableStudy
from .words import NO_CLAIM, NO_TEST, SIGNIFICANT

NAME = "table5"
TITLE = "Table 5: test error at several test crops (top-1 / top-5, %)"
PAPER_DATA = "imagenet"
MODEL_KEY = ("baseline", "template", "dataset", "recipe", "epochs_planned", "cardinality", "bottleneck_width")


def views(runs: pd.DataFrame) -> list[str]:
    """The evaluated views of the runs frame ('crop224', 'crop320', ...), by crop, with a value somewhere."""
    words = [c for c in evaluation_order(runs.columns) if c.startswith(f"{EVAL_PREFIX}err1_")]
    return [c.removeprefix(f"{EVAL_PREFIX}err1_") for c in words if pd.to_numeric(runs[c], errors="coerce").notna().any()]


def crop_of(view: str) -> Optional[int]:
    """The crop of a view name ('crop320_resize320' -> 320)."""
    word = view.removeprefix("crop").split("_")[0]
    return int(word) if word.isdigit() else None


def _cell(value):
    """A key cell: empty as None, a whole float (a CSV's 2.0 epochs) as an int."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value


def _key(row) -> tuple:
    return (*(_cell(row[k]) for k in MODEL_KEY), row["variant"])


def models(runs: pd.DataFrame) -> dict[tuple, pd.DataFrame]:
    """The runs of each model (one configuration, data and recipe), in a stable order."""
    keyed = runs.assign(_model=[_key(row) for _, row in runs.iterrows()])
    out = {}
    for key in sorted(set(keyed["_model"]), key=lambda k: tuple(str(x) for x in k)):
        out[key] = keyed[[k == key for k in keyed["_model"]]].drop(columns="_model")
    return out


def _model_name(key: tuple, shown) -> str:
    baseline, template, _, _, _, c, d, variant = key
    if baseline:
        return str(baseline)
    if c is None or d is None:
        return str(template)
    return f"{depth_of(template) or template}-layer {setting_label(c, d, variant, shown)}"


def _paper_row(paper: pd.DataFrame, key: tuple, view: str) -> Optional[pd.Series]:
    """The paper's row for our model at this view: same C, d, depth, and crop at the usual resize."""
    baseline, template, _, _, _, c, d, _ = key
    if baseline or c is None or d is None or view != f"crop{crop_of(view)}":
        return None
    rows = paper[(paper["cardinality"] == c) & (paper["bottleneck_width"] == d)
                 & (paper["depth"] == depth_of(template)) & (paper["test_size"] == crop_of(view))]
    return rows.iloc[0] if len(rows) else None


def _with_stat(frame: pd.DataFrame, column: str) -> Stat:
    frame = frame.assign(**{column: pd.to_numeric(frame[column], errors="coerce")})
    return stat_of(frame[frame[column].notna()], column)


def build_table5(runs: pd.DataFrame, reference: Optional[dict] = None) -> Optional[Table]:
    """Table 5 from the runs frame (analysis.runs.prepare_runs), or None when no run was evaluated."""
    shown_views = views(runs)
    if not shown_views:
        return None
    paper = (reference or load_reference(REFERENCE_DIR)).get("table5")
    if paper is None:  # a reference folder without Table 5: ours alone
        paper = pd.DataFrame(columns=["cardinality", "bottleneck_width", "depth", "test_size", "top1_err", "top5_err"])
    evaluated = runs[pd.concat([pd.to_numeric(runs[f"{EVAL_PREFIX}err1_{v}"], errors="coerce").notna()
                                for v in shown_views], axis=1).any(axis=1)]
    by_model = models(evaluated)
    shown = varying_fields(k[-1] for k in by_model)
    columns = ["runs", "model", "crop", "resize", "ours", "paper", "diff", "ours", "paper", "diff"]
    groups = [("", 4), ("top-1 error", 3), ("top-5 error", 3)]
    rows, records = [], []
    for key, frame in by_model.items():
        same = key[2] == PAPER_DATA
        for view in shown_views:
            s1 = _with_stat(frame, f"{EVAL_PREFIX}err1_{view}")
            if s1.n == 0:
                continue
            s5 = _with_stat(frame, f"{EVAL_PREFIX}err5_{view}")
            prow = _paper_row(paper, key, view)
            p1, p5 = (float(prow["top1_err"]), float(prow["top5_err"])) if prow is not None else (None, None)
            resize = view.split("_resize")[1].split("_")[0] if "_resize" in view else "crop·256/224"
            rows.append([data_label(*key[2:5]), _model_name(key, shown), str(crop_of(view)), resize,
                         fmt_stat(s1), fmt_num(p1), fmt_diff(s1, p1, same) if p1 is not None else ABSENT,
                         fmt_stat(s5), fmt_num(p5), fmt_diff(s5, p5, same) if p5 is not None else ABSENT])
            records.append({
                "table": NAME, "model": _model_name(key, shown), "dataset": key[2], "recipe": key[3],
                "epochs_planned": key[4], "cardinality": key[5], "bottleneck_width": key[6],
                "depth": depth_of(key[1]), "view": view, "crop": crop_of(view), "n": s1.n,
                "mean": s1.mean, "std": s1.std, "top5_mean": s5.mean, "top5_std": s5.std,
                "paper": _nan(p1), "paper_top5": _nan(p5),
                "diff": s1.mean - p1 if same and p1 is not None else math.nan,
                "diff_top5": s5.mean - p5 if same and p5 is not None and s5.n else math.nan})
    notes = ["ours: top-1 / top-5 error (%) of completed runs' final weights evaluated at the crop (`resnext-bench "
             "evaluate`), mean ± sample std (n runs); resize: the short side before the center crop.",
             "paper: ResNeXt paper Table 5 (ImageNet-1K, single crop), the same C x d at the same depth and crop; "
             f"diff = ours - paper, given only for runs on the paper's data ({PAPER_DATA})."]
    return Table(NAME, TITLE, columns, rows, groups, notes, with_counts(pd.DataFrame(records)), n_label=4)


def _nan(value) -> float:
    return math.nan if value is None else value


def paired(frame: pd.DataFrame, a: str, b: str) -> tuple[int, float, Optional[float]]:
    """(runs evaluated at both views, mean top-1 difference a - b, paired t-test p or None with n < 2)."""
    diffs = _paired_diffs(frame, a, b)
    if len(diffs) < 2:
        return len(diffs), float(np.mean(diffs)) if len(diffs) else math.nan, None
    if np.all(diffs == diffs[0]):  # no spread: the views differ exactly when the difference is not zero
        return len(diffs), float(diffs[0]), 0.0 if diffs[0] else 1.0
    from scipy.stats import ttest_1samp  # the paired t-test is the one-sample test of the differences

    return len(diffs), float(np.mean(diffs)), float(ttest_1samp(diffs, 0.0).pvalue)


def paired_detectable(diffs: np.ndarray, level: float, m: int) -> str:
    """The smallest mean paired difference the paired t-test detects with 80% power at `level`: sd / sqrt(n) as
    the standard error on n - 1 df (power.mde_t_approx)."""
    n = len(diffs)
    size = mde_t_approx(float(np.std(diffs, ddof=1)) / math.sqrt(n), n - 1, alpha=level)
    return approx_detectable_words(size, f"over {n} paired runs", level, m)


def _paired_diffs(frame: pd.DataFrame, a: str, b: str) -> np.ndarray:
    frame = one_run_per_seed(frame)
    x = pd.to_numeric(frame[f"{EVAL_PREFIX}err1_{a}"], errors="coerce")
    y = pd.to_numeric(frame[f"{EVAL_PREFIX}err1_{b}"], errors="coerce")
    both = x.notna() & y.notna()
    return (x[both] - y[both]).to_numpy(dtype=float)


def read_table5(table: Table, ctx: Context) -> str:
    """Per model: each larger crop against the smallest, run by run, Holm over the table's paired tests."""
    runs = ctx.runs
    shown_views = views(runs)
    by_model = models(runs[runs["status"] == "completed"])
    shown = varying_fields(k[-1] for k in by_model)
    lines, tests = [], []  # lines: text, or an index into tests
    for key, frame in by_model.items():
        mine = [v for v in shown_views if pd.to_numeric(frame[f"{EVAL_PREFIX}err1_{v}"], errors="coerce").notna().any()]
        name = f"{_model_name(key, shown)} ({data_label(*key[2:5])})"
        if len(mine) < 2:
            lines.append(f"- {name}: evaluated at one view ({mine[0] if mine else 'none'}); nothing to compare, "
                         f"{NO_CLAIM}.")
            continue
        for view in mine[1:]:
            n, mean, p = paired(frame, view, mine[0])
            if p is None:
                lines.append(f"- {name}: {view} vs {mine[0]}: {n} run(s) evaluated at both; {NO_TEST}, {NO_CLAIM}.")
            else:
                lines.append(len(tests))
                tests.append((name, view, mine[0], n, mean, p, _paired_diffs(frame, view, mine[0])))
    m = len(tests)
    adjusted = holm([t[5] for t in tests])
    out = []
    for line in lines:
        if isinstance(line, str):
            out.append(line)
            continue
        name, view, base, n, mean, p, diffs = tests[line]
        p_holm = adjusted[line]
        ps = p_is(p, "paired t-test p") + (f", {p_is(p_holm, 'Holm p')}" if m > 1 else "")
        if p_holm < ALPHA and mean != 0:
            word = "lower" if mean < 0 else "higher"
            out.append(f"- {name}: top-1 error at {view} is {word} than at {base} by {abs(mean):.2f} points "
                       f"(paired over {n} runs, {ps}: {SIGNIFICANT}).")
        else:
            out.append(f"- {name}: {view} minus {base}: {mean:+.2f} points (paired over {n} runs, {ps}); "
                       f"{paired_detectable(diffs, holm_level(m), m)}.")
    return "\n".join(out)


TABLE = TableStudy(NAME, build_table5, read_table5)
