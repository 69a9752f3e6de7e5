"""The training engine: digits is learned, resume is exact whatever the interruption, failures are recorded."""
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support.ablations import tiny_ablation
from support.polling import wait_until
from support.training import StopAfter, assert_same_outcome, make_run, quiet

from resnext_bench.engine import train as train_mod
from resnext_bench.engine.checkpoint import load_checkpoint
from resnext_bench.cli import main
from resnext_bench.config.runs import resolve_runs
from resnext_bench.record import locks, runfolder, runwrite
from resnext_bench.config.load import load_ablation
from resnext_bench.engine.train import Stopped, train_run


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, the yardstick for every interrupted one."""
    tmp = tmp_path_factory.mktemp("ref")
    run_dir = make_run(tmp, "ref")
    assert train_run(run_dir, log=quiet)["status"] == "completed"
    return tmp, run_dir


def test_digits_is_learned_well_below_chance(tmp_path):
    run_dir = make_run(tmp_path, "learn", epochs=4, train_limit=1437)
    result = train_run(run_dir, log=quiet)
    assert result["status"] == "completed" and result["epochs"] == 4
    metrics = runfolder.epochs_of(run_dir)
    assert metrics[-1]["val_top1_err"] < 40  # chance is 90%
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    assert result["device"].startswith("cpu") and result["versions"]["torch"] == torch.__version__
    for key in ("final_val_top1_err", "best_val_top5_err", "params", "flops", "wall_seconds", "images_per_sec",
                "seed", "git_commit"):
        assert key in result


def test_a_stop_in_the_middle_of_an_epoch_resumes_to_the_same_end(reference, tmp_path):
    _, ref = reference
    run_dir = make_run(tmp_path, "stopped")
    with pytest.raises(Stopped):
        train_run(run_dir, stop=StopAfter(3), log=quiet)  # 6 steps an epoch: stop inside epoch 1
    ckpt = load_checkpoint(run_dir).state
    assert (ckpt["epoch"], ckpt["step_in_epoch"]) == (0, 4)
    assert not (run_dir / "result.json").exists()
    assert train_run(run_dir, log=quiet)["status"] == "completed"
    assert_same_outcome(ref, run_dir)


def test_an_exception_is_recorded_and_a_rerun_ends_where_the_uninterrupted_run_ends(reference, tmp_path, monkeypatch):
    _, ref = reference
    run_dir = make_run(tmp_path, "crash", ckpt=0.0)  # checkpoint after every step
    calls = {"n": 0}
    real_step = torch.optim.SGD.step

    def failing_step(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 9:
            raise RuntimeError("simulated device failure")
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.SGD, "step", failing_step)
    with pytest.raises(RuntimeError, match="simulated"):
        train_run(run_dir, log=quiet)
    failed = runfolder.result_of(run_dir)
    assert failed["status"] == "failed" and "simulated device failure" in failed["reason"]
    assert failed["failed_epoch"] == 2
    monkeypatch.setattr(torch.optim.SGD, "step", real_step)
    assert train_run(run_dir, log=quiet)["status"] == "completed"
    assert_same_outcome(ref, run_dir)
    # the failed attempt is kept, not lost
    assert json.loads((run_dir / "failures.jsonl").read_text().splitlines()[0])["status"] == "failed"


def test_a_non_finite_loss_fails_the_run_with_its_epoch(tmp_path, monkeypatch):
    run_dir = make_run(tmp_path, "nan")
    real = train_mod.F.cross_entropy
    calls = {"n": 0}

    def poisoned(logits, labels, **kw):
        loss = real(logits, labels, **kw)
        if torch.is_grad_enabled():  # a training step, not evaluation
            calls["n"] += 1
            if calls["n"] == 8:  # step 2 of epoch 2 (6 steps an epoch)
                return loss * float("nan")
        return loss

    monkeypatch.setattr(train_mod.F, "cross_entropy", poisoned)
    result = train_run(run_dir, log=quiet)
    assert result["status"] == "failed" and result["failed_epoch"] == 2
    assert "non-finite" in result["reason"] and "epoch 2" in result["reason"]
    assert len(runfolder.epochs_of(run_dir)) == 1  # epoch 1 is kept
    assert (run_dir / "checkpoint.pt").exists()


def test_a_completed_run_is_not_retrained(reference):
    _, ref = reference
    before = (ref / "metrics.jsonl").read_text()
    mtime = (ref / "checkpoint.pt").stat().st_mtime_ns
    messages = []
    assert train_run(ref, log=messages.append)["status"] == "completed"
    assert "already completed" in messages[0]
    assert (ref / "metrics.jsonl").read_text() == before and (ref / "checkpoint.pt").stat().st_mtime_ns == mtime


def _train_cmd(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "resnext_bench.cli", "train", "--run-dir", str(run_dir)]


def test_sigterm_checkpoints_and_a_rerun_ends_identically(reference, tmp_path):
    _, ref = reference
    run_dir = make_run(tmp_path, "sigterm", ckpt=0.0)
    proc = subprocess.Popen(_train_cmd(run_dir), stderr=subprocess.PIPE, text=True)
    wait_until(lambda: (run_dir / "checkpoint.pt").exists(), "training progress", proc=proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert not (run_dir / "result.json").exists()
    assert train_run(run_dir, log=quiet)["status"] == "completed"
    assert_same_outcome(ref, run_dir)


def test_an_external_sigkill_resumes_from_the_last_checkpoint(reference, tmp_path):
    _, ref = reference
    run_dir = make_run(tmp_path, "sigkill", ckpt=0.0)
    proc = subprocess.Popen(_train_cmd(run_dir), stderr=subprocess.DEVNULL)
    wait_until(lambda: (run_dir / "metrics.jsonl").exists(), "training progress", proc=proc)
    proc.kill()
    assert proc.wait(timeout=30) == -signal.SIGKILL  # the kill landed (the run had not finished)
    assert runfolder.result_of(run_dir) is None
    assert train_run(run_dir, log=quiet)["status"] == "completed"
    assert_same_outcome(ref, run_dir)


KILL_AT_STEP = """
import os, signal, sys, torch
real_step = torch.optim.SGD.step
count = {"n": 0}
def step(self, *a, **k):
    out = real_step(self, *a, **k)
    count["n"] += 1
    if count["n"] == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)  # right after this optimizer step, before its checkpoint
    return out
