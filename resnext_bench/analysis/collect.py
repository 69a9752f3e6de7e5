"""Gather run folders into flat CSVs: `runs.csv` (one row a run) and `curves.csv` (one row an epoch).

Every run folder is read through record/runfolder.py, which is tolerant of damage: a file (or a line
of the metrics) that is missing, empty, truncated, unreadable, absurd or of the wrong type is
skipped and reported as (path, reason) in skipped.csv; everything else of that run is collected.

Columns: the suite's own (RUN_COLUMNS: identity, status, outcome, provenance) come first; then
config.yaml flattened generically (model fields bare, `data.KEY`, `recipe.KEY`, `runtime.KEY`,
`complexity.KEY`), so a new spec field becomes a column with no edit here; then any other field a
result carries. A stored key never overwrites a column the suite owns. Last, a run's evaluations
after training (RUN/evaluations.json, `resnext-bench evaluate`): eval_err1_crop320, eval_err5_crop320,
... one pair a view, ordered by crop, so the columns before them keep their places.

Status is the file state (record/runstate.py): completed (and every epoch recorded once), failed, unknown (a
result that cannot be used, or "completed" with epochs missing), running (progress on disk) or
pending. Final and best errors come from the result only, so an unfinished run never looks
finished. `gpu_hours` is wall_seconds * max(num_gpus, 1) / 3600: CPU-machine hours for a CPU run,
which the `device` column beside it makes plain.
"""
from __future__ import annotations

import csv
import math
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.yamlfile import YamlRefused, read_yaml_mapping
from ..units import plural
from .. import fsutil
from ..record import evaluations, runcolumns, runfolder, runstate, schema, sweep as sweep_layout
from ..errors import UserError
from ..progress import progress
from ..record.store import sweeps_listing

RUN_COLUMNS = [
    "run_id", "sweep", "ablation", "study", "configuration", "template", "depth", "cardinality",
    "bottleneck_width", "group_width", "block_form", "base_planes", "shortcut", "baseline",
    "dataset", "recipe", "epochs_planned", "seed", "params", "flops", "status",
    "final_val_top1_err", "final_val_top5_err", "best_val_top1_err", "best_val_top5_err",
    "epochs", "failed_epoch", "wall_seconds", "num_gpus", "world_size", "gpu_hours", "images_per_sec",
    "precision", "device", "channels_last", "compile", "threads", "torch_version", "torchvision_version",
    "timm_version", "python_version", "cuda_version", "git_commit", "checkpoint_fallback", "reason", "path",
    "shared_with", "legacy_run_id",
]
METRIC_COLUMNS = ["epoch", *[f for f in schema.EPOCH_FIELDS if f != "epoch"]]
LARGE_SWEEP = 200  # runs in a sweep from which collect reports its progress
STATUSES = (schema.COMPLETED, schema.FAILED, schema.RUNNING, schema.PENDING, schema.UNKNOWN)


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


# ---------------------------------------------------------------- one run

def run_row(record: runfolder.RunRecord, sweep: str) -> dict:
    """One runs.csv row from a RunRecord: the suite's columns, then everything else it holds."""
    row: dict[str, Any] = dict.fromkeys(RUN_COLUMNS)
    extra = {}
    for key, value in runcolumns.config_columns(record.config).items():
        (row if key in row else extra)[key] = value
    for key, value in runcolumns.result_columns(record.result).items():
        # The result measured the built model and knows what ran; the config fills the rest.
        (row if key in row else extra)[key] = value
    # The run id is the configuration's (Run.identity): a folder made under an older id scheme is
    # read under its id of today, so it joins the same run listed by other sweeps.
    old_scheme = isinstance(record.config, dict) and record.config.get("id_scheme") is None
    identity = runfolder.identity_id(record.config, str(record.path / runfolder.CONFIG)) if old_scheme else None
    row.update(run_id=identity or record.run_id, sweep=sweep, path=str(record.path))
    if identity and identity != record.run_id:
        row["legacy_run_id"] = record.run_id
    row["status"], why = runstate.file_state(record)
    if why:
        row["reason"] = why
    if row["epochs"] is None and record.epochs:
        row["epochs"] = len(record.epochs)
    return {**row, **{k: v for k, v in extra.items() if k not in schema.RESERVED_COLUMNS}}


def collect_run(run_dir: Path, sweep: str, skipped: list) -> tuple[dict, list[dict]]:
    """One run folder as (runs.csv row, epoch dicts); never raises for damaged files."""
    record = runfolder.read_run(run_dir)
    skipped.extend(record.skipped)
    row = {**run_row(record, sweep), **runcolumns.evaluation_columns(evaluations.read_evaluations(run_dir, skipped))}
    return row, [e.to_dict() for e in record.epochs]


