"""Send an ablation's runs to Slurm (or this machine) with submitit; relaunch idempotently.

Every run lives in the run store, listed by its sweep (record/store.py, record/sweep.py); its job
record keeps its job ids, so a relaunch submits nothing for runs that completed or are still queued/running, releases
held jobs, resubmits failed or cancelled runs up to the profile's retry limit (or beyond it when
asked: `--retry`, `--retry-failed`), and submits nothing for a run whose state is unknown (a
scheduler that does not answer is never read as an empty queue). Jobs record each attempt in
job.json; the launcher records how attempts ended that the job could not record itself (a node
failure, SIGKILL). Jobs run `TrainJob` (job.py) from a snapshot of the code taken at launch
(snapshot.py). A launch may be capped in estimated GPU-hours (budget.py) and may add a job that
writes the sweep's report when its last run ends (reportjob.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..config.specs import AblationSpec
from ..errors import UserError, printable
from ..fsutil import output_problem
from ..record import sweep as sweep_layout
from ..record.store import Store, store_for
from .budget import HoursCap, check_cap, hours_unit
from .profile import Profile, check_resources
from .plan import LaunchPlan, plan_launch, unknown_queue_message
from .reportjob import follow_pending, submit_report, write_report_now
from .submit import run_debug_jobs, submit


@dataclass
class Launched:
    """What one launch did."""

    plan: LaunchPlan
    submitted: list[str]
    store: Path
    report_job: Optional[str] = None  # the job that writes the sweep's report (`report`)


def launch(ablation: AblationSpec, profile: Profile, sweep: Path, store: Optional[Path] = None,
           retry: Sequence[str] = (), retry_failed: bool = False, log=print, on_plan=None,
           cap: Optional[HoursCap] = None, report: Optional[Path] = None) -> Launched:
    """The launch sequence: own the sweep, check resources, place and plan the runs, check the cap,
    submit, then submit the report job.

    One launch of a sweep at a time (SweepBusy otherwise), and one launch of a store at a time
    while it decides and records submissions, so concurrent launches give one job a run. An
    unreadable queue submits nothing (UserError). `on_plan(plan)` is called before submitting.
    `cap`: refuse (UserError; no run placed, nothing submitted) when what would train is estimated above it.
    `report`: the folder the sweep's report is written to once its last run ends.
    """
    store = store or store_for(sweep)
    preflight(profile, sweep, store)  # before anything is written
    Path(sweep).mkdir(parents=True, exist_ok=True)
    with sweep_layout.launch_lock(sweep):
        with Store(store).submit_lock():
            if cap is not None:  # decided on a plan that writes nothing: a refusal places no run
                draft = plan_launch(ablation, profile, sweep, write=False, retry=retry, retry_failed=retry_failed,
                                    store=store)
                if draft.queue_unknown:
                    raise UserError(unknown_queue_message(draft))
                check_cap(draft, profile, cap)
            plan = plan_launch(ablation, profile, sweep, retry=retry, retry_failed=retry_failed, store=store)
            if plan.queue_unknown:
                raise UserError(unknown_queue_message(plan))
            if on_plan is not None:
                on_plan(plan)
            submitted = submit(plan, profile, sweep, ablation.name, log=log, run_debug=False)
            report_job = None
            if report is not None and profile.executor != "debug":
                report_job = submit_report(plan, profile, sweep, ablation.name, report, submitted, log)
            elif submitted and profile.executor != "debug":  # a report job already waiting waits for these too
                report_job = follow_pending(plan, profile, sweep, submitted, log)
        run_debug_jobs(plan, log)
        if report is not None and profile.executor == "debug":
            write_report_now(sweep, report, log)
    return Launched(plan, submitted, store, report_job)


def preflight(profile: Profile, sweep: Path, store: Path, answer_required: bool = True) -> list[str]:
    """The checks a launch makes before writing anything: the partition exists and a node has the
    resources asked, the sweep folder and the store can be written, no other launch owns the sweep. A failed check
    is a UserError; what could not be checked (Slurm does not answer, not `answer_required`: a dry run)
    is returned as sentences."""
    unknown = [check_resources(profile, answer_required)]
    for what, folder in (("sweep folder", sweep), ("store", store)):
        why = output_problem(folder, folder=True)
        if why:
            raise UserError(f"{what} {printable(folder)}: {why}")
    holder = sweep_layout.launch_holder(sweep)
    if holder:
        raise sweep_layout.SweepBusy(sweep_layout.busy_message(sweep, holder))
    return [u for u in unknown if u]


def dry_run(ablation: AblationSpec, profile: Profile, sweep: Path, store: Optional[Path] = None,
            retry: Sequence[str] = (), retry_failed: bool = False, tflops: float = 25.0,
            throughput: Optional[float] = None, loader_rate: Optional[float] = None,
            cap: Optional[HoursCap] = None) -> str:
    """What `launch` would do, after every check it makes, without writing or submitting anything.

    Checks that could not be made (Slurm does not answer) are said to be unknown, never passed; with `cap`,
    whether the launch would be refused for it."""
    from .dryrun import dry_run_report

    store = store or store_for(sweep)
    unknown = preflight(profile, sweep, store, answer_required=False)
    plan = plan_launch(ablation, profile, sweep, write=False, retry=retry, retry_failed=retry_failed, store=store)
    if plan.queue_unknown:
        unknown.append("the queue (squeue failed): a run whose job may be live would not be resubmitted")
    lines = [dry_run_report(plan, profile, tflops, throughput, loader_rate)]
    if cap is not None:
        try:
            hours = check_cap(plan, profile, cap)
            lines.append(f"--max-gpu-hours {cap.hours:g}: within it ({hours:.2f} {hours_unit(profile)})")
        except UserError as e:
            lines.append(f"the launch would be refused: {e}")
    lines += [f"unknown, not checked: {u}; the launch itself refuses until Slurm answers" for u in unknown]
    if not unknown:
        slurm = "the partition, a node's resources, the queue, " if profile.executor == "slurm" else ""
        lines.append(f"checked: {slurm}the sweep folder and the store (writable), the sweep's launch lock (free)")
    return "\n".join(lines)
