"""`launch --report`: a small CPU job that writes the sweep's report once its last run ends.

Slurm: one job with `--dependency=afterany` on every live job of the sweep's runs, so it starts when
the last of them ends, whatever its outcome. Local executor: a process that waits until no run of the
sweep is live. Debug executor: the report is written in the launch's own process after its runs
trained. The job runs the `report` verb (collect + tables + plots + report.md) from the sweep's code
snapshot, in a child process (the cluster layer does not import the analysis one). Its id goes to
SWEEP/report_job.json, so `status` shows it and a relaunch keeps the pending one instead of adding
a second.
"""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from ..record import runfolder, runstate, runwrite, schema
from ..record import sweep as sweep_layout
from .plan import LaunchPlan
from .profile import Profile, run_cmd
from .queue import _alive, queue_states
from .snapshot import snapshot_code
from .submit import job_exports, submitting_from

REPORT_TIME_MIN = 60  # collect, tables and plots of a few hundred runs take minutes on one core
REPORT_MEM_GB = 4
POLL_S = 5.0
LOCAL_TIMEOUT_MIN = 30 * 24 * 60  # a local report job waits as long as the runs take
WAITING = (schema.PENDING, schema.HELD, schema.REQUEUED)  # queued and not started: its report is still to come


def report_command(sweep: str, out: str) -> list[str]:
    """The `report` verb as a command line, run by this interpreter."""
    return [sys.executable, "-m", "resnext_bench.cli", "report", str(sweep), "-o", str(out)]


class ReportJob:
    """What the report job runs: (local) wait until no run of the sweep is live, then write the report."""

    def __init__(self, sweep: str, out: str, wait: bool = False):
        self.sweep, self.out, self.wait = str(sweep), str(out), wait

    def __call__(self) -> str:
        if self.wait:
            wait_for_runs(Path(self.sweep))
        code = subprocess.run(report_command(self.sweep, self.out)).returncode
        if code:
            raise RuntimeError(f"resnext-bench report exited {code}")
        return str(Path(self.out) / "report.md")


def live_runs(sweep: Path) -> list[str]:
    """Run ids of the sweep whose jobs are still live (pending, held, requeued, running)."""
    records = list(sweep_layout.iter_records(sweep, []))
    queued = queue_states([r.job for r in records if r.job])
    return [r.run_id for r in records if runstate.run_state(r, queued) in schema.LIVE]


def wait_for_runs(sweep: Path, poll_s: float = POLL_S) -> None:
    """Return once no run of the sweep is live."""
    while live_runs(sweep):
        time.sleep(poll_s)


def live_job_ids(plan: LaunchPlan, submitted: list[str]) -> list[str]:
    """The Slurm jobs the report waits for: those of the runs just submitted and of the runs still live,
    an array named once by its id (afterany on an array waits for all of its tasks)."""
    ids = set()
    for rid, run_dir in plan.run_dirs.items():
        if rid in submitted or plan.states.get(rid) in schema.LIVE:
            job = runfolder.read_job(run_dir)
            if job is not None:
                ids.add(job.job_id.split("_")[0])
    return sorted(ids, key=lambda j: (len(j), j))


def slurm_entry(job_id: str) -> tuple[bool, Optional[runstate.Queued]]:
    """(whether squeue answered, what it says of the job in the record's words: queue.queue_states), the
    entry None when squeue no longer lists the job."""
    states = queue_states([], slurm=True)
    return states is not None, (states or {}).get(job_id)


def report_pending(record: dict) -> bool:
    """Whether the recorded report job has yet to write its report: Slurm's job queued (or squeue silent:
    never taken for gone), or the local process alive."""
    if record.get("executor") == "local":
        return str(record["job_id"]).isdigit() and _alive(int(record["job_id"]))
    answered, entry = slurm_entry(str(record["job_id"]))
    return not answered or (entry is not None and entry.state in WAITING)


def _executor(profile: Profile, sweep: Path, name: str, code_dir: Optional[Path], commit: Optional[str],
              depends: list[str]):
    import submitit

    if profile.executor == "slurm":
        ex = submitit.SlurmExecutor(folder=sweep_layout.submitit_dir(sweep) / "%j", python=sys.executable)
        params = dict(job_name=f"rb-{name}-report", time=REPORT_TIME_MIN, nodes=1, ntasks_per_node=1,
                      cpus_per_task=1, mem=f"{int(min(profile.mem_gb, REPORT_MEM_GB) * 1024)}M",
                      setup=list(profile.setup) + job_exports(code_dir, commit))
        for key in ("partition", "account", "qos"):
            if getattr(profile, key):
                params[key] = getattr(profile, key)
        if depends:
            params["dependency"] = "afterany:" + ":".join(depends)
        ex.update_parameters(**params)
        return ex
    ex = submitit.LocalExecutor(folder=sweep_layout.submitit_dir(sweep))
    ex.update_parameters(timeout_min=LOCAL_TIMEOUT_MIN, gpus_per_node=0, tasks_per_node=1)
    return ex


