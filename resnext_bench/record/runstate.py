"""A run's state: from its files alone (`file_state`), and with the scheduler's answer (`run_state`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from .schema import (CANCELLED, COMPLETED, FAILED, LIVE, NEW, PENDING, PREEMPTED, REQUEUED, RUNNING, TIMEOUT,
                     UNKNOWN)

if TYPE_CHECKING:  # the reader's record; it imports this module for its state
    from .runfolder import RunRecord

def file_state(record: RunRecord) -> tuple[str, Optional[str]]:
    """(state, why when unknown) from the files alone, without asking the scheduler."""
    if record.result_unreadable:
        return UNKNOWN, record.result_unreadable
    if record.result is not None:
        if record.result.status == COMPLETED and not record.complete_epochs:
            got = [e.epoch for e in record.epochs]
            return UNKNOWN, (f"result.json says completed but metrics.jsonl holds epochs {_span(got)} "
                             f"of {record.epochs_planned if record.epochs_planned is not None else '?'}")
        return record.result.status, None
    return (RUNNING if record.started else PENDING), None


def _span(epochs: list[int]) -> str:
    if not epochs:
        return "none"
    if epochs == list(range(epochs[0], epochs[-1] + 1)):
        return f"{epochs[0]}-{epochs[-1]}"
    return ",".join(map(str, epochs[:12])) + ("..." if len(epochs) > 12 else "")


@dataclass(frozen=True)
class Queued:
    """What the scheduler says of one job: pending, held, requeued or running (LIVE), or how it
    ended while it is still listed; `reason` is the scheduler's (e.g. JobHeldUser)."""

    state: str
    reason: str = ""


def run_state(record: RunRecord, queued: Optional[dict[str, Queued]]) -> str:
    """The run's state from its files and the scheduler's answer.

    `queued` maps the job ids the scheduler still lists to what it says of them; None means the
    scheduler did not answer, so a run with a job and no result is unknown, never "cancelled".
    """
    state = record.state
    if state in (COMPLETED, FAILED, UNKNOWN):
        return state
    if record.trainer is not None:  # a live process holds the run's lock
        return RUNNING
    job = record.job
    if job is None:
        return NEW if not record.started else CANCELLED
    if queued is None:
        return UNKNOWN
    entry = queued.get(job.job_id)
    if entry is None or entry.state not in LIVE:
        return CANCELLED
    last = job.last_attempt
    if entry.state == RUNNING and job.executor == "local":
        # A local chain runs its runs in turn: the job runs, but this run only once its attempt started.
        return RUNNING if last is not None and last.started_at and last.end is None else PENDING
    if entry.state == PENDING and last is not None and last.end in (PREEMPTED, TIMEOUT):
        return REQUEUED  # queued again after its checkpoint, waiting to resume
    return entry.state
