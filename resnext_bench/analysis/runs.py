"""runs.csv read for analysis: typed columns, the table each run feeds, and the groups runs pool in.

Runs are grouped by (template, dataset, recipe, planned epochs): numbers of different data or
recipes are never pooled. `prepare_runs` adds `ours` (a run of our ResNeXt family, not a
timm:/torchvision: baseline), `table` (which paper table it feeds: `paper.table_of`, on the
run's declared study), `group` (the key above) and `setting` ("32x4d").
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..config.spec import TEMPLATES
from ..errors import UserError
from ..engine.rundir import first_line
from .collect import RUN_COLUMNS
from .paper import table_of


def _as_bool(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _as_text(value):
    """A cell as text, None when empty (a CSV reads an empty cell as NaN)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value)
    return text or None


def prepare_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """runs.csv with typed columns, an `ours` flag, a `table` column and a `group` key."""
    runs = runs.copy()
    if "study" not in runs:  # a frame from before studies were declared
        runs["study"] = None
    for col in ("baseline", "template", "dataset", "recipe", "ablation", "status", "configuration"):
        runs[col] = runs[col].astype(object).where(runs[col].notna(), None)
    runs["study"] = pd.Series([_as_text(v) for v in runs["study"]], index=runs.index, dtype=object)
    for col in ("depth", "cardinality", "bottleneck_width", "epochs_planned", "seed", "params", "flops",
                "final_val_top1_err", "final_val_top5_err"):
        runs[col] = pd.to_numeric(runs[col], errors="coerce")
    runs["shortcut"] = [_as_bool(v) for v in runs["shortcut"]]
    runs["ours"] = runs["baseline"].isna() & runs["template"].notna() & runs["cardinality"].notna() \
        & runs["bottleneck_width"].notna()
    runs["table"] = pd.Series([
        table_of(s, t, d, sc) if ours else None
        for s, t, d, sc, ours in zip(runs["study"], runs["template"], runs["dataset"], runs["shortcut"], runs["ours"])
    ], index=runs.index, dtype=object)
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
        raise UserError(f"{path}: not a runs table ({first_line(e)}); rerun `resnext-bench collect`") from None
    for column in RUN_COLUMNS:  # a runs.csv from an older collect lacks the newer columns
        if column not in runs:
            runs[column] = None
    return prepare_runs(runs)


# ---------------------------------------------------------------- groups

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


def data_label(dataset, recipe, epochs) -> str:
    """'imagenet, paper-imagenet, 100 ep': a group key without its template."""
    return f"{dataset or '?'}, {recipe or '?'}, {epochs if epochs is not None else '?'} ep"


def in_group(frame: pd.DataFrame, group: tuple) -> pd.DataFrame:
    """The rows of `frame` whose group key is `group` (tuples compared whole, never element-wise)."""
    return frame[[key == group for key in frame["group"]]]


def sorted_groups(frame: pd.DataFrame) -> list[tuple]:
    """The group keys of `frame`, shallow depths first."""
    keys = set(frame["group"])
    return sorted(keys, key=lambda g: (depth_of(g[0]) or 0, *(str(x) for x in g)))


def configurations(frame: pd.DataFrame) -> list[tuple[int, int]]:
    """The (C, d) configurations of `frame`, sorted."""
    pairs = {(int(c), int(d)) for c, d in zip(frame["cardinality"], frame["bottleneck_width"])}
    return sorted(pairs)


def runs_of(frame: pd.DataFrame, c: int, d: int) -> pd.DataFrame:
    """The runs of configuration CxDd."""
    return frame[(frame["cardinality"] == c) & (frame["bottleneck_width"] == d)]


def complexity_of(frame: pd.DataFrame, column: str) -> float | None:
    """The first known value of `column` (params, flops) among the runs of one configuration."""
    values = frame[column].dropna()
    return float(values.iloc[0]) if len(values) else None
