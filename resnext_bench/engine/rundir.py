"""The run folder: the one owner of SWEEP/runs/RUN_ID/ and of the words for a run's state.

    config.yaml         the resolved configuration (written once; strict reader `load_config`)
    metrics.jsonl       one JSON line an epoch: epochs 1..n, each once, in order
    checkpoint.pt       the latest checkpoint; checkpoint.prev.pt the one before it
    result.json         the outcome (`Result`), written when a run completes or fails
    failures.jsonl      the results of earlier failed attempts, one a line
    job.json            the scheduler submissions of the run (`record_job`) and every attempt
                        (`start_attempt`, `end_attempt`): when it ran and how it ended
    .lock               held (flock) by the process training the run
    events/             TensorBoard event files (only with runtime.tensorboard; a view, never the record)

Every other module asks this one: training writes through `write_config`, `append_epoch`,
`truncate_metrics`, `write_result`, `archive_failure`; the launcher through `record_job`; jobs and
the launcher record attempts through `start_attempt` and `end_attempt`; status
and collect read through `read_run`, which never raises for a damaged folder: it returns one
`RunRecord` with what it could read and, in `skipped`, each (path, reason) it had to leave out.

This module imports no torch: checkpoints are (de)serialised by engine/checkpoint.py, which asks
this one only for their paths.
"""
from __future__ import annotations

import dataclasses
import fcntl
import functools
import json
import math
import os
import socket
import stat
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml

from .. import fsutil
from ..config.runs import Run, run_from_config
from ..config.spec import TEMPLATES
from ..errors import UserError
from ..record.sweep import runs_dir

SCHEMA_VERSION = 2  # 1: result.json without schema_version / provenance fields

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"
RESULT = "result.json"
FAILURES = "failures.jsonl"
JOB = "job.json"
LOCK = ".lock"
JOB_LOCK = ".job.lock"  # serialises read-modify-write of job.json (a job and the launcher both add to it)
EVENTS = "events"  # folder of TensorBoard event files (engine/events.py)

# ---------------------------------------------------------------- the states of a run

NEW = "new"  # config written, never submitted
PENDING = "pending"  # waiting: queued, or nothing trained yet
HELD = "held"  # queued but held (by a user, an admin, or Slurm after a node failure): never starts on its own
REQUEUED = "requeued"  # preempted or near its time limit, checkpointed, and queued again
RUNNING = "running"
COMPLETED = "completed"  # result.json says so and metrics hold every epoch once
FAILED = "failed"
CANCELLED = "cancelled"  # left the queue without a result: cancelled, killed or lost
UNKNOWN = "unknown"  # the files (or the scheduler) cannot say
STATES = (NEW, PENDING, HELD, REQUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, UNKNOWN)
ENDED = (COMPLETED, FAILED)  # the states result.json can record
LIVE = (PENDING, HELD, REQUEUED, RUNNING)  # a job of the run is still in the queue

# How one attempt (one execution of a job: a requeued job runs again under the same id) ended.
# The job records its own end; the launcher records what it observes for attempts left open.
PREEMPTED = "preempted"  # USR2 before the time limit: checkpointed and requeued
TIMEOUT = "timeout"  # USR2 near the time limit (requeued), or Slurm's TIMEOUT
NODE_FAIL = "node_fail"
LOST = "lost"  # left the queue with no end recorded (SIGKILL, a node lost, or ended too long ago to see)
KILLED = "killed"  # by a signal it could not handle (kill -9, the OOM killer): seen by the job's supervisor or Slurm
ATTEMPT_ENDS = (COMPLETED, FAILED, PREEMPTED, TIMEOUT, CANCELLED, NODE_FAIL, LOST, KILLED)

# Largest magnitude a stored number may have before it is taken as damage, not a measurement.
ABSURD = 1e18

try:  # the C loader is ~10x faster, which matters for thousands of runs
    _YAML_LOADER = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _YAML_LOADER = yaml.SafeLoader


# ---------------------------------------------------------------- typed records

@dataclass(frozen=True)
class Epoch:
    """One line of metrics.jsonl."""

    epoch: int
    lr: Optional[float] = None
    train_loss: Optional[float] = None
    train_top1_err: Optional[float] = None
    val_loss: Optional[float] = None
    val_top1_err: Optional[float] = None
    val_top5_err: Optional[float] = None
    epoch_seconds: Optional[float] = None
    images_per_sec: Optional[float] = None
    data_wait_pct: Optional[float] = None
    extra: dict = field(default_factory=dict)  # other scalar keys a newer writer added

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**self.extra, **d}


