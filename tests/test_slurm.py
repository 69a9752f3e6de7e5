"""Launching against the real local Slurm (slurm/local-cluster.sh start): arrays, preemption, relaunch.

Skipped with the reason when no cluster answers; with RESNEXT_BENCH_REQUIRE_SLURM=1 (CI) a
missing cluster is a failure instead.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.slurm import queue_state, release_requeued, require_slurm, slurm_diagnosis
from support.polling import wait_until
from support.ablations import write_launch_grid
import yaml

from resnext_bench.cli import main
from resnext_bench.cluster.status import sweep_status
from resnext_bench.record import runfolder, schema
from resnext_bench.engine.train import train_run

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "slurm" / "local.yaml"

require_slurm(module_level=True)

pytestmark = pytest.mark.slurm


def write_grid(tmp_path, cardinalities="[1, 2, 4]", epochs=1, train_limit=128):
    return write_launch_grid(tmp_path, "slurmgrid", cardinalities, epochs, train_limit)


def settled(sweep):
    return all(r["state"] not in schema.LIVE for r in sweep_status(sweep))  # requeued and held are not settled


def launch(grid, sweep, *extra):
    return main(["launch", str(grid), "--cluster", str(PROFILE), "--sweep-dir", str(sweep), *extra])


def test_a_three_run_grid_is_one_array_and_completes(tmp_path, capsys):
    grid, sweep = write_grid(tmp_path), tmp_path / "sweep"
    assert launch(grid, sweep) == 0
    out = capsys.readouterr().out
    assert "submitted 3 jobs for 3 runs (slurm, array" in out
    arrays = {runfolder.read_job(d).job_id.split("_")[0] for d in (sweep / "runs").iterdir()}
    assert len(arrays) == 1  # one array
    wait_until(lambda: settled(sweep), "the array to finish", timeout=240, interval=0.5)
    rows = sweep_status(sweep)
    assert [r["state"] for r in rows] == ["completed"] * 3
    assert all(r["best_val_top1_err"] is not None and "_" in r["job_id"] for r in rows)
    assert main(["status", str(sweep)]) == 0
    table = capsys.readouterr().out
    assert "3 runs: 3 completed" in table and "%" in table
    # relaunching the finished sweep submits nothing
    assert launch(grid, sweep) == 0
    assert "0 runs submitted, 3 skipped" in capsys.readouterr().out


def test_a_preempted_run_requeues_resumes_and_ends_like_the_run_left_alone(tmp_path):
    grid, sweep = write_grid(tmp_path, cardinalities="[2]", epochs=6, train_limit=1024), tmp_path / "sweep"
    assert launch(grid, sweep) == 0
    run_dir = next((sweep / "runs").iterdir())
    job_id = runfolder.read_job(run_dir).job_id
    wait_until(lambda: len(runfolder.epochs_of(run_dir)) >= 1, "the first epoch", timeout=240, interval=0.5)
    # what a cluster does on preemption or near the time limit: USR2 to the job's processes
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    wait_until(lambda: queue_state(job_id) in ("PENDING", "REQUEUED", "REQUEUE_HOLD", ""), "the requeue", timeout=240, interval=0.5)
    ckpt_epoch_step = _checkpoint_position(run_dir)
    assert ckpt_epoch_step != (6, 0), "the run finished before it could be preempted"

    def released_and_settled():
        release_requeued(job_id)
        return settled(sweep)

    wait_until(released_and_settled, "the requeued job to finish", timeout=300, interval=0.5,
               context=lambda: slurm_diagnosis(job_id, sweep))
    log = "".join(p.read_text() for p in (sweep / "submitit").rglob("*_log.err"))
    assert (runfolder.result_of(run_dir) or {}).get("status") == "completed", log[-3000:] + slurm_diagnosis(job_id)
    assert "stopped (USR2" in log and "from epoch" in log
    # the same run, uninterrupted, in this process
    alone = tmp_path / "alone" / run_dir.name
    alone.mkdir(parents=True)
    (alone / "config.yaml").write_text((run_dir / "config.yaml").read_text())
    assert train_run(alone, log=lambda m: None)["status"] == "completed"
    timing = {"epoch_seconds", "images_per_sec", "data_wait_pct"}
    strip = lambda ms: [{k: v for k, v in m.items() if k not in timing} for m in ms]
    assert strip(runfolder.epochs_of(run_dir)) == strip(runfolder.epochs_of(alone))
    for key in ("final_val_top1_err", "final_val_top5_err", "best_val_top1_err", "epochs"):
        assert runfolder.result_of(run_dir)[key] == runfolder.result_of(alone)[key]


def test_scancel_mid_epoch_checkpoints_at_that_step_and_a_relaunch_ends_identically(tmp_path, capsys):
    # checkpoint_minutes 10: the only mid-epoch checkpoint a run can have is the one SIGTERM asks for.
    grid, sweep = write_grid(tmp_path, cardinalities="[2]", epochs=4, train_limit=1024), tmp_path / "sweep"
    assert launch(grid, sweep) == 0
    run_dir = next((sweep / "runs").iterdir())
    job_id = runfolder.read_job(run_dir).job_id
    wait_until(lambda: len(runfolder.epochs_of(run_dir)) >= 1, "the first epoch", timeout=240, interval=0.2)
    subprocess.run(["scancel", job_id], check=True)  # SIGTERM to the job, SIGKILL after KillWait
    wait_until(lambda: queue_state(job_id) == "", "the cancelled job to leave the queue", timeout=120, interval=0.5)
    log = "".join(p.read_text() for p in (sweep / "submitit").rglob("*_log.err"))
    assert "stopped (SIGTERM" in log, log[-3000:]  # the signal arrived and was honoured at a step boundary
    epoch, step = _checkpoint_position(run_dir)
    assert step > 0 and epoch < 4, (epoch, step)  # mid-epoch: not the last epoch end
    assert runfolder.result_of(run_dir) is None
    assert [r["state"] for r in sweep_status(sweep)] == ["cancelled"]
    capsys.readouterr()
    assert launch(grid, sweep) == 0  # the relaunch resubmits the cancelled run...
    wait_until(lambda: settled(sweep), "the resubmitted run", timeout=240, interval=0.5)
    log = "".join(p.read_text() for p in (sweep / "submitit").rglob("*_log.err"))
    assert f"from epoch {epoch + 1} step {step}" in log  # ...which resumes from that very step
    alone = tmp_path / "alone" / run_dir.name
    alone.mkdir(parents=True)
    (alone / "config.yaml").write_text((run_dir / "config.yaml").read_text())
    assert train_run(alone, log=lambda m: None)["status"] == "completed"
    timing = {"epoch_seconds", "images_per_sec", "data_wait_pct"}
    strip = lambda ms: [{k: v for k, v in m.items() if k not in timing} for m in ms]  # noqa: E731
    assert strip(runfolder.epochs_of(run_dir)) == strip(runfolder.epochs_of(alone))
    assert runfolder.result_of(run_dir)["final_val_top1_err"] == runfolder.result_of(alone)["final_val_top1_err"]


def _checkpoint_position(run_dir):
    from resnext_bench.engine.checkpoint import load_checkpoint
    ckpt = load_checkpoint(run_dir).state
    return (ckpt["epoch"], ckpt["step_in_epoch"]) if ckpt else None


def test_a_failed_run_shows_its_reason_and_only_it_is_resubmitted_after_the_fix(tmp_path, capsys):
    grid, sweep = write_grid(tmp_path, cardinalities="[1, 2]"), tmp_path / "sweep"
    assert launch(grid, sweep, "--dry-run") == 0
    assert not sweep.exists()
    from resnext_bench.cluster.plan import plan_launch
    from resnext_bench.cluster.profile import load_profile
    from resnext_bench.config.load import load_ablation
    plan_launch(load_ablation(grid), load_profile(PROFILE), sweep)  # writes the run folders only
    cfg_path = next(p for p in (sweep / "runs").glob("*/config.yaml") if "2x" in p.parent.name)
    good = cfg_path.read_text()
    cfg = yaml.safe_load(good)
    cfg["data"] = {**cfg["data"], "name": "cifar10", "root": str(tmp_path / "not-mounted-here")}
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))  # a node without the data
    assert launch(grid, sweep) == 0
    wait_until(lambda: settled(sweep), "the array to finish", timeout=240, interval=0.5)
    rows = {r["configuration"]: r for r in sweep_status(sweep)}
    broken = next(c for c in rows if c.startswith("2x"))
    assert rows[broken]["state"] == "failed" and "not-mounted-here" in rows[broken]["last_error"]
    assert rows["1x8d"]["state"] == "completed"
    cfg_path.write_text(good)  # fixed
    capsys.readouterr()
    assert launch(grid, sweep) == 0
    assert "1 run submitted, 1 skipped" in capsys.readouterr().out
    wait_until(lambda: settled(sweep), "the resubmitted run", timeout=240, interval=0.5)
    assert {r["state"] for r in sweep_status(sweep)} == {"completed"}
    assert runfolder.read_job(cfg_path.parent).attempts == 2


def test_impossible_resources_are_one_line_and_exit_2(tmp_path):
    grid = write_grid(tmp_path)
    greedy = tmp_path / "greedy.yaml"
    text = PROFILE.read_text()
    assert "cpus_per_run:" in text  # replaced, not given twice (a duplicate key is refused on its own)
    greedy.write_text(re.sub(r"(?m)^cpus_per_run:.*$", "cpus_per_run: 1000", text))
    # the installed command of this interpreter's environment, not whichever one PATH finds (or none)
    proc = subprocess.run([str(Path(sys.executable).parent / "resnext-bench"), "launch", str(grid), "--cluster", str(greedy),
                           "--sweep-dir", str(tmp_path / "s")], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no node can run a job with 0 GPUs, 1000 CPUs" in lines[0]
    assert not list((tmp_path / "s").rglob("job.json"))
