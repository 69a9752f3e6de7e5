"""Gather run folders into flat CSVs: `runs.csv` (one row a run) and `curves.csv` (one row an epoch).

Collecting is tolerant of damage: a run folder is read file by file, and a file (or a line of
metrics.jsonl) that is empty, truncated or not what the run folder format says is skipped and
reported as (path, reason); everything else of that run is still collected.

Status of a run: `status` of result.json when it is "completed" or "failed"; "unknown" when
result.json exists but cannot be read (or names another status); otherwise "running" when
metrics.jsonl has at least one epoch, else "pending". Final and best errors come from result.json
only, so an unfinished run never looks finished.

`gpu_hours` is wall_seconds * max(num_gpus, 1) / 3600: on a CPU run (num_gpus 0) it is CPU-machine
hours, which the `device` column beside it makes plain.

If an epoch appears twice in metrics.jsonl (a run resumed after a crash redoes the epoch that
was not checkpointed) the later line wins in curves.csv.
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import fsutil
from ..errors import UserError
from ..config.spec import TEMPLATES

try:  # the C loader is ~10x faster, which matters for thousands of runs
    _YAML_LOADER = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _YAML_LOADER = yaml.SafeLoader

RUN_COLUMNS = [
    "run_id", "sweep", "ablation", "study", "configuration", "template", "depth", "cardinality",
    "bottleneck_width", "group_width", "block_form", "base_planes", "shortcut", "baseline",
    "dataset", "recipe", "epochs_planned", "seed", "params", "flops", "status",
    "final_val_top1_err", "final_val_top5_err", "best_val_top1_err", "best_val_top5_err",
    "epochs", "failed_epoch", "wall_seconds", "num_gpus", "gpu_hours", "images_per_sec",
    "device", "torch_version", "git_commit", "reason", "path",
]
METRIC_COLUMNS = [
    "epoch", "lr", "train_loss", "train_top1_err", "val_loss", "val_top1_err", "val_top5_err",
    "epoch_seconds", "images_per_sec",
]
STATUSES = ("completed", "failed", "running", "pending", "unknown")


@dataclass
class CollectResult:
    """What `collect` wrote and what it had to leave out."""

    runs_csv: Path
    curves_csv: Path
    runs: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n_runs(self) -> int:
        return len(self.runs)

    def status_counts(self) -> dict[str, int]:
        """Number of runs by status, in a fixed order, leaving out zero counts."""
        counts = {s: 0 for s in STATUSES}
        for row in self.runs:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return {s: n for s, n in counts.items() if n}


# ---------------------------------------------------------------- small tolerant readers

def _read_text(path: Path) -> str | None:
    """The file's text, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _first_line(message: object) -> str:
    """The first line of an error message (YAML errors span several)."""
    return str(message).strip().splitlines()[0] if str(message).strip() else type(message).__name__


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _num(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def read_config(path: Path, skipped: list) -> dict | None:
    """config.yaml as a mapping, or None (and a skipped entry) when absent, empty or not a mapping."""
    text = _read_text(path)
    if text is None:
        skipped.append((str(path), "missing"))
        return None
    if not text.strip():
        skipped.append((str(path), "empty file"))
        return None
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as e:
        skipped.append((str(path), f"not valid YAML: {_first_line(e)}"))
        return None
    if not isinstance(data, dict):
        skipped.append((str(path), f"not a mapping (got {type(data).__name__})"))
        return None
    return data


def read_result(path: Path, skipped: list) -> tuple[dict | None, str | None]:
    """(result.json mapping or None, why it could not be read or None); absent is not an error."""
    text = _read_text(path)
    if text is None:
        return None, None
    if not text.strip():
        why = "empty file"
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            why = f"truncated or not JSON ({e.msg} at line {e.lineno} column {e.colno})"
        else:
            if isinstance(data, dict):
                return data, None
            why = f"not a JSON object (got {type(data).__name__})"
    skipped.append((str(path), why))
    return None, f"result.json unreadable: {why}"


def read_metrics(path: Path, skipped: list) -> list[dict]:
    """The epochs of metrics.jsonl in epoch order (later duplicates win); bad lines are skipped."""
    text = _read_text(path)
    if not text:
        return []
    lines = text.split("\n")
    torn_possible = not text.endswith("\n")
    by_epoch: dict[int, dict] = {}
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            last = i == len(lines) and torn_possible
            why = "torn last line (partial write)" if last else "not valid JSON"
            skipped.append((str(path), f"line {i}: {why}"))
            continue
        if not isinstance(record, dict):
            skipped.append((str(path), f"line {i}: not a JSON object"))
            continue
        epoch = _int(record.get("epoch"))
        if epoch is None or epoch < 1:
            skipped.append((str(path), f"line {i}: no valid 'epoch'"))
            continue
        by_epoch[epoch] = record
    return [by_epoch[e] for e in sorted(by_epoch)]


# ---------------------------------------------------------------- one run

def _model_fields(config: dict) -> dict:
    """Model columns from config.yaml: our family's spec fields or a baseline's name."""
    model = _mapping(config.get("model"))
    baseline = _str(model.get("baseline"))
    if baseline:
        return {"baseline": baseline}
    template = _str(model.get("template"))
    cardinality = _int(model.get("cardinality"))
    width = _int(model.get("bottleneck_width"))
    known = TEMPLATES.get(template) if template else None
    return {
        "template": template,
        "depth": known.depth if known else None,
        "cardinality": cardinality,
        "bottleneck_width": width,
        "group_width": cardinality * width if cardinality and width else None,
        "block_form": _str(model.get("block_form")),
        "base_planes": _int(model.get("base_planes")),
        "shortcut": _bool(model.get("shortcut")),
    }


def _config_fields(config: dict) -> dict:
    """Columns that come from config.yaml."""
    recipe = _mapping(config.get("recipe"))
    complexity = _mapping(config.get("complexity"))
    return {
        "ablation": _str(config.get("ablation")),
        "study": _str(config.get("study")),
        "configuration": _str(config.get("configuration")),
        **_model_fields(config),
        "dataset": _str(_mapping(config.get("data")).get("name")),
        "recipe": _str(recipe.get("name")),
        "epochs_planned": _int(recipe.get("epochs")),
        "seed": _int(config.get("seed")),
        "params": _int(complexity.get("params")),
        "flops": _int(complexity.get("flops")),
    }


def _result_fields(result: dict) -> dict:
    """Columns that come from result.json (None where the value is absent or mistyped)."""
    wall = _num(result.get("wall_seconds"))
    gpus = _int(result.get("num_gpus"))
    fields = {
        key: _num(result.get(key))
        for key in ("final_val_top1_err", "final_val_top5_err", "best_val_top1_err", "best_val_top5_err",
                    "images_per_sec")
    }
    fields.update(
        epochs=_int(result.get("epochs")),
        failed_epoch=_int(result.get("failed_epoch")),
        wall_seconds=wall,
        num_gpus=gpus,
        gpu_hours=wall * max(gpus or 0, 1) / 3600 if wall is not None else None,
        device=_str(result.get("device")),
        torch_version=_str(_mapping(result.get("versions")).get("torch")),
        git_commit=_str(result.get("git_commit")),
        reason=_str(result.get("reason")),
    )
    for key in ("params", "flops", "seed"):
        if _int(result.get(key)) is not None:
            fields[key] = _int(result.get(key))
    return fields


def _status(result: dict | None, unreadable: str | None, n_epochs: int) -> tuple[str, str | None]:
    """(status, reason for an unknown status) following the module's rule."""
    if unreadable:
        return "unknown", unreadable
    if result is not None:
        status = result.get("status")
        if status in ("completed", "failed"):
            return status, None
        return "unknown", f"result.json status {status!r} is neither completed nor failed"
    return ("running" if n_epochs else "pending"), None


def collect_run(run_dir: Path, sweep: str, skipped: list) -> tuple[dict, list[dict]]:
    """One run folder as (runs.csv row, metrics records); never raises for damaged files."""
    row: dict[str, Any] = dict.fromkeys(RUN_COLUMNS)
    row.update(run_id=run_dir.name, sweep=sweep, path=str(run_dir))
    config = read_config(run_dir / "config.yaml", skipped)
    if config is not None:
        row.update(_config_fields(config))
    metrics = read_metrics(run_dir / "metrics.jsonl", skipped)
    result, unreadable = read_result(run_dir / "result.json", skipped)
    if result is not None:
        # result.json wins where it has a value (it measured the built model); config fills the rest.
        row.update({k: v for k, v in _result_fields(result).items() if v is not None})
    row["status"], why = _status(result, unreadable, len(metrics))
    if why:
        row["reason"] = why
    if row["epochs"] is None and metrics:
        row["epochs"] = len(metrics)
    return row, metrics


# ---------------------------------------------------------------- sweeps and output

def _run_dirs(sweep: Path) -> list[Path]:
    """The run folders of one sweep, sorted by name; a missing sweep is a UserError."""
    if not sweep.is_dir():
        raise UserError(f"sweep {sweep}: no such directory")
    runs = sweep / "runs"
    if not runs.is_dir():
        raise UserError(f"sweep {sweep}: no runs/ folder (is it a sweep directory?)")
    with os.scandir(runs) as entries:
        return sorted(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))