EPOCH_FIELDS = tuple(f.name for f in dataclasses.fields(Epoch) if f.name != "extra")


@dataclass(frozen=True)
class Result:
    """result.json: how a run ended, what it measured, and what it ran on."""

    status: str  # completed | failed
    reason: Optional[str] = None
    failed_epoch: Optional[int] = None
    final_val_top1_err: Optional[float] = None
    final_val_top5_err: Optional[float] = None
    best_val_top1_err: Optional[float] = None
    best_val_top5_err: Optional[float] = None
    params: Optional[int] = None
    flops: Optional[int] = None
    epochs: Optional[int] = None
    wall_seconds: Optional[float] = None
    images_per_sec: Optional[float] = None
    device: Optional[str] = None  # e.g. "NVIDIA H100 80GB HBM3" or "cpu (AMD EPYC 7B13)"
    num_gpus: Optional[int] = None
    world_size: Optional[int] = None
    seed: Optional[int] = None
    precision: Optional[str] = None
    channels_last: Optional[bool] = None
    compile: Optional[bool] = None
    threads: Optional[int] = None  # torch intra-op threads of rank 0
    data_loader: Optional[str] = None  # the delivery path or ImageNet decoder `data.loader` resolved to
    versions: dict = field(default_factory=dict)  # torch, torchvision, timm, python, cuda, cudnn
    git_commit: Optional[str] = None
    run_id: Optional[str] = None
    code_dir: Optional[str] = None
    checkpoint_fallback: Optional[str] = None  # set when the latest checkpoint was damaged
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Attempt:
    """One execution of a job for this run: who ran it, when, and how it ended (None: not yet)."""

    job_id: str
    started_at: Optional[str] = None  # None: the job ended (was cancelled) before it started
    host: Optional[str] = None
    ended_at: Optional[str] = None
    end: Optional[str] = None  # one of ATTEMPT_ENDS
    reason: Optional[str] = None
    observed: Optional[bool] = None  # True: recorded by the launcher from the queue, not by the job
    by: Optional[str] = None  # who ended it, where known (the user who ran `cancel`)

    def to_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Job:
    """job.json: the run's latest submission, every earlier one (`history`), and every attempt.

    `attempts` counts submissions (the retry limit counts them); `attempt_log` lists executions,
    a requeued job adding one each time it starts again. job.json files written before the
    attempt log read with an empty one.
    """

    job_id: str
    executor: str  # slurm | local | debug
    submitted_at: Optional[str] = None
    attempts: int = 1
    history: tuple = ()  # {"job_id", "submitted_at", "folder"} per submission, oldest first
    submitit_folder: Optional[str] = None
    pid: Optional[int] = None
    attempt_log: tuple = ()  # Attempt, oldest first

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "history": list(self.history),
                "attempt_log": [a.to_dict() for a in self.attempt_log]}

    @property
    def last_attempt(self) -> Optional[Attempt]:
        """The latest attempt of the current job, if it has one."""
        mine = [a for a in self.attempt_log if a.job_id == self.job_id]
        return mine[-1] if mine else None


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


# ---------------------------------------------------------------- tolerant scalar readers

def _int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) <= ABSURD:
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) <= ABSURD:
        return int(value)
    return None


