"""The paper's side: its published numbers, which of our runs feed which of its tables, and which
of its rows each of our configurations meets.

Which table a run feeds (only our ResNeXt family; timm:/torchvision: baselines feed none):

1. the run's declared study (the ablation file's `study:` key, carried into config.yaml and the
   `study` column of runs.csv) decides: table3 -> table3, table4 -> table4, residual -> residual,
   table7 and fig7 -> table7 (Table 7 and the Fig. 7 size plot share their runs). A study that is
   "none" (an ablation that leaves `study:` out) or unknown feeds no table: it is never guessed.
2. a run without a study (an older sweep, whose config.yaml has no study key) falls back on its
   own fields: shortcut false -> residual; a CIFAR template (cifar-*) trained on cifar10/cifar100
   -> table7; anything else -> table3 (the equal-complexity C sweep).
   The ablation's name is never looked at.

Our rows meet the paper's by cardinality: exact C (at the paper depth nearest to ours); where the
paper has several rows of one C and depth (Table 4: 1x64d and 1x100d), an exact bottleneck width
wins, then the rest pair up in order of width. A difference to the paper is meaningful only when
our data are the paper's (PAPER_DATA: imagenet for Tables 3, 4 and the residual table;
cifar10/cifar100 for Table 7).
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..reference import REFERENCE_DIR

# study (config.specs.STUDIES, every one of them) -> the table its runs feed
STUDY_TABLES = {"table3": "table3", "table4": "table4", "residual": "residual", "table7": "table7", "fig7": "table7"}
PAPER_DATA = {"table3": {"imagenet"}, "table4": {"imagenet"}, "residual": {"imagenet"},
              "table7": {"cifar10", "cifar100"}}


def load_reference(reference_dir: Path = REFERENCE_DIR) -> dict[str, pd.DataFrame]:
    """The paper's numbers: {"table3": DataFrame, ...} from reference_dir/paper_*.csv."""
    files = sorted(Path(reference_dir).glob("paper_*.csv"))
    if not files:
        raise UserError(f"no paper_*.csv reference files in {reference_dir}")
    return {f.stem.removeprefix("paper_"): pd.read_csv(f) for f in files}


def _empty(value) -> bool:
    """No value: None, NaN (an empty CSV cell) or ''."""
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def table_of(study, template, dataset, shortcut) -> str | None:
    """Which table a run of our family feeds (the module docstring's rule); None for none."""
    if not _empty(study):
        return STUDY_TABLES.get(study)  # declared none, or unknown: no table, never a guess
    if shortcut is False:
        return "residual"
    if isinstance(template, str) and template.startswith("cifar") and dataset in ("cifar10", "cifar100"):
        return "table7"
    return "table3"


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


def match_by_depth(configs: list[tuple[str, int | None, int, int]], paper: pd.DataFrame) -> dict[tuple, int]:
    """Pair our (template, depth, C, d) with paper rows at the paper depth nearest each template's depth.

    Returns {(template, C, d): paper row index}.
    """
    matches = {}
    by_depth: dict[int, list] = {}
    for template, depth, c, d in configs:
        by_depth.setdefault(nearest_depth(depth, paper["depth"]), []).append((template, c, d))
    for pdepth, cfgs in by_depth.items():
        pairs = match_rows([(c, d) for _, c, d in cfgs], paper[paper["depth"] == pdepth])
        for t, c, d in cfgs:  # a (C, d) at two templates meeting one paper depth: the first keeps the row
            if (c, d) in pairs and pairs[(c, d)] not in matches.values():
                matches[(t, c, d)] = pairs[(c, d)]
    return matches


def paper_value(paper: pd.DataFrame, index, column) -> float | None:
    """A paper row's number, None for no row."""
    return None if index is None else float(paper.at[index, column])


def paper_name(paper: pd.DataFrame, index) -> str | None:
    """'ResNeXt-101 64x4d' for a paper row, None for no row."""
    if index is None:
        return None
    setting = paper.at[index, "setting"]
    return f"{paper.at[index, 'model']} {setting if isinstance(setting, str) else ''}".strip()
