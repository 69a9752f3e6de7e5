"""`resnext-bench cancel` and `resnext-bench logs`, and where each executor puts a job's output.

`job_logs` is the one place that knows where a run's logs are: status shows its path, logs reads
it. submitit writes SWEEP/submitit/JOB/JOB_TASK_log.out and .err for Slurm jobs (JOB is
ARRAY_INDEX for arrays) and SWEEP/submitit/PID_TASK_log.out/.err for local ones (sweeps launched
before local jobs had their own folder: SWEEP/submitit/PID/...); the job.json of each submission
names its folder. Training logs to stderr (.err); .out holds what the job prints. A requeued Slurm
job appends to the same files. The debug executor trains inside `launch`: its output went there.
"""
from __future__ import annotations

import contextlib
import getpass
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..record import runfolder, runstate, runwrite, schema, sweep as sweep_layout
from ..errors import UserError, printable
from ..record.store import store_in
from ..units import plural
from .queue import queue_states


# ---------------------------------------------------------------- where the logs are

@dataclass(frozen=True)
class JobLogs:
    """The output files of one submission of a run (task 0: the rank that logs)."""

    number: int  # 1-based, in submission order (the `attempts` of status)
    job_id: str
    executor: str
    stdout: Optional[Path]  # None: the debug executor, no files
    stderr: Optional[Path]


def job_logs(run_dir: Path, job: schema.Job) -> list[JobLogs]:
    """The log files of every submission of the run, oldest first."""
    history = list(job.history) or [{"job_id": job.job_id}]
    logs = []
    for n, entry in enumerate(history, start=1):
        job_id = str(entry.get("job_id")) if isinstance(entry, dict) and entry.get("job_id") is not None else job.job_id
        if job.executor == "debug":
            logs.append(JobLogs(n, job_id, job.executor, None, None))
            continue
        folder = entry.get("folder") if isinstance(entry, dict) else None
        if not isinstance(folder, str):
            folder = job.submitit_folder if job_id == job.job_id and job.submitit_folder else None
        # Records without a folder were written when every job had SWEEP/submitit/JOB_ID/ and every run
        # folder was SWEEP/runs/RUN_ID (runs in the store always record their folder).
        base = Path(folder) if folder else sweep_layout.submitit_dir(Path(run_dir).resolve().parents[1]) / job_id
        logs.append(JobLogs(n, job_id, job.executor, base / f"{job_id}_0_log.out", base / f"{job_id}_0_log.err"))
    return logs


def log_path(run_dir: Path, job: Optional[schema.Job]) -> Optional[Path]:
    """The training log (stderr) of the run's latest submission, or None when it has none."""
    if job is None:
        return None
    return job_logs(run_dir, job)[-1].stderr


# ---------------------------------------------------------------- cancel

