"""Send an ablation's runs to Slurm (or this machine) with submitit; relaunch idempotently.

Every run lives in the run store, listed by its sweep (record/store.py, record/sweep.py); its job
record keeps its job ids, so a relaunch submits nothing for runs that completed or are still queued/running, releases
held jobs, resubmits failed or cancelled runs up to the profile's retry limit (or beyond it when
asked: `--retry`, `--retry-failed`), and submits nothing for a run whose state is unknown (a
scheduler that does not answer is never read as an empty queue). Jobs record each attempt in
job.json; the launcher records how attempts ended that the job could not record itself (a node
failure, SIGKILL). Jobs run `TrainJob` (job.py) from a snapshot of the code taken at launch
(snapshot.py).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..units import plural
from ..config.runs import Run, resolve_runs
from ..config.specs import AblationSpec
from ..config.load import build, load_yaml
from ..record import runfolder, runstate, runwrite, schema
from ..errors import UserError
from ..record import sweep as sweep_layout
from ..record.store import Store, link_into, store_for
from .job import TrainJob
from .snapshot import snapshot_code

DEFAULT_MAX_ARRAY_SIZE = 1001


# ---------------------------------------------------------------- cluster profiles

# The fields of a profile that say what one run's job is given: runs whose resources differ go to
# separate arrays (an array shares one set of sbatch options).
RESOURCE_FIELDS = ("nodes", "gpus_per_node", "tasks_per_node", "cpus_per_gpu", "cpus_per_run", "mem_gb", "timeout_min")


@dataclass(frozen=True)
class ResourceOverride:
    """Other resources for the configurations whose names match one of `configurations` (fnmatch
    patterns, e.g. "*_64x4d"): the 2x-complexity models of Table 4 on more nodes, for longer."""

    configurations: tuple[str, ...]
    nodes: Optional[int] = None
    gpus_per_node: Optional[int] = None
    tasks_per_node: Optional[int] = None
    cpus_per_gpu: Optional[int] = None
    cpus_per_run: Optional[int] = None
    mem_gb: Optional[float] = None
    timeout_min: Optional[int] = None

    def __post_init__(self):
        if not self.configurations:
            raise UserError("overrides: each entry names its configurations (a list of name patterns)")
        if all(getattr(self, key) is None for key in RESOURCE_FIELDS):
            raise UserError(f"overrides for {list(self.configurations)}: sets none of {', '.join(RESOURCE_FIELDS)}")


@dataclass(frozen=True)
class Profile:
    """Where and with what resources each run is executed (slurm/*.yaml).

    A run is one job of `nodes` x `tasks_per_node` tasks, one task a GPU (`gpus_per_node`), or CPU
    processes (gloo) when the profile has no GPUs. `gpus_per_run` is the one-node spelling of earlier
    profiles: gpus_per_run = nodes x gpus_per_node with nodes = 1.
    """

    executor: str = "local"  # slurm | local | debug
    partition: Optional[str] = None
    account: Optional[str] = None
    qos: Optional[str] = None
    constraint: Optional[str] = None
    nodes: int = 1
    gpus_per_node: Optional[int] = None  # a run with several GPUs in all uses DDP, one task per GPU
    gpus_per_run: Optional[int] = None  # one node's GPUs (earlier profiles); kept equal to nodes x gpus_per_node
    tasks_per_node: Optional[int] = None  # = gpus_per_node with GPUs; CPU processes (gloo) a node without (default 1)
    cpus_per_gpu: int = 8
    cpus_per_run: int = 0  # CPUs of each task of a run without GPUs (0: 1)
    mem_gb: float = 16.0  # a node's
    timeout_min: int = 60
    array_parallelism: int = 16  # runs executing at once (for `local`: parallel chains of runs)
    max_retries: int = 2  # resubmissions of a failed or cancelled run
    signal_delay_s: int = 120  # USR2 this long before the time limit: checkpoint and requeue
    setup: tuple[str, ...] = ()  # shell lines run before each job (module load, conda activate...)
    additional_parameters: Optional[dict] = None  # extra sbatch options submitit passes through
    snapshot: bool = True
    overrides: tuple[ResourceOverride, ...] = ()  # other resources for some configurations
    source: str = ""

    def __post_init__(self):
        if self.executor not in ("slurm", "local", "debug"):
            raise UserError(f"executor: expected slurm, local or debug, got {self.executor!r}")
        for key in ("cpus_per_run", "max_retries"):
            if getattr(self, key) < 0:
                raise UserError(f"{key}: expected a number >= 0, got {getattr(self, key)}")
        for key in ("gpus_per_node", "gpus_per_run"):
            if getattr(self, key) is not None and getattr(self, key) < 0:
                raise UserError(f"{key}: expected a number >= 0, got {getattr(self, key)}")
        for key in ("nodes", "tasks_per_node", "cpus_per_gpu", "timeout_min", "array_parallelism", "signal_delay_s"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise UserError(f"{key}: expected a number >= 1, got {getattr(self, key)}")
        if not self.mem_gb > 0:
            raise UserError(f"mem_gb: expected a number > 0, got {self.mem_gb}")
        if self.signal_delay_s >= self.timeout_min * 60:
            raise UserError(f"signal_delay_s ({self.signal_delay_s}) must be shorter than timeout_min")
        # One spelling of the GPUs from here on: gpus_per_node, with gpus_per_run = nodes x gpus_per_node.
        per_node, per_run = self.gpus_per_node, self.gpus_per_run
        if per_node is None:
            if per_run and self.nodes > 1:
                raise UserError(f"gpus_per_run is one node's GPUs; with nodes: {self.nodes} give gpus_per_node")
            per_node = per_run or 0
        elif per_run is not None and per_run != self.nodes * per_node:
            raise UserError(f"gpus_per_run ({per_run}) is not nodes x gpus_per_node ({self.nodes} x {per_node}): "
                            "give gpus_per_node alone")
        tasks = self.tasks_per_node or max(per_node, 1)
        if per_node and tasks != per_node:
            raise UserError(f"tasks_per_node ({tasks}) must equal gpus_per_node ({per_node}): one task per GPU")
        if self.executor != "slurm" and self.nodes > 1:
            raise UserError(f"nodes: {self.nodes} needs executor slurm ({self.executor} runs on this machine)")
        if self.executor == "debug" and tasks > 1:
            raise UserError(f"executor debug trains in this process: one task, not {tasks} (use local or slurm)")
        object.__setattr__(self, "gpus_per_node", per_node)
        object.__setattr__(self, "gpus_per_run", self.nodes * per_node)
        object.__setattr__(self, "tasks_per_node", tasks)

    @property
    def cpus_per_task(self) -> int:
        return self.cpus_per_gpu if self.gpus_per_node else max(1, self.cpus_per_run)

    @property
    def resources(self) -> tuple:
        """What one run's job is given; runs with equal resources can share an array."""
        return tuple(getattr(self, key) for key in RESOURCE_FIELDS)

    def describe(self) -> str:
        """One run's allocation in words: nodes x GPUs (or CPU tasks), CPUs, memory, time limit."""
        if self.gpus_per_node:
            what = f"{plural(self.nodes, 'node')} x {plural(self.gpus_per_node, 'GPU')}"
        else:
            what = f"{plural(self.nodes, 'node')} x {plural(self.tasks_per_node, 'CPU task')}"
        return (f"{what}, {plural(self.cpus_per_task * self.tasks_per_node, 'CPU')} and {self.mem_gb:g} GB a node, "
                f"{self.timeout_min} min")

    def for_configuration(self, name: str) -> "Profile":
        """This profile with the resources of the first override whose patterns match `name`."""
        for override in self.overrides:
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in override.configurations):
                return self._with(override)
        return self

    def variants(self) -> list["Profile"]:
        """This profile and each override applied: every set of resources a run of it can get."""
        return [self] + [self._with(override) for override in self.overrides]

    def _with(self, override: ResourceOverride) -> "Profile":
        changes = {key: getattr(override, key) for key in RESOURCE_FIELDS if getattr(override, key) is not None}
        if "nodes" in changes or "gpus_per_node" in changes:
            changes["gpus_per_run"] = None  # recomputed as nodes x gpus_per_node
        if "gpus_per_node" in changes:
            changes.setdefault("tasks_per_node", None)  # one task per GPU again, unless set
        try:
            return dataclasses.replace(self, **changes, overrides=())
        except UserError as e:
            raise UserError(f"overrides for {list(override.configurations)}: {e}") from None


def load_profile(path: str | Path) -> Profile:
    """Read and strictly validate a cluster profile."""
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping")
    try:
        profile = build(Profile, {**raw, "source": str(path)})
        profile.variants()  # every override's resources are valid too
        return profile
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def _run_cmd(cmd: list[str], timeout: float = 20) -> Optional[str]:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def slurm_available() -> bool:
    """True when a Slurm controller answers here (scontrol ping: sinfo takes ~10 s to give up)."""
    if shutil.which("scontrol") is None:
        return False
    return " is UP" in (_run_cmd(["scontrol", "ping"], 10) or "")


def max_array_size() -> int:
    """The cluster's MaxArraySize (array indices run 0..MaxArraySize-1)."""
    out = _run_cmd(["scontrol", "show", "config"]) or ""
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize":
            try:
                return int(value.strip())
            except ValueError:
                break
    return DEFAULT_MAX_ARRAY_SIZE


def check_resources(profile: Profile) -> None:
    """Refuse resources no node of the partition can give (one line, before anything is queued)."""
    if profile.executor != "slurm":
        return
    fmt = "%P|%c|%m|%G"
    out = _run_cmd(["sinfo", "-h", "-N", "-o", fmt] + (["-p", profile.partition] if profile.partition else []))
    if out is None:
        raise UserError(f"{profile.source}: executor is slurm but Slurm does not answer here (sinfo failed)")
    nodes = [line.split("|") for line in out.strip().splitlines() if line.count("|") == 3]
    if not nodes:
        raise UserError(f"{profile.source}: partition {profile.partition!r} has no nodes")
    for variant in profile.variants():  # each override's resources must fit too
        _check_fit(variant, nodes)


def _gres_gpus(gres: str) -> int:
    """GPUs in a node's gres string as sinfo prints it ("gpu:a100:4(S:0-1),shard:8")."""
    total = 0
    for item in gres.split(","):
        parts = item.split("(")[0].split(":")
        if parts[0] == "gpu" and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def _check_fit(profile: Profile, nodes: list[list[str]]) -> None:
    """Refuse a job no `profile.nodes` nodes of sinfo's (partition, CPUs, memory, gres) rows can hold."""
    cpus_needed = profile.cpus_per_task * profile.tasks_per_node  # a node's share of the job
    fits = [n for n in nodes if int(n[1].rstrip("+")) >= cpus_needed
            and int(n[2].rstrip("+")) >= profile.mem_gb * 1024 and _gres_gpus(n[3]) >= profile.gpus_per_node]
    if not fits:
        most = max(nodes, key=lambda n: int(n[1].rstrip("+")))
        raise UserError(
            f"{profile.source}: no node can run a job with {profile.gpus_per_node} GPUs, {cpus_needed} CPUs and "
            f"{profile.mem_gb:g} GB (largest node: {most[1]} CPUs, {int(most[2].rstrip('+')) // 1024} GB, gres {most[3]})"
        )
    if len(fits) < profile.nodes:
        raise UserError(f"{profile.source}: a run needs {plural(profile.nodes, 'node')} with "
                        f"{plural(profile.gpus_per_node, 'GPU')}, {plural(cpus_needed, 'CPU')} and {profile.mem_gb:g} GB "
                        "each; the partition has "
                        f"{plural(len(fits), 'such node')}")


# ---------------------------------------------------------------- the scheduler's view

# squeue's %T words: live states the launcher acts on, then how a job that is still listed ended.
SLURM_STATES = {
    "PENDING": schema.PENDING, "CONFIGURING": schema.PENDING, "SUSPENDED": schema.PENDING,
    "REQUEUED": schema.REQUEUED, "REQUEUE_FED": schema.REQUEUED,
    "REQUEUE_HOLD": schema.HELD, "RESV_DEL_HOLD": schema.HELD,
    "RUNNING": schema.RUNNING, "COMPLETING": schema.RUNNING, "STAGE_OUT": schema.RUNNING,
    "SIGNALING": schema.RUNNING, "RESIZING": schema.RUNNING,
    "COMPLETED": schema.COMPLETED, "FAILED": schema.FAILED, "OUT_OF_MEMORY": schema.KILLED,
    "BOOT_FAIL": schema.FAILED, "DEADLINE": schema.TIMEOUT, "TIMEOUT": schema.TIMEOUT,
    "CANCELLED": schema.CANCELLED, "PREEMPTED": schema.PREEMPTED, "NODE_FAIL": schema.NODE_FAIL,
}


def _slurm_entry(state: str, reason: str) -> Optional[runstate.Queued]:
    """What one squeue line says, in the record's words (record/schema.py); a pending job held by a user or an admin
    (JobHeldUser, JobHeldAdmin: `scontrol hold`, or Slurm after a failed launch) is held."""
    ours = SLURM_STATES.get(state)
    if ours is None:
        return None
    reason = "" if reason in ("None", "(null)") else reason
    if ours == schema.PENDING and (reason.startswith("JobHeld") or "held" in reason.lower()):
        ours = schema.HELD
    if ours in schema.ATTEMPT_ENDS:  # Slurm's own word, which ours may generalise (OUT_OF_MEMORY: killed)
        reason = f"Slurm: {state}" + (f" ({reason})" if reason else "")
    return runstate.Queued(ours, reason)


LOST_REASON = "left the queue with no end recorded (SIGKILL, a lost node, or ended before the queue was last read)"


def queue_states(jobs: list[schema.Job], slurm: bool = False) -> Optional[dict[str, runstate.Queued]]:
    """What the scheduler says of the jobs it still lists (live, or ended a short while ago),
    keyed by job id.

    None when Slurm jobs are asked about (or `slurm`: a launch on a Slurm profile, even of a fresh
    sweep) and squeue does not answer: the caller must then treat those runs as unknown, never as
    gone from the queue. A local job is running while its process lives.
    """
    states: dict[str, runstate.Queued] = {}
    if slurm or any(j.executor == "slurm" for j in jobs):
        out = _run_cmd(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T|%r"]) if shutil.which("squeue") else None
        if out is None:
            return None
        for line in out.splitlines():
            job_id, state, reason = (line.split("|", 2) + ["", ""])[:3]
            entry = _slurm_entry(state.strip(), reason.strip())
            if entry is not None:
                states[job_id.strip()] = entry
    for j in jobs:
        if j.executor == "local" and j.pid and _alive(int(j.pid)):
            states[j.job_id] = runstate.Queued(schema.RUNNING)
    return states


def record_observed_ends(records: list[runfolder.RunRecord], queued: Optional[dict[str, runstate.Queued]]) -> set[Path]:
    """Close, in job.json, the attempts whose end only the scheduler saw (a node failure, a time
    limit, SIGKILL of the whole job, a job that failed before training started, a requeued job
    cancelled by scancel): the job could not record it. A failed Slurm job whose exit code says a
    signal ended it is recorded killed by that signal.

    Best effort: a sweep this process cannot write keeps its attempts open (status still reads it).
    Nothing is recorded while the scheduler does not answer. Returns the run folders written.
    """
    written: set[Path] = set()
    if queued is None:
        return written
    for rec in records:
        job = rec.job
        if job is None or job.executor == "debug":
            continue
        entry = queued.get(job.job_id)
        last = job.last_attempt
        try:
            if entry is not None and entry.state in schema.ATTEMPT_ENDS:
                # after a requeue the job's end of its last execution is not the job's end
                requeued = (last is not None and last.end in (schema.PREEMPTED, schema.TIMEOUT) and not last.observed
                            and entry.state != last.end)
                if last is None or last.end is None or requeued:
                    end, reason = entry.state, entry.reason
                    killed = slurm_exit_signal(job.job_id) if end == schema.FAILED and job.executor == "slurm" else None
                    if killed:
                        end, reason = schema.KILLED, f"{reason}; {killed}"
                    # a Slurm job that ended before it could start an attempt (or start again) gets one holding its end
                    if runwrite.end_attempt(rec.path, job.job_id, end, reason, observed=True,
                                          append=job.executor == "slurm"):
                        written.add(rec.path)
            elif (entry is None and last is not None and last.end is None
                  and runstate.run_state(rec, queued) == schema.CANCELLED
                  and runwrite.end_attempt(rec.path, job.job_id, schema.LOST, LOST_REASON, observed=True)):
                written.add(rec.path)
        except OSError:
            continue
    return written


def slurm_exit_signal(job_id: str) -> Optional[str]:
    """"exit code X:Y: killed by signal N (NAME)" when Slurm's record of an ended job says a signal
    ended it (Y = N, or X = 128 + N: srun's status for a task killed by signal N), else None (also
    when Slurm no longer lists the job: MinJobAge)."""
    out = _run_cmd(["scontrol", "show", "job", job_id], 10) or ""
    codes = [t.split("=", 1)[1].partition(":") for t in out.split() if t.startswith("ExitCode=")]
    if not codes or not (codes[0][0].isdigit() and codes[0][2].isdigit()):
        return None
    status, sig = int(codes[0][0]), int(codes[0][2])
    number = sig or (status - 128 if 128 < status <= 128 + 64 else 0)
    if not number:
        return None
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = "unnamed"
    return f"exit code {status}:{sig}: killed by signal {number} ({name})"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a finished child not yet reaped is a zombie, not a running job
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


# ---------------------------------------------------------------- launching

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
        drained = _run_cmd(["sinfo", "-h", "-N", "-t", "drain,drained,draining", "-o", "%N|%E"]) or ""
        for line in sorted(set(drained.splitlines())):
            node, _, reason = line.partition("|")
            log(f"node {node} is drained ({reason or 'no reason'}): its jobs wait until an administrator resumes it "
                f"(scontrol update nodename={node} state=resume)")


def _executor(profile: Profile, sweep: Path, name: str, code_dir: Optional[Path], commit: Optional[str]):
    import submitit

    folder = sweep_layout.submitit_dir(sweep) / "%j"
    exports = []
    if code_dir is not None:
        exports.append(f"export PYTHONPATH={code_dir}${{PYTHONPATH:+:$PYTHONPATH}}")
    if commit:
        exports.append(f"export RESNEXT_BENCH_GIT_COMMIT={commit}")
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
    env_backup = os.environ.get("PYTHONPATH")
    if code_dir is not None and profile.executor == "local":
        # Local subprocesses inherit this environment: point them at the snapshot.
        os.environ["PYTHONPATH"] = str(code_dir) + (os.pathsep + env_backup if env_backup else "")
        if commit:
            os.environ["RESNEXT_BENCH_GIT_COMMIT"] = commit
    cwd = os.getcwd()
    if code_dir is not None:
        # Jobs start in the submission directory and `python -m` puts it first on sys.path, so a
        # checkout there would shadow the snapshot: submit from inside the snapshot instead.
        os.chdir(code_dir)
    try:
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
    finally:
        os.chdir(cwd)
        if code_dir is not None and profile.executor == "local":
            if env_backup is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = env_backup
    return submitted


def run_debug_jobs(plan: LaunchPlan, log=print) -> None:
    """Train the debug executor's jobs in this process, one after another."""
    jobs, plan.debug_jobs = plan.debug_jobs, []
    for group in jobs:
        try:
            TrainJob(group)()
        except Exception as e:  # the run's result already says why
            log(f"debug job failed: {type(e).__name__}: {(str(e).splitlines() or [''])[0]}")


@dataclass
class Launched:
    """What one launch did."""

    plan: LaunchPlan
    submitted: list[str]
    store: Path


def launch(ablation: AblationSpec, profile: Profile, sweep: Path, store: Optional[Path] = None,
           retry: Sequence[str] = (), retry_failed: bool = False, log=print, on_plan=None) -> Launched:
    """The launch sequence: own the sweep, check resources, place and plan the runs, submit.

    One launch of a sweep at a time (SweepBusy otherwise), and one launch of a store at a time
    while it decides and records submissions, so concurrent launches give one job a run. An
    unreadable queue submits nothing (UserError). `on_plan(plan)` is called before submitting.
    """
    store = store or store_for(sweep)
    check_resources(profile)  # before anything is written
    Path(sweep).mkdir(parents=True, exist_ok=True)
    with sweep_layout.launch_lock(sweep):
        with Store(store).submit_lock():
            plan = plan_launch(ablation, profile, sweep, retry=retry, retry_failed=retry_failed, store=store)
            if plan.queue_unknown:
                raise UserError(unknown_queue_message(plan))
            if on_plan is not None:
                on_plan(plan)
            submitted = submit(plan, profile, sweep, ablation.name, log=log, run_debug=False)
        run_debug_jobs(plan, log)
    return Launched(plan, submitted, store)


# ---------------------------------------------------------------- estimates

# Training-split sizes of the standard data sets, for estimates made without the data at hand.
CANONICAL_TRAIN_SIZE = {"imagenet": 1_281_167, "cifar10": 50_000, "cifar100": 50_000}


def estimate_gpu_hours(runs: list[Run], images_per_sec_per_tflop: Optional[float], throughput: Optional[float]) -> list[dict]:
    """GPU-hours of each run from its FLOPs, epochs and data set size, at a stated throughput.

    `throughput` (images/s per GPU) is used as given when set; otherwise it is derived from the
    run's training FLOPs (3 x 2 x forward multiply-adds per image) at `images_per_sec_per_tflop`
    effective TFLOP/s.
    """
    from ..engine.data import dataset_info

    rows = []
    for r in runs:
        try:
            train_size = dataset_info(r.data).train_size
        except UserError:  # data not readable here (a login node): the standard training split
            train_size = CANONICAL_TRAIN_SIZE.get(r.data.name)
            if train_size and r.data.train_limit:
                train_size = min(train_size, r.data.train_limit)
        flops = r.complexity.get("flops") or 0
        speed = throughput
        if speed is None and images_per_sec_per_tflop and flops:
            speed = images_per_sec_per_tflop * 1e12 / (6 * flops)
        hours = None
        if train_size and speed:
            hours = train_size * r.recipe.epochs / speed / 3600
        rows.append({"run_id": r.run_id, "configuration": r.configuration, "seed": r.seed,
                     "train_images": train_size, "epochs": r.recipe.epochs, "images_per_sec": speed,
                     "gpu_hours": hours})
    return rows
