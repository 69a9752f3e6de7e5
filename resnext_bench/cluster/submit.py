"""Submit a plan's runs: Slurm arrays within MaxArraySize, local parallel chains, or in-process (debug)."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

from ..units import plural
from ..config.runs import Run
from ..record import runwrite, schema
from ..errors import UserError
from ..record import sweep as sweep_layout
from .job import TrainJob
from .snapshot import snapshot_code
from .profile import DEFAULT_MAX_ARRAY_SIZE, Profile, max_array_size, run_cmd
from .plan import LaunchPlan, unknown_queue_message


def release_held(plan: LaunchPlan, log=print) -> None:
    """`scontrol release` the sweep's held jobs and say, for each that stays held, why (Slurm's
    words); name the cluster's drained nodes, which only an administrator can resume."""
    for rid, job_id in plan.to_release.items():
        try:
            out = subprocess.run(["scontrol", "release", job_id], capture_output=True, text=True, timeout=20)
            why = (out.stderr or out.stdout).strip() if out.returncode else ""
        except (OSError, subprocess.SubprocessError) as e:
            why = str(e)
        if why:
            log(f"job {job_id} of {rid} stays held: scontrol release failed: {schema.first_line(why)}")
        else:
            log(f"released held job {job_id} of {rid}")
    if plan.to_release:
        drained = run_cmd(["sinfo", "-h", "-N", "-t", "drain,drained,draining", "-o", "%N|%E"]) or ""
        for line in sorted(set(drained.splitlines())):
            node, _, reason = line.partition("|")
            log(f"node {node} is drained ({reason or 'no reason'}): its jobs wait until an administrator resumes it "
                f"(scontrol update nodename={node} state=resume)")


def job_exports(code_dir: Optional[Path], commit: Optional[str]) -> list[str]:
    """The lines a Slurm job's script runs first so that it imports the code snapshot (and names its commit)."""
    exports = []
    if code_dir is not None:
        exports.append(f"export PYTHONPATH={code_dir}${{PYTHONPATH:+:$PYTHONPATH}}")
    if commit:
        exports.append(f"export RESNEXT_BENCH_GIT_COMMIT={commit}")
    return exports


@contextlib.contextmanager
def submitting_from(code_dir: Optional[Path], executor: str, commit: Optional[str]):
    """Submit jobs that import the snapshot `code_dir`: from inside it, and (local jobs, which inherit this
    process's environment) with PYTHONPATH pointing at it; everything is restored after."""
    env_backup = os.environ.get("PYTHONPATH")
    commit_backup = os.environ.get("RESNEXT_BENCH_GIT_COMMIT")
    if code_dir is not None and executor == "local":
        os.environ["PYTHONPATH"] = str(code_dir) + (os.pathsep + env_backup if env_backup else "")
        if commit:
            os.environ["RESNEXT_BENCH_GIT_COMMIT"] = commit
    cwd = os.getcwd()
    if code_dir is not None:
        # Jobs start in the submission directory and `python -m` puts it first on sys.path, so a
        # checkout there would shadow the snapshot: submit from inside the snapshot instead.
        os.chdir(code_dir)
    try:
        yield
    finally:
        os.chdir(cwd)
        if code_dir is not None and executor == "local":
            for key, value in (("PYTHONPATH", env_backup), ("RESNEXT_BENCH_GIT_COMMIT", commit_backup)):
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _executor(profile: Profile, sweep: Path, name: str, code_dir: Optional[Path], commit: Optional[str]):
    import submitit

    folder = sweep_layout.submitit_dir(sweep) / "%j"
    exports = job_exports(code_dir, commit)
    if profile.executor == "slurm":
        ex = submitit.SlurmExecutor(folder=folder, python=sys.executable)
        params = dict(
            job_name=f"rb-{name}", time=profile.timeout_min, nodes=profile.nodes, ntasks_per_node=profile.tasks_per_node,
            cpus_per_task=profile.cpus_per_task, mem=f"{int(profile.mem_gb * 1024)}M",
            signal_delay_s=profile.signal_delay_s, array_parallelism=profile.array_parallelism,
            setup=list(profile.setup) + exports,
        )
        if profile.gpus_per_node:
            params["gpus_per_node"] = profile.gpus_per_node
        for key in ("partition", "account", "qos", "constraint"):
            if getattr(profile, key):
                params[key] = getattr(profile, key)
        if profile.additional_parameters:
            params["additional_parameters"] = dict(profile.additional_parameters)
        ex.update_parameters(**params)
        return ex
    # No %j for local jobs: submitit's local controller creates its folder unformatted (a folder
    # literally named %j); its files are named by job id anyway (SWEEP/submitit/PID_0_log.out).
    ex = submitit.LocalExecutor(folder=folder.parent)
    ex.update_parameters(timeout_min=profile.timeout_min, gpus_per_node=profile.gpus_per_node,
                         tasks_per_node=profile.tasks_per_node)
    return ex


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def plan_arrays(runs: list[Run], ids: list[str], profile: Profile, limit: int) -> list[tuple[Profile, list[list[str]]]]:
    """How the runs `ids` are submitted: a list of (resources, jobs), one entry an array, a job a
    chain of run ids trained in turn.

    Runs whose configurations get different resources (the profile's overrides) go to separate
    arrays, since an array shares one set of sbatch options. Slurm: one job a run, arrays within
    MaxArraySize (`limit`); local: `array_parallelism` chains a resource set; debug: one chain each.
    """
    configuration = {r.run_id: r.configuration for r in runs}
    sets: dict[tuple, tuple[Profile, list[str]]] = {}
    for rid in ids:
        resources = profile.for_configuration(configuration[rid])
        sets.setdefault(resources.resources, (resources, []))[1].append(rid)
    arrays = []
    for resources, members in sets.values():
        if profile.executor == "slurm":
            arrays += [(resources, chunk) for chunk in _chunks([[rid] for rid in members], limit)]
        else:
            lanes = min(profile.array_parallelism, len(members)) if profile.executor == "local" else 1
            arrays.append((resources, [members[i::lanes] for i in range(lanes)]))
    return arrays


