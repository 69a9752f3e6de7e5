"""`cancel` and `logs`, the status log column, and local jobs (running state, no stray %j folder).

Cancelling Slurm jobs is tested on the real cluster in test_cluster_states.py; here the local
executor's jobs are cancelled, and `logs` reads folders laid out as each executor lays them out.
"""
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from support.polling import wait_until
from support.ablations import write_launch_grid

from resnext_bench.cli import main
from resnext_bench.cluster.control import job_logs
from resnext_bench.cluster.status import sweep_status
from resnext_bench.record import runfolder, runstate, runwrite, schema

def states(sweep):
    return {r["run_id"]: r["state"] for r in sweep_status(sweep)}


def fake_run(tmp_path, job_id="991", executor="slurm", folder=True):
    """A run folder whose job.json names a submission, and that submission's log files."""
    sweep = tmp_path / "sweep"
    run_dir = sweep / "runs" / "g-1x8d-s0-00000000"
    run_dir.mkdir(parents=True)
    logs = sweep / "submitit" / job_id
    runwrite.record_job(run_dir, job_id, executor, runwrite.now_iso(), str(logs) if folder else None)
    logs.mkdir(parents=True)
    (logs / f"{job_id}_0_log.out").write_text("printed\n")
    (logs / f"{job_id}_0_log.err").write_text("epoch 1/2 trained\n")
    return sweep, run_dir, logs


def test_local_jobs_run_cancel_whole_chains_and_logs_are_where_status_says(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_launch_grid(tmp_path, "cancelgrid", "[1, 2]", epochs=30, train_limit=1024)
    (tmp_path / "local.yaml").write_text("executor: local\narray_parallelism: 1\ntimeout_min: 10\n")
    sweep = Path("sweeps") / "cancelgrid"
    assert main(["launch", "grid.yaml", "--cluster", "local.yaml"]) == 0
    first, second = sorted((sweep / "runs").iterdir())
    job = runfolder.read_job(first)
    assert job.job_id == runfolder.read_job(second).job_id  # one chain trains both, in turn
    try:
        wait_until(lambda: states(sweep)[first.name] == "running", "the first run to train", timeout=120,
                   interval=0.2, context=lambda: str(sweep_status(sweep)))
        assert states(sweep)[second.name] == "pending"  # waiting its turn in the chain, not running
        assert not (sweep / "submitit" / "%j").exists()  # no folder literally named %j
        log = Path(next(r["log"] for r in sweep_status(sweep) if r["run_id"] == first.name))
        assert log == (sweep / "submitit" / f"{job.job_id}_0_log.err").resolve()
        wait_until(lambda: "epoch 1/30" in log.read_text(), "the first epoch in the log", timeout=120, interval=0.5)
        capsys.readouterr()
        assert main(["logs", first.name]) == 0  # a run id, found under sweeps/*/runs
        out = capsys.readouterr().out
        assert f"==> {log} <==" in out and "epoch 1/30" in out and "attempt 1 of 1" in out

        assert main(["cancel", str(sweep), first.name]) == 2  # the other run of the chain would die too
        assert f"shares local job {job.job_id} with {second.name}" in capsys.readouterr().err
        assert states(sweep)[first.name] == "running"  # nothing was touched

        assert main(["cancel", str(sweep)]) == 0
        assert "2 runs cancelled" in capsys.readouterr().out
        wait_until(lambda: "stopped (SIGTERM" in log.read_text(), "the job to get SIGTERM", timeout=60, interval=0.2)
        wait_until(lambda: set(states(sweep).values()) == {"cancelled"}, "the chain to end", timeout=60, interval=0.5)
    finally:
        try:
            os.kill(int(job.job_id), signal.SIGKILL)
        except ProcessLookupError:
            pass
    ran, waited = runfolder.read_job(first).attempt_log, runfolder.read_job(second).attempt_log
    assert [(a.end, bool(a.started_at)) for a in ran] == [("cancelled", True)]
    assert [(a.end, a.started_at) for a in waited] == [("cancelled", None)]
    assert main(["cancel", str(sweep)]) == 0  # nothing live any more: nothing to do
    assert "0 runs cancelled" in capsys.readouterr().out


# How the child starts, set in the child itself: whatever this test process inherited (a terminal's default, or
# SIGINT ignored under `nohup ... &` or a CI step) never decides the outcome. Ignored is what a user's
# `nohup resnext-bench logs -f &` gets too: the verb must still end on Ctrl-C.
SIGINT_AT_START = {"default": signal.SIG_DFL, "ignored": signal.SIG_IGN}


@pytest.mark.parametrize("sigint", sorted(SIGINT_AT_START))
def test_logs_follows_appended_lines_until_ctrl_c_and_exits_130(tmp_path, sigint):
    _, run_dir, logs = fake_run(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "resnext_bench.cli", "logs", str(run_dir), "-f"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, SIGINT_AT_START[sigint]))
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_until(lambda: "epoch 1/2 trained\n" in seen, "the existing lines", timeout=60, proc=proc)
        with open(logs / "991_0_log.err", "a") as f:
            f.write("epoch 2/2 trained\n")
        wait_until(lambda: "epoch 2/2 trained\n" in seen, "the appended line", timeout=30, proc=proc)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        assert proc.stderr.read().strip() == "resnext-bench logs: interrupted"
    finally:
        proc.kill()
    assert seen[:2] == [f"# {run_dir.name}: attempt 1 of 1, job 991 (slurm)\n", f"==> {logs / '991_0_log.out'} <==\n"]
    assert seen.index("epoch 1/2 trained\n") < seen.index("epoch 2/2 trained\n")
    assert seen.count("epoch 1/2 trained\n") == 1  # followed from where it stopped, nothing repeated