def cancel(sweep: Path, run_ids: Sequence[str] = (), log=print) -> list[str]:
    """Cancel the live jobs (pending, held, requeued, running) of the sweep, or of the named runs,
    and record their attempts cancelled, by whom; returns the run ids cancelled. Nothing else is touched:
    no file but job.json, no job of another sweep, no run that shares a local chain and was not named.
    """
    sweep = Path(sweep)
    records = {rec.run_id: rec for rec in sweep_layout.iter_records(sweep, [])}
    strangers = [rid for rid in run_ids if rid not in records]
    if strangers:
        raise UserError(f"{printable(strangers[0])}: no such run in {printable(sweep)}/runs")
    chosen = [records[rid] for rid in dict.fromkeys(run_ids)] if run_ids else list(records.values())
    queued = queue_states([rec.job for rec in records.values() if rec.job])
    if queued is None:
        raise UserError("the Slurm queue could not be read (squeue failed or timed out); nothing cancelled")

    def live(rec: runfolder.RunRecord) -> bool:
        return (rec.job is not None and rec.job.executor != "debug" and rec.job.job_id in queued
                and queued[rec.job.job_id].state in schema.LIVE)

    targets = [rec for rec in chosen if live(rec)]
    was = {rec.run_id: runstate.run_state(rec, queued) for rec in targets}  # requeued, not just pending
    names = {rec.run_id for rec in targets}
    for rec in chosen:
        if run_ids and rec.run_id not in names:
            log(f"{rec.run_id}: {runstate.run_state(rec, queued)}, no job in the queue; nothing to cancel")
    for rec in targets:  # a local chain trains several runs in one process: all of them or none
        if rec.job.executor == "local":
            others = sorted(o.run_id for o in records.values() if o.run_id not in names and live(o)
                            and o.job.job_id == rec.job.job_id and o.state not in schema.ENDED)
            if others:
                raise UserError(f"{rec.run_id} shares local job {rec.job.job_id} with {', '.join(others)}: "
                                "name them too (a local chain is cancelled whole); nothing cancelled")
    slurm_ids = sorted({rec.job.job_id for rec in targets if rec.job.executor == "slurm"})
    if slurm_ids:
        try:
            out = subprocess.run(["scancel", *slurm_ids], capture_output=True, text=True, timeout=30)
            failed = out.stderr.strip() if out.returncode else ""
        except (OSError, subprocess.SubprocessError) as e:
            failed = str(e)
        if failed:
            raise UserError(f"scancel failed: {schema.first_line(failed)}; nothing recorded")
    for pid in sorted({int(rec.job.job_id) for rec in targets if rec.job.executor == "local"}):
        try:  # submitit's local controller passes SIGTERM on: the run checkpoints and ends
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    who = user_name()
    for rec in targets:
        # An attempt open when the queue was read is the one cancelled (the job may record its SIGTERM
        # first: `by` is added to it); otherwise the job's execution never started one (queued,
        # or queued again after a preemption): one is added that holds only the cancellation.
        last = rec.job.last_attempt
        runwrite.end_attempt(rec.path, rec.job.job_id, schema.CANCELLED, "with `resnext-bench cancel`",
                           append=last is None or last.end is not None, by=who)
        log(f"cancelled {rec.run_id} (job {rec.job.job_id}, was {was[rec.run_id]})")
    log(f"{plural(len(targets), 'run')} cancelled" + ("" if targets else ": no live job among them"))
    return [rec.run_id for rec in targets]


