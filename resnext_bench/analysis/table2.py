"""Table 2: the configurations of the cardinality sweep and their complexity, and its reading."""
from __future__ import annotations


import pandas as pd

from .cells import ABSENT, fmt_count
from .render import Table
from .rows import tidy_frame
from .runs import complexity_of, configurations, depth_of, model_words, runs_of, setting_label, varying_fields
from .stats import baseline_config
from .study import Context, TableStudy
from .words import count_words
from ..units import plural


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
                 tidy_frame(records), n_label=1)


def read_table2(table: Table, ctx: Context | None = None) -> str:
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


TABLE = TableStudy("table2", build_table2, read_table2)
