"""The run folder: its files' names, and the tolerant reader every other module reads it through.

    config.yaml         the resolved configuration (written once; strict reader `load_config`)
    metrics.jsonl       one JSON line an epoch: epochs 1..n, each once, in order
    checkpoint.pt       the latest checkpoint; checkpoint.prev.pt the one before it
    result.json         the outcome (`Result`), written when a run completes or fails
    failures.jsonl      the results of earlier failed attempts, one a line
    job.json            the scheduler submissions of the run and every attempt: when it ran and how it ended
    sweeps              the sweeps that list the run (record/store.py)
    .lock               held (flock) by the process training the run
    events/             TensorBoard event files (only with runtime.tensorboard; a view, never the record)
    trackers.json       the W&B / MLflow runs this run feeds (runtime.trackers): their ids, so a resume continues them

`read_run` never raises for a damaged folder: it returns one `RunRecord` with what it could read
and, in `skipped`, each (path, reason) it had to leave out. Writers are in runwrite.py. No torch
here: checkpoints are (de)serialised by engine/checkpoint.py, which asks this module for their paths.
"""
from __future__ import annotations

import dataclasses
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..config.runs import Run, run_from_config
from ..errors import UserError
from ..config.yamlfile import YamlRefused, parse_yaml, read_yaml_text
from .locks import lock_holder
from .runstate import file_state
from .schema import ATTEMPT_ENDS, ENDED, EPOCH_FIELDS, RESERVED_COLUMNS, Epoch, Job, Result, Attempt, _int, _num, _short, _typed

CONFIG = "config.yaml"


METRICS = "metrics.jsonl"


CHECKPOINT = "checkpoint.pt"


PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"


RESULT = "result.json"


FAILURES = "failures.jsonl"


JOB = "job.json"




JOB_LOCK = ".job.lock"  # serialises read-modify-write of job.json (a job and the launcher both add to it)


EVENTS = "events"  # folder of TensorBoard event files (engine/events.py)


TRACKERS = "trackers.json"  # tracker name -> {its run id, the last epoch it holds, ...} (engine/trackers.py)


@dataclass
class RunRecord:
    """Everything readable about one run folder, and what could not be read."""

    path: Path
    run_id: str
    config: Optional[dict] = None  # config.yaml as a mapping (not validated: see load_config)
    epochs: list[Epoch] = field(default_factory=list)
    result: Optional[Result] = None
    result_unreadable: Optional[str] = None  # why result.json exists but cannot be used
    job: Optional[Job] = None
    has_checkpoint: bool = False
    trainer: Optional[str] = None  # who holds the run's lock now (a live trainer), if anyone
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def epochs_planned(self) -> Optional[int]:
        recipe = (self.config or {}).get("recipe")
        return _int(recipe.get("epochs")) if isinstance(recipe, dict) else None

    @property
    def complete_epochs(self) -> bool:
        """The metrics hold epochs 1..n once, in order: n planned by the config (or, when the config
        cannot be read, the number the result reports)."""
        planned = self.epochs_planned
        if planned is None and self.result is not None:
            planned = self.result.epochs
        return planned is not None and [e.epoch for e in self.epochs] == list(range(1, planned + 1))

    @property
    def started(self) -> bool:
        return bool(self.epochs) or self.has_checkpoint

    @property
    def state(self) -> str:
        """The state the files alone say: completed, failed, unknown, running (progress) or pending."""
        return file_state(self)[0]

    @property
    def state_reason(self) -> Optional[str]:
        return file_state(self)[1]


def _read_text(path: Path, skipped: list) -> Optional[str]:
    """The file's text; None when absent (not reported) or unreadable (reported)."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError
        if not stat.S_ISREG(mode):  # a FIFO or a device would block or never end
            skipped.append((str(path), "not a regular file"))
            return None
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        skipped.append((str(path), "is a directory, not a file"))
    except OSError as e:  # permissions, a symlink loop, an I/O error
        skipped.append((str(path), f"unreadable ({e.strerror or type(e).__name__})"))
    return None


def _json(text: str) -> tuple[Any, Optional[str]]:
    """(parsed value, None) or (None, why) for any damage, absurd nesting and huge numbers included."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        return None, f"truncated or not JSON ({e.msg} at line {e.lineno} column {e.colno})"
    except (ValueError, RecursionError) as e:  # an integer of >4300 digits; nesting past the stack
        return None, f"not usable JSON ({type(e).__name__}: {str(e)[:80]})"


