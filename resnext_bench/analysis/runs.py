"""runs.csv read for analysis: typed columns, the table each run feeds, and the groups runs pool in.

Runs are grouped by (template, dataset, recipe, planned epochs): numbers of different data or
recipes are never pooled. `prepare_runs` adds `ours` (a run of our ResNeXt family, not a
timm:/torchvision: baseline), `table` (which paper table it feeds: `paper.table_of`, on the
run's declared study), `group` (the key above), `variant` (the model's other fields, MODEL_FIELDS)
and `setting` ("32x4d"; "1x11d-bp18" when the runs of its group and table differ in base planes).

A configuration (a table cell) is (C, d, variant): runs of one C x d that differ in base planes,
stem width, shortcut or block form are different models and never share a cell.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..config.runs import SLUG_FIELDS
from ..config.templates import TEMPLATES
from ..config.specs import ModelSpec
from ..errors import UserError
from ..record.schema import first_line
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


# ModelSpec fields besides C and d that make two configurations different models, with their short
# names (the run id's slug: config.runs.SLUG_FIELDS; classes and channels follow from the data set).
MODEL_FIELDS = tuple((f, short) for f, short in SLUG_FIELDS if f not in ("num_classes", "in_chans"))
_DEFAULT_MODEL = ModelSpec()


def _field_value(field: str, value):
    """A model field's cell as a comparable value; empty (a runs.csv from before the field) is its default."""
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return getattr(_DEFAULT_MODEL, field)
    if isinstance(value, (bool, np.bool_)) or _as_bool(value) is not None:
        return _as_bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and float(value).is_integer():
        return int(value)
    return value if isinstance(value, (int, float)) else str(value)


def variant_of(row: dict) -> tuple:
    """((field, value), ...) of MODEL_FIELDS for one run: what besides C and d makes it a model."""
    return tuple((field, _field_value(field, row.get(field))) for field, _ in MODEL_FIELDS)


def model_words(variant: tuple, shown=()) -> str:
    """'bp18-stem32': the fields of `variant` named in `shown`, by MODEL_FIELDS' short names (as in a run id)."""
    short = dict(MODEL_FIELDS)
    return "-".join(f"{short[f]}{str(v).lower()}" for f, v in variant if f in shown)


def setting_label(c, d, variant: tuple, shown=()) -> str:
    """'32x4d', or '1x11d-bp18' when `shown` names fields of `variant` (`model_words`)."""
    words = model_words(variant, shown)
    return f"{int(c)}x{int(d)}d" + (f"-{words}" if words else "")


def varying_fields(variants) -> set:
    """The MODEL_FIELDS that take more than one value among `variants`."""
    values: dict = {}
    for variant in variants:
        for field, value in variant:
            values.setdefault(field, set()).add(value)
    return {f for f, v in values.items() if len(v) > 1}


def _settings(runs: pd.DataFrame) -> list:
    """Each run's setting label, showing the model fields that differ among the runs of its group and table."""
    shown: dict = {}
    for key, variant, ours in zip(zip(runs["group"], runs["table"]), runs["variant"], runs["ours"]):
        if ours:
            shown.setdefault(key, []).append(variant)
    shown = {key: varying_fields(v) for key, v in shown.items()}
    return [setting_label(c, w, v, shown[(g, t)]) if ours else None
            for c, w, v, g, t, ours in zip(runs["cardinality"], runs["bottleneck_width"], runs["variant"],
                                           runs["group"], runs["table"], runs["ours"])]


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
    fields = [f for f, _ in MODEL_FIELDS]
    runs["variant"] = pd.Series([variant_of(dict(zip(fields, row))) for row in
                                 zip(*(runs[f] if f in runs else [None] * len(runs) for f in fields))],
                                index=runs.index, dtype=object)
    runs["setting"] = pd.Series(_settings(runs), index=runs.index, dtype=object)
    return runs


# Columns without which no table, figure or reading can be made; the others an older collect may lack.
RUN_REQUIRED = ("run_id", "sweep", "status", "template", "dataset", "recipe", "cardinality", "bottleneck_width",
                "final_val_top1_err")
# Numbers that are never negative: counts, sizes and errors (%); a cell may be empty (a failed run has no error).
RUN_NUMBERS = ("depth", "cardinality", "bottleneck_width", "group_width", "base_planes", "epochs_planned", "seed",
               "params", "flops", "final_val_top1_err", "final_val_top5_err", "best_val_top1_err",
               "best_val_top5_err", "epochs", "failed_epoch", "wall_seconds", "num_gpus", "world_size", "gpu_hours",
               "images_per_sec", "threads", "complexity.acts", "complexity.flops", "complexity.params")
