"""A tiny run folder to train, stop flags that interrupt it, and the comparison of two runs' outcomes."""
from pathlib import Path

import torch

from resnext_bench.config.runs import resolve_runs
from resnext_bench.config.load import load_ablation
from resnext_bench.engine.checkpoint import load_checkpoint
from resnext_bench.record import runfolder, runwrite

from support.ablations import tiny_ablation

TIMING = {"epoch_seconds", "images_per_sec", "data_wait_pct"}


def make_run(tmp_path: Path, name: str, epochs=2, train_limit=192, ckpt=10.0) -> Path:
    """Write a tiny ablation and its single run folder; return the run folder."""
    run = resolve_runs(load_ablation(tiny_ablation(tmp_path, name, epochs, train_limit, ckpt)))[0]
    run_dir = tmp_path / name / run.run_id
    runwrite.write_config(run_dir, run)
    return run_dir


def quiet(msg):
    """A log that says nothing."""


def outcome(run_dir: Path):
    """Final weights and the non-timing metrics of a finished run."""
    ckpt = load_checkpoint(run_dir).state
    metrics = [{k: v for k, v in m.items() if k not in TIMING} for m in runfolder.epochs_of(run_dir)]
    return ckpt["model"], metrics


def assert_same_outcome(a: Path, b: Path):
    """Two runs ended the same: same weights, same non-timing metrics, same result."""
    wa, ma = outcome(a)
    wb, mb = outcome(b)
    assert ma == mb
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    ra, rb = runfolder.result_of(a), runfolder.result_of(b)
    for key in ("status", "final_val_top1_err", "final_val_top5_err", "best_val_top1_err", "epochs"):
        assert ra[key] == rb[key], key


class StopAfter:
    """A stop flag that asks to stop after `n` training steps (a SIGTERM arriving mid-epoch)."""

    def __init__(self, n):
        self.n, self.reason, self.after = n, "test stop", None

    @property
    def requested(self):
        self.n -= 1
        return self.n < 0