def user_name() -> str:
    """Who is cancelling: the login name (getpass: $LOGNAME, $USER, ..., the password database)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name anywhere: the uid says who
        return f"uid {os.getuid()}"


# ---------------------------------------------------------------- logs

def find_run(target: str, sweep: Optional[Path] = None) -> Path:
    """A run folder from a path, or from a RUN_ID under --sweep or the sweeps/ folder here."""
    path = Path(target)
    if sweep is None and path.is_dir():
        return path
    if sweep is not None:
        found = [sweep_layout.run_entry(Path(sweep), target)]
    else:
        sweeps = sorted(p for p in Path("sweeps").glob("*") if p.is_dir()) + sorted(Path("sweeps").glob("*/*"))
        found = [sweep_layout.run_entry(s, target) for s in sweeps if sweep_layout.runs_dir(s).is_dir()]
        found.append(store_in(Path("sweeps")) / target)  # the store itself ($RESNEXT_BENCH_STORE or sweeps/store)
    # sweeps that share a run list one folder: it is found once
    found = list({p.resolve(): p for p in found if p.is_dir()}.values())
    if not found:
        where = f"{printable(sweep)}/runs" if sweep is not None else "sweeps/*/runs here"
        raise UserError(f"{printable(target)}: no such run folder or run id in {where}; give the run folder, or --sweep SWEEP")
    if len(found) > 1:
        raise UserError(f"{printable(target)}: in several sweeps ({', '.join(printable(p) for p in found)}); give the run folder")
    return found[0]


def _attempt_lines(job: schema.Job, job_id: str) -> list[str]:
    lines = []
    for a in job.attempt_log:
        if a.job_id != job_id:
            continue
        span = f"{a.started_at or 'never started'} -> {a.ended_at or 'now'}"
        how = (a.end + (f" by {a.by}" if a.by else "")) if a.end else "running (no end recorded)"
        lines.append(f"#   ran on {a.host or '?'} {span}: {how}" + (f" ({a.reason})" if a.reason else "")
                     + (" [seen by the launcher]" if a.observed else ""))
    return lines


def show_logs(target: str, sweep: Optional[Path] = None, attempt: Optional[int] = None, follow: bool = False,
              out=None, poll_s: float = 0.5) -> None:
    """Print the stdout and stderr of one submission of a run (default: the latest); with `follow`,
    keep printing what is appended until interrupted (Ctrl-C: KeyboardInterrupt, exit 130)."""
    out = out or sys.stdout
    run_dir = find_run(target, sweep)
    job = runfolder.read_job(run_dir)
    if job is None:
        raise UserError(f"{printable(run_dir)}: no usable job.json: never launched (`train` logs to its own terminal)")
    logs = job_logs(run_dir, job)
    if attempt is not None and not 1 <= attempt <= len(logs):
        raise UserError(f"--attempt {attempt}: the run has {plural(len(logs), 'attempt')} (1..{len(logs)})")
    chosen = logs[(attempt or len(logs)) - 1]
    if chosen.stdout is None:
        raise UserError(f"{printable(run_dir)}: job {chosen.job_id} ran with the debug executor, inside `launch`: "
                        "its output went to that terminal")
    print(f"# {run_dir.name}: attempt {chosen.number} of {len(logs)}, job {chosen.job_id} ({chosen.executor})",
          file=out)
    for line in _attempt_lines(job, chosen.job_id):
        print(line, file=out)
    offsets: dict[Path, int] = {}
    for path in (chosen.stdout, chosen.stderr):
        print(f"==> {path} <==", file=out)
        offsets[path] = _copy_new(path, 0, out)
        if not path.exists():
            print(f"({missing_log_words(job, chosen, chosen.number == len(logs))})", file=out)
    out.flush()
    if follow:
        with ctrl_c_interrupts():
            _follow((chosen.stdout, chosen.stderr), offsets, out, poll_s)


def missing_log_words(job: schema.Job, chosen: JobLogs, latest: bool) -> str:
    """Why a log file of a submission is absent: not written yet, or gone (deleted, or on a disk this
    machine does not see) once the job has started or ended."""
    attempts = [a for a in job.attempt_log if a.job_id == chosen.job_id]
    ended = next((a.end for a in reversed(attempts) if a.end), None) or (None if latest else "resubmitted since")
    started = any(a.started_at for a in attempts)
    if not started and ended == schema.CANCELLED:
        return f"not written: job {chosen.job_id} was cancelled before it started"
    if ended or started:
        return (f"missing: job {chosen.job_id} has {f'ended ({ended})' if ended else 'started'}, "
                "so the file was deleted or is on a disk not seen here")
    return "not written yet: the job has not started"


@contextlib.contextmanager
def ctrl_c_interrupts():
    """Within the block, SIGINT raises KeyboardInterrupt, whatever the parent left it as.

    A process started with SIGINT ignored (`nohup ... &` from a script, a CI step) keeps it ignored:
    Python installs its handler only over the default, so Ctrl-C could never end `logs -f`. Only the
    main thread may set handlers; elsewhere the block changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        # None: the previous handler was not set from Python; the default is the nearest to it
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


def _follow(paths: Sequence[Path], offsets: dict[Path, int], out, poll_s: float) -> None:
    """Print what is appended to `paths` from `offsets` on, forever (tail -f over both files)."""
    shown = paths[-1]
    while True:
        time.sleep(poll_s)
        for path in paths:
            size = _size(path)
            if size < offsets[path]:  # truncated or replaced: start over, as tail -f does
                offsets[path] = 0
            if size > offsets[path]:
                if path != shown:
                    print(f"\n==> {path} <==", file=out)
                    shown = path
                offsets[path] = _copy_new(path, offsets[path], out)
                out.flush()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _copy_new(path: Path, offset: int, out) -> int:
    """Write the file's bytes from `offset` on (decoded leniently); returns the new offset."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return offset
    out.write(data.decode("utf-8", errors="replace"))
    return offset + len(data)
