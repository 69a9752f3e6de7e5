"""Every ending recorded: a trainer killed outright is named by the signal that killed it.

A job trains in a child that its own process watches (cluster/supervisor.py): the child's wait
status is the evidence, so a kill -9 or the OOM killer is recorded in job.json and shown by
`status`, for local jobs as for Slurm ones (tests/test_cluster_states.py kills Slurm jobs). Each
fault test checks that the kill landed before it checks what was recorded.
"""
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from support.polling import wait_until
from support.ablations import write_launch_grid

from resnext_bench.cli import main
from resnext_bench.cluster import supervisor
from resnext_bench.cluster.status import format_status, sweep_status
from resnext_bench.record import locks, runfolder, runwrite, schema


def gone(pid: int) -> bool:
    """The process no longer exists, or is a zombie waiting for its parent."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().split(")")[-1].split()[1])


# ---------------------------------------------------------------- the supervisor alone

def test_a_child_killed_by_sigkill_is_named_by_its_signal(tmp_path):
    pid_file = tmp_path / "pid"

    def sleeper():
        pid_file.write_text(str(os.getpid()))
        time.sleep(120)

    def kill_it():
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), "the child's pid", timeout=30)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    killer = threading.Thread(target=kill_it)
    killer.start()
    outcome = supervisor.run_in_child(sleeper)
    killer.join()
    child = int(pid_file.read_text())
    assert gone(child)  # the kill landed: the sleeper did not sleep its two minutes
    assert (outcome.signal, outcome.said) == (signal.SIGKILL, False)
    assert outcome.describe() == "killed by signal 9 (SIGKILL)"


def test_a_child_says_what_it_returned_raised_or_exited_with_and_gets_the_jobs_signals():
    assert supervisor.run_in_child(lambda: {"status": "completed"}).value == {"status": "completed"}
    assert supervisor.run_in_child(lambda: 1 / 0).error == "ZeroDivisionError: division by zero"
    assert supervisor.run_in_child(lambda: sys.exit(-1)).exit_code == -1  # submitit's exit after a requeue
    silent = supervisor.run_in_child(lambda: os._exit(3))  # past Python: no word
    assert (silent.exit_code, silent.said) == (3, False)
    assert "exited with status 3 and recorded no end" in silent.describe()

    def waits_for_term():
        got = []
        signal.signal(signal.SIGTERM, lambda s, _f: got.append(s))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])  # its handler is in place
        end = time.monotonic() + 60
        while not got and time.monotonic() < end:
            time.sleep(0.01)
        return got

    before = signal.getsignal(signal.SIGTERM)
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()  # to the job's process
    assert supervisor.run_in_child(waits_for_term).value == [signal.SIGTERM]  # passed on to the child
    assert signal.getsignal(signal.SIGTERM) is before


def test_an_oom_kill_is_named_when_the_cgroups_oom_counter_rose(tmp_path, monkeypatch):
    """The kernel's evidence, faked: the child raises its cgroup's oom_kill count and dies of SIGKILL."""
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    counters = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            counters.append(tmp_path / path.lstrip("/") / "memory.events")
        elif "memory" in controllers.split(","):
            counters.append(tmp_path / "memory" / path.lstrip("/") / "memory.oom_control")
    if not counters:
        pytest.skip("this kernel has no memory cgroup")
    for counter in counters:
        counter.parent.mkdir(parents=True, exist_ok=True)
        counter.write_text("oom 0\noom_kill 4\n")
    monkeypatch.setattr(supervisor, "CGROUP_ROOT", tmp_path)

    def killed_by_the_oom_killer():
        for counter in counters:
            counter.write_text("oom 1\noom_kill 5\n")
        os.kill(os.getpid(), signal.SIGKILL)

    outcome = supervisor.run_in_child(killed_by_the_oom_killer)
    assert outcome.signal == signal.SIGKILL
    assert outcome.describe().startswith("killed by signal 9 (SIGKILL): out of memory (the OOM killer's count in ")
    assert "rose from 4 to 5 while it ran" in outcome.describe()
    for counter in counters:  # a SIGKILL with no rise is not called an OOM kill
        counter.write_text("oom_kill 5\n")
    assert supervisor.run_in_child(lambda: os.kill(os.getpid(), signal.SIGKILL)).oom is None


# ---------------------------------------------------------------- local jobs, killed

def launch_local(tmp_path, name):
    write_launch_grid(tmp_path, name, "[2]", epochs=30, train_limit=1024)
    (tmp_path / "local.yaml").write_text("executor: local\narray_parallelism: 1\ntimeout_min: 10\n")
    sweep = tmp_path / "sweeps" / name
    assert main(["launch", str(tmp_path / "grid.yaml"), "--cluster", str(tmp_path / "local.yaml"),
                 "--sweep-dir", str(sweep)]) == 0
    run_dir = next((sweep / "runs").iterdir())
    job = runfolder.read_job(run_dir)
    wait_until(lambda: "pid" in (locks.lock_holder(run_dir) or "") and runfolder.read_job(run_dir).last_attempt,
               "the trainer", timeout=180, interval=0.2)
    return sweep, run_dir, job, json.loads((run_dir / ".lock").read_text())["pid"]


def ending(sweep):
    (row,) = sweep_status(sweep)
    return row


def test_a_local_run_killed_by_kill_9_shows_its_signal_in_status(tmp_path, capsys):
    sweep, run_dir, job, trainer = launch_local(tmp_path, "killgrid")
    try:
        os.kill(trainer, signal.SIGKILL)  # as kill -9 or the OOM killer would: no handler runs
        # the kill landed: the trainer is gone and no thread of it holds the run's lock any more
        wait_until(lambda: gone(trainer) and locks.lock_holder(run_dir) is None, "the trainer to die", timeout=30,
                   interval=0.1)
        wait_until(lambda: ending(sweep)["state"] == "cancelled", "the job to end", timeout=60, interval=0.2)
        (attempt,) = runfolder.read_job(run_dir).attempt_log
        assert (attempt.end, attempt.reason, attempt.observed) == ("killed", "killed by signal 9 (SIGKILL)", None)
        assert ending(sweep)["ended"] == "killed by signal 9 (SIGKILL)"
        capsys.readouterr()
        assert main(["status", str(sweep)]) == 0
        assert "    ended: killed by signal 9 (SIGKILL)\n" in capsys.readouterr().out
    finally:
        for pid in (trainer, int(job.job_id)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_job_whose_own_process_is_killed_takes_its_trainer_along_and_shows_lost(tmp_path):
    """Killing the watcher leaves no training running unwatched; no one saw how it ended: lost, and why."""
    sweep, run_dir, job, trainer = launch_local(tmp_path, "watchergrid")
    watcher = parent_of(trainer)
    try:
        assert watcher != int(job.job_id)  # the job's task process, below submitit's local controller
        assert b"submitit.core._submit" in Path(f"/proc/{watcher}/cmdline").read_bytes()
        os.kill(watcher, signal.SIGKILL)
        wait_until(lambda: gone(watcher) and gone(trainer), "the watcher and the trainer to die", timeout=30,
                   interval=0.1)
        wait_until(lambda: ending(sweep)["state"] == "cancelled", "the job to end", timeout=60, interval=0.2)
        (attempt,) = runfolder.read_job(run_dir).attempt_log
        assert (attempt.end, attempt.observed) == ("lost", True)
        assert ending(sweep)["ended"].startswith("lost: left the queue with no end recorded")
    finally:
        for pid in (trainer, watcher, int(job.job_id)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# ---------------------------------------------------------------- how status words each ending

def recorded(tmp_path, name, attempts, result=None):
    """A run folder whose job 77 left the queue after these attempts ((end, reason, observed, by), ...)."""
    run_dir = tmp_path / "sweep" / "runs" / name
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("recipe: {epochs: 1}\n")
    runwrite.record_job(run_dir, "77", "slurm", runwrite.now_iso())
    for end, reason, observed, by in attempts:
        runwrite.start_attempt(run_dir, "77")
        runwrite.end_attempt(run_dir, "77", end, reason, observed=observed, by=by)
    if result is not None:
        runwrite.write_result(run_dir, result)
        runwrite.append_epoch(run_dir, schema.Epoch(epoch=1, val_top1_err=5.0))
    return run_dir


def test_status_says_how_each_run_ended(tmp_path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text("#!/bin/sh\n")  # the queue answers: nothing is listed
    (bin_dir / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    usr2 = "USR2: preempted; checkpointed and requeued"
    recorded(tmp_path, "a-completed", [("preempted", usr2, False, None), ("preempted", usr2, False, None),
                                       ("completed", None, False, None)], schema.Result(status="completed"))
    recorded(tmp_path, "b-failed", [("failed", "RuntimeError: CUDA error", False, None)],
             schema.Result(status="failed", reason="RuntimeError: CUDA error: out of memory\nhint: a smaller batch"))
    recorded(tmp_path, "c-cancelled", [("cancelled", "with `resnext-bench cancel`", False, "alice")])
    recorded(tmp_path, "d-killed", [("killed", "killed by signal 9 (SIGKILL)", False, None)])
    recorded(tmp_path, "e-oom", [("killed", "Slurm: OUT_OF_MEMORY", True, None)])
    recorded(tmp_path, "f-timeout", [("timeout", "Slurm: TIMEOUT", True, None)])
    recorded(tmp_path, "g-requeued-then-cancelled", [("preempted", usr2, False, None)])
    runwrite.end_attempt(tmp_path / "sweep/runs/g-requeued-then-cancelled", "77", "cancelled", "with `resnext-bench cancel`",
                       append=True, by="bob")
    rows = {r["run_id"]: r for r in sweep_status(tmp_path / "sweep")}
    assert {rid: (r["state"], r["ended"]) for rid, r in rows.items()} == {
        "a-completed": ("completed", "completed (preempted and requeued 2 times)"),
        "b-failed": ("failed", "failed: RuntimeError: CUDA error: out of memory"),
        "c-cancelled": ("cancelled", "cancelled by alice (with `resnext-bench cancel`)"),
        "d-killed": ("cancelled", "killed by signal 9 (SIGKILL)"),
        "e-oom": ("cancelled", "killed: Slurm: OUT_OF_MEMORY"),
        "f-timeout": ("cancelled", "timed out (Slurm: TIMEOUT)"),
        "g-requeued-then-cancelled": ("cancelled", "cancelled by bob (with `resnext-bench cancel`); "
                                                   "before that preempted and requeued 1 time"),
    }
    table = format_status(list(rows.values()), sweep=tmp_path / "sweep")
    for r in rows.values():
        assert (f"    ended: {r['ended']}\n" in table) == (r["ended"] != "completed"), r["run_id"]


def test_submitits_requeue_handler_still_has_what_near_time_limit_reads():
    """submitit's internals the job relies on to tell a time limit from a preemption: fail loudly if they move."""
    import inspect

    from submitit.core import job_environment
    from submitit.core.job_environment import SignalHandler

    from resnext_bench.cluster.job import near_time_limit

    assert "handler.checkpoint_and_try_requeue" in inspect.getsource(job_environment.JobEnvironment)
    assert callable(getattr(SignalHandler, "has_timed_out", None))
    handler = SignalHandler.__new__(SignalHandler)  # no job here: only its time check is stubbed
    for verdict in (True, False):
        handler.has_timed_out = lambda verdict=verdict: verdict
        assert near_time_limit(handler.checkpoint_and_try_requeue) is verdict
    assert near_time_limit(signal.default_int_handler) is False  # not submitit's: no time limit claimed
