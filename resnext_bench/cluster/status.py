"""`resnext-bench status SWEEP`: where every run of a sweep stands, from its files and the queue."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..analysis.collect import _run_dirs, collect_run
from .launch import _started, queue_states, read_job, run_state

COLUMNS = ["run_id", "configuration", "seed", "state", "job_id", "attempts", "epoch", "epochs_planned",
           "best_val_top1_err", "last_error"]


def sweep_status(sweep: Path) -> list[dict]:
    """One row a run: state (pending/running/completed/failed/cancelled/new), job, progress, error."""
    rows, jobs = [], []
    for run_dir in _run_dirs(Path(sweep)):
        skipped: list = []
        row, metrics = collect_run(run_dir, str(sweep), skipped)
        job = read_job(run_dir)
        errs = [m["val_top1_err"] for m in metrics if isinstance(m.get("val_top1_err"), (int, float))]
        rows.append({
            "run_id": row["run_id"], "configuration": row["configuration"], "seed": row["seed"],
            "_file_status": row["status"], "_job": job, "_started": bool(metrics) or _started(run_dir),
            "job_id": (job or {}).get("job_id"), "attempts": (job or {}).get("attempts", 0),
            "epoch": len(metrics), "epochs_planned": row["epochs_planned"],
            "best_val_top1_err": min(errs) if errs else None,
            "last_error": (row["reason"] or "").strip().splitlines()[-1] if row["status"] in ("failed", "unknown") and row["reason"] else "",
        })
        if job:
            jobs.append(job)
    queued = queue_states(jobs)  # one scheduler query for the whole sweep
    for r in rows:
        status, job, started = r.pop("_file_status"), r.pop("_job"), r.pop("_started")
        if status == "unknown":
            r["state"] = "failed"
        else:
            result = {"status": status} if status in ("completed", "failed") else None
            state = run_state(result, job, queued, started)
            r["state"] = "pending" if state == "new" else state
    return rows


def format_status(rows: list[dict], fmt: str = "table") -> str:
    """The status rows as a fixed-width table (with a count by state) or CSV."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    lines = [f"{'run':<40} {'config':<14} {'seed':>4} {'state':<10} {'job':<12} {'epoch':>7} {'best err':>9}"]
    for r in rows:
        best = "" if r["best_val_top1_err"] is None else f"{r['best_val_top1_err']:.2f}%"
        epoch = f"{r['epoch']}/{r['epochs_planned'] or '?'}"
        lines.append(f"{r['run_id'][:40]:<40} {str(r['configuration'])[:14]:<14} {r['seed'] if r['seed'] is not None else '':>4} "
                     f"{r['state']:<10} {str(r['job_id'] or '-')[:12]:<12} {epoch:>7} {best:>9}")
        if r["last_error"]:
            lines.append(f"    error: {r['last_error'][:300]}")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    lines.append(f"{len(rows)} runs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines) + "\n"
