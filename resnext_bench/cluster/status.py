"""`resnext-bench status SWEEP`: where every run of a sweep stands, from its files and the queue.

Reading the queue, status also records in job.json how attempts ended that only the scheduler saw
(launch.record_observed_ends); a sweep it cannot write is still read.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..units import plural
from ..record import runfolder, runstate, schema, sweep as sweep_layout
from .control import log_path
from .queue import queue_states, record_observed_ends, reread_left

COLUMNS = ["run_id", "configuration", "seed", "state", "job_id", "attempts", "epoch", "epochs_planned",
           "best_val_top1_err", "last_error", "queue_reason", "last_attempt_end", "ended", "log"]

# An attempt's end in words, before its reason.
END_WORDS = {schema.COMPLETED: "completed", schema.FAILED: "failed", schema.PREEMPTED: "preempted",
             schema.TIMEOUT: "timed out", schema.CANCELLED: "cancelled", schema.NODE_FAIL: "node failure",
             schema.LOST: "lost", schema.KILLED: "killed"}


def sweep_status(sweep: Path) -> list[dict]:
    """One row a run: its state in the record's words (record/schema.py), job, progress, and the last error line."""
    skipped: list = []
    records = list(sweep_layout.iter_records(Path(sweep), skipped))
    queued = queue_states([r.job for r in records if r.job])  # one scheduler query for the whole sweep
    records = reread_left(records, queued)
    written = record_observed_ends(records, queued)
    records = [runfolder.read_run(rec.path) if rec.path in written else rec for rec in records]
    listed = sweep_layout.entries(Path(sweep))  # this sweep's labels (a run made by another sweep has that one's in its config)
    rows = []
    for rec in records:
        config = rec.config or {}
        labels = sorted({str(e.get("configuration")) for e in listed.get(rec.run_id, []) if e.get("configuration")})
        errs = [e.val_top1_err for e in rec.epochs if e.val_top1_err is not None]
        state = runstate.run_state(rec, queued)
        reason = (rec.result.reason if rec.result else None) or rec.state_reason or ""
        if state == schema.UNKNOWN and queued is None and not reason:
            reason = "the scheduler did not answer (squeue failed)"
        entry = (queued or {}).get(rec.job.job_id) if rec.job else None
        last = rec.job.attempt_log[-1] if rec.job and rec.job.attempt_log else None
        log = log_path(rec.path, rec.job)
        rows.append({
            "run_id": rec.run_id, "configuration": ", ".join(labels) or config.get("configuration"),
            "seed": config.get("seed") if isinstance(config.get("seed"), int) else None,
            "state": state, "job_id": rec.job.job_id if rec.job else None,
            "attempts": rec.job.attempts if rec.job else 0,
            "epoch": len(rec.epochs), "epochs_planned": rec.epochs_planned,
            "best_val_top1_err": min(errs) if errs else None,
            "last_error": reason.strip().splitlines()[-1] if state in (schema.FAILED, schema.UNKNOWN) and reason.strip() else "",
            "queue_reason": entry.reason if entry is not None and state in schema.LIVE else "",
            "last_attempt_end": (last.end or "") + (f": {last.reason}" if last and last.end and last.reason else "")
            if last else "",
            "ended": how_it_ended(rec, state),
            "log": str(log) if log is not None else "",
        })
    return rows


def requeues(job: schema.Job | None) -> int:
    """How many times the run's jobs checkpointed and requeued themselves (preempted, or near the time limit)."""
    return sum(a.end in (schema.PREEMPTED, schema.TIMEOUT) and not a.observed for a in job.attempt_log) if job else 0


def attempt_end(attempt: schema.Attempt) -> str:
    """One attempt's end in words: "cancelled by alice (...)", "killed by signal 9 (SIGKILL)", "timed out (...)"."""
    reason = attempt.reason or ""
    if attempt.end == schema.KILLED and reason.startswith("killed"):
        return reason
    words = END_WORDS.get(attempt.end, attempt.end or "no end recorded")
    by = f" by {attempt.by}" if attempt.by else ""
    if attempt.end in (schema.FAILED, schema.KILLED, schema.LOST) and reason:
        return f"{words}{by}: {reason}"
    return f"{words}{by}" + (f" ({reason})" if reason else "")


def how_it_ended(rec: runfolder.RunRecord, state: str) -> str:
    """How the run ended, from its result and attempt log: completed, failed (the error's first line),
    cancelled by whom, killed by which signal, timed out, lost and why; and how often it was
    preempted and requeued. Empty while it is still live (a requeued run: its requeues so far)."""
    n = requeues(rec.job)
    through = f"preempted and requeued {plural(n, 'time')}" if n else ""
    if state == schema.COMPLETED:
        return "completed" + (f" ({through})" if through else "")
    if state == schema.FAILED:
        return "failed: " + schema.first_line(rec.result.reason if rec.result and rec.result.reason else "no reason recorded")
    if state != schema.CANCELLED:
        return through if state == schema.REQUEUED else ""
    last = rec.job.last_attempt if rec.job else None
    if rec.job is None:
        how = "stopped with no job recorded and no result"
    elif last is None:
        how = f"job {rec.job.job_id} left the queue with no attempt recorded"
    elif last.end is None:
        how = f"job {rec.job.job_id} left the queue and its attempt has no end recorded"
    else:
        how = attempt_end(last)
    return how + (f"; before that {through}" if through else "")


def format_status(rows: list[dict], fmt: str = "table", sweep: Path | None = None) -> str:
    """The status rows as a fixed-width table (with a count by state; log paths relative to
    `sweep`) or CSV (absolute log paths)."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    width = max([len(str(r["run_id"])) for r in rows] + [3])  # a run id is the identity: never cut
    cw = min(max([len(str(r["configuration"])) for r in rows] + [6]), 40)
    lines = [f"{'run':<{width}} {'config':<{cw}} {'seed':>4} {'state':<10} {'job':<12} {'epoch':>7} {'best err':>9}  log"]
    for r in rows:
        best = "" if r["best_val_top1_err"] is None else f"{r['best_val_top1_err']:.2f}%"
        epoch = f"{r['epoch']}/{r['epochs_planned'] or '?'}"
        lines.append(f"{r['run_id']:<{width}} {str(r['configuration'])[:cw]:<{cw}} {r['seed'] if r['seed'] is not None else '':>4} "
                     f"{r['state']:<10} {str(r['job_id'] or '-')[:12]:<12} {epoch:>7} {best:>9}  {_short_path(r['log'], sweep)}")
        if r["state"] in (schema.FAILED, schema.CANCELLED) or r["state"] == schema.COMPLETED and r["ended"] != "completed":
            lines.append(f"    ended: {r['ended'][:300]}")
        elif r["last_error"]:
            lines.append(f"    error: {r['last_error'][:300]}")
        if r["state"] == schema.HELD:
            lines.append(f"    held: {r['queue_reason'] or 'no reason given'} (a relaunch releases it)")
        if r["state"] == schema.REQUEUED and r["ended"]:
            lines.append(f"    requeued: {r['ended']} so far")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    lines.append(f"{plural(len(rows), 'run')}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    from .reportjob import report_job_line  # only the table shows it

    report = report_job_line(Path(sweep)) if sweep is not None else None
    if report:
        lines.append(report)
    return "\n".join(lines) + "\n"


def _short_path(path: str, sweep: Path | None) -> str:
    if not path or sweep is None:
        return path or "-"
    try:
        return str(Path(path).relative_to(Path(sweep).resolve()))
    except ValueError:
        return path
