"""A run's files as flat cells: config.yaml and result.json flattened for runs.csv and status."""
from __future__ import annotations

import json
from typing import Any, Optional

from ..config.templates import TEMPLATES
from .evaluations import SPLIT, Evaluation, default_resize
from .schema import NO_STUDY, RESERVED_COLUMNS, Result, _int, _num, _str

EVAL_PREFIX = "eval_"
EVAL_METRICS = {"err1": "top1_err", "err5": "top5_err"}  # column word -> Evaluation field

def config_columns(config: Optional[dict]) -> dict:
    """config.yaml flattened generically: model fields bare, data/recipe/runtime as data.KEY, ...

    A new spec field becomes a column with no edit here. Derived columns the tables rely on
    (dataset, recipe, epochs_planned, depth, group_width, params, flops) are added beside them.
    """
    present = isinstance(config, dict)
    config = config if present else {}
    row: dict[str, Any] = {}
    for key in ("ablation", "study", "space", "configuration", "seed", "image_size"):
        value = config.get(key)
        row[key] = value if isinstance(value, (str, int, float, bool)) and not isinstance(value, dict) else None
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    for key, value in model.items():
        if str(key) in RESERVED_COLUMNS:
            continue
        row[str(key)] = _scalar(value)
    for section in ("data", "recipe", "runtime", "complexity"):
        values = config.get(section)
        if isinstance(values, dict):
            for key, value in values.items():
                row[f"{section}.{key}"] = _scalar(value)
    template = model.get("template")
    known = TEMPLATES.get(template) if isinstance(template, str) else None
    cardinality, width = _int(model.get("cardinality")), _int(model.get("bottleneck_width"))
    recipe = config.get("recipe") if isinstance(config.get("recipe"), dict) else {}
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    complexity = config.get("complexity") if isinstance(config.get("complexity"), dict) else {}
    runtime = config.get("runtime") if isinstance(config.get("runtime"), dict) else {}
    if "study" in config and config["study"] is None:
        row["study"] = NO_STUDY  # declared as none (left out of the ablation), unlike an old run's absent key
    row.update(
        seed=_int(config.get("seed")),
        depth=known.depth if known else None,
        group_width=cardinality * width if cardinality and width else None,
        dataset=_str(data.get("name")),
        recipe=_str(recipe.get("name")),
        epochs_planned=_int(recipe.get("epochs")),
        params=_int(complexity.get("params")),
        flops=_int(complexity.get("flops")),
        # a config without a precision was written before it was recorded: those runs trained in fp32
        precision=_str(runtime.get("precision")) or ("fp32" if present else None),
    )
    return row


def _scalar(value: Any) -> Any:
    """A cell: scalars as they are (absurd numbers dropped), anything else as compact JSON."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (int, float)):
        return value if _num(value) is not None else None
    try:
        return json.dumps(value, sort_keys=True, default=str)[:500]
    except (TypeError, ValueError, RecursionError):
        return None


def result_columns(result: Optional[Result]) -> dict:
    """result.json's fields as cells, versions flattened (torch_version, ...)."""
    if result is None:
        return {}
    row = {k: v for k, v in result.to_dict().items() if k not in ("versions", "schema_version") and v is not None}
    for lib, version in (result.versions or {}).items():
        if isinstance(version, str):
            row[f"{lib}_version"] = version
    if result.wall_seconds is not None:
        row["gpu_hours"] = result.wall_seconds * max(result.num_gpus or 0, 1) / 3600
    return row


def view_name(crop: int, resize: int, split: str) -> str:
    """'crop320' for the usual resize and the held-out split; '_resizeM' and '_SPLIT' where they differ."""
    return (f"crop{crop}" + (f"_resize{resize}" if resize != default_resize(crop) and resize != crop else "")
            + (f"_{split}" if split != SPLIT else ""))


def evaluation_columns(entries: list[Evaluation]) -> dict:
    """A run's evaluations as cells: eval_err1_crop320, eval_err5_crop320, ... (one pair a view)."""
    row = {}
    for e in entries:
        for word, name in EVAL_METRICS.items():
            row[f"{EVAL_PREFIX}{word}_{view_name(e.crop, e.resize, e.split)}"] = getattr(e, name)
    return row


def evaluation_order(columns) -> list[str]:
    """The eval_ columns among `columns`, by crop, then view name, then metric (err1 before err5)."""
    def key(column: str):
        word, _, view = column[len(EVAL_PREFIX):].partition("_")
        crop = view.removeprefix("crop").split("_")[0]
        return (int(crop) if crop.isdigit() else 0, view, word)
    return sorted((c for c in columns if c.startswith(EVAL_PREFIX)), key=key)
