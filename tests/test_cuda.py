"""Proof on a GPU: the training engine with bf16, channels_last and torch.compile on CUDA, exact resume on
the GPU, and the torchrun-style (env) launch path with NCCL.

Every test here is marked `cuda` and is skipped where no CUDA device is visible (CI never has one).
The bodies are written around DEVICE, taken from the environment variable RB_TEST_DEVICE (default
"cuda"), so the test code itself can be exercised on a machine without a GPU:

    RB_TEST_DEVICE=cpu python -m pytest -q tests/test_cuda.py -m cuda

(bf16 autocast runs on the CPU too; NCCL is CUDA-only, so the CPU rehearsal of the DDP test uses gloo.)
`results/bench/gpu.sh` runs this file on a GPU machine.
"""
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resnext_bench.config.runs import resolve_runs
from resnext_bench.config.load import load_ablation
from resnext_bench.record import runfolder, runwrite
from resnext_bench.engine.checkpoint import load_checkpoint as load_latest
from resnext_bench.engine.train import Stopped, train_run
from support.ddp import DDP_PROBE
from support.training import StopAfter  # polled once per step boundary: stops after step n+1

DEVICE = os.environ.get("RB_TEST_DEVICE", "cuda")
if DEVICE not in ("cuda", "cpu"):
    raise ValueError(f"RB_TEST_DEVICE: expected cuda or cpu, got {DEVICE!r}")
ON_GPU = DEVICE == "cuda"

# cuBLAS reads this when it first makes a workspace; deterministic mode refuses cuBLAS calls without it.
# Set at import (collection), before any test touches CUDA; it changes nothing on the CPU.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(ON_GPU and not torch.cuda.is_available(),
                       reason="needs a CUDA GPU (torch.cuda.is_available() is False; "
                              "RB_TEST_DEVICE=cpu runs these bodies on the CPU)"),
]

# A small ResNeXt (cifar-29, 2x4d at base width 8) on a tiny data set: a few steps take well under a
# second on a GPU, so what the tests time is the CUDA/compile set-up, not the training.
ABLATION = """
name: gpu-proof
template: cifar-29
model: {{base_planes: 8, stem_width: 8}}
configurations:
  - {{cardinality: 2, bottleneck_width: 4}}
data: {{name: {data}, train_limit: {train_limit}, val_limit: {val_limit}}}
recipe: {{name: short, epochs: {epochs}, batch_size: 32, lr: 0.05, warmup_epochs: 1}}
seeds: [0]
runtime:
  device: {device}
  precision: bf16
  channels_last: true
  compile: {compile}
  cudnn_benchmark: {cudnn_benchmark}
  checkpoint_minutes: 10.0
  threads: {threads}
"""

# What an epoch's line says about the training itself (not its speed): equal when a resume is exact.
OUTCOME = ("epoch", "lr", "train_loss", "train_top1_err", "val_loss", "val_top1_err", "val_top5_err")