def follow_pending(plan: LaunchPlan, profile: Profile, sweep: Path, submitted: list[str], log=print) -> Optional[str]:
    """The sweep's pending report job, if any (its id), made to wait for the jobs this launch added too.

    Slurm: scontrol update of its dependency to every live job of the sweep; a local report job waits
    for every live run of the sweep anyway.
    """
    existing = sweep_layout.read_report_job(sweep)
    if existing is None or not report_pending(existing):
        return None
    job_id = existing["job_id"]
    depends = live_job_ids(plan, submitted) if profile.executor == "slurm" else []
    added = sorted(set(depends) - set(existing.get("depends_on") or []))
    if added:
        if run_cmd(["scontrol", "update", f"JobId={job_id}", f"Dependency=afterany:{':'.join(depends)}"]) is None:
            log(f"warning: report job {job_id} could not be made to wait for jobs {', '.join(added)} "
                f"(scontrol update failed): it may write the report before they end")
        else:
            sweep_layout.write_report_job(sweep, {**existing, "depends_on": depends})
            log(f"report job {job_id} now also waits for {', '.join(added)}")
    return job_id


def submit_report(plan: LaunchPlan, profile: Profile, sweep: Path, name: str, out: Path, submitted: list[str],
                  log=print) -> str:
    """Submit the report job (Slurm or local), or keep the one already pending for the sweep; its job id."""
    from ..engine.environment import git_commit

    sweep, out = Path(sweep).resolve(), Path(out).resolve()
    slurm = profile.executor == "slurm"
    pending = follow_pending(plan, profile, sweep, submitted, log)
    if pending is not None:
        log(f"report job {pending} is already pending for this sweep "
            f"(writes {sweep_layout.read_report_job(sweep).get('out')}): no second one submitted")
        return pending
    depends = live_job_ids(plan, submitted) if slurm else []
    code_dir = snapshot_code(sweep) if profile.snapshot else None
    commit = git_commit()
    with submitting_from(code_dir, profile.executor, commit):
        job = _executor(profile, sweep, name, code_dir, commit, depends).submit(
            ReportJob(str(sweep), str(out), wait=not slurm))
    sweep_layout.write_report_job(sweep, {
        "job_id": str(job.job_id), "executor": profile.executor, "out": str(out), "depends_on": depends,
        "submitted_at": runwrite.now_iso(), "log": str(job.paths.stdout)})
    after = f"afterany on {', '.join(depends)}" if depends else ("when no run of the sweep is live" if not slurm
                                                                 else "now: no run of the sweep is live")
    log(f"report job {job.job_id}: writes {out / 'report.md'} when the last run ends ({after})")
    return str(job.job_id)


def write_report_now(sweep: Path, out: Path, log=print) -> None:
    """The debug executor's report: written in this process's child once the in-process runs trained."""
    try:
        log(f"report: {ReportJob(str(Path(sweep).resolve()), str(Path(out).resolve()))()}")
    except RuntimeError as e:
        log(f"report not written: {e}")


def report_job_line(sweep: Path) -> Optional[str]:
    """One line for `status`: the sweep's report job, whether it waits, runs or ended, and where the report is."""
    record = sweep_layout.read_report_job(sweep)
    if record is None:
        return None
    job_id, out = record["job_id"], Path(str(record.get("out") or ""))
    report = out / "report.md"
    if record.get("executor") == "local":
        live = "waiting for the runs, then writing" if report_pending(record) else ""
    else:
        answered, entry = slurm_entry(str(job_id))
        if not answered:
            return f"report job {job_id}: unknown (squeue did not answer); writes {report}"
        state = entry.state if entry is not None else None
        live = (f"{state} ({entry.reason or 'no reason given'})" if state in WAITING else
                "running" if state == schema.RUNNING else "")
    if live:
        return f"report job {job_id}: {live}; writes {report}"
    if report.is_file() and report.stat().st_mtime >= _epoch(record.get("submitted_at")):
        return f"report job {job_id}: ended; report: {report}"
    return f"report job {job_id}: ended without writing {report}; its log: {record.get('log') or '?'}"


def _epoch(stamp) -> float:
    """A job.json time stamp in seconds since the epoch (0 when absent or unreadable: any report is newer)."""
    try:
        return dt.datetime.fromisoformat(str(stamp)).timestamp()
    except ValueError:
        return 0.0
