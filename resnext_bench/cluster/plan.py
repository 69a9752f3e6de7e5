"""Plan a launch: resolve the runs, place them in the store and the sweep, decide what to submit."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..units import plural
from ..config.runs import Run, resolve_runs
from ..config.specs import AblationSpec
from ..record import runfolder, runstate, runwrite, schema
from ..errors import UserError
from ..record import sweep as sweep_layout
from ..record.store import Store, link_into, store_for
from .profile import Profile
from .queue import queue_states, record_observed_ends, reread_left


@dataclass
class LaunchPlan:
    runs: list[Run]  # one a run id (a model sampled in two spaces is one run)
    run_dirs: dict[str, Path]
    states: dict[str, str]
    to_submit: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # run id -> why not submitted
    to_release: dict[str, str] = field(default_factory=dict)  # run id -> its held job (scontrol release)
    queue_unknown: bool = False  # the scheduler did not answer
    reused_from: dict[str, str] = field(default_factory=dict)  # run id -> the sweep that made it (another one)
    adopted: dict[str, str] = field(default_factory=dict)  # run id -> the old folder name it is read from
    memberships: list[Run] = field(default_factory=list)  # every (run, labels) the ablation lists
    debug_jobs: list[list[str]] = field(default_factory=list)  # run folders of each in-process job, to train


def unique_runs(runs: list[Run]) -> list[Run]:
    """The first Run of each run id, in order."""
    seen: dict[str, Run] = {}
    for r in runs:
        seen.setdefault(r.run_id, r)
    return list(seen.values())


def legacy_folders(sweep: Path, wanted: set[str]) -> dict[str, Path]:
    """Folders of a sweep made before run ids were the configuration alone, by their id of today.

    Only real folders whose name is not a wanted id are read (a link is a store entry)."""
    runs = sweep_layout.runs_dir(sweep)
    if not runs.is_dir():
        return {}
    found: dict[str, Path] = {}
    for entry in sorted(runs.iterdir()):
        if entry.name in wanted or entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            continue
        new_id = runfolder.identity_id(runfolder.read_config(entry, []), str(entry / runfolder.CONFIG))
        if new_id in wanted and new_id not in found:
            found[new_id] = entry
    return found


def place_runs(runs: list[Run], sweep: Path, store: Store, write: bool) -> tuple[dict[str, Path], dict[str, str]]:
    """Where each run's folder is ({run id: folder}) and which come from old folders ({run id: old name}).

    With `write`, a new run gets its folder in the store (config.yaml written once) and a link in
    the sweep; an old sweep's folder for the same configuration is listed in the store under its
    id of today and reused where it is, not retrained.
    """
    legacy = legacy_folders(sweep, {r.run_id for r in runs})
    run_dirs: dict[str, Path] = {}
    adopted: dict[str, str] = {}
    for r in runs:
        rid = r.run_id
        entry = sweep_layout.run_entry(sweep, rid)
        if entry.exists():  # listed already: a link into the store (or a folder named by its id)
            run_dirs[rid] = entry
            if write:
                runwrite.write_config(entry, r)
        elif rid in legacy:  # an old folder of this sweep holds the run: reused where it is
            run_dirs[rid], adopted[rid] = legacy[rid], legacy[rid].name
            if write:
                runwrite.write_config(legacy[rid], r)
                store.adopt(rid, legacy[rid])
        else:
            run_dirs[rid] = entry if write else store.path(rid)
            if write:
                runwrite.write_config(store.create(rid), r)
                link_into(entry, store.path(rid))
        if write and store.has(rid) and store.path(rid).resolve() == run_dirs[rid].resolve():
            store.add_sweep(rid, sweep)
    return run_dirs, adopted


def plan_launch(ablation: AblationSpec, profile: Profile, sweep: Path, write: bool = True,
                retry: Sequence[str] = (), retry_failed: bool = False, store: Optional[Path] = None) -> LaunchPlan:
    """Resolve the runs, place them in the store and the sweep (unless a dry run), decide what to submit.

    A run already in the store (completed, or queued/running under any sweep) is not submitted
    again. `retry` (run ids) and `retry_failed` (every failed or cancelled run) lift the retry limit.
    """
    memberships = resolve_runs(ablation)
    runs = unique_runs(memberships)
    ids = {r.run_id for r in runs}
    strangers = [rid for rid in retry if rid not in ids]
    if strangers:  # before anything is written
        raise UserError(f"--retry {strangers[0]}: not a run of ablation {ablation.name} "
                        f"({plural(len(runs), 'run')}; `launch --dry-run` lists them)")
    the_store = Store(store or store_for(sweep))
    sweep_sources = {rid: the_store.sweeps_of(rid) for rid in ids}  # before this sweep adds itself
    run_dirs, adopted = place_runs(runs, sweep, the_store, write)
    if write:
        sweep_layout.write_sweep(sweep, ablation.name, Path(ablation.source) if ablation.source else None,
                                 the_store.root, memberships)
    records = {rid: runfolder.read_run(d) for rid, d in run_dirs.items()}
    queued = queue_states([rec.job for rec in records.values() if rec.job], slurm=profile.executor == "slurm")
    records = dict(zip(records, reread_left(list(records.values()), queued)))
    if write:
        record_observed_ends(list(records.values()), queued)
    plan = LaunchPlan(runs, run_dirs, {}, queue_unknown=queued is None, adopted=adopted, memberships=memberships)
    here = str(Path(sweep).resolve())
    for rid, sweeps in sweep_sources.items():
        if sweeps and sweeps[0] != here:
            plan.reused_from[rid] = sweeps[0]
    for r in runs:
        rid = r.run_id
        state = runstate.run_state(records[rid], queued)
        plan.states[rid] = state
        job = records[rid].job
        attempts = job.attempts if job else 0
        reused = f"; reused from {plan.reused_from[rid]}" if rid in plan.reused_from else ""
        if state == schema.HELD:
            plan.to_release[rid] = job.job_id
            plan.skipped[rid] = f"held ({queued[job.job_id].reason or 'no reason given'}): job {job.job_id} to be released"
        elif state == schema.COMPLETED or state in schema.LIVE:
            plan.skipped[rid] = state + reused
        elif state == schema.UNKNOWN:
            plan.skipped[rid] = f"unknown ({records[rid].state_reason or 'the scheduler did not answer'}); not resubmitted"
        elif (state in (schema.FAILED, schema.CANCELLED) and attempts > profile.max_retries
              and not (retry_failed or rid in retry)):
            plan.skipped[rid] = (f"{state}, retry limit reached ({attempts} attempts); "
                                 f"`launch --retry {rid}` or `--retry-failed` resubmits it")
        else:
            plan.to_submit.append(rid)
    for rid in retry:
        if rid in plan.skipped and rid not in plan.to_release:
            plan.skipped[rid] += " (--retry resubmits only failed or cancelled runs)"
    return plan


def unknown_queue_message(plan: LaunchPlan) -> str:
    """One line for a launch refused because the queue could not be read, with the runs counted."""
    done = sum(s == schema.COMPLETED for s in plan.states.values())
    return (f"the Slurm queue could not be read (squeue failed or timed out): {plural(len(plan.runs), 'run')}: "
            f"{done} completed, {len(plan.runs) - done} unknown; nothing submitted. Relaunch when squeue answers")