def test_logs_pick_an_attempt_and_find_files_of_sweeps_written_before_folders_were_recorded(tmp_path, capsys):
    sweep, run_dir, logs = fake_run(tmp_path, folder=False)  # an older job.json: no folder recorded
    runwrite.record_job(run_dir, "992", "slurm", runwrite.now_iso(), str(sweep / "submitit" / "992"))
    assert [(j.number, j.job_id, j.stderr) for j in job_logs(run_dir, runfolder.read_job(run_dir))] == [
        (1, "991", (logs / "991_0_log.err").resolve()), (2, "992", sweep / "submitit" / "992" / "992_0_log.err")]
    assert main(["logs", run_dir.name, "--sweep", str(sweep), "--attempt", "1"]) == 0
    out = capsys.readouterr().out
    assert "attempt 1 of 2, job 991" in out and "epoch 1/2 trained" in out
    assert main(["logs", str(run_dir)]) == 0  # the latest: not started yet
    assert "(not written yet: the job has not started)" in capsys.readouterr().out
    for argv, message in [
        (["logs", str(run_dir), "--attempt", "3"], "--attempt 3: the run has 2 attempts (1..2)"),
        (["logs", str(run_dir), "--attempt", "0"], "--attempt: expected a number >= 1"),
        (["logs", "nope-s0-00000000", "--sweep", str(sweep)], "nope-s0-00000000: no such run folder or run id"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def test_logs_of_a_debug_run_say_where_its_output_went(tmp_path, capsys):
    _, run_dir, _ = fake_run(tmp_path, job_id="debug-1-0", executor="debug")
    assert main(["logs", str(run_dir)]) == 2
    assert "debug executor, inside `launch`: its output went to that terminal" in capsys.readouterr().err


def test_cancel_refuses_an_unknown_run_and_an_unreadable_queue(tmp_path, capsys, monkeypatch):
    sweep, run_dir, _ = fake_run(tmp_path)
    assert main(["cancel", str(sweep), "nope"]) == 2
    assert "nope: no such run in" in capsys.readouterr().err
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "squeue").write_text("#!/bin/sh\necho 'slurm_load_jobs error: Socket timed out' >&2\nexit 1\n")
    (shim / "scancel").write_text(f"#!/bin/sh\ntouch {tmp_path}/scancel-ran\n")
    for name in ("squeue", "scancel"):
        (shim / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    assert main(["cancel", str(sweep)]) == 2
    assert "squeue failed or timed out); nothing cancelled" in capsys.readouterr().err
    assert not (tmp_path / "scancel-ran").exists() and runfolder.read_job(run_dir).attempt_log == ()


def test_a_local_run_is_running_exactly_while_its_own_attempt_is_open(tmp_path):
    """A local chain's job runs all its runs in turn: only the one it started is running, whether or
    not it has trained a step yet; one waiting its turn is pending, even with an old checkpoint."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    runwrite.record_job(run_dir, "4321", "local", runwrite.now_iso())
    queued = {"4321": runstate.Queued(schema.RUNNING)}
    waiting = runfolder.read_run(run_dir)
    assert runstate.run_state(waiting, queued) == "pending"
    (run_dir / "checkpoint.pt").write_bytes(b"from an earlier, cancelled job")  # resubmitted, behind another run
    assert runstate.run_state(runfolder.read_run(run_dir), queued) == "pending"
    (run_dir / "checkpoint.pt").unlink()
    runwrite.start_attempt(run_dir, "4321")  # the job reached this run: loading data, no step trained yet
    assert runstate.run_state(runfolder.read_run(run_dir), queued) == "running"
