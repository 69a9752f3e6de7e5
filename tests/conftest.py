"""Shared test helpers: the one-thread fixture, the tiny ablation, and one polling helper."""
import os
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

import pytest
import torch

from resnext_bench.config.specs import ModelSpec


@pytest.fixture(autouse=True, scope="module")
def one_intra_op_thread():
    """One torch thread: on a shared, oversubscribed machine OpenMP barriers make tiny ops ~5x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def small_spec(template: str, cardinality: int, width: int, **overrides) -> ModelSpec:
    """A reduced-width spec: whole networks run (and trace through fvcore) in milliseconds."""
    fields = dict(base_planes=8, stem_width=8, num_classes=10)
    fields.update(overrides)
    return ModelSpec(template, cardinality, width, **fields)


# One ResNeXt-29 at 1/8 width on a slice of digits: a whole run trains in seconds on one core.
TINY_ABLATION = """
name: tiny
template: cifar-29
model: {{base_planes: 8, stem_width: 8}}
configurations:
  - {{cardinality: 2, bottleneck_width: 4}}
data: {{name: digits, train_limit: {train_limit}, val_limit: 120}}
recipe: {{name: short, epochs: {epochs}, batch_size: 32, lr: 0.05, warmup_epochs: 1}}
seeds: [0]
runtime: {{threads: 1, precision: {precision}, checkpoint_minutes: {ckpt}}}
"""


# An equal-complexity grid of small ResNeXt-29s on digits, for the launcher's tests (Slurm and local).
LAUNCH_GRID = """
name: {name}
template: cifar-29
model: {{base_planes: 8, stem_width: 8}}
reference: {{cardinality: 1, bottleneck_width: 8}}
match: {{target: block_params, tolerance_pct: 10}}
cardinalities: {cardinalities}
data: {{name: digits, train_limit: {train_limit}, val_limit: 64}}
recipe: {{name: short, epochs: {epochs}, batch_size: 32, lr: 0.05}}
seeds: [0]
runtime: {{threads: 1, checkpoint_minutes: 10}}
"""


def write_launch_grid(tmp_path: Path, name: str, cardinalities: str, epochs: int = 1, train_limit: int = 128) -> Path:
    """Write LAUNCH_GRID as tmp_path/grid.yaml and return its path."""
    path = Path(tmp_path) / "grid.yaml"
    path.write_text(LAUNCH_GRID.format(name=name, cardinalities=cardinalities, epochs=epochs, train_limit=train_limit))
    return path


def tiny_ablation(folder: Path, name: str = "tiny", epochs: int = 2, train_limit: int = 192, ckpt: float = 10.0,
                  precision: str = "fp32") -> Path:
    """Write the tiny ablation (train_limit / 32 steps an epoch) and return its path."""
    path = Path(folder) / f"{name}.yaml"
    path.write_text(TINY_ABLATION.format(epochs=epochs, train_limit=train_limit, ckpt=ckpt, precision=precision))
    return path


def require_slurm(module_level: bool = False) -> None:
    """Skip unless a Slurm cluster answers; fail instead under RESNEXT_BENCH_REQUIRE_SLURM=1 (CI)."""
    from resnext_bench.cluster.launch import slurm_available

    if slurm_available():
        return
    if os.environ.get("RESNEXT_BENCH_REQUIRE_SLURM") == "1":
        pytest.fail("RESNEXT_BENCH_REQUIRE_SLURM=1 but no Slurm answers here (slurm/local-cluster.sh start)",
                    pytrace=False)
    pytest.skip("no Slurm cluster answers here: run `bash slurm/local-cluster.sh start` as root",
                allow_module_level=module_level)


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 120.0, interval: float = 0.05,
               proc: Optional[subprocess.Popen] = None, context: Callable[[], str] = lambda: "") -> None:
    """Poll until predicate() holds; fail (never hang) past `timeout`, or when `proc` ends first."""
    end = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read()[-2000:] if proc.stderr else ""
            pytest.fail(f"process ended (exit {proc.returncode}) before {what}: {err}")
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{context()}")
        time.sleep(interval)


# The engine's train_run in a fresh process (a process group never leaks into this one), reporting how the process
# group was made: backend, device_id, and which GPU was current at that moment; and whether DDP wrapped the model.
DDP_PROBE = """
import json, sys
import torch
import torch.distributed as td
seen = {"backend": None, "device_id": None, "current_at_init": None, "ddp": False}
real_init = td.init_process_group
def init(backend=None, *a, **k):
    seen["backend"], seen["device_id"] = backend, str(k["device_id"]) if "device_id" in k else None
    seen["current_at_init"] = torch.cuda.current_device() if torch.cuda.is_available() else None
    return real_init(backend, *a, **k)
td.init_process_group = init
class CountingDDP(torch.nn.parallel.DistributedDataParallel):
    def __init__(self, *a, **k):
        seen["ddp"] = True
        super().__init__(*a, **k)
torch.nn.parallel.DistributedDataParallel = CountingDDP
from resnext_bench.engine.train import train_run
train_run(sys.argv[1], log=lambda m: print(m, file=sys.stderr))
print("RESULT " + json.dumps(seen))
"""
