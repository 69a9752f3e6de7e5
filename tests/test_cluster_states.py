"""Held, requeued and killed jobs on the real local Slurm; retries past the limit; the attempt log.

The Slurm tests make each fault with Slurm's own controls (scontrol hold, USR2 through scancel,
SIGKILL through scancel) or kill -9, check that the fault happened, then check what status, launch
and cancel make of it. They skip without a cluster (fail under RESNEXT_BENCH_REQUIRE_SLURM=1).
"""
import getpass
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from support.polling import wait_until
from support.slurm import release_requeued, slurm_diagnosis
from support.ablations import write_launch_grid

from resnext_bench.cli import main
from resnext_bench.cluster.profile import slurm_available
from resnext_bench.cluster.status import sweep_status
from resnext_bench.record import locks, runfolder, runwrite, schema

ROOT = Path(__file__).resolve().parents[1]


def write_grid(tmp_path, cardinalities="[2]", epochs=1, train_limit=128):
    return write_launch_grid(tmp_path, "stategrid", cardinalities, epochs, train_limit)


def slurm_profile(tmp_path, extra=""):
    """slurm/local.yaml, plus `extra` lines."""
    path = tmp_path / "slurm.yaml"
    path.write_text((ROOT / "slurm" / "local.yaml").read_text() + extra)
    return path


def needs_slurm():
    if slurm_available():
        return
    if os.environ.get("RESNEXT_BENCH_REQUIRE_SLURM") == "1":
        pytest.fail("RESNEXT_BENCH_REQUIRE_SLURM=1 but no Slurm answers here", pytrace=False)
    pytest.skip("no Slurm cluster answers here: run `bash slurm/local-cluster.sh start` as root")


def squeue(job_id):
    """(state, reason) of a job Slurm still lists, or None."""
    out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-j", job_id, "-o", "%T|%r"],
                         capture_output=True, text=True).stdout.strip()
    return tuple(out.split("|")) if out else None


def the_run(sweep):
    return next((sweep / "runs").iterdir())


def row(sweep):
    (r,) = sweep_status(sweep)
    return r


# ---------------------------------------------------------------- Slurm faults

def test_a_held_job_shows_held_with_slurms_reason_a_relaunch_releases_it_and_cancel_records_it(tmp_path, capsys):
    needs_slurm()
    grid, sweep = write_grid(tmp_path), tmp_path / "sweep"
    later = slurm_profile(tmp_path, "additional_parameters: {begin: now+1hour}\n")  # stays pending: time to hold it
    argv = ["launch", str(grid), "--cluster", str(later), "--sweep-dir", str(sweep)]
    assert main(argv) == 0
    run_dir = the_run(sweep)
    job_id = runfolder.read_job(run_dir).job_id
    try:
        subprocess.run(["scontrol", "hold", job_id], check=True, capture_output=True)
        assert squeue(job_id) == ("PENDING", "JobHeldAdmin")  # the fault is in place
        r = row(sweep)
        assert (r["state"], r["queue_reason"]) == ("held", "JobHeldAdmin")
        capsys.readouterr()
        assert main(["status", str(sweep)]) == 0
        assert "held: JobHeldAdmin" in capsys.readouterr().out

        assert main(argv) == 0  # the relaunch releases the held job and submits nothing
        out = capsys.readouterr().out
        assert f"released held job {job_id}" in out and "0 runs submitted, 1 skipped" in out
        state, reason = squeue(job_id)
        assert state == "PENDING" and not reason.startswith("JobHeld")
        assert row(sweep)["state"] == "pending"
        assert runfolder.read_job(run_dir).attempts == 1

        assert main(["cancel", str(sweep)]) == 0
        assert f"cancelled {run_dir.name} (job {job_id}, was pending)" in capsys.readouterr().out
        wait_until(lambda: squeue(job_id) in (None, ("CANCELLED", "None")), "scancel to land", timeout=60, interval=0.5)
        assert row(sweep)["state"] == "cancelled"
        (attempt,) = runfolder.read_job(run_dir).attempt_log
        assert (attempt.job_id, attempt.end, attempt.started_at) == (job_id, "cancelled", None)
        assert attempt.by == getpass.getuser()
    finally:
        subprocess.run(["scancel", job_id], capture_output=True)


