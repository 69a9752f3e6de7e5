"""`resnext-bench status SWEEP`: where every run of a sweep stands, from its files and the queue.

Reading the queue, status also records in job.json how attempts ended that only the scheduler saw
(launch.record_observed_ends); a sweep it cannot write is still read.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..units import plural
from ..engine import rundir
from .control import log_path
from .launch import queue_states, record_observed_ends

COLUMNS = ["run_id", "configuration", "seed", "state", "job_id", "attempts", "epoch", "epochs_planned",
           "best_val_top1_err", "last_error", "queue_reason", "last_attempt_end", "log"]


def sweep_status(sweep: Path) -> list[dict]:
    """One row a run: its state in rundir's words, job, progress, and the last error line."""
    skipped: list = []
    records = list(rundir.iter_records(Path(sweep), skipped))
    queued = queue_states([r.job for r in records if r.job])  # one scheduler query for the whole sweep
    written = record_observed_ends(records, queued)
    records = [rundir.read_run(rec.path) if rec.path in written else rec for rec in records]
    rows = []
    for rec in records:
        config = rec.config or {}
        errs = [e.val_top1_err for e in rec.epochs if e.val_top1_err is not None]
        state = rundir.run_state(rec, queued)
        reason = (rec.result.reason if rec.result else None) or rec.state_reason or ""
        if state == rundir.UNKNOWN and queued is None and not reason:
            reason = "the scheduler did not answer (squeue failed)"
        entry = (queued or {}).get(rec.job.job_id) if rec.job else None
        last = rec.job.attempt_log[-1] if rec.job and rec.job.attempt_log else None
        log = log_path(rec.path, rec.job)
        rows.append({
            "run_id": rec.run_id, "configuration": config.get("configuration"),
            "seed": config.get("seed") if isinstance(config.get("seed"), int) else None,
            "state": state, "job_id": rec.job.job_id if rec.job else None,
            "attempts": rec.job.attempts if rec.job else 0,
            "epoch": len(rec.epochs), "epochs_planned": rec.epochs_planned,
            "best_val_top1_err": min(errs) if errs else None,
            "last_error": reason.strip().splitlines()[-1] if state in (rundir.FAILED, rundir.UNKNOWN) and reason.strip() else "",
            "queue_reason": entry.reason if entry is not None and state in rundir.LIVE else "",
            "last_attempt_end": (last.end or "") + (f": {last.reason}" if last and last.end and last.reason else "")
            if last else "",
            "log": str(log) if log is not None else "",
        })
    return rows


def format_status(rows: list[dict], fmt: str = "table", sweep: Path | None = None) -> str:
    """The status rows as a fixed-width table (with a count by state; log paths relative to
    `sweep`) or CSV (absolute log paths)."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    lines = [f"{'run':<40} {'config':<14} {'seed':>4} {'state':<10} {'job':<12} {'epoch':>7} {'best err':>9}  log"]
    for r in rows:
        best = "" if r["best_val_top1_err"] is None else f"{r['best_val_top1_err']:.2f}%"
        epoch = f"{r['epoch']}/{r['epochs_planned'] or '?'}"
        lines.append(f"{r['run_id'][:40]:<40} {str(r['configuration'])[:14]:<14} {r['seed'] if r['seed'] is not None else '':>4} "
                     f"{r['state']:<10} {str(r['job_id'] or '-')[:12]:<12} {epoch:>7} {best:>9}  {_short_path(r['log'], sweep)}")
        if r["last_error"]:
            lines.append(f"    error: {r['last_error'][:300]}")
        if r["state"] == rundir.HELD:
            lines.append(f"    held: {r['queue_reason'] or 'no reason given'} (a relaunch releases it)")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    lines.append(f"{plural(len(rows), 'run')}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines) + "\n"


def _short_path(path: str, sweep: Path | None) -> str:
    if not path or sweep is None:
        return path or "-"
    try:
        return str(Path(path).relative_to(Path(sweep).resolve()))
    except ValueError:
        return path
