"""Tests that need the local Slurm cluster: skip where none answers, fail instead in CI."""
import os
import re
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Optional

import pytest

# where slurm/local-cluster.sh has the daemons write their logs
SLURM_LOG_DIR = Path(os.environ.get("RB_SLURM_DIR", "/var/lib/resnext-bench-slurm")) / "log"


def require_slurm(module_level: bool = False) -> None:
    """Skip unless a Slurm cluster answers; fail instead under RESNEXT_BENCH_REQUIRE_SLURM=1 (CI)."""
    from resnext_bench.cluster.profile import slurm_available

    if slurm_available():
        return
    if os.environ.get("RESNEXT_BENCH_REQUIRE_SLURM") == "1":
        pytest.fail("RESNEXT_BENCH_REQUIRE_SLURM=1 but no Slurm answers here (slurm/local-cluster.sh start)",
                    pytrace=False)
    pytest.skip("no Slurm cluster answers here: run `bash slurm/local-cluster.sh start` as root",
                allow_module_level=module_level)


def queue_state(job_id: str) -> str:
    """The job's state in squeue (PENDING, RUNNING, REQUEUED...), or "" once it has left the queue."""
    out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True).stdout
    return out.strip()


def job_fields(job_id: str) -> dict:
    """`scontrol show job -o` as a dict of its fields (empty when Slurm does not know the job)."""
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True).stdout
    return dict(f.split("=", 1) for f in out.split() if "=" in f)


def release_requeued(job_id: str, settle_s: float = 3.0) -> None:
    """Start a requeued job now instead of at its BeginTime (~2 min, set a moment after it turns
    PENDING, so call this on every poll while it waits).

    Not within `settle_s` of the requeue (its SubmitTime): slurmd revokes the killed execution's job
    credential with a one-second resolution, and an execution started in that same second is refused
    ("Killing non-startable batch job: Job credential revoked"), failing the job; Slurm's own delay
    exists for this. Seen here when the release came 0.9 s after the requeue.
    """
    if queue_state(job_id) not in ("PENDING", "REQUEUE_HOLD"):
        return
    try:
        requeued = datetime.fromisoformat(job_fields(job_id)["SubmitTime"])
    except (KeyError, ValueError):
        return  # not readable now: the next poll tries again
    if (datetime.now() - requeued).total_seconds() < settle_s:
        return
    subprocess.run(["scontrol", "update", f"jobid={job_id}", "StartTime=now"], capture_output=True)
    subprocess.run(["scontrol", "release", job_id], capture_output=True)


def slurm_diagnosis(job_id: str, sweep: Optional[Path] = None) -> str:
    """What Slurm and the job said, for a test that timed out waiting on a job: the job's record, the
    node, the daemons' log lines naming the job, and the tail of the job's submitit logs."""
    def run(*cmd: str) -> str:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            return (proc.stdout + proc.stderr).strip()
        except (OSError, subprocess.SubprocessError) as e:
            return f"{cmd[0]}: {e}"

    parts = [f"$ scontrol show job {job_id}\n" + run("scontrol", "show", "job", job_id),
             "$ sinfo -N -l\n" + run("sinfo", "-N", "-l")]
    for log in (SLURM_LOG_DIR / "slurmctld.log", SLURM_LOG_DIR / "slurmd.log"):
        try:
            named = re.compile(rf"(?<![0-9]){re.escape(job_id)}(?![0-9])")
            lines = [line for line in log.read_text(errors="replace").splitlines() if named.search(line)]
        except OSError as e:
            lines = [f"unreadable: {e}"]
        parts.append(f"$ grep {job_id} {log}\n" + "\n".join(lines[-40:]))
    if sweep is not None:
        for path in sorted(Path(sweep).rglob(f"{job_id}*_log.*")):
            parts.append(f"$ tail {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-30:]))
    return "\n\n".join(parts)


def fake_gpu_partition(bin_dir: Path, monkeypatch, partition: str = "gpu", nodes: int = 4, cpus: int = 96,
                       mem_gb: int = 512, gpus: int = 8) -> None:
    """Put an `sinfo` first on PATH that lists a GPU partition the local Slurm lacks (`nodes` nodes of
    `cpus` CPUs, `mem_gb` GB and `gpus` GPUs each) and passes every other question to the real sinfo,
    so that a GPU profile's dry run is checked as on a GPU cluster (none is needed to print its plan)."""
    import shutil

    real = shutil.which("sinfo")
    node = f"{partition}|{cpus}|{mem_gb * 1024}|gpu:h100:{gpus}(S:0-1)"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "sinfo"
    shim.write_text("#!/bin/sh\n"
                    f'case " $* " in *" -p {partition} "*) for i in $(seq {nodes}); do echo "{node}"; done; exit 0;; esac\n'
                    + (f'exec {real} "$@"\n' if real else "exit 1\n"))
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def silent_slurm(bin_dir: Path, monkeypatch) -> None:
    """Put Slurm commands first on PATH that fail as they do when no controller answers (sinfo, squeue,
    scontrol, sbatch, scancel: exit 1 with Slurm's message), whether or not a Slurm runs here."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("sinfo", "squeue", "scontrol", "sbatch", "scancel"):
        shim = bin_dir / name
        shim.write_text(f"#!/bin/sh\necho '{name}: error: Unable to contact slurm controller (connect failure)' >&2\n"
                        "exit 1\n")
        shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