def test_a_preempted_job_shows_requeued_and_its_attempts_are_in_job_json(tmp_path, capsys):
    needs_slurm()
    grid, sweep = write_grid(tmp_path, epochs=4, train_limit=1024), tmp_path / "sweep"
    assert main(["launch", str(grid), "--cluster", str(slurm_profile(tmp_path)), "--sweep-dir", str(sweep)]) == 0
    run_dir = the_run(sweep)
    job_id = runfolder.read_job(run_dir).job_id
    try:
        wait_until(lambda: len(runfolder.epochs_of(run_dir)) >= 1, "the first epoch", timeout=240, interval=0.5)
        subprocess.run(["scancel", "--signal=USR2", job_id], check=True)  # what preemption sends
        last = lambda: runfolder.read_job(run_dir).last_attempt  # noqa: E731
        wait_until(lambda: last().end is not None, "the job to record its end", timeout=120, interval=0.5)
        assert last().end == "preempted" and "USR2" in last().reason
        wait_until(lambda: (squeue(job_id) or ("",))[0] in ("PENDING", "REQUEUED"), "the requeue", timeout=120,
                   interval=0.5)
        assert row(sweep)["state"] == "requeued"

        def resumed_and_settled():
            release_requeued(job_id)
            return row(sweep)["state"] not in schema.LIVE

        wait_until(resumed_and_settled, "the requeued job to finish", timeout=300, interval=0.5,
                   context=lambda: slurm_diagnosis(job_id, sweep))
        assert row(sweep)["state"] == "completed"
        first, second = runfolder.read_job(run_dir).attempt_log
        assert first.job_id == second.job_id == job_id
        assert (first.end, second.end) == ("preempted", "completed")
        assert first.ended_at <= second.started_at
        capsys.readouterr()
        assert main(["logs", str(run_dir)]) == 0  # both executions appended to the job's one log
        out = capsys.readouterr().out
        assert "stopped (USR2" in out and "from epoch" in out
        assert "preempted (USR2" in out and ": completed" in out
    finally:
        subprocess.run(["scancel", job_id], capture_output=True)


def start_training(tmp_path, epochs=4):
    """Launch one run on Slurm and wait for its trainer: (sweep, run folder, job id, launch argv, trainer pid)."""
    grid, sweep = write_grid(tmp_path, epochs=epochs, train_limit=1024), tmp_path / "sweep"
    argv = ["launch", str(grid), "--cluster", str(slurm_profile(tmp_path)), "--sweep-dir", str(sweep)]
    assert main(argv) == 0
    run_dir = the_run(sweep)
    job_id = runfolder.read_job(run_dir).job_id
    wait_until(lambda: "pid" in (locks.lock_holder(run_dir) or "") and runfolder.read_job(run_dir).last_attempt,
               "the trainer", timeout=240, interval=0.5)
    return sweep, run_dir, job_id, argv, json.loads((run_dir / ".lock").read_text())["pid"]


def cancel_all(job_id, run_dir):
    subprocess.run(["scancel", job_id], capture_output=True)
    job = runfolder.read_job(run_dir)
    if job is not None and job.job_id != job_id:
        subprocess.run(["scancel", job.job_id], capture_output=True)


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_trainer_killed_by_kill_9_shows_its_signal_in_status_and_is_resubmitted(tmp_path, capsys):
    needs_slurm()
    sweep, run_dir, job_id, argv, trainer = start_training(tmp_path)
    try:
        os.kill(trainer, signal.SIGKILL)  # on this one-node cluster, a local process: as kill -9 or the OOM killer
        # the kill landed: the trainer is gone, no thread of it holds the run's lock, and the job ended
        wait_until(lambda: gone(trainer) and locks.lock_holder(run_dir) is None
                   and (squeue(job_id) or ("RUNNING",))[0] not in ("RUNNING", "COMPLETING"),
                   "the kill", timeout=120, interval=0.5)
        attempt = runfolder.read_job(run_dir).last_attempt
        assert (attempt.end, attempt.reason, attempt.observed) == ("killed", "killed by signal 9 (SIGKILL)", None)
        r = row(sweep)
        assert (r["state"], r["ended"]) == ("cancelled", "killed by signal 9 (SIGKILL)")
        capsys.readouterr()
        assert main(["status", str(sweep)]) == 0
        assert "    ended: killed by signal 9 (SIGKILL)\n" in capsys.readouterr().out
        assert main(argv) == 0
        assert "1 run submitted" in capsys.readouterr().out
    finally:
        cancel_all(job_id, run_dir)


def exit_code(job_id):
    out = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
    return next((t.split("=", 1)[1] for t in out.split() if t.startswith("ExitCode=")), None)


