"""Writing a run folder: its config (once), metrics, result, and the job records of job.json.

Training writes through `write_config`, `append_epoch`, `truncate_metrics`, `write_result`,
`archive_failure`; the launcher through `record_job`; jobs and the launcher record attempts through
`start_attempt` and `end_attempt`. Every file is written atomically or appended with fsync.
"""
from __future__ import annotations

import dataclasses
import json
import socket
import time
from pathlib import Path
from typing import Optional

from .. import fsutil
from ..config.runs import Run
from ..errors import UserError
from .locks import HeldLock
from .runfolder import (CONFIG, FAILURES, JOB, JOB_LOCK, METRICS, RESULT, TRACKERS, _json, _read_text, identity_id, in_epoch_order,
                        read_config, read_epochs, read_job)
from .schema import ATTEMPT_ENDS, CANCELLED, FAILED, Attempt, Epoch, Job, Result, _short

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


def write_trackers(run_dir: Path, entries: dict[str, dict]) -> None:
    """Replace trackers.json (atomically) by these {tracker: entry} records."""
    fsutil.write_json(Path(run_dir) / TRACKERS, entries)


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


def _job_lock(run_dir: Path) -> HeldLock:
    """flock on run_dir/.job.lock around a read-modify-write of job.json: a job recording its
    attempt and the launcher recording a submission or an observation never lose each other's entry."""
    return HeldLock(Path(run_dir) / JOB_LOCK, wait_s=None)


def record_job(run_dir: Path, job_id: str, executor: str, submitted_at: str, folder: Optional[str] = None) -> Job:
    """Add a submission to job.json (the latest one first-class, every one in history)."""
    with _job_lock(run_dir):
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
    with _job_lock(run_dir):
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
    with _job_lock(run_dir):
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


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete temporary files left by a process killed while writing (the real files are intact)."""
    stale = list(Path(run_dir).glob(".*.tmp"))
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def reset_progress(run_dir: Path) -> None:
    """A run restarting from scratch: no metrics from an earlier start survive."""
    (Path(run_dir) / METRICS).unlink(missing_ok=True)