def submit(plan: LaunchPlan, profile: Profile, sweep: Path, name: str, log=print, run_debug: bool = True) -> list[str]:
    """Submit the planned runs (Slurm: arrays within MaxArraySize; local: parallel chains).

    Refuses (UserError) when the scheduler could not be read: a run whose job may still be live
    must never get a second one, and no other run is submitted either. The debug executor's jobs
    train in this process: now, or (`run_debug` False) later through `run_debug_jobs`.
    """
    if plan.queue_unknown:
        raise UserError(unknown_queue_message(plan))
    release_held(plan, log)
    if not plan.to_submit:
        return []
    from ..engine.environment import git_commit

    for rid in plan.to_submit:  # a resubmitted run is pending again, not failed
        runwrite.archive_failure(plan.run_dirs[rid])
    # Absolute paths: submission happens from inside the code snapshot (see below).
    run_dirs = {rid: d.resolve() for rid, d in plan.run_dirs.items()}
    sweep = sweep.resolve()
    code_dir = snapshot_code(sweep) if profile.snapshot and profile.executor != "debug" else None
    commit = git_commit()
    limit = max_array_size() if profile.executor == "slurm" else DEFAULT_MAX_ARRAY_SIZE
    batches = plan_arrays(plan.runs, plan.to_submit, profile, limit)
    submitted = []
    if profile.executor == "debug":
        # In this process, one run after another (submitit's debug executor would open pdb on a failure).
        groups = [group for _, batch in batches for group in batch]
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        for i, group in enumerate(groups):
            for rid in group:
                runwrite.record_job(run_dirs[rid], f"debug-{os.getpid()}-{i}", "debug", now)
            submitted += group
        log(f"submitted {plural(len(groups), 'job')} for {plural(len(submitted), 'run')} (debug, in this process)")
        plan.debug_jobs = [[str(run_dirs[rid]) for rid in group] for group in groups]
        if run_debug:
            run_debug_jobs(plan, log)
        return submitted
    with submitting_from(code_dir, profile.executor, commit):
        for resources, batch in batches:
            ex = _executor(resources, sweep, name, code_dir, commit)
            fns = [TrainJob([str(run_dirs[rid]) for rid in group]) for group in batch]
            jobs = ex.submit_array(fns)
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            for group, job in zip(batch, jobs):
                for rid in group:
                    runwrite.record_job(run_dirs[rid], str(job.job_id), profile.executor, now, str(job.paths.folder))
                    submitted.append(rid)
            log(f"submitted {plural(len(jobs), 'job')} for {plural(sum(map(len, batch)), 'run')} "
                f"({profile.executor}{', array ' + jobs[0].job_id.split('_')[0] if profile.executor == 'slurm' else ''}; "
                f"each {resources.describe()})")
    return submitted


def run_debug_jobs(plan: LaunchPlan, log=print) -> None:
    """Train the debug executor's jobs in this process, one after another."""
    jobs, plan.debug_jobs = plan.debug_jobs, []
    for group in jobs:
        try:
            TrainJob(group)()
        except Exception as e:  # the run's result already says why
            log(f"debug job failed: {type(e).__name__}: {(str(e).splitlines() or [''])[0]}")
