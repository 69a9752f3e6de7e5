"""The run record's words and types: a run's states, how an attempt ends, and the typed records
of its files (Epoch, Result, Attempt, Job), with the tolerant readers that build them from JSON.

The bottom of the record: it imports nothing of the suite. Reading never trusts a stored value:
a value of the wrong type or of an absurd size is dropped and reported, never raised.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

SCHEMA_VERSION = 2  # 1: result.json without schema_version / provenance fields


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


def first_line(message: object) -> str:
    text = str(message).strip()
    return text.splitlines()[0] if text else type(message).__name__


NO_STUDY = "none"  # the study cell of a run whose ablation feeds no paper comparison


# Columns the suite owns in runs.csv / curves.csv: a stored key can never overwrite them.
RESERVED_COLUMNS = frozenset({"sweep", "run_id", "path", "status", "state"})