torch.optim.SGD.step = step
from resnext_bench.cli import main
sys.exit(main(["train", "--run-dir", sys.argv[1]]))
"""


# 6 steps an epoch, a checkpoint after every step: (kill after step N) -> (epoch, step) of the last checkpoint.
@pytest.mark.parametrize("step, position", [
    (2, (0, 1)),  # early in epoch 1
    (6, (0, 5)),  # after epoch 1's last step, before its evaluation and metrics line
    (9, (1, 2)),  # in the middle of epoch 2
])
def test_sigkill_at_any_step_resumes_to_the_same_end(reference, tmp_path, step, position):
    _, ref = reference
    run_dir = make_run(tmp_path, f"kill{step}", ckpt=0.0)
    proc = subprocess.run([sys.executable, "-c", KILL_AT_STEP, str(run_dir), str(step)], capture_output=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    ckpt = load_checkpoint(run_dir).state
    assert (ckpt["epoch"], ckpt["step_in_epoch"]) == position  # the kill landed where this case says
    assert len(runfolder.epochs_of(run_dir)) == position[0]
    assert train_run(run_dir, log=quiet)["status"] == "completed"
    assert_same_outcome(ref, run_dir)


KILL_DURING_SAVE = """
import os, signal, sys, torch
import resnext_bench.engine.checkpoint as ck
real_save = torch.save
count = {"n": 0}
def dying_save(obj, f, *a, **k):
    count["n"] += 1
    if count["n"] == 5:  # the 5th checkpoint: write part of it, then die mid-write
        f.write(b"PK\\x03\\x04 half a checkpoint")
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *a, **k)
torch.save = dying_save
from resnext_bench.cli import main
sys.exit(main(["train", "--run-dir", sys.argv[1]]))
"""


def test_sigkill_during_a_checkpoint_write_loses_nothing(reference, tmp_path):
    _, ref = reference
    run_dir = make_run(tmp_path, "killsave", ckpt=0.0)
    proc = subprocess.run([sys.executable, "-c", KILL_DURING_SAVE, str(run_dir)], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert list(run_dir.glob(".checkpoint.pt.*.tmp"))  # the torn temporary file is there...
    ckpt = load_checkpoint(run_dir).state  # ...and the real checkpoint is the previous, intact one
    assert (ckpt["epoch"], ckpt["step_in_epoch"]) == (0, 4)
    assert train_run(run_dir, log=quiet)["status"] == "completed"
    assert not list(run_dir.glob(".*.tmp"))
    assert_same_outcome(ref, run_dir)


def test_a_bad_data_root_is_one_line_and_exit_2(tmp_path, capsys):
    path = tiny_ablation(tmp_path, "cifar", epochs=1, train_limit=64)
    path.write_text(path.read_text().replace("name: digits", "name: cifar10"))
    missing = tmp_path / "no-such-cifar"
    code = main(["train", str(path), "0", "--sweep-dir", str(tmp_path / "sw"), "--set", f"data.root={missing}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert str(missing) in err[-1] and "cifar-10-batches-py" in err[-1]
    assert not list((tmp_path / "sw").rglob("checkpoint.pt"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_with_two_processes_on_cpu_gives_one_sensible_result(tmp_path):
    run_dir = make_run(tmp_path, "ddp", epochs=2, train_limit=256)
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen(_train_cmd(run_dir), env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    result = runfolder.result_of(run_dir)
    assert result["status"] == "completed" and result["world_size"] == 2 and result["epochs"] == 2
    metrics = runfolder.epochs_of(run_dir)
    assert len(metrics) == 2  # only rank 0 writes
    assert all(0 <= m["val_top1_err"] <= 100 and m["train_loss"] > 0 for m in metrics)
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    # rank 1 wrote nothing of its own: the folder holds one run's files
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(
        [locks.LOCK, runfolder.CHECKPOINT, runfolder.PREVIOUS_CHECKPOINT, runfolder.CONFIG, runfolder.METRICS, runfolder.RESULT])


BASELINE = """
name: base
template: cifar-29
configurations:
  - {{baseline: "{model}"}}
