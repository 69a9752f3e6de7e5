"""A researcher's day: `launch --report` writes the report when the last run ends, and `launch
--max-gpu-hours N` refuses a launch estimated above N before anything is placed or submitted.

The Slurm tests need the local cluster (slurm/local-cluster.sh start) and skip, saying why, without it.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from support.ablations import write_launch_grid
from support.polling import wait_until
from support.slurm import job_fields, queue_state, require_slurm, slurm_diagnosis

from resnext_bench.cli import main
from resnext_bench.cluster.budget import HoursCap, check_cap
from resnext_bench.cluster.plan import plan_launch
from resnext_bench.cluster.profile import load_profile
from resnext_bench.config.load import load_ablation
from resnext_bench.errors import UserError
from resnext_bench.record import runfolder
from resnext_bench.record import sweep as sweep_layout

ROOT = Path(__file__).resolve().parents[1]
SLURM = ROOT / "slurm" / "local.yaml"
DEBUG = ROOT / "slurm" / "debug.yaml"
WORKSTATION = ROOT / "slurm" / "workstation.yaml"
GPU = ROOT / "slurm" / "gpu-cluster.example.yaml"
# digits at train_limit 128, one epoch, at this stated rate: 128 / 0.01 / 3600 = 3.56 hours a run
SLOW = "0.01"
RUN_HOURS = 128 / 0.01 / 3600


def launch(grid, profile, sweep, *extra):
    return main(["launch", str(grid), "--cluster", str(profile), "--sweep-dir", str(sweep), *extra])


def break_run(sweep: Path, grid: Path, profile: Path, configuration: str, tmp_path: Path) -> Path:
    """Place the runs, then point one run's data at a folder that does not exist: it fails when it trains."""
    plan_launch(load_ablation(grid), load_profile(profile), sweep)  # writes the run folders only
    for cfg_path in (sweep / "runs").glob("*/config.yaml"):
        cfg = yaml.safe_load(cfg_path.read_text())
        if cfg["configuration"] == configuration:
            cfg["data"] = {**cfg["data"], "name": "cifar10", "root": str(tmp_path / "not-mounted-here")}
            cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            return cfg_path.parent
    raise AssertionError(f"no run of {configuration}")


def report_of(out: Path) -> str:
    return (out / "report.md").read_text()


# ---------------------------------------------------------------- --report on Slurm

@pytest.mark.slurm
def test_the_report_appears_after_the_last_run_without_a_second_command(tmp_path, capsys):
    require_slurm()
    grid, sweep, out = write_launch_grid(tmp_path, "reportgrid", "[1, 2]"), tmp_path / "sweep", tmp_path / "results"
    assert launch(grid, SLURM, sweep, "--report", "--report-dir", str(out)) == 0
    said = capsys.readouterr().out
    record = json.loads((sweep / "report_job.json").read_text())
    job_id = record["job_id"]
    arrays = {runfolder.read_job(d).job_id.split("_")[0] for d in (sweep / "runs").iterdir()}
    assert f"report job {job_id}" in said and record["depends_on"] == sorted(arrays)
    assert job_fields(job_id).get("Dependency", "").startswith(f"afterany:{arrays.pop()}")
    # a relaunch while it waits keeps that one report job
    assert launch(grid, SLURM, sweep, "--report", "--report-dir", str(out)) == 0
    assert "no second one submitted" in capsys.readouterr().out
    assert json.loads((sweep / "report_job.json").read_text())["job_id"] == job_id
    assert main(["status", str(sweep)]) == 0
    assert f"report job {job_id}: " in capsys.readouterr().out
    wait_until(lambda: (out / "report.md").is_file() and not queue_state(job_id), "the report job's report",
               timeout=420, interval=1.0, context=lambda: slurm_diagnosis(job_id, sweep))
    report = report_of(out)
    assert "runs by status: completed 2 (total 2)" in report
    assert main(["status", str(sweep)]) == 0
    assert f"report job {job_id}: ended; report: {out.resolve() / 'report.md'}" in capsys.readouterr().out


