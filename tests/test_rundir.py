"""The run folder is one typed contract: no result is ever mixed up, duplicated or lost.

Each test names a fault found on the suite before the record (then engine/rundir.py) owned the run folder, makes it
happen (and checks that it did), then checks the evidence that survives.
"""
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from resnext_bench.analysis.collect import collect
from resnext_bench.cli import main
from resnext_bench.config.runs import resolve_runs
from resnext_bench.config.load import load_ablation
from resnext_bench.record import locks, runfolder, runwrite, schema
from resnext_bench.engine.checkpoint import load_checkpoint
from resnext_bench.engine.train import Stopped, train_run
from resnext_bench.errors import UserError

from support.ablations import tiny_ablation as write_tiny
from support.polling import wait_until
from support.training import StopAfter, quiet

def tiny_ablation(tmp_path: Path, epochs=2, precision="fp32", name="tiny") -> Path:
    return write_tiny(tmp_path, f"{name}-{precision}", epochs=epochs, train_limit=96, precision=precision)


def new_run_dir(tmp_path: Path, sweep: str = "sweep", **kw) -> Path:
    run = resolve_runs(load_ablation(tiny_ablation(tmp_path, **kw)))[0]
    run_dir = tmp_path / sweep / "runs" / run.run_id
    runwrite.write_config(run_dir, run)
    return run_dir


