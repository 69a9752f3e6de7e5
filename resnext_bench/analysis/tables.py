"""The paper's tables from runs.csv, our numbers beside the paper's, in markdown, LaTeX and CSV.

Which runs feed which table (only our ResNeXt family; timm:/torchvision: baselines feed none):

1. the ablation name decides when it contains a table's key word, first match wins:
   "table4" -> table4; "residual" or "shortcut" -> residual; "table7" or "fig7" -> table7;
   "table3" -> table3;
2. otherwise the run decides: shortcut false -> residual; a CIFAR template (cifar-*) trained on
   cifar10/cifar100 -> table7; anything else -> table3 (the equal-complexity C sweep, which is
   what the scaled-down demo is).
3. table2 lists the configurations (with their complexity) of the table3 runs; residual takes its
   "with shortcut" numbers from every run of the same configuration, data and recipe that keeps
   the shortcut, whatever its ablation.

Runs are grouped by (template, dataset, recipe, planned epochs): numbers of different data or
recipes are never pooled. Our number is the final top-1 (top-5) validation error of completed
runs: mean +- sample std (n). A configuration in the runs without a completed run shows
"missing"; "—" means the runs do not have that configuration at all.

Our rows meet the paper's by cardinality: exact C (at the paper depth nearest to ours, which the
paper column names); where the paper has several rows of one C and depth (Table 4: 1x64d and
1x100d), an exact bottleneck width wins, then the rest pair up in order of width. The difference
(ours - paper) is given only when our data are the paper's (imagenet for Tables 3, 4 and the
residual table; cifar10/cifar100 for Table 7); otherwise it reads "n/a (different data)".

Significance: with >= 2 seeds, each configuration of Table 3 is compared with the C=1
configuration of the same group by Welch's t-test (scipy.stats.ttest_ind, equal_var=False);
"yes" when p < 0.05. Two groups with no spread at all are "yes" exactly when their means differ.

LaTeX: each .tex file is a complete standalone document (`\\documentclass{standalone}` with
booktabs) holding one tabular; it compiles alone with pdflatex, and its tabular can be cut out
for a paper. The CSV holds the numbers (mean, std, n, paper, diff, p) as a tidy table, one row a
(configuration, group), for further analysis rather than display.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .. import fsutil
from .collect import RUN_COLUMNS, _first_line
from ..errors import UserError
from ..config.spec import TEMPLATES

from ..reference import REFERENCE_DIR
FORMATS = ("md", "latex", "csv")
ALPHA = 0.05
MISSING = "missing"
ABSENT = "—"
NOT_SAME_DATA = "n/a (different data)"
WELCH_NOTE = (
    "vs C=1: Welch's t-test (unequal variances, scipy.stats.ttest_ind equal_var=False) of the "
    "configuration's seeds against the C=1 configuration of the same depth; yes = p < 0.05."
)
STAT_NOTE = (
    "ours: final top-1 validation error (%) of completed runs, mean ± sample std (n runs); "
    "missing = configuration in the runs with no completed run; — = not in the runs."
)
KEYWORDS = (
    ("table4", "table4"), ("residual", "residual"), ("shortcut", "residual"),
    ("table7", "table7"), ("fig7", "table7"), ("table3", "table3"),
)
PAPER_DATA = {"table3": {"imagenet"}, "table4": {"imagenet"}, "residual": {"imagenet"},
              "table7": {"cifar10", "cifar100"}}


@dataclass
class Table:
    """One table: display cells (with optional column groups), footnotes, and the numbers behind it."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    groups: list[tuple[str, int]] = field(default_factory=list)  # (label, span) over columns
    notes: list[str] = field(default_factory=list)
    data: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_label: int = 1  # leading text columns (left-aligned)
    align: str = ""  # one of l/r/c per column; empty = n_label columns left, the rest right

    @property
    def alignment(self) -> str:
        return self.align or "l" * self.n_label + "r" * (len(self.columns) - self.n_label)


# ---------------------------------------------------------------- loading

def load_reference(reference_dir: Path = REFERENCE_DIR) -> dict[str, pd.DataFrame]:
    """The paper's numbers: {"table3": DataFrame, ...} from reference_dir/paper_*.csv."""
    files = sorted(Path(reference_dir).glob("paper_*.csv"))
    if not files:
        raise UserError(f"no paper_*.csv reference files in {reference_dir}")
    return {f.stem.removeprefix("paper_"): pd.read_csv(f) for f in files}


