"""Cluster profiles (slurm/*.yaml): the resources a run gets, per configuration, and whether the cluster can give them."""
from __future__ import annotations

import dataclasses
import fnmatch
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..units import plural
from ..config.load import build
from ..config.validate import require_int, require_number, shown
from ..errors import UserError
from ..config.yamlfile import read_yaml_mapping


DEFAULT_MAX_ARRAY_SIZE = 1001


# The bounds of a profile's numbers (and of an override's): the lower one is what the field means,
# the upper one what no real cluster job exceeds; past it is a typo or a hostile file.
#   field               (lowest, highest)  why the highest
PROFILE_LIMITS = {
    "nodes": (1, 1024),  # the largest published ImageNet runs use ~1,000 nodes
    "gpus_per_node": (0, 16),  # 8 on DGX-class nodes, 16 on the densest
    "gpus_per_run": (0, 16 * 1024),  # nodes x gpus_per_node
    "tasks_per_node": (1, 256),  # one a GPU, or CPU processes of a node
    "cpus_per_gpu": (1, 256),
    "cpus_per_run": (0, 1024),  # 0: one CPU
    "mem_gb": (0, 16_384),  # a node's memory: 16 TB is the largest node sold (> 0)
    "timeout_min": (1, 43_200),  # 30 days, past any partition's MaxTime
    "array_parallelism": (1, 10_000),
    "max_retries": (0, 100),
    "signal_delay_s": (1, 3600),  # USR2 at most an hour before the time limit
}
_OPTIONAL = ("gpus_per_node", "gpus_per_run", "tasks_per_node")  # None: derived from the others


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
    gpu_model: Optional[str] = None  # e.g. H200: picks the measured training rates of the GPU-hour estimate
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
        for key in ("partition", "account", "qos", "constraint"):
            value = getattr(self, key)
            # each becomes one `#SBATCH --KEY=VALUE` line: a newline would add lines of its own to the script
            if value is not None and (not value or len(value) > 200 or not value.isprintable() or " " in value):
                raise UserError(f"{key}: expected a Slurm name without spaces or control characters (at most 200), "
                                f"got {shown(value)}")
        for key, (low, limit) in PROFILE_LIMITS.items():
            if key == "mem_gb":
                require_number(key, self.mem_gb, low, low_open=True, limit=limit)
            else:
                require_int(key, getattr(self, key), low, optional=key in _OPTIONAL, limit=limit)
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
    raw = read_yaml_mapping(path)
    try:
        profile = build(Profile, {**raw, "source": str(path)})
        profile.variants()  # every override's resources are valid too
        return profile
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def run_cmd(cmd: list[str], timeout: float = 20) -> Optional[str]:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def slurm_available() -> bool:
    """True when a Slurm controller answers here (scontrol ping: sinfo takes ~10 s to give up)."""
    if shutil.which("scontrol") is None:
        return False
    return " is UP" in (run_cmd(["scontrol", "ping"], 10) or "")


def max_array_size() -> int:
    """The cluster's MaxArraySize (array indices run 0..MaxArraySize-1)."""
    out = run_cmd(["scontrol", "show", "config"]) or ""
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize":
            try:
                return int(value.strip())
            except ValueError:
                break
    return DEFAULT_MAX_ARRAY_SIZE


def check_resources(profile: Profile, answer_required: bool = True) -> str | None:
    """Refuse a partition that does not exist and resources no node of it can give (one line, before
    anything is queued). When Slurm does not answer: a UserError, or (not `answer_required`: a dry
    run) the sentence saying what could not be checked."""
    if profile.executor != "slurm":
        return None
    fmt = "%P|%c|%m|%G"
    out = run_cmd(["sinfo", "-h", "-N", "-o", fmt] + (["-p", profile.partition] if profile.partition else []))
    if out is None:
        if answer_required:
            raise UserError(f"{profile.source}: executor is slurm but Slurm does not answer here (sinfo failed)")
        return "the partition and a node's resources (sinfo failed: Slurm does not answer here)"
    nodes = [line.split("|") for line in out.strip().splitlines() if line.count("|") == 3]
    if not nodes:
        known = sorted(set((run_cmd(["sinfo", "-h", "-o", "%R"]) or "").split()))
        if profile.partition and profile.partition not in known:
            raise UserError(f"{profile.source}: partition {profile.partition!r} does not exist here "
                            f"(partitions: {', '.join(known) or 'none'})")
        raise UserError(f"{profile.source}: partition {profile.partition!r} has no nodes")
    for variant in profile.variants():  # each override's resources must fit too
        _check_fit(variant, nodes)
    return None


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