@pytest.mark.slurm
def test_a_relaunch_that_adds_runs_makes_the_waiting_report_job_wait_for_them_too(tmp_path, capsys):
    require_slurm()
    sweep, out = tmp_path / "sweep", tmp_path / "results"
    grid = write_launch_grid(tmp_path, "reportgrow", "[1]")
    assert launch(grid, SLURM, sweep, "--report", "--report-dir", str(out)) == 0
    job_id = json.loads((sweep / "report_job.json").read_text())["job_id"]
    subprocess.run(["scontrol", "hold", job_id], check=True)  # waiting, however fast the first run ends
    try:
        grid = write_launch_grid(tmp_path, "reportgrow", "[1, 2]")  # the ablation grows by one configuration
        capsys.readouterr()
        assert launch(grid, SLURM, sweep) == 0
        said = capsys.readouterr().out
        added = next(runfolder.read_job(d).job_id for d in (sweep / "runs").iterdir() if "-2x5d-" in d.name)
        assert f"report job {job_id} now also waits for {added}" in said
        assert added in job_fields(job_id).get("Dependency", "")
        assert json.loads((sweep / "report_job.json").read_text())["depends_on"][-1] == added
    finally:
        subprocess.run(["scontrol", "release", job_id], capture_output=True)
    wait_until(lambda: (out / "report.md").is_file() and not queue_state(job_id), "the report job's report",
               timeout=420, interval=1.0, context=lambda: slurm_diagnosis(job_id, sweep))
    assert "runs by status: completed 2 (total 2)" in report_of(out)


@pytest.mark.slurm
def test_a_failed_run_still_gets_its_report_with_the_failure_shown(tmp_path, capsys):
    require_slurm()
    grid, sweep, out = write_launch_grid(tmp_path, "reportfail", "[1, 2]"), tmp_path / "sweep", tmp_path / "results"
    broken = break_run(sweep, grid, SLURM, "2x5d", tmp_path)
    assert launch(grid, SLURM, sweep, "--report", "--report-dir", str(out)) == 0
    job_id = json.loads((sweep / "report_job.json").read_text())["job_id"]
    wait_until(lambda: (out / "report.md").is_file() and not queue_state(job_id), "the report job's report",
               timeout=420, interval=1.0, context=lambda: slurm_diagnosis(job_id, sweep))
    assert runfolder.read_run(broken).state == "failed"  # the fault happened
    report = report_of(out)
    assert "completed 1" in report and "failed 1" in report
    assert f"`{broken.name}`:" in report and "not-mounted-here" in report


# ---------------------------------------------------------------- --report without Slurm

def test_on_a_workstation_the_report_is_written_when_the_local_runs_end(tmp_path, capsys):
    grid, sweep, out = write_launch_grid(tmp_path, "reportlocal", "[1, 2]"), tmp_path / "sweep", tmp_path / "results"
    broken = break_run(sweep, grid, WORKSTATION, "2x5d", tmp_path)
    assert launch(grid, WORKSTATION, sweep, "--report", "--report-dir", str(out)) == 0
    assert "when no run of the sweep is live" in capsys.readouterr().out
    record = json.loads((sweep / "report_job.json").read_text())
    assert record["executor"] == "local" and record["job_id"].isdigit()

    def log():
        return Path(record["log"]).read_text() if Path(record["log"]).is_file() else "(no log yet)"

    wait_until(lambda: (out / "report.md").is_file(), "the local report job's report", timeout=300, interval=0.5,
               context=log)
    assert runfolder.read_run(broken).state == "failed"
    report = report_of(out)
    assert "completed 1" in report and "failed 1" in report and "not-mounted-here" in report


def test_the_debug_executor_writes_the_report_after_its_runs(tmp_path, capsys):
    grid, sweep, out = write_launch_grid(tmp_path, "reportdebug", "[1]"), tmp_path / "sweep", tmp_path / "results"
    assert launch(grid, DEBUG, sweep, "--report", "--report-dir", str(out)) == 0
    assert f"report: {out.resolve() / 'report.md'}" in capsys.readouterr().out
    assert "completed 1 (total 1)" in report_of(out)
    assert not (sweep / "report_job.json").exists()  # no job: written by the launch itself


# ---------------------------------------------------------------- --max-gpu-hours

def test_a_launch_over_the_cap_is_refused_in_one_line_and_says_what_fits(tmp_path, capsys):
    grid, sweep = write_launch_grid(tmp_path, "capgrid", "[1, 2, 4]"), tmp_path / "sweep"
    cap = 2.5 * RUN_HOURS  # two of the three runs fit
    assert launch(grid, WORKSTATION, sweep, "--throughput", SLOW, "--max-gpu-hours", f"{cap}") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"3 runs for an estimated {3 * RUN_HOURS:.2f} CPU-hours" in err
    assert "the cap is in CPU-hours" in err and f"2 of them fit within {cap:g} ({2 * RUN_HOURS:.2f} CPU-hours" in err
    assert "nothing submitted" in err
    assert not list(sweep.glob("runs/*")) and not (sweep / "sweep.json").exists()  # no run placed
    # the dry run says the same, and that a cap above the estimate lets the launch go ahead
    assert launch(grid, WORKSTATION, sweep, "--throughput", SLOW, "--max-gpu-hours", f"{cap}", "--dry-run") == 0
    assert "the launch would be refused: --max-gpu-hours" in capsys.readouterr().out
    assert launch(grid, WORKSTATION, sweep, "--throughput", SLOW, "--max-gpu-hours", f"{3 * RUN_HOURS + 0.01}",
                  "--dry-run") == 0
    assert f"within it ({3 * RUN_HOURS:.2f} CPU-hours)" in capsys.readouterr().out