def table_of(ablation, template, dataset, shortcut) -> str:
    """Which table a run of our family feeds (the module docstring's rule)."""
    name = str(ablation).lower() if isinstance(ablation, str) else ""
    for word, table in KEYWORDS:
        if word in name:
            return table
    if shortcut is False:
        return "residual"
    if isinstance(template, str) and template.startswith("cifar") and dataset in ("cifar10", "cifar100"):
        return "table7"
    return "table3"


def _as_bool(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def prepare_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """runs.csv with typed columns, an `ours` flag, a `table` column and a `group` key."""
    runs = runs.copy()
    for col in ("baseline", "template", "dataset", "recipe", "ablation", "status", "configuration"):
        runs[col] = runs[col].astype(object).where(runs[col].notna(), None)
    for col in ("depth", "cardinality", "bottleneck_width", "epochs_planned", "seed", "params", "flops",
                "final_val_top1_err", "final_val_top5_err"):
        runs[col] = pd.to_numeric(runs[col], errors="coerce")
    runs["shortcut"] = [_as_bool(v) for v in runs["shortcut"]]
    runs["ours"] = runs["baseline"].isna() & runs["template"].notna() & runs["cardinality"].notna() \
        & runs["bottleneck_width"].notna()
    runs["table"] = [
        table_of(a, t, d, s) if ours else None
        for a, t, d, s, ours in zip(runs["ablation"], runs["template"], runs["dataset"], runs["shortcut"], runs["ours"])
    ]
    runs["group"] = [
        (t, d, r, int(e) if e == e else None)
        for t, d, r, e in zip(runs["template"], runs["dataset"], runs["recipe"], runs["epochs_planned"])
    ]
    runs["setting"] = [
        f"{int(c)}x{int(w)}d" if ours else None
        for c, w, ours in zip(runs["cardinality"], runs["bottleneck_width"], runs["ours"])
    ]
    return runs


def load_runs(results_dir: Path) -> pd.DataFrame:
    """results_dir/runs.csv, prepared (see `prepare_runs`); a missing file is a UserError."""
    path = Path(results_dir) / "runs.csv"
    if not path.is_file():
        raise UserError(f"{path}: not found (run `resnext-bench collect` first)")
    try:
        runs = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not a runs table ({_first_line(e)}); rerun `resnext-bench collect`") from None
    for column in RUN_COLUMNS:  # a runs.csv from an older collect lacks the newer columns
        if column not in runs:
            runs[column] = None
    return prepare_runs(runs)


# ---------------------------------------------------------------- numbers

@dataclass(frozen=True)
class Stat:
    """Completed-run values of one configuration: mean, sample std, n and the values."""

    values: tuple[float, ...]
    planned: int

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if self.n >= 2 else math.nan


SAME_RUN = ["group", "baseline", "cardinality", "bottleneck_width", "shortcut", "seed"]


def one_run_per_seed(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep one run per (group, configuration, seed), a completed one first (then by sweep, run id).

    The same configuration and seed trained by two ablations (32x4d in Table 3 and in the
    residual ablation) repeats one experiment: it must count once, not as two seeds.
    """
    if frame.empty or "seed" not in frame or frame["seed"].isna().all():
        return frame
    order = frame.assign(_done=frame["status"] != "completed").sort_values(["_done", "sweep", "run_id"], kind="stable")
    key = pd.Series(["|".join(map(str, row)) for row in zip(*(order[c] for c in SAME_RUN))])
    keep = ~key.duplicated().to_numpy() | order["seed"].isna().to_numpy()
    return frame.loc[order.index[keep]].sort_index()


def stat_of(frame: pd.DataFrame, column: str = "final_val_top1_err") -> Stat:
    """The Stat of `column` over the completed runs of `frame`, one run per seed (each seed counts as planned)."""
    frame = one_run_per_seed(frame)
    done = frame[(frame["status"] == "completed") & frame[column].notna()]
    return Stat(tuple(float(v) for v in done[column]), len(frame))


def welch(a: Stat, b: Stat) -> float | None:
    """Welch's t-test p-value of a vs b, or None with fewer than 2 values on a side."""
    if a.n < 2 or b.n < 2:
        return None
    if np.var(a.values) == 0 and np.var(b.values) == 0:
        return 1.0 if a.mean == b.mean else 0.0  # no spread: any gap is beyond the (zero) noise
    with warnings.catch_warnings():  # near-identical samples only warn about precision; p is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a.values, b.values, equal_var=False).pvalue)


def fmt_stat(s: Stat | None, digits: int = 2) -> str:
    """'mean ± std (n)', 'mean (1)', 'missing' (planned, none completed) or '—' (not run)."""
    if s is None or s.planned == 0:
        return ABSENT
    if s.n == 0:
        return MISSING
    if s.n == 1:
        return f"{s.mean:.{digits}f} (1)"
    return f"{s.mean:.{digits}f} ± {s.std:.{digits}f} ({s.n})"


def fmt_num(value, digits: int = 1) -> str:
    return ABSENT if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def fmt_diff(ours: Stat | None, paper, same_data: bool) -> str:
    """ours - paper, or why there is none."""
    if not same_data:
        return NOT_SAME_DATA
    if ours is None or ours.n == 0 or paper is None or (isinstance(paper, float) and math.isnan(paper)):
        return ABSENT
    return f"{ours.mean - paper:+.2f}"


def fmt_welch(p: float | None, is_baseline: bool) -> str:
    if is_baseline:
        return "baseline"
    if p is None:
        return "n/a (n<2)"
    shown = "p<0.001" if p < 0.001 else f"p={p:.3f}"
    return f"{'yes' if p < ALPHA else 'no'} ({shown})"


def fmt_count(value, unit: str = "") -> str:
    """A parameter or FLOP count with a k/M/G suffix."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ABSENT
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}{unit}"
    return f"{value:.0f}{unit}"


def _diff_value(ours: Stat | None, paper, same_data: bool) -> float:
    if not same_data or ours is None or ours.n == 0 or paper is None:
        return math.nan
    return ours.mean - float(paper)


# ---------------------------------------------------------------- groups and matching

def depth_of(template) -> int | None:
    known = TEMPLATES.get(template) if isinstance(template, str) else None
    return known.depth if known else None


def group_label(group: tuple) -> str:
    """'50-layer (digits, short, 5 ep)' for a (template, dataset, recipe, epochs) key."""
    template, dataset, recipe, epochs = group
    depth = depth_of(template)
    head = f"{depth}-layer" if depth else str(template)
    ep = f"{epochs} ep" if epochs is not None else "? ep"
    return f"{head} ({dataset or '?'}, {recipe or '?'}, {ep})"


def in_group(frame: pd.DataFrame, group: tuple) -> pd.DataFrame:
    """The rows of `frame` whose group key is `group` (tuples compared whole, never element-wise)."""
    return frame[[key == group for key in frame["group"]]]


def _sorted_groups(frame: pd.DataFrame) -> list[tuple]:
    keys = set(frame["group"])
    return sorted(keys, key=lambda g: (depth_of(g[0]) or 0, *(str(x) for x in g)))


def nearest_depth(depth, paper_depths) -> int:
    """The paper depth closest to ours (ties go to the smaller)."""
    depths = sorted({int(d) for d in paper_depths})
    if depth is None or (isinstance(depth, float) and math.isnan(depth)):
        return depths[0]
    return min(depths, key=lambda d: (abs(d - depth), d))


def match_rows(ours: list[tuple[int, int]], paper: pd.DataFrame) -> dict[tuple[int, int], int]:
    """Pair our (C, d) configurations with paper row indices of the same C (module docstring)."""
    matches: dict[tuple[int, int], int] = {}
    for c in sorted({c for c, _ in ours}):
        mine = sorted(d for cc, d in ours if cc == c)
        rows = paper[paper["cardinality"] == c].sort_values("bottleneck_width")
        free = list(rows.index)
        for d in list(mine):
            exact = [i for i in free if int(paper.at[i, "bottleneck_width"]) == d]
            if exact:
                matches[(c, d)] = exact[0]
                free.remove(exact[0])
                mine.remove(d)
        for d, i in zip(mine, free):
            matches[(c, d)] = i
    return matches


def _configs(frame: pd.DataFrame) -> list[tuple[int, int]]:
    pairs = {(int(c), int(d)) for c, d in zip(frame["cardinality"], frame["bottleneck_width"])}
    return sorted(pairs)


def _of(frame: pd.DataFrame, c: int, d: int) -> pd.DataFrame:
    return frame[(frame["cardinality"] == c) & (frame["bottleneck_width"] == d)]


def _paper_value(paper: pd.DataFrame, index, column):
    return None if index is None else float(paper.at[index, column])


def _paper_name(paper: pd.DataFrame, index) -> str | None:
    """'ResNeXt-101 64x4d' for a paper row, None for no row."""
    if index is None:
        return None
    setting = paper.at[index, "setting"]
    return f"{paper.at[index, 'model']} {setting if isinstance(setting, str) else ''}".strip()


def _nan(value) -> float:
    return math.nan if value is None else value


def _complexity(frame: pd.DataFrame, column: str):
    values = frame[column].dropna()
    return float(values.iloc[0]) if len(values) else None


# ---------------------------------------------------------------- table 3

def _baseline_config(frame: pd.DataFrame) -> tuple[int, int] | None:
    """The group's C=1 configuration (the one with most completed runs, then the smallest d)."""
    ones = frame[frame["cardinality"] == 1]
    if ones.empty:
        return None
    done = ones["status"] == "completed"
    counts = ones[done].groupby("bottleneck_width").size().reindex(ones["bottleneck_width"].unique(), fill_value=0)
    best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return 1, int(best)


def build_table3(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> Table | None:
    """Table 3: top-1 error by cardinality at equal complexity, a column group per depth/data."""
    sel = runs[runs["table"] == "table3"]
    if sel.empty:
        return None
    paper = reference["table3"]
    groups = _sorted_groups(sel)
    # rows: every (C, ours d) of any group, plus the paper's cardinalities that no group has.
    ours_pairs = sorted({p for g in groups for p in _configs(in_group(sel, g))})
    paper_only = sorted(set(int(c) for c in paper["cardinality"]) - {c for c, _ in ours_pairs})
    row_keys = sorted([(c, d) for c, d in ours_pairs] + [(c, None) for c in paper_only],
                      key=lambda k: (k[0], k[1] or 0))
    columns, spans, records, welch_cols = ["C", "ours (CxDd)", "paper (CxDd)"], [("", 3)], [], {}
    for g in groups:
        frame = in_group(sel, g)
        welch_cols[g] = any(stat_of(_of(frame, c, d)).n >= 2 for c, d in _configs(frame))
        pdepth = nearest_depth(depth_of(g[0]), paper["depth"])
        leaf = ["ours", f"paper (ImageNet, {pdepth}-layer)", "diff"] + (["vs C=1"] if welch_cols[g] else [])
        columns += leaf
        spans.append((group_label(g), len(leaf)))
    table_rows = []
    for c, d in row_keys:
        paper_setting = paper[paper["cardinality"] == c]["setting"]
        row = [str(c), f"{c}x{d}d" if d is not None else ABSENT,
               paper_setting.iloc[0] if len(paper_setting) else ABSENT]
        for g in groups:
            frame = in_group(sel, g)
            pdepth = nearest_depth(depth_of(g[0]), paper["depth"])
            prow = paper[(paper["depth"] == pdepth) & (paper["cardinality"] == c)]
            pval = float(prow["top1_err"].iloc[0]) if len(prow) else None
            same = g[1] in PAPER_DATA["table3"]
            s = stat_of(_of(frame, c, d)) if d is not None else None
            base = _baseline_config(frame)
            p = welch(s, stat_of(_of(frame, *base))) if s is not None and base and (c, d) != base else None
            row += [fmt_stat(s), fmt_num(pval), fmt_diff(s, pval, same)]
            if welch_cols[g]:
                row.append(fmt_welch(p, (c, d) == base) if s is not None and s.planned else ABSENT)
            records.append(_record("table3", g, c, d, s, pval, _diff_value(s, pval, same), p,
                                   paper_depth=pdepth, baseline=(c, d) == base))
        table_rows.append(row)
    notes = [STAT_NOTE, "paper: ResNeXt paper Table 3, ImageNet-1K top-1 error (%), matched by cardinality C; "
             "its setting is shown in the paper column."]
    if any(g[1] not in PAPER_DATA["table3"] for g in groups):
        notes.append("diff = ours - paper, given only for ImageNet runs; other data are not comparable "
                     "in level, only in ordering.")
    if any(welch_cols.values()):
        notes.append(WELCH_NOTE)
    return Table("table3", "Table 3: cardinality vs width at equal complexity (top-1 error, %)",
                 columns, table_rows, spans, notes, _frame(records), n_label=3)


def _frame(records: list[dict]) -> pd.DataFrame:
    """Tidy records as a DataFrame with nullable integer columns (no '16.0' widths in the CSV)."""
    frame = pd.DataFrame(records)
    for col in ("cardinality", "bottleneck_width", "depth", "epochs_planned", "planned", "n"):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    return frame


def _record(table, group, c, d, s: Stat | None, paper, diff, p, label: str | None = None, **extra) -> dict:
    """One tidy CSV row (`label` names the group when it is not the group key's own label)."""
    return {
        "table": table, "group": label or group_label(group), "template": group[0], "depth": depth_of(group[0]),
        "dataset": group[1], "recipe": group[2], "epochs_planned": group[3],
        "cardinality": c, "bottleneck_width": d,
        "setting": f"{c}x{d}d" if d is not None else None,
        "planned": s.planned if s else 0, "n": s.n if s else 0,
        "mean": s.mean if s and s.n else math.nan, "std": s.std if s else math.nan,
        "paper": paper if paper is not None else math.nan, "diff": diff,
        "p_value": p if p is not None else math.nan,
        "significant": (p < ALPHA) if p is not None else None,
        **extra,
    }


# ---------------------------------------------------------------- table 2

def build_table2(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> Table | None:
    """Table 2: the configurations of the C sweep and their complexity, beside the paper's d."""
    sel = runs[runs["table"] == "table3"]
    if sel.empty:
        return None
    paper = reference["table2"]
    columns = ["template", "C", "d", "group width (C·d)", "params", "FLOPs (mult-adds)",
               "params vs C=1", "paper d", "paper group width"]
    rows, records = [], []
    for template in sorted(set(sel["template"]), key=lambda t: (depth_of(t) or 0, t)):
        frame = sel[sel["template"] == template]
        base = _of(frame, 1, _baseline_config(frame)[1]) if _baseline_config(frame) else None
        base_params = _complexity(base, "params") if base is not None else None
        for c, d in _configs(frame):
            cfg = _of(frame, c, d)
            params, flops = _complexity(cfg, "params"), _complexity(cfg, "flops")
            dev = (params / base_params - 1) * 100 if params and base_params else None
            prow = paper[paper["cardinality"] == c]
            pd_, pw = (int(prow["bottleneck_width"].iloc[0]), int(prow["group_width"].iloc[0])) if len(prow) \
                else (None, None)
            rows.append([template, str(c), str(d), str(c * d), fmt_count(params), fmt_count(flops),
                         f"{dev:+.1f}%" if dev is not None else ABSENT,
                         str(pd_) if pd_ else ABSENT, str(pw) if pw else ABSENT])
            records.append({"table": "table2", "template": template, "cardinality": c, "bottleneck_width": d,
                            "group_width": c * d, "params": params, "flops": flops, "params_vs_c1_pct": dev,
                            "paper_bottleneck_width": pd_, "paper_group_width": pw})
    t1 = reference.get("table1")
    notes = ["paper d and group width: ResNeXt paper Table 2 (ImageNet conv2 template, matched by C)."]
    if t1 is not None and len(t1):
        notes.append("paper Table 1 (50-layer): " + "; ".join(
            f"{r.model} {r.setting} {fmt_count(float(r.params))} params, {fmt_count(float(r.flops))} FLOPs"
            for r in t1.itertuples()) + ".")
    return Table("table2", "Table 2: configurations at equal complexity", columns, rows, [], notes,
                 _frame(records), n_label=1)


# ---------------------------------------------------------------- table 4

def data_label(dataset, recipe, epochs) -> str:
    """'imagenet, paper-imagenet, 100 ep': a group key without its template."""
    return f"{dataset or '?'}, {recipe or '?'}, {epochs if epochs is not None else '?'} ep"


def _match_by_depth(configs: list[tuple[str, int, int]], paper: pd.DataFrame) -> dict[tuple, int]:
    """Pair our (template, C, d) with paper rows at the paper depth nearest each template's depth."""
    matches = {}
    by_depth: dict[int, list] = {}
    for cfg in configs:
        by_depth.setdefault(nearest_depth(depth_of(cfg[0]), paper["depth"]), []).append(cfg)
    for pdepth, cfgs in by_depth.items():
        pairs = match_rows([(c, d) for _, c, d in cfgs], paper[paper["depth"] == pdepth])
        for t, c, d in cfgs:  # a (C, d) at two templates meeting one paper depth: the first keeps the row
            if (c, d) in pairs and pairs[(c, d)] not in matches.values():
                matches[(t, c, d)] = pairs[(c, d)]
    return matches


def build_table4(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> Table | None:
    """Table 4: models of about twice the complexity, top-1 and top-5 beside the paper's."""
    sel = runs[runs["table"] == "table4"]
    if sel.empty:
        return None
    paper = reference["table4"]
    columns = ["runs", "paper model", "ours", "params", "FLOPs", "ours top-1", "ours top-5",
               "paper top-1", "paper top-5", "diff top-1", "diff top-5", "paper complexity"]
    rows, records = [], []
    # one section per data and recipe: Table 4 mixes depths (ResNet-200 beside 101-layer models)
    for key in sorted({g[1:] for g in sel["group"]}, key=lambda k: tuple(str(x) for x in k)):
        frame = sel[[g[1:] == key for g in sel["group"]]]
        configs = sorted({(t, int(c), int(d)) for t, c, d in
                          zip(frame["template"], frame["cardinality"], frame["bottleneck_width"])},
                         key=lambda cfg: (depth_of(cfg[0]) or 0, cfg[1], cfg[2]))
        matches = _match_by_depth(configs, paper)
        by_paper = {i: cfg for cfg, i in matches.items()}
        same = key[0] in PAPER_DATA["table4"]
        # the paper's rows in its order, then our configurations it has no row for
        order = [(by_paper.get(i), i) for i in paper.index]
        order += [(cfg, None) for cfg in configs if cfg not in matches]
        for cfg, i in order:
            mine = frame[(frame["template"] == cfg[0]) & (frame["cardinality"] == cfg[1])
                         & (frame["bottleneck_width"] == cfg[2])] if cfg else None
            s1 = stat_of(mine) if cfg else None
            s5 = stat_of(mine, "final_val_top5_err") if cfg else None
            p1, p5 = _paper_value(paper, i, "top1_err"), _paper_value(paper, i, "top5_err")
            rows.append([
                data_label(*key),
                f"{_paper_name(paper, i)} ({paper.at[i, 'depth']}-layer)" if i is not None else ABSENT,
                f"{depth_of(cfg[0])}-layer {cfg[1]}x{cfg[2]}d" if cfg else ABSENT,
                fmt_count(_complexity(mine, "params")) if cfg else ABSENT,
                fmt_count(_complexity(mine, "flops")) if cfg else ABSENT,
                fmt_stat(s1), fmt_stat(s5), fmt_num(p1), fmt_num(p5),
                fmt_diff(s1, p1, same) if cfg else ABSENT, fmt_diff(s5, p5, same) if cfg else ABSENT,
                str(paper.at[i, "complexity"]) if i is not None else ABSENT,
            ])
            records.append(_record(
                "table4", (cfg[0] if cfg else None, *key), *(cfg[1:] if cfg else (None, None)), s1, p1,
                _diff_value(s1, p1, same), None, label=data_label(*key),
                top5_mean=s5.mean if s5 and s5.n else math.nan, top5_std=s5.std if s5 else math.nan,
                paper_top5=_nan(p5), paper_model=_paper_name(paper, i)))
    notes = [STAT_NOTE.replace("top-1 validation error", "top-1 / top-5 validation error"),
             "paper: ResNeXt paper Table 4 (ImageNet-1K, 224 crop); our rows meet the paper's by depth and "
             "cardinality (then width order).",
             "diff = ours - paper, ImageNet runs only; otherwise n/a (different data)."]
    return Table("table4", "Table 4: increasing complexity (top-1 / top-5 error, %)", columns, rows, [], notes,
                 _frame(records), align="lll" + "r" * 9)


# ---------------------------------------------------------------- residual

def build_residual(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> Table | None:
    """Residual connections: each configuration with and without the shortcut."""
    ours = runs[runs["ours"]]
    without = ours[ours["shortcut"] == False]  # noqa: E712 - None (unknown) must not match
    if without.empty:
        return None
    paper = reference["residual"]
    columns = ["runs", "ours", "with shortcut", "without", "gap (without - with)", "gap beyond noise",
               "paper model", "paper with", "paper without", "paper gap", "diff with", "diff without"]
    rows, records = [], []
    for g in _sorted_groups(without):
        w_frame = in_group(without, g)
        k_frame = in_group(ours[ours["shortcut"] == True], g)  # noqa: E712 - None must not match
        pdepth = nearest_depth(depth_of(g[0]), paper["depth"])
        matches = match_rows(_configs(w_frame), paper[paper["depth"] == pdepth])
        same = g[1] in PAPER_DATA["residual"]
        for c, d in _configs(w_frame):
            s_with, s_without = stat_of(_of(k_frame, c, d)), stat_of(_of(w_frame, c, d))
            i = matches.get((c, d))
            p_with, p_without = _paper_value(paper, i, "top1_err_with"), _paper_value(paper, i, "top1_err_without")
            gap = s_without.mean - s_with.mean if s_with.n and s_without.n else math.nan
            p = welch(s_without, s_with)
            rows.append([
                group_label(g), f"{c}x{d}d", fmt_stat(s_with), fmt_stat(s_without),
                ABSENT if math.isnan(gap) else f"{gap:+.2f}",
                fmt_welch(p, False) if s_with.planned else ABSENT,
                _paper_name(paper, i) or ABSENT, fmt_num(p_with), fmt_num(p_without),
                f"{p_without - p_with:+.1f}" if i is not None else ABSENT,
                fmt_diff(s_with, p_with, same), fmt_diff(s_without, p_without, same),
            ])
            records.append(_record(
                "residual", g, c, d, s_without, p_without, _diff_value(s_without, p_without, same), p,
                with_mean=s_with.mean if s_with.n else math.nan, with_std=s_with.std, with_n=s_with.n,
                paper_with=_nan(p_with), gap=gap, paper_gap=(p_without - p_with) if i is not None else math.nan,
                paper_model=_paper_name(paper, i)))
    notes = [STAT_NOTE, "with shortcut: every run of the same configuration, data and recipe that keeps the "
             "shortcut. gap beyond noise: " + WELCH_NOTE.split(": ", 1)[1].replace(
                 "of the configuration's seeds against the C=1 configuration of the same depth",
                 "of the runs without against the runs with the shortcut"),
             "paper: ResNeXt paper Sec. 5.1, ImageNet-1K top-1 error (%), 50-layer; matched by cardinality. "
             "diff only for ImageNet runs."]
    return Table("residual", "Residual connections: with and without the shortcut (top-1 error, %)",
                 columns, rows, [], notes, _frame(records), align="ll" + "r" * 4 + "l" + "r" * 5)


# ---------------------------------------------------------------- table 7

def build_table7(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> Table | None:
    """Table 7: CIFAR test error and model size beside the paper's."""
    sel = runs[runs["table"] == "table7"]
    if sel.empty:
        return None
    paper = reference["table7"]
    columns = ["runs", "ours", "params", "ours test err", "paper model", "paper params",
               "paper CIFAR-10 err", "paper CIFAR-100 err", "diff"]
    rows, records = [], []
    for g in _sorted_groups(sel):
        frame = in_group(sel, g)
        ranked = sorted(_configs(frame), key=lambda cfg: (_complexity(_of(frame, *cfg), "params") or 0, cfg))
        matches = match_rows(ranked, paper[paper["cardinality"].notna()].astype({"cardinality": int}))
        err_col = {"cifar10": "cifar10_err", "cifar100": "cifar100_err"}.get(g[1])
        same = err_col is not None
        # our configurations by size, then the paper's rows we have no configuration for
        order = [(cfg, matches.get(cfg)) for cfg in ranked]
        order += [(None, i) for i in paper.index if i not in matches.values()]
        for cfg, i in order:
            s = stat_of(_of(frame, *cfg)) if cfg else None
            params = _complexity(_of(frame, *cfg), "params") if cfg else None
            pval = _paper_value(paper, i, err_col) if same else None
            diff = fmt_diff(s, pval, same) if cfg and i is not None else (ABSENT if same else NOT_SAME_DATA)
            rows.append([
                group_label(g), f"{cfg[0]}x{cfg[1]}d" if cfg else ABSENT, fmt_count(params), fmt_stat(s),
                _paper_name(paper, i) or ABSENT, fmt_count(float(paper.at[i, "params"])) if i is not None else ABSENT,
                fmt_num(_paper_value(paper, i, "cifar10_err"), 2), fmt_num(_paper_value(paper, i, "cifar100_err"), 2),
                diff,
            ])
            records.append(_record("table7", g, *(cfg or (None, None)), s, pval, _diff_value(s, pval, same), None,
                                   params=_nan(params), paper_model=_paper_name(paper, i)))
    notes = [STAT_NOTE.replace("top-1 validation error", "top-1 test error"),
             "paper: ResNeXt paper Table 7, CIFAR test error (%), mean of 10 runs; matched by cardinality. "
             "diff = ours - paper on the same CIFAR set; otherwise n/a (different data)."]
    return Table("table7", "Table 7: CIFAR test error and model size", columns, rows, [], notes,
                 _frame(records), align="llrrlrrrr")


BUILDERS = {
    "table2": build_table2, "table3": build_table3, "table4": build_table4,
    "residual": build_residual, "table7": build_table7,
}


def build_tables(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> dict[str, Table]:
    """Every table the runs have something for, by name."""
    tables = {}
    for name, builder in BUILDERS.items():
        table = builder(runs, reference)
        if table is not None:
            tables[name] = table
    return tables


# ---------------------------------------------------------------- rendering

def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _leaf_names(table: Table) -> list[str]:
    """Column names for flat formats: 'group: leaf' where a column sits under a group."""
    if not table.groups:
        return list(table.columns)
    names, i = [], 0
    for label, span in table.groups:
        names += [f"{label}: {c}" if label else c for c in table.columns[i:i + span]]
        i += span
    return names


def to_markdown(table: Table) -> str:
    """The table as GitHub markdown with its title and footnotes."""
    names = _leaf_names(table)
    lines = [f"**{table.title}**", "", "| " + " | ".join(_md_cell(n) for n in names) + " |",
             "|" + "|".join({"l": ":--", "r": "--:", "c": ":-:"}[a] for a in table.alignment) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    lines += [""] + [f"- {n}" for n in table.notes]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "—": "---", "–": "--", "·": r"$\cdot$", "×": r"$\times$", "≥": r"$\geq$",
    "≤": r"$\leq$", "<": r"$<$", ">": r"$>$",
}


def latex_escape(text: str) -> str:
    """Text safe inside a LaTeX tabular cell (ASCII output; special characters escaped)."""
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))
    return out.encode("ascii", "replace").decode("ascii")


def to_latex(table: Table) -> str:
    """The table as a standalone LaTeX document (booktabs), compilable on its own."""
    n = len(table.columns)
    spec = table.alignment
    lines = [r"\documentclass[border=4pt]{standalone}", r"\usepackage{booktabs}", r"\begin{document}",
             rf"\begin{{tabular}}{{{spec}}}", rf"\multicolumn{{{n}}}{{l}}{{\textbf{{{latex_escape(table.title)}}}}} \\",
             r"\toprule"]
    if table.groups and any(label for label, _ in table.groups):
        cells, rules, start = [], [], 1
        for label, span in table.groups:
            cells.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(label)}}}" if label else " & ".join([""] * span))
            if label:
                rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
            start += span
        lines.append(" & ".join(cells) + r" \\")
        lines.append(" ".join(rules))
    lines.append(" & ".join(latex_escape(c) for c in table.columns) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in table.rows]
    lines.append(r"\bottomrule")
    lines += [rf"\multicolumn{{{n}}}{{l}}{{\footnotesize {latex_escape(note)}}} \\" for note in table.notes]
    lines += [r"\end{tabular}", r"\end{document}"]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """The numbers behind the table as tidy CSV."""
    return table.data.to_csv(index=False)


RENDERERS = {"md": ("md", to_markdown), "latex": ("tex", to_latex), "csv": ("csv", to_csv)}


def write_tables(results_dir: Path, formats=FORMATS, reference_dir: Path = REFERENCE_DIR,
                 verbose: bool = True) -> list[Path]:
    """Write every table the runs in results_dir/runs.csv have something for; return the paths."""
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown:
        raise UserError(f"table format {unknown[0]!r}: expected one of {', '.join(RENDERERS)}")
    results_dir = Path(results_dir)
    tables = build_tables(load_runs(results_dir), load_reference(reference_dir))
    paths = []
    for name, table in tables.items():
        for fmt in formats:
            ext, render = RENDERERS[fmt]
            path = results_dir / f"{name}.{ext}"
            fsutil.write_text(path, render(table))
            paths.append(path)
    if verbose:
        absent = [n for n in BUILDERS if n not in tables]
        print(f"wrote {len(tables)} table(s) ({', '.join(tables) or 'none'}) to {results_dir}"
              + (f"; no runs for {', '.join(absent)}" if absent else ""))
    return paths