def test_a_job_killed_whole_gets_the_signal_slurm_recorded(tmp_path):
    """SIGKILL to the job's own process, which watches the trainer: the trainer dies with it, only Slurm
    saw how (srun's exit code), and status records what Slurm says while it lists the job."""
    needs_slurm()
    sweep, run_dir, job_id, _, trainer = start_training(tmp_path)
    with open(f"/proc/{trainer}/stat") as f:
        watcher = int(f.read().split(")")[-1].split()[1])
    try:
        assert b"submitit.core._submit" in Path(f"/proc/{watcher}/cmdline").read_bytes()  # the job's task, not slurmstepd
        os.kill(watcher, signal.SIGKILL)
        wait_until(lambda: gone(watcher) and gone(trainer)
                   and (squeue(job_id) or ("RUNNING",))[0] not in ("RUNNING", "COMPLETING"),
                   "the kill", timeout=120, interval=0.5)
        assert squeue(job_id)[0] == "FAILED" and exit_code(job_id) == "137:0"  # srun: its task died of signal 9
        assert runfolder.read_job(run_dir).last_attempt.end is None  # nothing in the job could record it
        r = row(sweep)
        attempt = runfolder.read_job(run_dir).last_attempt
        assert (attempt.end, attempt.observed) == ("killed", True)
        assert r["ended"] == "killed: Slurm: FAILED (NonZeroExitCode); exit code 137:0: killed by signal 9 (SIGKILL)"
    finally:
        cancel_all(job_id, run_dir)


def test_cancelling_a_requeued_run_records_who_cancelled_it(tmp_path, capsys):
    needs_slurm()
    sweep, run_dir, job_id, _, _ = start_training(tmp_path)
    try:
        wait_until(lambda: len(runfolder.epochs_of(run_dir)) >= 1, "the first epoch", timeout=240, interval=0.5)
        subprocess.run(["scancel", "--signal=USR2", job_id], check=True)  # what preemption sends
        wait_until(lambda: (squeue(job_id) or ("",))[0] in ("PENDING", "REQUEUED") and row(sweep)["state"] == "requeued",
                   "the requeue", timeout=120, interval=0.5)
        assert runfolder.read_job(run_dir).last_attempt.end == "preempted"  # the fault landed: queued again
        capsys.readouterr()
        assert main(["cancel", str(sweep)]) == 0
        assert f"cancelled {run_dir.name} (job {job_id}, was requeued)" in capsys.readouterr().out
        wait_until(lambda: (squeue(job_id) or ("CANCELLED",))[0] == "CANCELLED", "scancel to land", timeout=60,
                   interval=0.5)
        ran, cancelled = runfolder.read_job(run_dir).attempt_log
        assert (ran.end, bool(ran.started_at)) == ("preempted", True)
        who = getpass.getuser()
        assert (cancelled.job_id, cancelled.end, cancelled.started_at, cancelled.by) == (job_id, "cancelled", None, who)
        r = row(sweep)
        assert (r["state"], r["ended"]) == (
            "cancelled", f"cancelled by {who} (with `resnext-bench cancel`); before that preempted and requeued 1 time")
        assert len(runfolder.read_job(run_dir).attempt_log) == 2  # status recorded nothing more
    finally:
        cancel_all(job_id, run_dir)


# ---------------------------------------------------------------- without a cluster

