"""Concurrent launches against the real local Slurm: one job a run, a whole snapshot, and an
unread queue that submits nothing, fresh sweep or not."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.slurm import require_slurm
from support.ablations import write_launch_grid

from resnext_bench.cluster import snapshot
from resnext_bench.config.runs import resolve_runs
from resnext_bench.config.load import load_ablation
from resnext_bench.record import runfolder

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "slurm" / "local.yaml"

require_slurm(module_level=True)

pytestmark = pytest.mark.slurm


def start_launch(grid: Path, sweep: Path, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "resnext_bench.cli", "launch", str(grid), "--cluster", str(PROFILE),
                             "--sweep-dir", str(sweep)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, stdin=subprocess.DEVNULL)


def run_ids(grid: Path) -> list[str]:
    return sorted({r.run_id for r in resolve_runs(load_ablation(grid, []))})


def jobs_of(store: Path, ids: list[str]) -> dict[str, list[str]]:
    """Every job id ever recorded for each run (job.json's submission history)."""
    out = {}
    for rid in ids:
        job = runfolder.read_job(store / rid)
        out[rid] = [h["job_id"] for h in job.history] if job else []
    return out


def cancel_all(jobs: dict[str, list[str]]) -> None:
    ids = sorted({j.split("_")[0] for js in jobs.values() for j in js})
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30)


def finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    results = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        results.append((p.returncode, out, err))
    return results


def test_ten_concurrent_launches_of_one_sweep_give_one_job_a_run_and_a_whole_snapshot(tmp_path):
    grid = write_launch_grid(tmp_path, "race", "[1, 2, 4]", epochs=1, train_limit=64)
    sweep, ids = tmp_path / "sweep", run_ids(grid)
    procs = [start_launch(grid, sweep) for _ in range(10)]
    results = finish(procs)
    jobs = jobs_of(tmp_path / "store", ids)
    try:
        codes = [rc for rc, _, _ in results]
        assert codes.count(2) >= 1, results  # the launches overlapped: the race was run, not avoided
        assert set(codes) <= {0, 2} and 0 in codes, results
        for rc, out, err in results:
            if rc == 2:  # the loser says who owns the sweep, in one line
                assert len(err.strip().splitlines()) == 1 and "is being launched by host" in err, err
        assert sum(rc == 0 and "3 runs submitted" in out for rc, out, _ in results) == 1, results
        assert all(len(js) == 1 for js in jobs.values()), jobs  # exactly one job for each run
        assert len({j for js in jobs.values() for j in js}) == len(ids)
        snapshots = [p for p in (sweep / "code").iterdir()]
        assert len(snapshots) == 1, snapshots
        assert snapshot.snapshot_matches(snapshots[0], snapshot.package_manifest(ROOT / "resnext_bench"))
    finally:
        cancel_all(jobs)


def test_concurrent_launches_of_two_sweeps_sharing_runs_submit_each_run_once(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_launch_grid(tmp_path / "a", "race_a", "[1, 2]", epochs=1, train_limit=64)
    second = write_launch_grid(tmp_path / "b", "race_b", "[1, 2, 4]", epochs=1, train_limit=64)
    ids = run_ids(second)
    assert set(run_ids(first)) < set(ids)
    procs = [start_launch(g, tmp_path / name) for _ in range(3) for g, name in ((first, "sa"), (second, "sb"))]
    results = finish(procs)
    jobs = jobs_of(tmp_path / "store", ids)
    try:
        assert all(rc in (0, 2) for rc, _, _ in results), results
        assert all(len(js) == 1 for js in jobs.values()), jobs
    finally:
        cancel_all(jobs)


def test_an_unread_queue_submits_nothing_for_a_fresh_sweep_in_one_line_with_exit_2(tmp_path):
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "squeue").write_text("#!/bin/sh\necho 'slurm_load_jobs error: Socket timed out' >&2\nexit 1\n")
    (shim / "squeue").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"}
    assert subprocess.run(["squeue"], env=env, capture_output=True).returncode == 1  # the fault is in place
    grid = write_launch_grid(tmp_path, "unread", "[1, 2]", epochs=1, train_limit=64)
    sweep = tmp_path / "sweep"
    (rc, out, err), = finish([start_launch(grid, sweep, env=env)])
    assert rc == 2, (out, err)
    assert err.strip().splitlines() == [
        "resnext-bench launch: error: the Slurm queue could not be read (squeue failed or timed out): 2 runs: "
        "0 completed, 2 unknown; nothing submitted. Relaunch when squeue answers"]
    assert "skip" not in out and "submitted" not in out
    assert all(runfolder.read_job(tmp_path / "store" / rid) is None for rid in run_ids(grid))  # no job recorded
    assert not (sweep / "submitit").exists()