def read_config(run_dir: Path, skipped: list) -> Optional[dict]:
    """config.yaml as a mapping, or None (and a skipped entry) when absent, empty or not a mapping."""
    path = Path(run_dir) / CONFIG
    if not os.path.lexists(path):
        skipped.append((str(path), "missing"))
        return None
    try:  # the suite's one strict YAML reader: undecodable, huge, deep, aliased or repeated keys are damage
        text = read_yaml_text(path)
        if not text.strip():
            skipped.append((str(path), "empty file"))
            return None
        data = parse_yaml(text, str(path))
    except YamlRefused as e:
        skipped.append((str(path), e.why))
        return None
    if not isinstance(data, dict):
        skipped.append((str(path), f"not a mapping (got {type(data).__name__})"))
        return None
    return data


def identity_id(config: Optional[dict], where: str = CONFIG) -> Optional[str]:
    """The run id a config.yaml's configuration has today (Run.identity), or None when it cannot be
    read. A folder made before run ids were the configuration alone recorded another id."""
    if not isinstance(config, dict):
        return None
    try:
        return run_from_config(config, where).run_id
    except UserError:
        return None


def recorded_run_id(run_dir: Path) -> Optional[str]:
    """The run id config.yaml records (the folder's id when it was made), or None."""
    config = read_config(run_dir, [])
    value = config.get("run_id") if config else None
    return value if isinstance(value, str) else None


def load_config(run_dir: Path) -> Run:
    """The Run that run_dir/config.yaml describes, strictly validated (a UserError otherwise)."""
    path = Path(run_dir) / CONFIG
    skipped: list = []
    if not path.exists():
        raise UserError(f"{run_dir}: no {CONFIG}; start a run with `resnext-bench train ABLATION CONFIG`")
    data = read_config(run_dir, skipped)
    if data is None:
        raise UserError(f"{path}: {skipped[-1][1]}")
    return run_from_config(data, str(path))


def read_epochs(run_dir: Path, skipped: list) -> list[Epoch]:
    """The epochs of metrics.jsonl in file order; damaged lines are skipped and reported."""
    path = Path(run_dir) / METRICS
    text = _read_text(path, skipped)
    if not text:
        return []
    lines = text.split("\n")
    torn_possible = not text.endswith("\n")
    epochs = []
    where = str(path)
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        at = f"line {i}: "
        record, why = _json(line)
        if why:
            last = i == len(lines) and torn_possible
            skipped.append((where, at + ("torn last line (partial write)" if last else "not valid JSON")))
            continue
        if not isinstance(record, dict):
            skipped.append((where, at + "not a JSON object"))
            continue
        epoch = _typed(Epoch, record, where, skipped, required=("epoch",), prefix=at)
        if epoch is None:
            continue
        if epoch.epoch < 1:
            skipped.append((where, at + f"epoch {epoch.epoch} < 1"))
            continue
        extra = {}
        for key, value in record.items():
            if key in EPOCH_FIELDS:
                continue
            if key in RESERVED_COLUMNS:
                skipped.append((where, at + f"key {key!r} collides with a column the suite owns; ignored"))
            elif isinstance(value, (str, bool)) or _num(value) is not None:
                extra[key] = value
        epochs.append(dataclasses.replace(epoch, extra=extra))
    return epochs


def in_epoch_order(epochs: list[Epoch]) -> list[Epoch]:
    """One Epoch per epoch number, sorted (a later line for the same epoch wins)."""
    by_epoch = {e.epoch: e for e in epochs}
    return [by_epoch[k] for k in sorted(by_epoch)]


