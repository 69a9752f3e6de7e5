"""Launching without a cluster (debug and local executors): idempotent relaunch, retries, status, dry runs."""
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.polling import wait_until
from support.slurm import fake_gpu_partition
from support.ablations import write_launch_grid
import yaml

from resnext_bench.cli import main
from resnext_bench.cluster.profile import load_profile, max_array_size
from resnext_bench.cluster.submit import _chunks
from resnext_bench.record import runfolder, runwrite, schema
from resnext_bench.cluster.status import sweep_status

@pytest.fixture
def grid(tmp_path):
    return write_launch_grid(tmp_path, "tinygrid", "[1, 2, 4]")


def profile(tmp_path, text, name="p.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def states(sweep):
    return {r["configuration"]: r["state"] for r in sweep_status(sweep)}


def break_run(sweep: Path, configuration: str, root: str | None):
    """Point one run's data at another root (a node that cannot see the data) or back."""
    for cfg_path in (sweep / "runs").glob("*/config.yaml"):
        cfg = yaml.safe_load(cfg_path.read_text())
        if cfg["configuration"] == configuration:
            cfg["data"]["name"] = "cifar10" if root else "digits"
            cfg["data"]["root"] = root
            cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            return cfg_path.parent
    raise AssertionError(configuration)


def test_debug_executor_trains_the_grid_and_relaunch_submits_nothing(grid, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    debug = profile(tmp_path, "executor: debug\nmax_retries: 1\n")
    assert main(["launch", str(grid), "--cluster", str(debug), "--sweep-dir", str(sweep)]) == 0
    assert "3 runs submitted" in capsys.readouterr().out
    assert states(sweep) == {"1x8d": "completed", "2x5d": "completed", "4x3d": "completed"}
    rows = sweep_status(sweep)
    assert len(rows) == 3 and all(r["epoch"] == 1 and r["best_val_top1_err"] is not None and r["job_id"] for r in rows)
    assert main(["launch", str(grid), "--cluster", str(debug), "--sweep-dir", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "0 runs submitted, 3 skipped" in out
    assert main(["status", str(sweep), "--format", "csv"]) == 0
    csv_text = capsys.readouterr().out
    assert csv_text.splitlines()[0].startswith("run_id,configuration,seed,state,job_id")
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [r["state"] for r in rows] == ["completed"] * 3
    assert [r["last_attempt_end"] for r in rows] == ["completed"] * 3  # each run's attempt, recorded by its job


def test_a_failed_run_shows_its_reason_and_a_relaunch_resubmits_it_alone(grid, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    debug = profile(tmp_path, "executor: debug\nmax_retries: 1\n")
    # write the run folders, then make one of them point at data its node cannot see
    assert main(["launch", str(grid), "--cluster", str(debug), "--sweep-dir", str(sweep), "--dry-run"]) == 0
    assert not (sweep / "runs").exists()  # a dry run writes nothing
    from resnext_bench.cluster.plan import plan_launch
    from resnext_bench.config.load import load_ablation
    plan_launch(load_ablation(grid), load_profile(debug), sweep)
    broken = break_run(sweep, "2x5d", str(tmp_path / "missing-cifar"))
    assert main(["launch", str(grid), "--cluster", str(debug), "--sweep-dir", str(sweep)]) == 0
    rows = {r["configuration"]: r for r in sweep_status(sweep)}
    assert rows["2x5d"]["state"] == "failed"
    assert "missing-cifar" in rows["2x5d"]["last_error"]
    assert rows["1x8d"]["state"] == rows["4x3d"]["state"] == "completed"
    capsys.readouterr()
    assert main(["status", str(sweep)]) == 0
    assert "missing-cifar" in capsys.readouterr().out
    break_run(sweep, "2x5d", None)  # fixed
    assert main(["launch", str(grid), "--cluster", str(debug), "--sweep-dir", str(sweep)]) == 0
    assert "1 run submitted, 2 skipped" in capsys.readouterr().out
    assert states(sweep)["2x5d"] == "completed"
    assert runfolder.read_job(broken).attempts == 2
    # the retry limit holds: a run that keeps failing is not resubmitted forever
    break_run(sweep, "2x5d", str(tmp_path / "missing-cifar"))
    (broken / "result.json").write_text(json.dumps({"status": "failed", "reason": "again"}))
    assert main(["launch", str(grid), "--cluster", str(debug), "--sweep-dir", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "0 runs submitted" in out and "retry limit reached" in out


def test_local_executor_runs_chains_of_runs_from_a_code_snapshot(grid, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = Path("sweep")  # relative, as typed by a user: submission happens from the snapshot
    local = profile(tmp_path, "executor: local\narray_parallelism: 2\ntimeout_min: 10\n")
    assert main(["launch", str(grid), "--cluster", str(local), "--sweep-dir", str(sweep)]) == 0
    jobs = {runfolder.read_job(d).job_id for d in (sweep / "runs").iterdir()}
    assert len(jobs) == 2  # two parallel chains for three runs
    wait_until(lambda: not any(s in schema.LIVE for s in states(sweep).values()), "the chains to finish",
               timeout=240, interval=1, context=lambda: str(sweep_status(sweep)))
    assert set(states(sweep).values()) == {"completed"}
    for run_dir in (sweep / "runs").iterdir():
        result = json.loads((run_dir / "result.json").read_text())
        # the job imported the snapshot taken at launch, not the checkout
        assert Path(result["code_dir"]).parent.parent == (sweep / "code").resolve()
    # each job recorded its attempt in its run folder (the launch took the snapshot before any run folder had a
    # job.json, so the snapshot holds none: a job.json there would be a job writing into the code, not the run)
    for run_dir in (sweep / "runs").iterdir():
        job = runfolder.read_job(run_dir)
        assert job is not None and job.executor == "local", run_dir
        assert job.last_attempt is not None and job.last_attempt.end == "completed", job
        assert job.last_attempt.started_at and job.last_attempt.observed is None  # written by the job itself
    assert (sweep / "code").is_dir() and not list((sweep / "code").rglob("job.json"))


def test_dry_run_prints_runs_resources_and_an_estimate_and_submits_nothing(tmp_path, capsys, monkeypatch):
    fake_gpu_partition(tmp_path / "bin", monkeypatch)  # the profile's partition, here too
    sweep = tmp_path / "sweep"
    ablation = Path(__file__).resolve().parents[1] / "ablations" / "table3_resnet50.yaml"
    cluster = Path(__file__).resolve().parents[1] / "slurm" / "gpu-cluster.example.yaml"
    assert main(["launch", str(ablation), "--cluster", str(cluster), "--sweep-dir", str(sweep), "--dry-run",
                 "--throughput", "1000"]) == 0
    out = capsys.readouterr().out
    assert "5 runs, 5 to submit" in out and "8 GPUs" in out
    # 5 runs x 100 epochs x 1,281,167 images at 1,000 images/s = 177.9 GPU-hours
    assert "177.94 GPU-hours" in out
    assert not sweep.exists()


@pytest.mark.parametrize("text, message", [
    ("executor: slurm\ngpus: 8\n", "gpus: unknown key"),
    ("executor: kubernetes\n", "executor: expected slurm, local or debug"),
    ("executor: local\ngpus_per_run: -1\n", "gpus_per_run: expected an integer >= 0"),
    ("executor: local\nmem_gb: 0\n", "mem_gb: expected a number > 0"),
    ("executor: local\ntimeout_min: 1\nsignal_delay_s: 120\n", "signal_delay_s (120) must be shorter"),
    ("executor: local\ntimeout_min: soon\n", "timeout_min: expected an integer"),
])
def test_a_bad_profile_is_one_line_and_exit_2(grid, tmp_path, text, message):
    bad = profile(tmp_path, text)
    proc = subprocess.run([sys.executable, "-m", "resnext_bench.cli", "launch", str(grid), "--cluster", str(bad),
                           "--sweep-dir", str(tmp_path / "s")], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(bad) in lines[0], proc.stderr
    assert not (tmp_path / "s").exists()


def fake_scontrol(tmp_path, monkeypatch, script: str) -> None:
    """Put an `scontrol` running `script` first on PATH."""
    shim = tmp_path / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "scontrol").write_text("#!/bin/sh\n" + script + "\n")
    (shim / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")


def test_arrays_are_split_within_max_array_size():
    assert [len(c) for c in _chunks(list(range(2500)), 1001)] == [1001, 1001, 498]
    assert [len(c) for c in _chunks(list(range(80)), 40)] == [40, 40]


def test_max_array_size_is_the_clusters_and_slurms_default_when_it_cannot_say(tmp_path, monkeypatch):
    fake_scontrol(tmp_path, monkeypatch, "echo 'MaxJobCount             = 10000'; echo 'MaxArraySize            = 40'")
    assert max_array_size() == 40
    fake_scontrol(tmp_path, monkeypatch, "echo 'slurm_load_ctl_conf error: Unable to contact slurm controller' >&2; "
                                         "exit 1")
    assert max_array_size() == 1001  # Slurm's default MaxArraySize
    fake_scontrol(tmp_path, monkeypatch, "echo 'MaxArraySize            = lots'")
    assert max_array_size() == 1001


def test_shipped_profiles_are_valid():
    shipped = {path.name: load_profile(path).executor
               for path in (Path(__file__).resolve().parents[1] / "slurm").glob("*.yaml")}
    assert {"debug.yaml": "debug", "workstation.yaml": "local", "local.yaml": "slurm",
            "gpu-cluster.example.yaml": "slurm", "multinode.example.yaml": "slurm"}.items() <= shipped.items()
    assert set(shipped.values()) <= {"slurm", "local", "debug"}


def test_status_of_a_missing_sweep_is_one_line(tmp_path, capsys):
    assert main(["status", str(tmp_path / "nope")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_a_relaunch_while_squeue_fails_submits_nothing_and_says_why(grid, tmp_path, monkeypatch, capsys):
    import datetime as dt

    from resnext_bench.config.runs import resolve_runs
    from resnext_bench.config.load import load_ablation

    sweep = tmp_path / "sweep"
    runs = resolve_runs(load_ablation(grid))
    live = sweep / "runs" / runs[0].run_id
    runwrite.write_config(live, runs[0])
    runwrite.record_job(live, "424242", "slurm", dt.datetime.now(dt.timezone.utc).isoformat())
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "squeue").write_text("#!/bin/sh\necho 'slurm_load_jobs error: Socket timed out' >&2\nexit 1\n")
    (shim / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    assert subprocess.run(["squeue"], capture_output=True).returncode == 1  # the fault is in place
    assert main(["launch", str(grid), "--cluster", "slurm/debug.yaml", "--sweep-dir", str(sweep)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "squeue failed" in err[0] and "nothing submitted" in err[0]
    assert runfolder.read_job(live).attempts == 1  # the run with a possibly live job got no second job
    assert all(runfolder.read_job(sweep / "runs" / r.run_id) is None for r in runs[1:])  # nor did any other
    states = {r["run_id"]: r["state"] for r in sweep_status(sweep)}
    assert states[runs[0].run_id] == "unknown"