def make_run(tmp_path: Path, name: str, *, data="digits", epochs=2, train_limit=192, val_limit=120,
             compile=False, cudnn_benchmark=True) -> Path:
    """Write the ablation file and its single run folder (config.yaml); return the run folder."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(ABLATION.format(
        data=data, epochs=epochs, train_limit=train_limit, val_limit=val_limit, device=DEVICE,
        compile=str(compile).lower(), cudnn_benchmark=str(cudnn_benchmark).lower(),
        threads="null" if ON_GPU else 1))
    run = resolve_runs(load_ablation(path))[0]
    assert run.runtime.device == DEVICE and run.runtime.precision == "bf16" and run.runtime.channels_last
    run_dir = tmp_path / name / run.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    runwrite.write_config(run_dir, run)
    return run_dir


def read_result(run_dir: Path) -> dict:
    result = runfolder.result_of(run_dir)
    assert result is not None, f"{run_dir} has no usable result"
    return result


def read_metrics(run_dir: Path) -> list[dict]:
    return runfolder.epochs_of(run_dir)


def load_checkpoint(run_dir: Path) -> dict:
    return load_latest(run_dir).state


def quiet(msg):
    pass


def assert_ran_on_device(result: dict, world_size: int = 1, compiled: bool = False) -> None:
    """result.json says completed, on this device, with the runtime asked for (where it records it)."""
    assert result["status"] == "completed", result.get("reason")
    assert result["world_size"] == world_size
    for key, wanted in (("precision", "bf16"), ("channels_last", True), ("compile", compiled)):
        assert result.get(key, wanted) in (wanted, None), (key, result.get(key))
    if ON_GPU:
        assert result["device"] == torch.cuda.get_device_name(0), result["device"]
        assert result["num_gpus"] == world_size
    else:
        assert result["device"].startswith("cpu") and result["num_gpus"] == 0


def assert_finite_metrics(run_dir: Path, epochs: int) -> list[dict]:
    metrics = read_metrics(run_dir)
    assert [m["epoch"] for m in metrics] == list(range(1, epochs + 1))
    for m in metrics:
        for key in ("train_loss", "val_loss", "val_top1_err"):
            assert math.isfinite(m[key]), (key, m)
        assert m["train_loss"] > 0
    return metrics


# ---------------------------------------------------------------- (a) a short run: bf16 + channels_last (+ compile)

@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compile"])
def test_a_short_bf16_channels_last_run_completes_on_the_device(tmp_path, compiled):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    # synthetic: 3-channel 32x32 images, so channels_last and the convolutions see real shapes.
    # 256 images at batch 32: 8 steps of one epoch, then validation on 64 images.
    run_dir = make_run(tmp_path, "short", data="synthetic", epochs=1, train_limit=256, val_limit=64,
                       compile=compiled)
    train_run(run_dir, log=quiet)
    result = read_result(run_dir)
    assert_ran_on_device(result, compiled=compiled)
    assert result["epochs"] == 1 and result["images_per_sec"] > 0
    metrics = assert_finite_metrics(run_dir, 1)
    ckpt = load_checkpoint(run_dir)
    assert (ckpt["epoch"], ckpt["global_step"]) == (1, 8)
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values() if t.is_floating_point())
    graphs = counters["stats"]["unique_graphs"]
    breaks = sum(counters["graph_break"].values())
    print(f"[{DEVICE}] compile={compiled}: train loss {metrics[0]['train_loss']:.4f}, "
          f"{result['images_per_sec']:.0f} img/s, dynamo graphs {graphs}, graph breaks {breaks}, "
          f"device {result['device']}")
    if compiled:
        assert graphs >= 1, "runtime.compile=true compiled nothing"
    else:
        assert graphs == 0


# ---------------------------------------------------------------- (b) stop mid-epoch on the device, resume

def _weights(run_dir: Path) -> dict:
    return load_checkpoint(run_dir)["model"]


def _max_abs_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(((a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].numel()), default=0.0)


@pytest.mark.parametrize("deterministic", [True, False], ids=["deterministic", "default-algorithms"])
def test_a_stop_mid_epoch_resumes_on_the_device(tmp_path, deterministic):
    """Uninterrupted vs stopped after step 4 of 6 in epoch 1 and resumed in the same process.

    With deterministic algorithms (and cudnn.benchmark off, so both runs use the same convolution
    algorithms) the final weights must be bit-identical; with the defaults (cudnn.benchmark on, atomics
    allowed) the difference is only recorded.
    """
    previous = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(deterministic)
    try:
        runs = {}
        for name in ("straight", "stopped"):
            runs[name] = make_run(tmp_path, name, epochs=2, train_limit=192, cudnn_benchmark=not deterministic)
        train_run(runs["straight"], log=quiet)
        assert_ran_on_device(read_result(runs["straight"]))
        with pytest.raises(Stopped):
            train_run(runs["stopped"], stop=StopAfter(3), log=quiet)  # 6 steps an epoch: stop inside epoch 1
        ckpt = load_checkpoint(runs["stopped"])
        assert (ckpt["epoch"], ckpt["step_in_epoch"]) == (0, 4)
        assert not (runs["stopped"] / "result.json").exists()
        if ON_GPU:
            assert "cuda" in ckpt["rng"]  # the CUDA generator state travels with the checkpoint
        train_run(runs["stopped"], log=quiet)
        assert_ran_on_device(read_result(runs["stopped"]))
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])

    a, b = _weights(runs["straight"]), _weights(runs["stopped"])
    diff = _max_abs_diff(a, b)
    ma = [{k: m.get(k) for k in OUTCOME} for m in assert_finite_metrics(runs["straight"], 2)]
    mb = [{k: m.get(k) for k in OUTCOME} for m in assert_finite_metrics(runs["stopped"], 2)]
    print(f"[{DEVICE}] deterministic={deterministic}: max |w_uninterrupted - w_resumed| = {diff:.3e}; "
          f"final val loss {ma[-1]['val_loss']:.6f} vs {mb[-1]['val_loss']:.6f}")
    if deterministic:
        different = [k for k in a if not torch.equal(a[k], b[k])]
        assert not different, f"resumed weights differ in {len(different)} tensors (max abs diff {diff:.3e})"
        assert ma == mb
    else:
        assert math.isfinite(diff)


# ---------------------------------------------------------------- (c) the env (torchrun-style) launch path

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(run_dir: Path, world_size: int, timeout: float = 300, **extra_env: str) -> list[dict]:
    """Start `world_size` ranks as torchrun would (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_*); their reports."""
    port = _free_port()
    procs = []
    for rank in range(world_size):
        env = dict(os.environ, **extra_env, RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                   LOCAL_WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen([sys.executable, "-c", DDP_PROBE, str(run_dir)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0] * world_size, outs
    reports = []
    for out, _err in outs:
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        assert lines, out
        reports.append(json.loads(lines[-1][len("RESULT "):]))
    return reports


def test_an_env_launched_single_rank_job_runs_on_the_device(tmp_path):
    """WORLD_SIZE=1 through the same env launch as a multi-GPU job (torchrun --nproc_per_node=1).

    The engine takes a world size of 1 as a plain single-process run: it initialises no process group
    and does not wrap the model in DDP (unless RESNEXT_BENCH_DDP=1, which
    test_ddp_over_the_process_group_backend uses on a one-GPU machine).
    """
    run_dir = make_run(tmp_path, "env1", epochs=1, train_limit=128)
    (report,) = _launch(run_dir, 1)
    assert_ran_on_device(read_result(run_dir))
    assert_finite_metrics(run_dir, 1)
    seen = report
    assert (seen["backend"], seen["ddp"]) == (None, False), seen
    print(f"[{DEVICE}] WORLD_SIZE=1 env launch: process group initialised: {seen['backend']}, "
          f"DDP wrapper: {seen['ddp']} (a plain run at world size 1)")


def _ddp_world_size() -> int:
    return 2 if not ON_GPU else min(torch.cuda.device_count(), 2)


def test_ddp_over_the_process_group_backend(tmp_path):
    """Two ranks through the env launch: NCCL on GPUs (gloo in the CPU rehearsal), one result. NCCL cannot
    put two ranks on one GPU, so a one-GPU machine runs one rank with RESNEXT_BENCH_DDP=1: the same process
    group and DDP path as each rank of a multi-GPU job."""
    world = _ddp_world_size()
    run_dir = make_run(tmp_path, "ddp", epochs=1, train_limit=256)
    reports = _launch(run_dir, world, **({"RESNEXT_BENCH_DDP": "1"} if world == 1 else {}))
    backend = "nccl" if ON_GPU else "gloo"
    for r in reports:
        assert (r["backend"], r["ddp"]) == (backend, True), r
    assert_ran_on_device(read_result(run_dir), world_size=world)
    assert_finite_metrics(run_dir, 1)
    print(f"[{DEVICE}] DDP x{world} over {backend}: completed")