def read_result(run_dir: Path, skipped: list) -> tuple[Optional[Result], Optional[str]]:
    """(Result or None, why result.json exists but is unusable, or None); absent is not an error."""
    path = Path(run_dir) / RESULT
    n = len(skipped)
    text = _read_text(path, skipped)
    if text is None:
        return None, (f"result.json {skipped[-1][1]}" if len(skipped) > n else None)
    if not text.strip():
        why = "empty file"
    else:
        data, why = _json(text)
        if why is None and not isinstance(data, dict):
            why = f"not a JSON object (got {type(data).__name__})"
        if why is None:
            if data.get("status") not in ENDED:
                why = f"status {_short(data.get('status'))} is neither completed nor failed"
            else:
                return _typed(Result, data, str(path), skipped, required=("status",)), None
    skipped.append((str(path), why))
    return None, f"{RESULT} unreadable: {why}"


def read_job(run_dir: Path, skipped: Optional[list] = None) -> Optional[Job]:
    """job.json as a Job, or None when absent or unusable (reported in `skipped`)."""
    skipped = [] if skipped is None else skipped
    path = Path(run_dir) / JOB
    text = _read_text(path, skipped)
    if text is None:
        return None
    data, why = _json(text)
    if why is None and not isinstance(data, dict):
        why = "not a JSON object"
    if why:
        skipped.append((str(path), why))
        return None
    if "job_id" in data and not isinstance(data["job_id"], str):
        data = {**data, "job_id": str(data["job_id"])}
    job = _typed(Job, data, str(path), skipped, required=("job_id", "executor"))
    if job is None:
        return None
    attempts = []
    for i, entry in enumerate(job.attempt_log):
        at = f"attempt_log[{i}]: "
        if not isinstance(entry, dict):
            skipped.append((str(path), at + "not a JSON object"))
            continue
        attempt = _typed(Attempt, entry, str(path), skipped, required=("job_id",), prefix=at)
        if attempt is None:
            continue
        if attempt.end is not None and attempt.end not in ATTEMPT_ENDS:
            skipped.append((str(path), at + f"end {_short(attempt.end)} is not one of {', '.join(ATTEMPT_ENDS)}"))
            attempt = dataclasses.replace(attempt, end=None)
        attempts.append(attempt)
    return dataclasses.replace(job, attempt_log=tuple(attempts))


def read_trackers(run_dir: Path, skipped: Optional[list] = None) -> dict[str, dict]:
    """trackers.json as {tracker: its entry}; {} when absent or damaged (the damage goes to `skipped`)."""
    skipped = [] if skipped is None else skipped
    path = Path(run_dir) / TRACKERS
    text = _read_text(path, skipped)
    if text is None:
        return {}
    data, why = _json(text)
    if why is None and not (isinstance(data, dict) and all(isinstance(v, dict) for v in data.values())):
        why = "not a mapping of tracker entries"
    if why is not None:
        skipped.append((str(path), why))
        return {}
    return data


def has_checkpoint(run_dir: Path) -> bool:
    return any(_is_file(Path(run_dir) / name) for name in (CHECKPOINT, PREVIOUS_CHECKPOINT))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def read_run(run_dir: Path) -> RunRecord:
    """One run folder as a RunRecord; never raises for any damage to any of its files."""
    run_dir = Path(run_dir)
    record = RunRecord(path=run_dir, run_id=run_dir.name)
    skipped = record.skipped
    record.config = read_config(run_dir, skipped)
    record.epochs = in_epoch_order(read_epochs(run_dir, skipped))
    record.result, record.result_unreadable = read_result(run_dir, skipped)
    record.job = read_job(run_dir, skipped)
    record.has_checkpoint = has_checkpoint(run_dir)
    record.trainer = lock_holder(run_dir)
    return record


def epochs_of(run_dir: Path) -> list[dict]:
    """The run's epochs as plain dicts, in epoch order (damaged lines left out)."""
    return [e.to_dict() for e in in_epoch_order(read_epochs(run_dir, []))]


def result_of(run_dir: Path) -> Optional[dict]:
    """The run's result as a plain dict, or None when it has none (or an unusable one)."""
    result, _ = read_result(run_dir, [])
    return result.to_dict() if result else None


def checkpoint_paths(run_dir: Path) -> tuple[Path, Path]:
    """(latest, previous) checkpoint paths."""
    return Path(run_dir) / CHECKPOINT, Path(run_dir) / PREVIOUS_CHECKPOINT