def sweep_rows(row: dict, run_dir: Path, sweep: Path, listed: dict[str, list[dict]]) -> list[dict]:
    """The run's rows in this sweep: one a membership sweep.json lists (with this sweep's labels:
    a model sampled in two spaces is in both), and the other sweeps that list the same run."""
    here = str(sweep.resolve())
    others = [Path(s).name for s in sweeps_listing(run_dir) if s != here]
    row = {**row, "shared_with": ";".join(others) or None}
    memberships = listed.get(row["run_id"]) or listed.get(row.get("legacy_run_id") or "") or []
    return [{**row, **{k: label_cell(k, m[k]) for k in sweep_layout.LABELS if k in m and k != "seed"}}
            for m in memberships] or [row]


def label_cell(key: str, value):
    """A sweep.json label as its runs.csv cell: a study declared as none reads as config_columns writes it."""
    return schema.NO_STUDY if key == "study" and value is None else value


# ---------------------------------------------------------------- sweeps and output

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
        scalars = {k: v for k, v in record.items() if k not in schema.RESERVED_COLUMNS}
        extra.update(k for k in scalars if k not in METRIC_COLUMNS)
        rows.append({**scalars, "sweep": sweep, "run_id": run_id})
    return rows


def declared_min_effect(sweep: Path, skipped: list) -> float | None:
    """The `min_effect` the sweep's ablation file (its copy in the sweep) declares, or None.

    A copy that does not parse, or a value that is not a number > 0, is listed in `skipped` and
    declares nothing: the report then shows no seeds-needed for that sweep's runs.
    """
    path = Path(sweep) / sweep_layout.ABLATION_FILE
    if not path.is_file():
        return None
    try:
        data = read_yaml_mapping(path)  # the suite's one strict YAML reader
    except YamlRefused as exc:
        skipped.append((str(path), f"ablation file unreadable, min_effect ignored ({exc.why})"))
        return None
    value = data.get("min_effect")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        skipped.append((str(path), f"min_effect {value!r} is not a number of points > 0, ignored"))
        return None
    return float(value)


def collect(sweeps: list[Path], out: Path, verbose: bool = True) -> CollectResult:
    """Gather every SWEEP/runs/*/ folder into out/runs.csv and out/curves.csv."""
    sweeps = [Path(s) for s in sweeps]
    if not sweeps:
        raise UserError("collect: name at least one sweep directory")
    listing: list = []
    plan = [(s, sweep_layout.run_dirs(s, listing)) for s in sweeps]  # check every sweep before writing anything
    out = Path(out)
    result = CollectResult(out / "runs.csv", out / "curves.csv", skipped=listing)
    curves: list[dict] = []
    extra: set = set()
    for sweep, run_dirs in plan:
        name = sweep.resolve().name
        # Thousands of runs on a shared file system take minutes: say how far along (not for a few).
        talk = verbose and len(run_dirs) >= LARGE_SWEEP
        listed = sweep_layout.entries(sweep)
        declared = declared_min_effect(sweep, result.skipped)
        for run_dir in progress(run_dirs, len(run_dirs), f"collect {name}", lambda d: d.name) if talk else run_dirs:
            row, metrics = collect_run(run_dir, name, result.skipped)
            # this sweep's rows (run id and sweep) carry the effect its ablation declared before the runs
            result.runs.extend({**r, "min_effect": declared} if declared is not None else r
                               for r in sweep_rows(row, run_dir, sweep, listed))
            curves.extend(_curve_rows(name, row["run_id"], metrics, extra))
    more = {k for row in result.runs for k in row} - set(RUN_COLUMNS)
    evaluated = runcolumns.evaluation_order(more)
    more = sorted(more - set(evaluated)) + evaluated
    fsutil.write_text(result.runs_csv, _csv_text(result.runs, RUN_COLUMNS + more))
    fsutil.write_text(result.curves_csv, _csv_text(curves, ["sweep", "run_id", *METRIC_COLUMNS, *sorted(extra)]))
    fsutil.write_text(out / "skipped.csv", _csv_text([{"path": p, "reason": r} for p, r in result.skipped],
                                                     ["path", "reason"]))
    if verbose:
        for path, why in result.skipped:
            print(f"skipped {path}: {why}")
        counts = ", ".join(f"{n} {s}" for s, n in result.status_counts().items()) or "none"
        print(f"collected {plural(result.n_runs, 'run')} ({counts}) from {plural(len(sweeps), 'sweep')} into {out}; "
              f"{len(result.skipped)} skipped files or lines")
    return result
