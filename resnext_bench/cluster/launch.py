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
from ..errors import UserError
from ..record import sweep as sweep_layout
from ..record.store import Store, store_for
from .budget import HoursCap, check_cap
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
    check_resources(profile)  # before anything is written
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
