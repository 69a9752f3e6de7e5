"""The timm / torchvision baselines: they sit in no paper table, so the report gives them a short one."""
from __future__ import annotations

import pandas as pd

from .cells import fmt_count, fmt_stat
from .best_of_k import best_of_k_method, best_of_k_words
from .stats import ERR, completed, stat_of

MIN_BEST_OF_K = 3  # completed seeds a baseline needs before its expected best-of-k says more than its mean


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
    best = [best_of_k_words(f"{model} ({dataset}, {recipe})", completed(g)[ERR], "seeds")
            for (model, dataset, recipe), g in base.groupby(["baseline", "dataset", "recipe"], dropna=False, sort=True)
            if len(completed(g)) >= MIN_BEST_OF_K]
    if best:
        lines += ["", f"Expected best-of-k over seeds ({best_of_k_method()}):", ""] + [f"- {b}." for b in best]
    return lines