data: {{name: digits, train_limit: 128, val_limit: 64}}
recipe: {{name: short, epochs: 2, batch_size: 32, lr: 0.05}}
seeds: [0]
runtime: {{threads: 1}}
"""


@pytest.mark.parametrize("model", ["timm:resnet18", "torchvision:resnet18"])
def test_timm_and_torchvision_baselines_train_stop_and_resume_through_the_same_engine(tmp_path, model):
    path = tmp_path / "base.yaml"
    path.write_text(BASELINE.format(model=model))
    run = resolve_runs(load_ablation(path))[0]
    assert run.configuration == model and run.complexity["params"] > 0
    dirs = []
    for name in ("straight", "resumed"):
        run_dir = tmp_path / name / run.run_id
        runwrite.write_config(run_dir, run)
        dirs.append(run_dir)
    assert train_run(dirs[0], log=quiet)["status"] == "completed"
    with pytest.raises(Stopped):
        train_run(dirs[1], stop=StopAfter(1), log=quiet)  # one step, then stop
    assert load_checkpoint(dirs[1]).state["global_step"] == 2
    assert train_run(dirs[1], log=quiet)["status"] == "completed"
    assert_same_outcome(dirs[0], dirs[1])
    assert runfolder.load_config(dirs[1]).model.name == model