CURVE_REQUIRED = ("sweep", "run_id", "epoch")
CURVE_NUMBERS = ("epoch", "train_top1_err", "val_top1_err", "val_top5_err", "epoch_seconds", "images_per_sec")
NOT_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


def _read_table(path: Path, what: str, required: tuple, numbers: tuple) -> pd.DataFrame:
    """`path` parsed as CSV, its required columns present and its numbers finite and >= 0; else a UserError
    naming the file and the column. Only empty cells are missing values: 'nan' or 'inf' in a number is damage."""
    if not path.is_file():
        raise UserError(f"{path}: not a file (a {what} is a CSV file; rerun `resnext-bench collect`)")
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"{path}: not a {what} ({first_line(e)}); rerun `resnext-bench collect`") from None
    missing = [c for c in required if c not in frame]
    if missing:
        raise UserError(f"{path}: column {missing[0]} missing (a {what} needs {', '.join(required)}); "
                        "rerun `resnext-bench collect`")
    for column in numbers:
        if column not in frame:
            continue
        cells = frame[column]
        spelled_out = cells.astype(str).str.strip().str.lower().isin(NOT_FINITE)  # "nan", "inf": damage, not a value
        values = pd.to_numeric(cells.where(~spelled_out), errors="coerce")
        bad = (cells.notna() & ~np.isfinite(values.fillna(np.inf))) | (values < 0)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise UserError(f"{path}: column {column}, line {row + 2}: {str(cells.iloc[row])!r} is not a finite "
                            "number >= 0; rerun `resnext-bench collect`")
        frame[column] = values
    return frame


def read_runs(path: Path) -> pd.DataFrame:
    """THE reader of a runs.csv: parsed and checked (`_read_table`), older collects' columns added."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: not found (run `resnext-bench collect` first)")
    runs = _read_table(path, "runs table", RUN_REQUIRED, RUN_NUMBERS)
    for column in RUN_COLUMNS:  # a runs.csv from an older collect lacks the newer columns
        if column not in runs:
            runs[column] = None
    return runs


def read_curves(path: Path) -> pd.DataFrame:
    """THE reader of a curves.csv: empty when there is none (no run has per-epoch metrics), else checked."""
    path = Path(path)
    if not path.exists() or (path.is_file() and not path.stat().st_size):
        return pd.DataFrame()
    return _read_table(path, "curves table", CURVE_REQUIRED, CURVE_NUMBERS)


def load_runs(results_dir: Path) -> pd.DataFrame:
    """results_dir/runs.csv, read (`read_runs`) and prepared (see `prepare_runs`)."""
    return prepare_runs(read_runs(Path(results_dir) / "runs.csv"))


def load_curves(results_dir: Path) -> pd.DataFrame:
    """results_dir/curves.csv (`read_curves`)."""
    return read_curves(Path(results_dir) / "curves.csv")


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


def configurations(frame: pd.DataFrame) -> list[tuple[int, int, tuple]]:
    """The (C, d, variant) configurations of `frame`, sorted: one a model, never two models in one."""
    keys = {(int(c), int(d), v) for c, d, v in zip(frame["cardinality"], frame["bottleneck_width"], frame["variant"])}
    return sorted(keys, key=config_order)


def config_order(cfg: tuple) -> tuple:
    """A sort key of (C, d, variant) (or (template, C, d, variant)) that never compares text with numbers."""
    return tuple(tuple((f, isinstance(v, str), str(v) if isinstance(v, str) else v) for f, v in x)
                 if isinstance(x, tuple) else x for x in cfg)


def runs_of(frame: pd.DataFrame, c: int, d: int, variant: tuple) -> pd.DataFrame:
    """The runs of configuration (C, d, variant)."""
    return with_variant(frame[(frame["cardinality"] == c) & (frame["bottleneck_width"] == d)], variant)


def with_variant(frame: pd.DataFrame, variant: tuple) -> pd.DataFrame:
    """The rows of `frame` whose `variant` is `variant` (tuples compared whole; an empty frame stays whole)."""
    return frame[np.array([v == variant for v in frame["variant"]], dtype=bool)]


def with_field(variant: tuple, field: str, value) -> tuple:
    """`variant` with one model field set (the same model with or without its shortcut)."""
    return tuple((f, value if f == field else v) for f, v in variant)


def complexity_of(frame: pd.DataFrame, column: str) -> float | None:
    """The first known value of `column` (params, flops) among the runs of one configuration."""
    values = frame[column].dropna()
    return float(values.iloc[0]) if len(values) else None