def _num(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return value if math.isfinite(value) and abs(value) <= ABSURD else None


def _str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def _bool(value: Any) -> Optional[bool]:
    return value if isinstance(value, bool) else None


_READERS = {int: _int, float: _num, str: _str, bool: _bool}


@functools.lru_cache(maxsize=None)
def _field_types(cls) -> tuple[tuple[str, type], ...]:
    """(name, type without Optional) of each field of a record class (resolved once)."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, next((a for a in typing.get_args(hints[f.name]) if a is not type(None)), hints[f.name]))
                 for f in dataclasses.fields(cls) if f.name != "extra")


def _typed(cls, data: dict, where: str, skipped: list, required=(), prefix: str = "") -> Optional[Any]:
    """Build dataclass `cls` from `data`, dropping (and reporting) values of the wrong type."""
    kwargs = {}
    for name, base in _field_types(cls):
        if name not in data:
            continue
        value = data[name]
        if value is None:
            continue
        if base in _READERS:
            read = _READERS[base](value)
            if read is None:
                skipped.append((where, f"{prefix}{name}: {_short(value)} is not a usable {base.__name__}; left empty"))
                continue
            kwargs[name] = read
        elif base is dict:
            if isinstance(value, dict):
                kwargs[name] = value
            else:
                skipped.append((where, f"{prefix}{name}: expected a mapping; left empty"))
        elif base is tuple:
            kwargs[name] = tuple(value) if isinstance(value, list) else ()
    missing = [k for k in required if k not in kwargs]
    if missing:
        skipped.append((where, f"{prefix}no usable {missing[0]!r}"))
        return None
    return cls(**kwargs)


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else f"an integer of {len(str(abs(value)))} digits"
    return text if len(text) <= 60 else text[:57] + "..."


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


def first_line(message: object) -> str:
    text = str(message).strip()
    return text.splitlines()[0] if text else type(message).__name__


# ---------------------------------------------------------------- readers

def read_config(run_dir: Path, skipped: list) -> Optional[dict]:
    """config.yaml as a mapping, or None (and a skipped entry) when absent, empty or not a mapping."""
    path = Path(run_dir) / CONFIG
    text = _read_text(path, skipped)
    if text is None:
        if not any(p == str(path) for p, _ in skipped):
            skipped.append((str(path), "missing"))
        return None
    if not text.strip():
        skipped.append((str(path), "empty file"))
        return None
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as e:
        skipped.append((str(path), f"not valid YAML: {first_line(e)}"))
        return None
    except RecursionError:
        skipped.append((str(path), "nested too deeply"))
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


def file_state(record: RunRecord) -> tuple[str, Optional[str]]:
    """(state, why when unknown) from the files alone, without asking the scheduler."""
    if record.result_unreadable:
        return UNKNOWN, record.result_unreadable
    if record.result is not None:
        if record.result.status == COMPLETED and not record.complete_epochs:
            got = [e.epoch for e in record.epochs]
            return UNKNOWN, (f"result.json says completed but metrics.jsonl holds epochs {_span(got)} "
                             f"of {record.epochs_planned if record.epochs_planned is not None else '?'}")
        return record.result.status, None
    return (RUNNING if record.started else PENDING), None


def _span(epochs: list[int]) -> str:
    if not epochs:
        return "none"
    if epochs == list(range(epochs[0], epochs[-1] + 1)):
        return f"{epochs[0]}-{epochs[-1]}"
    return ",".join(map(str, epochs[:12])) + ("..." if len(epochs) > 12 else "")


@dataclass(frozen=True)
class Queued:
    """What the scheduler says of one job: pending, held, requeued or running (LIVE), or how it
    ended while it is still listed; `reason` is the scheduler's (e.g. JobHeldUser)."""

    state: str
    reason: str = ""


def run_state(record: RunRecord, queued: Optional[dict[str, Queued]]) -> str:
    """The run's state from its files and the scheduler's answer.

    `queued` maps the job ids the scheduler still lists to what it says of them; None means the
    scheduler did not answer, so a run with a job and no result is unknown, never "cancelled".
    """
    state = record.state
    if state in (COMPLETED, FAILED, UNKNOWN):
        return state
    if record.trainer is not None:  # a live process holds the run's lock
        return RUNNING
    job = record.job
    if job is None:
        return NEW if not record.started else CANCELLED
    if queued is None:
        return UNKNOWN
    entry = queued.get(job.job_id)
    if entry is None or entry.state not in LIVE:
        return CANCELLED
    last = job.last_attempt
    if entry.state == RUNNING and job.executor == "local":
        # A local chain runs its runs in turn: the job runs, but this run only once its attempt started.
        return RUNNING if last is not None and last.started_at and last.end is None else PENDING
    if entry.state == PENDING and last is not None and last.end in (PREEMPTED, TIMEOUT):
        return REQUEUED  # queued again after its checkpoint, waiting to resume
    return entry.state


# ---------------------------------------------------------------- listing a sweep

def run_dirs(sweep: Path, skipped: Optional[list] = None) -> list[Path]:
    """The run folders of one sweep, sorted by name; a missing sweep is a UserError.

    Entries that are not folders, or whose names are not valid UTF-8, are reported in `skipped`.
    """
    sweep = Path(sweep)
    skipped = [] if skipped is None else skipped
    if not sweep.is_dir():
        raise UserError(f"sweep {sweep}: no such directory")
    runs = runs_dir(sweep)
    if not runs.is_dir():
        raise UserError(f"sweep {sweep}: no runs/ folder (is it a sweep directory?)")
    found = []
    try:
        entries = list(os.scandir(runs))
    except OSError as e:
        raise UserError(f"sweep {sweep}: cannot list runs/ ({e.strerror or e})") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            entry.name.encode("utf-8")
        except UnicodeEncodeError:
            skipped.append((repr(os.fsencode(entry.path))[2:-1], "folder name is not valid UTF-8; skipped"))
            continue
        try:
            is_dir, why = entry.is_dir(), "not a folder"
        except OSError as e:
            is_dir, why = False, f"cannot be followed ({e.strerror or type(e).__name__})"
        if not is_dir and entry.is_symlink():
            why = "a link that cannot be followed (a loop or a missing target)"
        if is_dir:
            found.append(Path(entry.path))
        else:
            skipped.append((entry.path, f"{why}; skipped"))
    return sorted(found)


# ---------------------------------------------------------------- writers

def write_config(run_dir: Path, run: Run) -> bool:
    """Write config.yaml once. Returns False when it already holds this run.

    A folder written before precision entered run ids keeps its id for fp32; it is refused for a
    run of another precision instead of being silently reused.
    """
    path = Path(run_dir) / CONFIG
    if path.exists():
        skipped: list = []
        existing = read_config(run_dir, skipped)
        if existing is None:
            raise UserError(f"{path}: {skipped[-1][1] if skipped else 'unreadable'}; refusing to overwrite it")
        if existing.get("run_id") != run.run_id and identity_id(existing, str(path)) != run.run_id:
            raise UserError(f"{path}: holds another run ({_short(existing.get('run_id'))}); refusing to overwrite it")
        runtime = existing.get("runtime")
        stored = runtime.get("precision", "fp32") if isinstance(runtime, dict) else "fp32"
        if stored != run.runtime.precision:
            raise UserError(f"{path}: this run was trained in {stored}, not {run.runtime.precision} (written before "
                            "precision entered run ids); use another --sweep-dir")
        return False
    fsutil.write_yaml(path, run.to_config())
    return True


def append_epoch(run_dir: Path, epoch: Epoch) -> None:
    """Add one epoch's line to metrics.jsonl (fsynced)."""
    fsutil.append_line(Path(run_dir) / METRICS, json.dumps(epoch.to_dict()))


def write_epochs(run_dir: Path, epochs: list[Epoch]) -> None:
    """Replace metrics.jsonl by exactly these epochs (atomically)."""
    fsutil.write_text(Path(run_dir) / METRICS, "".join(json.dumps(e.to_dict()) + "\n" for e in epochs))


def truncate_metrics(run_dir: Path, epochs_done: int, history: Optional[list[Epoch]] = None) -> list[Epoch]:
    """Make metrics.jsonl hold epochs 1..epochs_done once, in order; returns them.

    `history` (the epochs a checkpoint carries) is authoritative where given: lines lost to a torn
    or damaged file are restored from it. Without it, the file's own epochs 1..epochs_done are kept.
    """
    path = Path(run_dir) / METRICS
    skipped: list = []
    on_disk = read_epochs(run_dir, skipped)
    if history is not None:
        keep = [e for e in history if e.epoch <= epochs_done]
    else:
        keep = [e for e in in_epoch_order(on_disk) if e.epoch <= epochs_done]
    if [e.to_dict() for e in on_disk] != [e.to_dict() for e in keep] or skipped:
        if keep or path.exists():
            write_epochs(run_dir, keep)
    return keep


def write_result(run_dir: Path, result: Result) -> None:
    fsutil.write_json(Path(run_dir) / RESULT, result.to_dict())


def archive_failure(run_dir: Path) -> None:
    """A failed attempt is being retried: keep its record in failures.jsonl, clear result.json."""
    path = Path(run_dir) / RESULT
    text = _read_text(path, [])
    if text is not None and text.strip():
        data, why = _json(text)
        line = json.dumps(data) if why is None else json.dumps({"status": FAILED, "reason": f"unreadable result.json: {why}"})
        fsutil.append_line(Path(run_dir) / FAILURES, line)
    try:
        path.unlink()
    except FileNotFoundError:
        pass


class _JobLock:
    """flock on run_dir/.job.lock around a read-modify-write of job.json: a job recording its
    attempt and the launcher recording a submission or an observation never lose each other's entry."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / JOB_LOCK
        self.fd: Optional[int] = None

    def __enter__(self) -> "_JobLock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def record_job(run_dir: Path, job_id: str, executor: str, submitted_at: str, folder: Optional[str] = None) -> Job:
    """Add a submission to job.json (the latest one first-class, every one in history)."""
    with _JobLock(run_dir):
        old = read_job(run_dir)
        entry = {"job_id": job_id, "submitted_at": submitted_at, **({"folder": folder} if folder else {})}
        history = (list(old.history) if old else []) + [entry]
        job = Job(job_id=job_id, executor=executor, submitted_at=submitted_at,
                  attempts=(old.attempts if old else 0) + 1, history=tuple(history), submitit_folder=folder,
                  pid=int(job_id) if executor == "local" else None, attempt_log=old.attempt_log if old else ())
        fsutil.write_json(Path(run_dir) / JOB, job.to_dict())
    return job


def now_iso() -> str:
    """The time stamps of job.json: UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


def start_attempt(run_dir: Path, job_id: str) -> Optional[Attempt]:
    """Append a started attempt of job `job_id` (the job calls this as it starts training the run).

    None, and nothing written, when job.json is absent or unreadable: the launcher did not record
    this job, so there is no record to add to.
    """
    with _JobLock(run_dir):
        job = read_job(run_dir)
        if job is None:
            return None
        attempt = Attempt(job_id=job_id, started_at=now_iso(), host=socket.gethostname())
        fsutil.write_json(Path(run_dir) / JOB, dataclasses.replace(job, attempt_log=job.attempt_log + (attempt,)).to_dict())
    return attempt


def end_attempt(run_dir: Path, job_id: str, end: str, reason: Optional[str] = None, observed: bool = False,
                append: bool = False, by: Optional[str] = None) -> bool:
    """Record how the open attempt of job `job_id` ended; True when something was recorded.

    The first end recorded stands (the job's own, or `cancel`'s): an attempt already ended is left
    alone, except that a cancellation's `by` is added to an attempt the job itself ended cancelled
    (the SIGTERM that cancel sent). With `append`, a job with no open attempt gets one that holds
    only its end: its execution never started one (cancelled while queued, or queued again after
    a preemption).
    """
    if end not in ATTEMPT_ENDS:
        raise ValueError(f"attempt end {end!r} is not one of {ATTEMPT_ENDS}")
    with _JobLock(run_dir):
        job = read_job(run_dir)
        if job is None:
            return False
        log = list(job.attempt_log)
        mine = [i for i, a in enumerate(log) if a.job_id == job_id]
        last = log[mine[-1]] if mine else None
        ended = dict(ended_at=now_iso(), end=end, reason=reason, observed=True if observed else None, by=by)
        if last is not None and last.end is None:
            log[mine[-1]] = dataclasses.replace(last, **ended)
        elif by and last is not None and end == last.end == CANCELLED and last.by is None and not last.observed:
            log[mine[-1]] = dataclasses.replace(last, by=by)
        elif append:
            log.append(Attempt(job_id=job_id, **ended))
        else:
            return False
        fsutil.write_json(Path(run_dir) / JOB, dataclasses.replace(job, attempt_log=tuple(log)).to_dict())
    return True


def checkpoint_paths(run_dir: Path) -> tuple[Path, Path]:
    """(latest, previous) checkpoint paths."""
    return Path(run_dir) / CHECKPOINT, Path(run_dir) / PREVIOUS_CHECKPOINT


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete temporary files left by a process killed while writing (the real files are intact)."""
    stale = list(Path(run_dir).glob(".*.tmp"))
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def reset_progress(run_dir: Path) -> None:
    """A run restarting from scratch: no metrics from an earlier start survive."""
    (Path(run_dir) / METRICS).unlink(missing_ok=True)


# ---------------------------------------------------------------- the lock

class RunLocked(UserError):
    """Another live process trains this run."""


def _holder_text(path: Path) -> str:
    try:
        data = json.loads(path.read_text())
        return f"host {data['host']}, pid {data['pid']}, since {data['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not recorded itself yet"


def lock_holder(run_dir: Path) -> Optional[str]:
    """Who trains the run now ("host H, pid P, since T"), or None when no live process holds its lock."""
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder_text(path)
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class RunLock:
    """An exclusive OS lock (flock) on run_dir/.lock, released when the holder exits or dies.

    The lock dies with its process, so a trainer killed by SIGKILL or a node failure never blocks
    a later one. (flock works across nodes on NFSv4, GPFS and Lustre mounted with `flock`.)
    """

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self.fd: Optional[int] = None

    def acquire(self) -> "RunLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLocked(f"{self.path.parent}: already being trained by {_holder_text(self.path)}") from None
        since = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": since}).encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# ---------------------------------------------------------------- flat rows for collect and status

NO_STUDY = "none"  # the study cell of a run whose ablation feeds no paper comparison

# Columns the suite owns in runs.csv / curves.csv: a stored key can never overwrite them.
RESERVED_COLUMNS = frozenset({"sweep", "run_id", "path", "status", "state"})


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


def iter_records(sweep: Path, skipped: list) -> Iterator[RunRecord]:
    """read_run over every run folder of a sweep (listing problems go to `skipped`)."""
    for run_dir in run_dirs(sweep, skipped):
        record = read_run(run_dir)
        skipped.extend(record.skipped)
        yield record
