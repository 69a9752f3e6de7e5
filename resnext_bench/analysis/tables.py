"""The paper's tables from runs.csv, our numbers beside the paper's.

Five tables, each built from the runs that feed it (`paper.table_of`: the run's declared study,
never the ablation's name) and written by `write_tables` in markdown, LaTeX and CSV (`render`).
Headers say each thing once: a column group ("ours", "paper", a Table 3 group's label) spans its
columns, whose leaf names say only what differs ("ours", "paper", "diff", "vs C=1"); a column
blank in every row (a diff column when no run is on the paper's data) is not displayed:

- table2 lists the configurations (with their complexity) of the table3 runs;
- table3: top-1 error by cardinality at equal complexity, a column group per (template, data,
  recipe, epochs) group, each configuration tested against the group's C=1 (`stats.welch`);
- table4: the models of about twice the complexity, top-1 and top-5, one section per data and
  recipe (depths mixed, as in the paper);
- residual: the runs without the shortcut (study residual, or an older run with shortcut false),
  each beside every run of the same configuration, data and recipe that keeps the shortcut,
  whatever its study;
- table7: CIFAR test error and model size (the table7 and fig7 studies).

Our number is the final top-1 (top-5) validation error of completed runs: mean +- sample std (n)
(`stats`); "missing" and "—" are explained in `cells`. Our rows meet the paper's as `paper`
describes; the difference (ours - paper) is given only when our data are the paper's, otherwise
it reads "n/a (different data)" (Table 3 has a diff column only for groups on the paper's data).
Counts (params, FLOPs, n, epochs, depth, C, d) are integers in `Table.data` and the CSV.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .. import fsutil
from ..errors import UserError
from .cells import ABSENT, MIXED, MIXED_NOTE, NOT_SAME_DATA, fmt_count, fmt_diff, fmt_num, fmt_stat, fmt_welch
from .paper import (PAPER_DATA, REFERENCE_DIR, load_reference, match_by_depth, match_rows, nearest_depth,
                    paper_name, paper_value)
from .render import FORMATS, RENDERERS, Table, with_counts
from .runs import (complexity_of, config_order, configurations, data_label, depth_of, group_label, in_group,
                   load_runs, model_words, runs_of, setting_label, sorted_groups, varying_fields, with_field)
from .stats import ALPHA, Stat, baseline_config, difference, holm_adjust, stat_of

WELCH_NOTE = (
    "vs C=1: Welch's t-test (unequal variances, scipy.stats.ttest_ind equal_var=False) of the "
    "configuration's seeds against the C=1 configuration of the same depth; yes = Holm-adjusted "
    "p < 0.05, Holm over every comparison of the table (the report's readings use the same family)."
)
STAT_NOTE = (
    "ours: final top-1 validation error (%) of completed runs, mean ± sample std (n runs); "
    "missing = configuration in the runs with no completed run; — = not in the runs."
)


# ---------------------------------------------------------------- tidy numbers

def _frame(records: list[dict]) -> pd.DataFrame:
    """Tidy records as a DataFrame with nullable integer counts (no '16.0' widths or
    '25557032.0' parameters in the CSV): `render.with_counts`."""
    return with_counts(pd.DataFrame(records))


def _diff_notes(sections: list[tuple[str, bool]], paper_data: str) -> list[str]:
    """The notes on a diff column, from (our data, whether it is the paper's) of each section:
    where the difference is given, and why it is not elsewhere."""
    notes = []
    if any(same for _, same in sections):
        notes.append(f"diff = ours - paper, given only for runs on the paper's data ({paper_data}).")
    other = sorted({str(data) for data, same in sections if not same})
    if other:
        notes.append(f"no diff for runs on {', '.join(other)}: not the paper's data ({paper_data}); comparable "
                     "with the paper in ordering, not in level.")
    return notes


def _record(table, group, c, d, s: Stat | None, paper, diff, p, label: str | None = None,
            p_holm: float | None = None, **extra) -> dict:
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
        "p_holm": p_holm if p_holm is not None else math.nan,
        "significant": ((p_holm if p_holm is not None else p) < ALPHA) if p is not None else None,
        **extra,
    }


def _diff_value(ours: Stat | None, paper, same_data: bool) -> float:
    if not same_data or ours is None or ours.n == 0 or paper is None:
        return math.nan
    return ours.mean - float(paper)


def _nan(value) -> float:
    return math.nan if value is None else value


def with_shortcut(cfg: tuple) -> tuple:
    """The configuration (C, d, variant) with its shortcut kept: what a run without it is compared with."""
    return (*cfg[:2], with_field(cfg[2], "shortcut", True))


def table4_configs(frame: pd.DataFrame) -> list[tuple]:
    """The (template, C, d, variant) configurations of a Table 4 section, by depth, then C and d."""
    return sorted({(t, int(c), int(d), v) for t, c, d, v in
                   zip(frame["template"], frame["cardinality"], frame["bottleneck_width"], frame["variant"])},
                  key=lambda cfg: (depth_of(cfg[0]) or 0, *config_order(cfg[1:])))


# ---------------------------------------------------------------- table 2

def build_table2(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> Table | None:
    """Table 2: the configurations of the C sweep and their complexity, beside the paper's d."""
    sel = runs[runs["table"] == "table3"]
    if sel.empty:
        return None
    paper = reference["table2"]
    columns = ["template", "C", "d", "group width (C·d)", "params", "FLOPs (mult-adds)", "params vs C=1",
               "d", "group width"]
    groups = [("", 2), ("ours", 5), ("paper (Table 2)", 2)]
    rows, records = [], []
    for template in sorted(set(sel["template"]), key=lambda t: (depth_of(t) or 0, t)):
        frame = sel[sel["template"] == template]
        configs = configurations(frame)
        shown = varying_fields(v for _, _, v in configs)
        for c, d, v in configs:
            base = baseline_config(frame, v)
            base_params = complexity_of(runs_of(frame, *base), "params") if base else None
            cfg = runs_of(frame, c, d, v)
            params, flops = complexity_of(cfg, "params"), complexity_of(cfg, "flops")
            model = model_words(v, shown)
            dev = (params / base_params - 1) * 100 if params and base_params else None
            prow = paper[paper["cardinality"] == c]
            pd_, pw = (int(prow["bottleneck_width"].iloc[0]), int(prow["group_width"].iloc[0])) if len(prow) \
                else (None, None)
            rows.append([f"{template} {model}" if model else template, str(c), str(d), str(c * d),
                         fmt_count(params), fmt_count(flops),
                         f"{dev:+.1f}%" if dev is not None else ABSENT,
                         str(pd_) if pd_ else ABSENT, str(pw) if pw else ABSENT])
            records.append({"table": "table2", "template": template, "cardinality": c, "bottleneck_width": d,
                            "setting": setting_label(c, d, v, shown), "group_width": c * d, "params": params,
                            "flops": flops, "params_vs_c1_pct": dev,
                            "paper_bottleneck_width": pd_, "paper_group_width": pw})
    t1 = reference.get("table1")
    notes = ["paper: ResNeXt paper Table 2, d and group width of the ImageNet conv2 template, matched by C.",
             "params, FLOPs: our model's counts (k = 10^3, M = 10^6, G = 10^9; exact in table2.csv); "
             "params vs C=1: relative to the C=1 configuration of the same template (and the same other model "
             "fields, shown beside the template where they differ)."]
    if t1 is not None and len(t1):
        notes.append("paper Table 1 (50-layer): " + "; ".join(
            f"{r.model} {r.setting} {fmt_count(float(r.params))} params, {fmt_count(float(r.flops))} FLOPs"
            for r in t1.itertuples()) + ".")
    return Table("table2", "Table 2: configurations at equal complexity", columns, rows, groups, notes,
                 _frame(records), n_label=1)


# ---------------------------------------------------------------- table 3

def build_table3(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> Table | None:
    """Table 3: top-1 error by cardinality at equal complexity, a column group per depth/data.

    Each group's label spans its columns: ours, paper, diff (only for a group on the paper's data)
    and vs C=1 (only where a configuration has two or more completed runs).
    """
    sel = runs[runs["table"] == "table3"]
    if sel.empty:
        return None
    paper = reference["table3"]
    groups = sorted_groups(sel)
    # rows: every (C, ours d, other model fields) of any group, plus the paper's cardinalities that no group has.
    ours_keys = sorted({k for g in groups for k in configurations(in_group(sel, g))}, key=config_order)
    shown = varying_fields(v for _, _, v in ours_keys)
    paper_only = sorted(set(int(c) for c in paper["cardinality"]) - {c for c, _, _ in ours_keys})
    row_keys = sorted(ours_keys + [(c, None, ()) for c in paper_only],
                      key=lambda k: config_order((k[0], k[1] or 0, k[2])))
    columns, spans, records, welch_cols = ["C", "ours", "paper"], [("", 1), ("setting", 2)], [], {}
    same_data = {g: g[1] in PAPER_DATA["table3"] for g in groups}
    for g in groups:
        frame = in_group(sel, g)
        welch_cols[g] = any(stat_of(runs_of(frame, *cfg)).n >= 2 for cfg in configurations(frame))
        leaf = ["ours", "paper"] + (["diff"] if same_data[g] else []) + (["vs C=1"] if welch_cols[g] else [])
        columns += leaf
        spans.append((group_label(g), len(leaf)))
    # Every comparison with C=1 (of the same other model fields) in the table is one family for Holm's correction.
    family = {}
    for g in groups:
        frame = in_group(sel, g)
        for cfg in configurations(frame):
            base = baseline_config(frame, cfg[2])
            if base and cfg != base:
                family[(g, cfg)] = difference(stat_of(runs_of(frame, *cfg)), stat_of(runs_of(frame, *base)))
    family = holm_adjust(family)
    table_rows = []
    for c, d, v in row_keys:
        paper_setting = paper[paper["cardinality"] == c]["setting"]
        label = setting_label(c, d, v, shown) if d is not None else None
        row = [str(c), label or ABSENT, paper_setting.iloc[0] if len(paper_setting) else ABSENT]
        for g in groups:
            frame = in_group(sel, g)
            pdepth = nearest_depth(depth_of(g[0]), paper["depth"])
            prow = paper[(paper["depth"] == pdepth) & (paper["cardinality"] == c)]
            pval = float(prow["top1_err"].iloc[0]) if len(prow) else None
            same = same_data[g]
            s = stat_of(runs_of(frame, c, d, v)) if d is not None else None
            base = baseline_config(frame, v) if d is not None else None
            tested = family.get((g, (c, d, v))) if d is not None else None
            p, p_holm = (tested.p, tested.p_holm) if tested is not None else (None, None)
            row += [fmt_stat(s), fmt_num(pval)]
            if same:
                row.append(fmt_diff(s, pval, same))
            if welch_cols[g]:
                row.append(fmt_welch(p, (c, d, v) == base, p_holm) if s is not None and s.planned else ABSENT)
            records.append(_record("table3", g, c, d, s, pval, _diff_value(s, pval, same), p, p_holm=p_holm,
                                   paper_depth=pdepth, baseline=(c, d, v) == base, setting=label))
        table_rows.append(row)
    depths = sorted({(depth_of(g[0]), nearest_depth(depth_of(g[0]), paper["depth"])) for g in groups},
                    key=lambda x: (x[0] or 0, x[1]))
    at = "; ".join(f"{d or '?'}-layer groups: the paper's {pd_}-layer row" for d, pd_ in depths if d != pd_)
    notes = [STAT_NOTE, "paper: ResNeXt paper Table 3, ImageNet-1K top-1 error (%) at the paper's depth nearest "
             "the group's" + (f" ({at})" if at else "") + ", matched by cardinality C (setting, paper: the paper's "
             "configuration of that C)."]
    notes += _diff_notes([(g[1], same_data[g]) for g in groups], "imagenet")
    if any(welch_cols.values()):
        notes.append(WELCH_NOTE)
    return Table("table3", "Table 3: cardinality vs width at equal complexity (top-1 error, %)",
                 columns, table_rows, spans, notes, _frame(records), n_label=3)


# ---------------------------------------------------------------- table 4

def build_table4(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> Table | None:
    """Table 4: models of about twice the complexity, top-1 and top-5 beside the paper's."""
    sel = runs[runs["table"] == "table4"]
    if sel.empty:
        return None
    paper = reference["table4"]
    columns = ["runs", "model", "params", "FLOPs", "model", "complexity",
               "ours", "paper", "diff", "ours", "paper", "diff"]
    groups = [("", 1), ("ours", 3), ("paper", 2), ("top-1 error", 3), ("top-5 error", 3)]
    rows, records, sections = [], [], []
    # one section per data and recipe: Table 4 mixes depths (ResNet-200 beside 101-layer models)
    for key in sorted({g[1:] for g in sel["group"]}, key=lambda k: tuple(str(x) for x in k)):
        frame = sel[[g[1:] == key for g in sel["group"]]]
        configs = table4_configs(frame)
        shown = varying_fields(cfg[3] for cfg in configs)
        # one paper row a (template, C, d): a second model of it (other base planes, ...) gets a row of its own
        matches = match_by_depth(list(dict.fromkeys((t, depth_of(t), c, d) for t, c, d, _ in configs)), paper)
        by_paper = {}
        for cfg in configs:
            if matches.get(cfg[:3]) is not None and matches[cfg[:3]] not in by_paper:
                by_paper[matches[cfg[:3]]] = cfg
        placed = set(by_paper.values())
        same = key[0] in PAPER_DATA["table4"]
        sections.append((key[0], same))
        # the paper's rows in its order, then our configurations it has no row for
        order = [(by_paper.get(i), i) for i in paper.index]
        order += [(cfg, None) for cfg in configs if cfg not in placed]
        for cfg, i in order:
            mine = runs_of(frame[frame["template"] == cfg[0]], *cfg[1:]) if cfg else None
            s1 = stat_of(mine) if cfg else None
            s5 = stat_of(mine, "final_val_top5_err") if cfg else None
            p1, p5 = paper_value(paper, i, "top1_err"), paper_value(paper, i, "top5_err")
            params = complexity_of(mine, "params") if cfg else None
            flops = complexity_of(mine, "flops") if cfg else None
            rows.append([
                data_label(*key),
                f"{depth_of(cfg[0])}-layer {setting_label(*cfg[1:], shown)}" if cfg else ABSENT,
                fmt_count(params), fmt_count(flops),
                f"{paper_name(paper, i)} ({paper.at[i, 'depth']}-layer)" if i is not None else ABSENT,
                str(paper.at[i, "complexity"]) if i is not None else ABSENT,
                fmt_stat(s1), fmt_num(p1), fmt_diff(s1, p1, same) if cfg else ABSENT,
                fmt_stat(s5), fmt_num(p5), fmt_diff(s5, p5, same) if cfg else ABSENT,
            ])
            records.append(_record(
                "table4", (cfg[0] if cfg else None, *key), *(cfg[1:3] if cfg else (None, None)), s1, p1,
                _diff_value(s1, p1, same), None, label=data_label(*key),
                top5_mean=s5.mean if s5 and s5.n else math.nan, top5_std=s5.std if s5 else math.nan,
                paper_top5=_nan(p5), diff_top5=_diff_value(s5, p5, same), paper_model=paper_name(paper, i),
                params=params, flops=flops, setting=setting_label(*cfg[1:], shown) if cfg else None))
    notes = [STAT_NOTE.replace("top-1 validation error", "top-1 / top-5 validation error"),
             "paper: ResNeXt paper Table 4 (ImageNet-1K, 224 crop), its model and complexity (1x: ResNet-101's); "
             "our rows meet the paper's by depth and cardinality (then width order)."]
    notes += _diff_notes(sections, "imagenet")
    return Table("table4", "Table 4: increasing complexity (top-1 / top-5 error, %)", columns, rows, groups, notes,
                 _frame(records), align="llrrll" + "r" * 6)


# ---------------------------------------------------------------- residual

def build_residual(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> Table | None:
    """Residual connections: each configuration with and without the shortcut."""
    ours = runs[runs["ours"]]
    without = runs[(runs["table"] == "residual") & (runs["shortcut"] == False)]  # noqa: E712 - None must not match
    if without.empty:
        return None
    paper = reference["residual"]
    columns = ["runs", "setting", "with", "without", "gap", "gap beyond noise",
               "model", "with", "without", "gap", "with", "without"]
    groups = [("", 2), ("ours", 4), ("paper", 4), ("diff (ours - paper)", 2)]
    rows, records, sections = [], [], []
    kept = ours[ours["shortcut"] == True]  # noqa: E712 - None must not match
    family = holm_adjust({(g, cfg): difference(stat_of(runs_of(in_group(without, g), *cfg)),
                                               stat_of(runs_of(in_group(kept, g), *with_shortcut(cfg))))
                          for g in sorted_groups(without) for cfg in configurations(in_group(without, g))})
    for g in sorted_groups(without):
        w_frame = in_group(without, g)
        k_frame = in_group(kept, g)
        pdepth = nearest_depth(depth_of(g[0]), paper["depth"])
        configs = configurations(w_frame)
        shown = varying_fields(v for _, _, v in configs)
        matches = match_rows(sorted({(c, d) for c, d, _ in configs}), paper[paper["depth"] == pdepth])
        same = g[1] in PAPER_DATA["residual"]
        sections.append((g[1], same))
        for c, d, v in configs:
            s_with, s_without = stat_of(runs_of(k_frame, *with_shortcut((c, d, v)))), stat_of(runs_of(w_frame, c, d, v))
            i = matches.get((c, d))
            p_with, p_without = paper_value(paper, i, "top1_err_with"), paper_value(paper, i, "top1_err_without")
            gap = s_without.mean - s_with.mean if s_with.n and s_without.n else math.nan
            tested = family[(g, (c, d, v))]
            p, p_holm = (tested.p, tested.p_holm) if tested is not None else (None, None)
            rows.append([
                group_label(g), setting_label(c, d, v, shown), fmt_stat(s_with), fmt_stat(s_without),
                ABSENT if math.isnan(gap) else f"{gap:+.2f}",
                fmt_welch(p, False, p_holm) if s_with.planned else ABSENT,
                paper_name(paper, i) or ABSENT, fmt_num(p_with), fmt_num(p_without),
                f"{p_without - p_with:+.1f}" if i is not None else ABSENT,
                fmt_diff(s_with, p_with, same), fmt_diff(s_without, p_without, same),
            ])
            records.append(_record(
                "residual", g, c, d, s_without, p_without, _diff_value(s_without, p_without, same), p, p_holm=p_holm,
                with_mean=s_with.mean if s_with.n else math.nan, with_std=s_with.std, with_n=s_with.n,
                paper_with=_nan(p_with), gap=gap, paper_gap=(p_without - p_with) if i is not None else math.nan,
                paper_model=paper_name(paper, i), setting=setting_label(c, d, v, shown)))
    notes = [STAT_NOTE, "with: every run of the same configuration, data and recipe that keeps the shortcut; "
             "without: the runs without it; gap = without - with. gap beyond noise: "
             + WELCH_NOTE.split(": ", 1)[1].replace(
                 "of the configuration's seeds against the C=1 configuration of the same depth",
                 "of the runs without against the runs with the shortcut"),
             "paper: ResNeXt paper Sec. 5.1, ImageNet-1K top-1 error (%), 50-layer; matched by cardinality."]
    notes += _diff_notes(sections, "imagenet")
    return Table("residual", "Residual connections: with and without the shortcut (top-1 error, %)",
                 columns, rows, groups, notes, _frame(records), align="ll" + "r" * 4 + "l" + "r" * 5)


# ---------------------------------------------------------------- table 7

def build_table7(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> Table | None:
    """Table 7: CIFAR test error and model size beside the paper's."""
    sel = runs[runs["table"] == "table7"]
    if sel.empty:
        return None
    paper = reference["table7"]
    columns = ["runs", "setting", "params", "test err", "model", "params", "CIFAR-10 err", "CIFAR-100 err", "diff"]
    groups = [("", 1), ("ours", 3), ("paper", 4), ("", 1)]
    rows, records, sections = [], [], []
    for g in sorted_groups(sel):
        frame = in_group(sel, g)
        ranked = sorted(configurations(frame),
                        key=lambda cfg: (complexity_of(runs_of(frame, *cfg), "params") or 0, config_order(cfg)))
        shown = varying_fields(v for _, _, v in ranked)
        pairs = match_rows(list(dict.fromkeys(cfg[:2] for cfg in ranked)),
                           paper[paper["cardinality"].notna()].astype({"cardinality": int}))
        matches = {cfg: pairs[cfg[:2]] for cfg in ranked if cfg[:2] in pairs}
        err_col = {"cifar10": "cifar10_err", "cifar100": "cifar100_err"}.get(g[1])
        same = err_col is not None
        sections.append((g[1], same))
        # our configurations by size, then the paper's rows we have no configuration for
        order = [(cfg, matches.get(cfg)) for cfg in ranked]
        order += [(None, i) for i in paper.index if i not in matches.values()]
        for cfg, i in order:
            s = stat_of(runs_of(frame, *cfg)) if cfg else None
            params = complexity_of(runs_of(frame, *cfg), "params") if cfg else None
            pval = paper_value(paper, i, err_col) if same else None
            diff = fmt_diff(s, pval, same) if cfg and i is not None else (ABSENT if same else NOT_SAME_DATA)
            rows.append([
                group_label(g), setting_label(*cfg, shown) if cfg else ABSENT, fmt_count(params), fmt_stat(s),
                paper_name(paper, i) or ABSENT, fmt_count(float(paper.at[i, "params"])) if i is not None else ABSENT,
                fmt_num(paper_value(paper, i, "cifar10_err"), 2), fmt_num(paper_value(paper, i, "cifar100_err"), 2),
                diff,
            ])
            records.append(_record("table7", g, *(cfg[:2] if cfg else (None, None)), s, pval,
                                   _diff_value(s, pval, same), None,
                                   setting=setting_label(*cfg, shown) if cfg else None,
                                   params=params, paper_model=paper_name(paper, i),
                                   paper_params=float(paper.at[i, "params"]) if i is not None else None))
    notes = [STAT_NOTE.replace("top-1 validation error", "top-1 test error"),
             "paper: ResNeXt paper Table 7, CIFAR test error (%), mean of 10 runs; matched by cardinality."]
    notes += _diff_notes(sections, "cifar10 or cifar100")
    return Table("table7", "Table 7: CIFAR test error and model size", columns, rows, groups, notes,
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
            if any(MIXED in str(cell) for row in table.rows for cell in row):
                table.notes.append(MIXED_NOTE)
            tables[name] = table
    return tables


# ---------------------------------------------------------------- writing

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