def _csv_text(rows: list[dict], columns: list[str]) -> str:
    """Rows as CSV text; None becomes an empty cell."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _curve_rows(sweep: str, run_id: str, metrics: list[dict], extra: set) -> list[dict]:
    rows = []
    for record in metrics:
        scalars = {k: v for k, v in record.items() if isinstance(v, (int, float, str, bool)) or v is None}
        extra.update(k for k in scalars if k not in METRIC_COLUMNS)
        rows.append({"sweep": sweep, "run_id": run_id, **scalars})
    return rows


def collect(sweeps: list[Path], out: Path, verbose: bool = True) -> CollectResult:
    """Gather every SWEEP/runs/*/ folder into out/runs.csv and out/curves.csv."""
    sweeps = [Path(s) for s in sweeps]
    if not sweeps:
        raise UserError("collect: name at least one sweep directory")
    plan = [(s, _run_dirs(s)) for s in sweeps]  # check every sweep before writing anything
    out = Path(out)
    result = CollectResult(out / "runs.csv", out / "curves.csv")
    curves: list[dict] = []
    extra: set = set()
    for sweep, run_dirs in plan:
        name = sweep.resolve().name
        for run_dir in run_dirs:
            row, metrics = collect_run(run_dir, name, result.skipped)
            result.runs.append(row)
            curves.extend(_curve_rows(name, row["run_id"], metrics, extra))
    fsutil.write_text(result.runs_csv, _csv_text(result.runs, RUN_COLUMNS))
    fsutil.write_text(result.curves_csv, _csv_text(curves, ["sweep", "run_id", *METRIC_COLUMNS, *sorted(extra)]))
    fsutil.write_text(out / "skipped.csv", _csv_text([{"path": p, "reason": r} for p, r in result.skipped],
                                                     ["path", "reason"]))
    if verbose:
        for path, why in result.skipped:
            print(f"skipped {path}: {why}")
        counts = ", ".join(f"{n} {s}" for s, n in result.status_counts().items()) or "none"
        print(f"collected {result.n_runs} runs ({counts}) from {len(sweeps)} sweep(s) into {out}; "
              f"{len(result.skipped)} skipped files or lines")
    return result
