"""The local one-node Slurm cluster (slurm/local-cluster.sh) runs arrays and behaves as the launcher assumes.

Preemption (USR2, requeue, exact resume) of the project's own jobs is tested in test_slurm.py.

These tests talk to a real slurmctld. They skip when Slurm is absent or the cluster is not up;
start it with `sudo slurm/local-cluster.sh start`. Every wait is bounded, so a broken cluster
fails a test instead of hanging it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.polling import wait_until
import submitit

pytestmark = pytest.mark.slurm

# sinfo %T states in which the node accepts work ("idle*" = not responding, so not listed).
READY_STATES = {"idle", "mixed", "mix", "allocated", "alloc", "completing"}
JOB_DEADLINE_S = 120.0


def _slurm_skip_reason() -> str | None:
    """Why the Slurm tests cannot run here, or None when the cluster is up."""
    if shutil.which("sinfo") is None:
        return "sinfo not found: Slurm is not installed (run slurm/local-cluster.sh start)"
    try:
        # scontrol ping answers at once when the controller is down; sinfo retries for ~9 s.
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=15)
        if ping.returncode != 0:
            return "Slurm controller is down; run slurm/local-cluster.sh start"
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"Slurm did not answer ({exc}); run slurm/local-cluster.sh start"
    states = set(out.stdout.split())
    if out.returncode != 0 or not states & READY_STATES:
        detail = out.stderr.strip() or ",".join(sorted(states)) or "no nodes"
        return f"Slurm cluster not up ({detail}); run slurm/local-cluster.sh start"
    return None


@pytest.fixture(scope="module")
def slurm_cluster() -> None:
    """Skip the test unless a Slurm cluster with a usable node answers (fail instead under
    RESNEXT_BENCH_REQUIRE_SLURM=1, as CI sets it: a cluster that did not start is an error there)."""
    reason = _slurm_skip_reason()
    if reason and os.environ.get("RESNEXT_BENCH_REQUIRE_SLURM") == "1":
        pytest.fail(f"RESNEXT_BENCH_REQUIRE_SLURM=1 but {reason}", pytrace=False)
    if reason:
        pytest.skip(reason)


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def _squeue(job_id: str) -> list[tuple[str, str, str]]:
    """(job id, state, reason) for every task of job_id, finished ones included (until MinJobAge)."""
    out = _run("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%i|%T|%r")
    rows = [line.split("|") for line in out.stdout.splitlines() if line.strip()]
    return [(row[0], row[1], row[2]) for row in rows]


def _cancel(job_id: str) -> None:
    _run("scancel", job_id)


def test_an_sbatch_array_of_three_tasks_completes(slurm_cluster: None, tmp_path: Path) -> None:
    """Three array tasks run the venv python, each sees its own index and ends COMPLETED."""
    wrap = f"{shlex.quote(sys.executable)} -c 'import os; print(os.environ[\"SLURM_ARRAY_TASK_ID\"])'"
    out = _run("sbatch", "--parsable", "--array=0-2", f"--chdir={tmp_path}",
               f"--output={tmp_path}/%A_%a.out", "--time=5", "--mem=100M", "--wrap", wrap)
    assert out.returncode == 0, out.stderr
    job_id = out.stdout.strip().split(";")[0]
    try:
        def all_finished() -> bool:
            rows = _squeue(job_id)
            return len(rows) == 3 and all(state not in {"PENDING", "RUNNING", "COMPLETING"}
                                          for _, state, _ in rows)

        wait_until(all_finished, f"array job {job_id} to finish", timeout=JOB_DEADLINE_S, interval=0.5)
        states = {task: state for task, state, _ in _squeue(job_id)}
        assert states == {f"{job_id}_{i}": "COMPLETED" for i in range(3)}
        outputs = {(tmp_path / f"{job_id}_{i}.out").read_text().strip() for i in range(3)}
        assert outputs == {"0", "1", "2"}
    finally:
        _cancel(job_id)


def test_scontrol_reports_max_array_size(slurm_cluster: None) -> None:
    """MaxArraySize, which bounds how a grid is split into arrays, is readable from scontrol."""
    out = _run("scontrol", "show", "config")
    assert out.returncode == 0, out.stderr
    # `scontrol show config NAME` ignores NAME, so the line has to be picked out.
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)\s*$", out.stdout, re.MULTILINE)
    assert match, "MaxArraySize missing from scontrol show config"
    assert int(match.group(1)) >= 1


def test_without_slurmdbd_sacct_refuses_and_submitit_sees_unknown(slurm_cluster: None,
                                                                   tmp_path: Path) -> None:
    """Without accounting, sacct fails, so submitit's job.state stays UNKNOWN even for a done job."""
    config = _run("scontrol", "show", "config").stdout
    if not re.search(r"^AccountingStorageType\s*=\s*accounting_storage/none", config, re.MULTILINE):
        pytest.skip("this cluster has accounting storage; sacct works here")
    sacct = _run("sacct", "-n", "-X")
    assert sacct.returncode != 0
    assert "accounting storage is disabled" in sacct.stderr.lower()

    executor = _slurm_executor(tmp_path / "submitit", timeout_min=5, mem_gb=0.5, cpus_per_task=1)
    job = executor.submit(sum, [1, 2, 3])
    try:
        wait_until(job.done, f"submitit job {job.job_id}", timeout=JOB_DEADLINE_S, interval=0.5,
                   context=lambda: _job_stderr(job))
        assert job.result() == 6
        assert job.state == "UNKNOWN"
    finally:
        _cancel(job.job_id)


def _slurm_executor(folder: Path, **params: object) -> submitit.AutoExecutor:
    """A Slurm executor whose jobs run this interpreter (the project's venv)."""
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm", slurm_python=shlex.quote(sys.executable))
    executor.update_parameters(**params)
    return executor


def _job_stderr(job: submitit.Job) -> str:
    return (job.stderr() or "")[-2000:]