def one_error_line(stderr: str) -> str:
    """The single error line of a refused command (informational lines may precede it; no traceback)."""
    errors = [line for line in stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == errors[0]
    return errors[0]


def epochs_in_file(run_dir: Path) -> list[int]:
    """Epoch numbers of every parseable line, duplicates and order as they are in the file."""
    return [e.epoch for e in runfolder.read_epochs(run_dir, [])]


# ---------------------------------------------------------------- identity and provenance

def test_a_bf16_rerun_of_an_fp32_sweep_is_a_new_run_with_its_own_id(tmp_path):
    fp32 = resolve_runs(load_ablation(tiny_ablation(tmp_path, precision="fp32")))[0]
    bf16 = resolve_runs(load_ablation(tiny_ablation(tmp_path, precision="bf16")))[0]
    assert fp32.run_id != bf16.run_id
    assert (fp32.identity()["precision"], bf16.identity()["precision"]) == ("fp32", "bf16")


def test_an_old_folder_of_another_precision_is_refused_not_reused(tmp_path):
    run_dir = new_run_dir(tmp_path, precision="fp32")
    config = (run_dir / runfolder.CONFIG).read_text()
    # A folder from before precision entered the id: the fp32 id, but trained in bf16.
    (run_dir / runfolder.CONFIG).write_text(config.replace("precision: fp32", "precision: bf16"))
    assert "precision: bf16" in (run_dir / runfolder.CONFIG).read_text()
    run = resolve_runs(load_ablation(tiny_ablation(tmp_path, precision="fp32")))[0]
    with pytest.raises(UserError, match="trained in bf16, not fp32"):
        runwrite.write_config(run_dir, run)


def test_runs_csv_shows_precision_and_provenance_of_each_run(tmp_path):
    for precision in ("fp32", "bf16"):
        run_dir = new_run_dir(tmp_path, precision=precision, epochs=1)
        assert train_run(run_dir, log=quiet)["status"] == "completed"
    collect([tmp_path / "sweep"], tmp_path / "out", verbose=False)
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert sorted(runs["precision"]) == ["bf16", "fp32"]
    for column in ("device", "threads", "channels_last", "compile", "torch_version", "python_version",
                   "runtime.precision", "recipe.lr", "data.train_limit"):
        assert column in runs.columns, column
    assert set(runs["threads"]) == {1}
    assert runs["device"].str.startswith("cpu (").all()


def test_a_precision_override_of_an_existing_run_is_refused(tmp_path, capsys):
    run_dir = new_run_dir(tmp_path)
    assert main(["train", "--run-dir", str(run_dir), "--set", "runtime.precision=bf16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "runtime.precision" in err[0]


# ---------------------------------------------------------------- one trainer per run

def _train(run_dir: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "resnext_bench.cli", "train", "--run-dir", str(run_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_a_second_trainer_of_the_same_run_exits_2_naming_the_holder(tmp_path):
    run_dir = new_run_dir(tmp_path, epochs=30)
    first = _train(run_dir)
    try:
        wait_until(lambda: locks.lock_holder(run_dir) is not None, "the first trainer's lock", proc=first)
        second = _train(run_dir)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 2
        errors = one_error_line(err)
        assert f"pid {first.pid}" in errors and "already being trained" in errors
        assert runfolder.result_of(run_dir) is None  # the refused trainer wrote nothing
        assert first.poll() is None, "the first trainer still trains"
    finally:
        first.kill()
        first.wait(timeout=30)
    assert epochs_in_file(run_dir) == sorted(set(epochs_in_file(run_dir)))  # no epoch twice


def test_a_lock_left_by_a_killed_trainer_never_blocks(tmp_path):
    run_dir = new_run_dir(tmp_path, epochs=1)
    holder = _train(run_dir)
    wait_until(lambda: locks.lock_holder(run_dir) is not None, "the lock", proc=holder)
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=30) == -signal.SIGKILL
    assert (run_dir / locks.LOCK).exists()  # the lock file stays behind...
    assert locks.lock_holder(run_dir) is None  # ...but no live process holds it
    assert train_run(run_dir, log=quiet)["status"] == "completed"


def test_status_calls_a_run_held_by_a_live_trainer_running(tmp_path):
    from resnext_bench.cluster.status import sweep_status

    run_dir = new_run_dir(tmp_path, epochs=30)
    proc = _train(run_dir)
    try:
        wait_until(lambda: locks.lock_holder(run_dir) is not None, "the lock", proc=proc)
        assert [r["state"] for r in sweep_status(tmp_path / "sweep")] == ["running"]
    finally:
        proc.kill()
        proc.wait(timeout=30)


# ---------------------------------------------------------------- checkpoints that survive damage

def _stopped_after_two_checkpoints(tmp_path) -> Path:
    """A run stopped in epoch 2, with a latest and a previous checkpoint on disk."""
    run_dir = new_run_dir(tmp_path, epochs=3)
    with pytest.raises(Stopped):
        train_run(run_dir, stop=StopAfter(4), log=quiet)  # 3 steps an epoch: epoch 2, step 2
    latest, previous = runfolder.checkpoint_paths(run_dir)
    assert latest.exists() and previous.exists()
    return run_dir


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, damage):
    run_dir = _stopped_after_two_checkpoints(tmp_path)
    latest, _ = runfolder.checkpoint_paths(run_dir)
    data = latest.read_bytes()
    latest.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "garbage": b"not a checkpoint"}[damage])
    messages = []
    result = train_run(run_dir, log=messages.append)
    assert result["status"] == "completed" and result["epochs"] == 3
    assert any("checkpoint.pt is damaged" in m and "resumed from checkpoint.prev.pt" in m for m in messages)
    assert "checkpoint.pt is damaged" in result["checkpoint_fallback"]
    assert epochs_in_file(run_dir) == [1, 2, 3]


def test_when_no_checkpoint_loads_train_exits_2_and_records_the_damage_and_the_epoch(tmp_path, capsys):
    run_dir = _stopped_after_two_checkpoints(tmp_path)
    for path in runfolder.checkpoint_paths(run_dir):
        path.write_bytes(path.read_bytes()[:100])
    assert main(["train", "--run-dir", str(run_dir)]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert "checkpoint.pt is damaged" in err and "checkpoint.prev.pt is damaged" in err
    failed = runfolder.result_of(run_dir)
    assert failed["status"] == "failed" and "damaged checkpoint" in failed["reason"]
    assert failed["failed_epoch"] == 2  # epoch 1 is on disk: epoch 2 was in progress


def test_a_restart_from_scratch_keeps_no_earlier_epoch_lines(tmp_path):
    run_dir = _stopped_after_two_checkpoints(tmp_path)
    assert epochs_in_file(run_dir) == [1]
    for path in runfolder.checkpoint_paths(run_dir):
        path.unlink()
    assert train_run(run_dir, log=quiet)["status"] == "completed"
    assert epochs_in_file(run_dir) == [1, 2, 3]  # not [1, 1, 2, 3]


@pytest.mark.parametrize("damage", ["torn", "garbage", "deleted"])
def test_a_damaged_metrics_file_is_rebuilt_on_resume_and_the_run_holds_every_epoch(tmp_path, damage):
    run_dir = _stopped_after_two_checkpoints(tmp_path)
    metrics = run_dir / runfolder.METRICS
    if damage == "torn":
        metrics.write_text(metrics.read_text()[:25])
    elif damage == "garbage":
        metrics.write_text("garbage\n{\"epoch\": 1, \"val\n")
    else:
        metrics.unlink()
    assert epochs_in_file(run_dir) == []
    result = train_run(run_dir, log=quiet)
    assert result["status"] == "completed" and result["epochs"] == 3
    assert epochs_in_file(run_dir) == [1, 2, 3]
    record = runfolder.read_run(run_dir)
    assert record.state == schema.COMPLETED and not record.skipped


def test_a_completed_result_with_missing_epochs_is_unknown_not_completed(tmp_path):
    run_dir = new_run_dir(tmp_path, epochs=2)
    assert train_run(run_dir, log=quiet)["status"] == "completed"
    metrics = run_dir / runfolder.METRICS
    metrics.write_text(metrics.read_text().splitlines()[0] + "\n")
    record = runfolder.read_run(run_dir)
    assert record.result.status == "completed"
    assert record.state == schema.UNKNOWN and "holds epochs 1-1 of 2" in record.state_reason
    # Training again rebuilds the lost line from the final checkpoint's history.
    assert train_run(run_dir, log=quiet)["status"] == "completed"
    assert epochs_in_file(run_dir) == [1, 2] and runfolder.read_run(run_dir).state == schema.COMPLETED


# ---------------------------------------------------------------- errors before anything is written

def test_a_refused_configuration_creates_no_run_folder(tmp_path, capsys):
    path = tiny_ablation(tmp_path)
    sweep = tmp_path / "sw"
    assert main(["train", str(path), "0", "--sweep-dir", str(sweep), "--set", "data.name=cifar10",
                 "--set", f"data.root={tmp_path / 'missing'}"]) == 2
    assert main(["train", str(path), "0", "--sweep-dir", str(sweep), "--set", "recipe.lr=-0.1"]) == 2
    assert main(["train", str(path), "0", "--sweep-dir", str(sweep), "--set", "runtime.threads=-3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3
    assert not sweep.exists()


def test_an_unwritable_sweep_folder_is_one_line_and_exit_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(["train", str(tiny_ablation(tmp_path)), "0", "--sweep-dir", str(blocker / "sweep")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "a-file" in err[0]


def test_a_negative_throughput_is_refused(tmp_path, capsys):
    code = main(["launch", str(tiny_ablation(tmp_path)), "--cluster", "slurm/debug.yaml", "--dry-run",
                 "--sweep-dir", str(tmp_path / "s"), "--throughput", "-5"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--throughput" in err[0]


def test_sigint_exits_130_and_sigterm_143_after_a_checkpoint(tmp_path):
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        run_dir = new_run_dir(tmp_path, sweep=f"s{code}", epochs=30)
        proc = _train(run_dir)
        wait_until(lambda: (run_dir / runfolder.METRICS).exists(), "the first epoch", proc=proc)
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == code
        assert load_checkpoint(run_dir) is not None and runfolder.result_of(run_dir) is None