def shims(tmp_path, monkeypatch, **scripts):
    """Put fake scheduler commands first on PATH: name -> shell script body."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in scripts.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def recorded_sweep(tmp_path, job_id="424242"):
    from resnext_bench.config.runs import resolve_runs
    from resnext_bench.config.load import load_ablation

    grid = write_grid(tmp_path)
    sweep = tmp_path / "sweep"
    (run,) = resolve_runs(load_ablation(grid))
    run_dir = sweep / "runs" / run.run_id
    runwrite.write_config(run_dir, run)
    runwrite.record_job(run_dir, job_id, "slurm", runwrite.now_iso(), str(sweep / "submitit" / job_id))
    return grid, sweep, run_dir


def test_a_hold_that_cannot_be_released_is_said_and_nothing_is_submitted(tmp_path, monkeypatch, capsys):
    grid, sweep, run_dir = recorded_sweep(tmp_path)
    shims(tmp_path, monkeypatch,
          squeue="echo '424242|PENDING|launch failed requeued held'\n",
          scontrol='if [ "$1" = release ]; then echo "Access/permission denied for job $2" >&2; exit 1; fi\n'
                   'echo "Slurmctld(primary) at vm is UP"\n',
          sinfo="echo 'vm|Duplicate jobid'\n")
    assert row(sweep)["state"] == "held"
    debug = tmp_path / "debug.yaml"
    debug.write_text("executor: debug\n")
    assert main(["launch", str(grid), "--cluster", str(debug), "--sweep-dir", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "job 424242 of" in out and "stays held: scontrol release failed: Access/permission denied" in out
    assert "node vm is drained (Duplicate jobid)" in out and "state=resume" in out
    assert "0 runs submitted" in out
    assert runfolder.read_job(run_dir).attempts == 1


@pytest.mark.parametrize("line, state, reason", [
    ("424242|PENDING|JobHeldUser", "held", "JobHeldUser"),
    ("424242|REQUEUE_HOLD|job_requeued_in_held_state", "held", "job_requeued_in_held_state"),
    ("424242|REQUEUED|None", "requeued", ""),
    ("424242|PENDING|Priority", "pending", "Priority"),
])
def test_squeue_states_and_reasons_map_to_run_states(tmp_path, monkeypatch, line, state, reason):
    _, sweep, _ = recorded_sweep(tmp_path)
    shims(tmp_path, monkeypatch, squeue=f"echo '{line}'\n")
    r = row(sweep)
    assert (r["state"], r["queue_reason"]) == (state, reason)


def test_a_node_failure_seen_in_the_queue_is_recorded_as_the_attempts_end(tmp_path, monkeypatch):
    _, sweep, run_dir = recorded_sweep(tmp_path)
    runwrite.start_attempt(run_dir, "424242")
    shims(tmp_path, monkeypatch, squeue="echo '424242|NODE_FAIL|None'\n")
    assert row(sweep)["state"] == "cancelled"
    (attempt,) = runfolder.read_job(run_dir).attempt_log
    assert (attempt.end, attempt.reason, attempt.observed) == ("node_fail", "Slurm: NODE_FAIL", True)
    assert row(sweep)["last_attempt_end"] == "node_fail: Slurm: NODE_FAIL"  # recorded once, not again


def preempted_once(run_dir, job_id="424242"):
    runwrite.start_attempt(run_dir, job_id)
    runwrite.end_attempt(run_dir, job_id, "preempted", "USR2: preempted; checkpointed and requeued")


def test_cancelling_a_requeued_run_records_the_cancellation_and_who(tmp_path, monkeypatch, capsys):
    _, sweep, run_dir = recorded_sweep(tmp_path)
    preempted_once(run_dir)  # queued again after its checkpoint: Slurm says PENDING, waiting for its BeginTime
    shims(tmp_path, monkeypatch, squeue="echo '424242|PENDING|BeginTime'\n",
          scancel=f"echo \"$@\" > {tmp_path}/scancelled\n")
    monkeypatch.setenv("LOGNAME", "carol")
    assert row(sweep)["state"] == "requeued"
    capsys.readouterr()
    assert main(["cancel", str(sweep)]) == 0
    assert f"cancelled {run_dir.name} (job 424242, was requeued)" in capsys.readouterr().out
    assert (tmp_path / "scancelled").read_text().split() == ["424242"]  # the cancel was sent
    ran, cancelled = runfolder.read_job(run_dir).attempt_log
    assert ran.end == "preempted"
    assert (cancelled.end, cancelled.started_at, cancelled.by, cancelled.reason) == (
        "cancelled", None, "carol", "with `resnext-bench cancel`")


def test_a_requeued_job_cancelled_with_scancel_is_recorded_from_the_queue(tmp_path, monkeypatch):
    _, sweep, run_dir = recorded_sweep(tmp_path)
    preempted_once(run_dir)
    shims(tmp_path, monkeypatch, squeue="echo '424242|CANCELLED|None'\n")
    r = row(sweep)
    assert (r["state"], r["ended"]) == ("cancelled", "cancelled (Slurm: CANCELLED); before that preempted and "
                                                     "requeued 1 time")
    ran, cancelled = runfolder.read_job(run_dir).attempt_log
    assert (cancelled.end, cancelled.observed, cancelled.started_at) == ("cancelled", True, None)
    row(sweep)
    assert len(runfolder.read_job(run_dir).attempt_log) == 2  # recorded once


@pytest.mark.parametrize("line, exit_code, ended", [
    ("424242|OUT_OF_MEMORY|OutOfMemory", "0:125", "killed: Slurm: OUT_OF_MEMORY (OutOfMemory)"),
    ("424242|FAILED|NonZeroExitCode", "137:0",
     "killed: Slurm: FAILED (NonZeroExitCode); exit code 137:0: killed by signal 9 (SIGKILL)"),
    ("424242|FAILED|NonZeroExitCode", "0:9",
     "killed: Slurm: FAILED (NonZeroExitCode); exit code 0:9: killed by signal 9 (SIGKILL)"),
    ("424242|FAILED|NonZeroExitCode", "1:0", "failed: Slurm: FAILED (NonZeroExitCode)"),
])
def test_a_job_slurm_saw_killed_is_recorded_killed_and_one_that_failed_failed(tmp_path, monkeypatch, line, exit_code,
                                                                                ended):
    _, sweep, run_dir = recorded_sweep(tmp_path)
    runwrite.start_attempt(run_dir, "424242")
    shims(tmp_path, monkeypatch, squeue=f"echo '{line}'\n",
          scontrol=f"echo 'JobId=424242 JobName=rb-stategrid'\necho '   Requeue=1 Restarts=0 ExitCode={exit_code}'\n")
    assert row(sweep)["ended"] == ended


def test_retry_lifts_the_limit_for_the_named_run_only_and_retry_failed_for_all(tmp_path, capsys):
    grid = write_grid(tmp_path, cardinalities="[1, 2]")
    sweep = tmp_path / "sweep"
    debug = tmp_path / "debug.yaml"
    debug.write_text("executor: debug\nmax_retries: 0\n")
    argv = ["launch", str(grid), "--cluster", str(debug), "--sweep-dir", str(sweep)]
    from resnext_bench.cluster.plan import plan_launch
    from resnext_bench.cluster.profile import load_profile
    from resnext_bench.config.load import load_ablation

    plan = plan_launch(load_ablation(grid), load_profile(debug), sweep)
    for rid, run_dir in plan.run_dirs.items():  # both runs failed once already: the limit (0 retries) is reached
        runwrite.record_job(run_dir, "debug-1-0", "debug", runwrite.now_iso())
        runwrite.write_result(run_dir, schema.Result(status="failed", reason="data missing"))
    first, second = sorted(plan.run_dirs)
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "0 runs submitted" in out and f"`launch --retry {first}`" in out

    assert main(argv + ["--retry", "nope-s0-00000000"]) == 2  # a run that is not the ablation's
    assert "--retry nope-s0-00000000: not a run of ablation stategrid" in capsys.readouterr().err
    assert main(argv + ["--retry", first]) == 0
    assert "1 run submitted, 1 skipped" in capsys.readouterr().out
    states = {r["run_id"]: r["state"] for r in sweep_status(sweep)}
    assert states == {first: "completed", second: "failed"}
    assert main(argv + ["--retry", first]) == 0  # a completed run is not retrained
    assert "(--retry resubmits only failed or cancelled runs)" in capsys.readouterr().out
    assert main(argv + ["--retry-failed"]) == 0
    assert "1 run submitted, 1 skipped" in capsys.readouterr().out
    assert {r["state"] for r in sweep_status(sweep)} == {"completed"}
    log = runfolder.read_job(plan.run_dirs[second]).attempt_log
    assert [(a.end, a.job_id.startswith("debug-")) for a in log] == [("completed", True)]


def test_an_old_job_json_reads_with_an_empty_attempt_log_and_a_damaged_entry_is_skipped(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    old = {"job_id": "77", "executor": "slurm", "submitted_at": "2026-01-01T00:00:00+00:00", "attempts": 1,
           "history": [{"job_id": "77", "submitted_at": "2026-01-01T00:00:00+00:00"}], "submitit_folder": None,
           "pid": None}
    (run_dir / "job.json").write_text(json.dumps(old))
    job = runfolder.read_job(run_dir)
    assert (job.job_id, job.attempt_log, job.last_attempt) == ("77", (), None)
    runwrite.start_attempt(run_dir, "77")
    assert runwrite.end_attempt(run_dir, "77", "timeout", "USR2: near the time limit")
    assert not runwrite.end_attempt(run_dir, "77", "cancelled")  # the first end recorded stands
    data = json.loads((run_dir / "job.json").read_text())
    assert data["history"] == old["history"] and data["attempt_log"][0]["end"] == "timeout"
    data["attempt_log"] += [{"job_id": "77", "end": "exploded"}, "junk", {"no": "job id"}]
    (run_dir / "job.json").write_text(json.dumps(data))
    skipped = []
    job = runfolder.read_job(run_dir, skipped)
    assert [a.end for a in job.attempt_log] == ["timeout", None]
    assert len(skipped) == 3 and "'exploded' is not one of" in skipped[0][1]