def test_runs_already_done_in_the_store_do_not_count_against_the_cap(tmp_path, capsys):
    store = tmp_path / "store"
    (tmp_path / "a").mkdir()
    first = write_launch_grid(tmp_path / "a", "capfirst", "[1]")
    assert launch(first, DEBUG, tmp_path / "first", "--store", str(store)) == 0  # trains 1x8d
    grid = write_launch_grid(tmp_path, "capall", "[1, 2, 4]")
    cap = f"{2 * RUN_HOURS + 0.01}"  # the two runs left to train fit; all three would not
    # another store holds none of them: all three would train, over the cap
    assert launch(grid, DEBUG, tmp_path / "fresh", "--store", str(tmp_path / "other"), "--throughput", SLOW,
                  "--max-gpu-hours", cap) == 2
    assert "this launch would train 3 runs" in capsys.readouterr().err
    assert launch(grid, DEBUG, tmp_path / "sweep", "--store", str(store), "--throughput", SLOW,
                  "--max-gpu-hours", cap) == 0
    assert "2 runs submitted, 1 skipped (1 reused from other sweeps)" in capsys.readouterr().out


def test_a_gpu_profile_caps_gpu_hours_and_a_cpu_profile_counts_each_process_cores(tmp_path):
    grid, sweep = write_launch_grid(tmp_path, "capunits", "[1, 2]"), tmp_path / "sweep"
    plan = plan_launch(load_ablation(grid), load_profile(DEBUG), sweep, write=False)
    with pytest.raises(UserError) as gpu:
        check_cap(plan, load_profile(GPU), HoursCap(RUN_HOURS / 2, 25.0, 0.01))
    assert f"estimated {2 * RUN_HOURS:.2f} GPU-hours" in str(gpu.value) and "CPU" not in str(gpu.value)
    assert "not one of them fits" in str(gpu.value)
    four = tmp_path / "four.yaml"
    four.write_text(WORKSTATION.read_text().replace("cpus_per_run: 1", "cpus_per_run: 4"))
    with pytest.raises(UserError) as cpu:
        check_cap(plan, load_profile(four), HoursCap(RUN_HOURS, 25.0, 0.01))
    assert f"estimated {8 * RUN_HOURS:.2f} CPU-hours" in str(cpu.value)  # 2 runs x 4 cores
    assert check_cap(plan, load_profile(four), HoursCap(8 * RUN_HOURS + 0.01, 25.0, 0.01)) == pytest.approx(8 * RUN_HOURS)


def test_a_cap_below_zero_is_refused_in_one_line(tmp_path, capsys):
    grid = write_launch_grid(tmp_path, "capbad", "[1]")
    assert launch(grid, DEBUG, tmp_path / "sweep", "--max-gpu-hours", "-1") == 2
    assert "--max-gpu-hours: expected a number > 0" in capsys.readouterr().err


def test_status_says_when_a_report_job_ended_without_its_report(tmp_path, capsys):
    grid, sweep, out = write_launch_grid(tmp_path, "reportgone", "[1]"), tmp_path / "sweep", tmp_path / "results"
    plan_launch(load_ablation(grid), load_profile(WORKSTATION), sweep)  # a sweep whose run never ran
    ended = subprocess.Popen(["true"])
    ended.wait()  # a report job's process that is over without having written the report
    stale = out / "report.md"  # a report older than the job: not its report
    stale.parent.mkdir()
    stale.write_text("an older report\n")
    os.utime(stale, (0, 0))
    sweep_layout.write_report_job(sweep, {"job_id": str(ended.pid), "executor": "local", "out": str(out),
                                          "depends_on": [], "submitted_at": "2026-01-01T00:00:00+00:00",
                                          "log": str(tmp_path / "log.out")})
    assert main(["status", str(sweep)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == f"report job {ended.pid}: ended without writing {stale}; its log: {tmp_path / 'log.out'}"
