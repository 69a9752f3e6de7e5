"""The scheduler's view: what squeue says of each job (unknown when it does not answer), and the ends only it saw."""
from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Optional

from ..record import runfolder, runstate, runwrite, schema
from .profile import run_cmd


# squeue's %T words: live states the launcher acts on, then how a job that is still listed ended.
SLURM_STATES = {
    "PENDING": schema.PENDING, "CONFIGURING": schema.PENDING, "SUSPENDED": schema.PENDING,
    "REQUEUED": schema.REQUEUED, "REQUEUE_FED": schema.REQUEUED,
    "REQUEUE_HOLD": schema.HELD, "RESV_DEL_HOLD": schema.HELD,
    "RUNNING": schema.RUNNING, "COMPLETING": schema.RUNNING, "STAGE_OUT": schema.RUNNING,
    "SIGNALING": schema.RUNNING, "RESIZING": schema.RUNNING,
    "COMPLETED": schema.COMPLETED, "FAILED": schema.FAILED, "OUT_OF_MEMORY": schema.KILLED,
    "BOOT_FAIL": schema.FAILED, "DEADLINE": schema.TIMEOUT, "TIMEOUT": schema.TIMEOUT,
    "CANCELLED": schema.CANCELLED, "PREEMPTED": schema.PREEMPTED, "NODE_FAIL": schema.NODE_FAIL,
}


def _slurm_entry(state: str, reason: str) -> Optional[runstate.Queued]:
    """What one squeue line says, in the record's words (record/schema.py); a pending job held by a user or an admin
    (JobHeldUser, JobHeldAdmin: `scontrol hold`, or Slurm after a failed launch) is held."""
    ours = SLURM_STATES.get(state)
    if ours is None:
        return None
    reason = "" if reason in ("None", "(null)") else reason
    if ours == schema.PENDING and (reason.startswith("JobHeld") or "held" in reason.lower()):
        ours = schema.HELD
    if ours in schema.ATTEMPT_ENDS:  # Slurm's own word, which ours may generalise (OUT_OF_MEMORY: killed)
        reason = f"Slurm: {state}" + (f" ({reason})" if reason else "")
    return runstate.Queued(ours, reason)


LOST_REASON = "left the queue with no end recorded (SIGKILL, a lost node, or ended before the queue was last read)"


def queue_states(jobs: list[schema.Job], slurm: bool = False) -> Optional[dict[str, runstate.Queued]]:
    """What the scheduler says of the jobs it still lists (live, or ended a short while ago),
    keyed by job id.

    None when Slurm jobs are asked about (or `slurm`: a launch on a Slurm profile, even of a fresh
    sweep) and squeue does not answer: the caller must then treat those runs as unknown, never as
    gone from the queue. A local job is running while its process lives.
    """
    states: dict[str, runstate.Queued] = {}
    if slurm or any(j.executor == "slurm" for j in jobs):
        out = run_cmd(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T|%r"]) if shutil.which("squeue") else None
        if out is None:
            return None
        for line in out.splitlines():
            job_id, state, reason = (line.split("|", 2) + ["", ""])[:3]
            entry = _slurm_entry(state.strip(), reason.strip())
            if entry is not None:
                states[job_id.strip()] = entry
    for j in jobs:
        if j.executor == "local" and j.pid and _alive(int(j.pid)):
            states[j.job_id] = runstate.Queued(schema.RUNNING)
    return states


def reread_left(records: list[runfolder.RunRecord], queued: Optional[dict[str, runstate.Queued]]) -> list[runfolder.RunRecord]:
    """The records again, each run whose job the queue no longer lists as live read anew.

    Its files were read before the queue: a job that ended in between wrote its result after that
    read, and must not be taken for one that left the queue without a result."""
    if queued is None:
        return records
    out = []
    for rec in records:
        entry = queued.get(rec.job.job_id) if rec.job else None
        left = rec.job is not None and (entry is None or entry.state not in schema.LIVE)
        out.append(runfolder.read_run(rec.path) if left and rec.state not in schema.ENDED else rec)
    return out


def record_observed_ends(records: list[runfolder.RunRecord], queued: Optional[dict[str, runstate.Queued]]) -> set[Path]:
    """Close, in job.json, the attempts whose end only the scheduler saw (a node failure, a time
    limit, SIGKILL of the whole job, a job that failed before training started, a requeued job
    cancelled by scancel): the job could not record it. A failed Slurm job whose exit code says a
    signal ended it is recorded killed by that signal.

    Best effort: a sweep this process cannot write keeps its attempts open (status still reads it).
    Nothing is recorded while the scheduler does not answer. Returns the run folders written.
    """
    written: set[Path] = set()
    if queued is None:
        return written
    for rec in records:
        job = rec.job
        if job is None or job.executor == "debug":
            continue
        entry = queued.get(job.job_id)
        last = job.last_attempt
        try:
            if entry is not None and entry.state in schema.ATTEMPT_ENDS:
                # after a requeue the job's end of its last execution is not the job's end
                requeued = (last is not None and last.end in (schema.PREEMPTED, schema.TIMEOUT) and not last.observed
                            and entry.state != last.end)
                if last is None or last.end is None or requeued:
                    end, reason = entry.state, entry.reason
                    killed = slurm_exit_signal(job.job_id) if end == schema.FAILED and job.executor == "slurm" else None
                    if killed:
                        end, reason = schema.KILLED, f"{reason}; {killed}"
                    # a Slurm job that ended before it could start an attempt (or start again) gets one holding its end
                    if runwrite.end_attempt(rec.path, job.job_id, end, reason, observed=True,
                                          append=job.executor == "slurm"):
                        written.add(rec.path)
            elif (entry is None and last is not None and last.end is None
                  and runstate.run_state(rec, queued) == schema.CANCELLED
                  and runwrite.end_attempt(rec.path, job.job_id, schema.LOST, LOST_REASON, observed=True)):
                written.add(rec.path)
        except OSError:
            continue
    return written


def slurm_exit_signal(job_id: str) -> Optional[str]:
    """"exit code X:Y: killed by signal N (NAME)" when Slurm's record of an ended job says a signal
    ended it (Y = N, or X = 128 + N: srun's status for a task killed by signal N), else None (also
    when Slurm no longer lists the job: MinJobAge)."""
    out = run_cmd(["scontrol", "show", "job", job_id], 10) or ""
    codes = [t.split("=", 1)[1].partition(":") for t in out.split() if t.startswith("ExitCode=")]
    if not codes or not (codes[0][0].isdigit() and codes[0][2].isdigit()):
        return None
    status, sig = int(codes[0][0]), int(codes[0][2])
    number = sig or (status - 128 if 128 < status <= 128 + 64 else 0)
    if not number:
        return None
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = "unnamed"
    return f"exit code {status}:{sig}: killed by signal {number} ({name})"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a finished child not yet reaped is a zombie, not a running job
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
