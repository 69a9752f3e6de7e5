"""Table 4: the models of about twice the complexity, and its reading."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .cells import ABSENT, fmt_count, fmt_diff, fmt_num, fmt_stat
from .paper import PAPER_DATA, match_by_depth, paper_name, paper_value
from .render import Table
from .rows import STAT_NOTE, diff_notes, diff_of, nan_if_none, table_row, tidy_frame
from .runs import complexity_of, config_order, data_label, depth_of, runs_of, setting_label, varying_fields
from .stats import at_chance, completed, difference, holm_adjust, stat_of
from .study import Context, TableStudy
from .words import (NO_CLAIM, NO_TEST, bullets, chance_words, data_words, provenance_words, declared_seeds, sentence,
                    summary_words, verdict)
from ..units import plural


def table4_configs(frame: pd.DataFrame) -> list[tuple]:
    """The (template, C, d, variant) configurations of a Table 4 section, by depth, then C and d."""
    return sorted({(t, int(c), int(d), v) for t, c, d, v in
                   zip(frame["template"], frame["cardinality"], frame["bottleneck_width"], frame["variant"])},
                  key=lambda cfg: (depth_of(cfg[0]) or 0, *config_order(cfg[1:])))


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
            records.append(table_row(
                "table4", (cfg[0] if cfg else None, *key), *(cfg[1:3] if cfg else (None, None)), s1, p1,
                diff_of(s1, p1, same), None, label=data_label(*key),
                top5_mean=s5.mean if s5 and s5.n else math.nan, top5_std=s5.std if s5 else math.nan,
                paper_top5=nan_if_none(p5), diff_top5=diff_of(s5, p5, same), paper_model=paper_name(paper, i),
                params=params, flops=flops, setting=setting_label(*cfg[1:], shown) if cfg else None))
    notes = [STAT_NOTE.replace("top-1 validation error", "top-1 / top-5 validation error"),
             "paper: ResNeXt paper Table 4 (ImageNet-1K, 224 crop), its model and complexity (1x: ResNet-101's); "
             "our rows meet the paper's by depth and cardinality (then width order)."]
    notes += diff_notes(sections, "imagenet")
    return Table("table4", "Table 4: increasing complexity (top-1 / top-5 error, %)", columns, rows, groups, notes,
                 tidy_frame(records), align="llrrll" + "r" * 6)


def read_table4(table: Table, ctx: Context) -> str:
    """Per data section: the configuration with the smallest mean against the next, tested; paper only on its data."""
    sel = ctx.runs[ctx.runs["table"] == "table4"]
    data = table.data
    sections = []
    for key in sorted({g[1:] for g in sel["group"]}, key=lambda k: tuple(str(x) for x in k)):
        frame = sel[[g[1:] == key for g in sel["group"]]]
        configs = table4_configs(frame)
        stats = {cfg: stat_of(runs_of(frame[frame["template"] == cfg[0]], *cfg[1:])) for cfg in configs}
        sections.append((key, frame, stats))
    family = {}
    for i, (key, frame, stats) in enumerate(sections):
        ranked = sorted([cfg for cfg, s in stats.items() if s.n], key=lambda cfg: stats[cfg].mean)
        if len(ranked) >= 2 and not any(at_chance(stats[c].mean, key[0]) for c in ranked):
            family[i] = difference(stats[ranked[0]], stats[ranked[1]])
    family = holm_adjust(family)
    parts = []
    for i, (key, frame, stats) in enumerate(sections):
        label = data_label(*key)
        shown = varying_fields(cfg[3] for cfg in stats)
        name = lambda cfg: f"{depth_of(cfg[0])}-layer {setting_label(*cfg[1:], shown)}"  # noqa: E731
        ranked = sorted([cfg for cfg, s in stats.items() if s.n], key=lambda cfg: stats[cfg].mean)
        if not ranked:
            parts.append(f"- **{label}**: no completed run.")
            continue
        same = key[0] in PAPER_DATA["table4"]
        items = [(data_words(key[0], same, key[1], key[2]) + provenance_words(completed(frame))).rstrip()]
        chance = [name(c) for c in ranked if at_chance(stats[c].mean, key[0])]
        for cfg in ranked:
            paper = None
            if same and not data.empty and "paper" in data:
                rows = data[(data["group"] == label) & (data["template"] == cfg[0])
                            & (data["setting"] == setting_label(*cfg[1:], shown))]
                if len(rows) and pd.notna(rows["paper"].iloc[0]):
                    paper = (rows["paper_model"].iloc[0], float(rows["paper"].iloc[0]))
            items.append(sentence(f"{name(cfg)}: {summary_words(stats[cfg])}"
                                   + (f"; paper ({paper[0]}): {paper[1]:.1f}" if paper else "")))
        if chance:
            items.append(sentence(chance_words(chance, [stats[c].mean for c in ranked if name(c) in chance], key[0])))
        elif len(ranked) == 1:
            items.append(f"One configuration: nothing to compare, {NO_CLAIM}.")
        elif family.get(i) is None:
            items.append(f"Smallest mean {name(ranked[0])} against the next, {name(ranked[1])}: fewer than 2 seeds, "
                         f"{NO_TEST} and {NO_CLAIM}.")
        else:
            d = family[i]
            words = verdict(d, name(ranked[0]), f"the next, {name(ranked[1])}", "top-1 error")
            words += "" if d.significant else declared_seeds(d, None, frame)
            items.append(sentence(words + f" (Holm over the table's {plural(len(family), 'comparison')})"))
        if same:
            diffs = data[(data["group"] == label)]["diff"].dropna() if "diff" in data else []
            if len(diffs):
                items.append(f"Ours minus paper: {np.mean(diffs):+.2f} points on average.")
        parts.append(f"- **{label}**:\n" + bullets(items, 2))
    return "\n".join(parts) or "No completed run."


TABLE = TableStudy("table4", build_table4, read_table4)
