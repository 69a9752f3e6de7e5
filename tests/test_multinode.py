"""Runs that span tasks and nodes: profiles of nodes x GPUs, arrays split by resources, the DDP path at
any world size, each rank's own GPU generator, and a 2-task job preempted on the real Slurm that ends
where the same run under torchrun ends.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support.ddp import DDP_PROBE
from support.slurm import fake_gpu_partition, job_fields, release_requeued, require_slurm, slurm_diagnosis
from support.polling import wait_until
from support.training import assert_same_outcome, make_run, quiet

from resnext_bench.cli import main
from resnext_bench.cluster.profile import Profile, load_profile
from resnext_bench.cluster.submit import _executor, plan_arrays
from resnext_bench.config.runs import resolve_runs
from resnext_bench.config.load import load_ablation
from resnext_bench.record import runfolder, schema
from resnext_bench.engine.checkpoint import rng_state, set_rng_state
from resnext_bench.engine.train import train_run
from resnext_bench.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------- profiles: nodes x GPUs

def test_gpus_per_run_still_means_one_node_of_that_many_gpus(tmp_path):
    old = load_profile(profile(tmp_path, "executor: slurm\ngpus_per_run: 8\n"))
    new = load_profile(profile(tmp_path, "executor: slurm\nnodes: 1\ngpus_per_node: 8\n"))
    assert (old.nodes, old.gpus_per_node, old.tasks_per_node, old.gpus_per_run) == (1, 8, 8, 8)
    assert old.resources == new.resources
    two = load_profile(profile(tmp_path, "executor: slurm\nnodes: 2\ngpus_per_node: 4\n"))
    assert (two.gpus_per_run, two.tasks_per_node) == (8, 4)
    cpu = load_profile(profile(tmp_path, "executor: slurm\ntasks_per_node: 2\n"))
    assert (cpu.gpus_per_node, cpu.tasks_per_node, cpu.gpus_per_run) == (0, 2, 0)  # two gloo processes


@pytest.mark.parametrize("text, message", [
    ("executor: slurm\nnodes: 2\ngpus_per_run: 8\n", "gpus_per_run is one node's GPUs; with nodes: 2 give gpus_per_node"),
    ("executor: slurm\ngpus_per_run: 8\ngpus_per_node: 4\n", "gpus_per_run (8) is not nodes x gpus_per_node (1 x 4)"),
    ("executor: slurm\ngpus_per_node: 4\ntasks_per_node: 2\n", "tasks_per_node (2) must equal gpus_per_node (4)"),
    ("executor: slurm\nnodes: 0\n", "nodes: expected an integer >= 1"),
    ("executor: local\nnodes: 2\n", "nodes: 2 needs executor slurm"),
    ("executor: debug\ntasks_per_node: 2\n", "executor debug trains in this process: one task, not 2"),
    ("executor: slurm\noverrides: [{configurations: ['a*']}]\n", "sets none of nodes"),
    ("executor: slurm\noverrides: [{configurations: ['a*'], gpus: 4}]\n", "gpus: unknown key"),
    ("executor: slurm\ngpus_per_node: 4\noverrides: [{configurations: ['a*'], tasks_per_node: 3}]\n",
     "overrides for ['a*']: tasks_per_node (3) must equal gpus_per_node (4)"),
])
def test_a_bad_multinode_profile_is_one_line_and_exit_2(tmp_path, text, message):
    bad = profile(tmp_path, text)
    grid = ROOT / "ablations" / "table4_2x_complexity.yaml"
    proc = subprocess.run([sys.executable, "-m", "resnext_bench.cli", "launch", str(grid), "--cluster", str(bad),
                           "--sweep-dir", str(tmp_path / "s"), "--dry-run"], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(bad) in lines[0], proc.stderr
    assert not (tmp_path / "s").exists()


def test_a_multinode_job_asks_slurm_for_nodes_tasks_and_gpus(tmp_path, monkeypatch):
    import submitit

    # SlurmExecutor refuses to be built where srun is missing; its sbatch options are all this reads.
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 1))
    prof = load_profile(ROOT / "slurm" / "multinode.example.yaml")
    params = _executor(prof, tmp_path, "t4", None, None).parameters
    assert (params["nodes"], params["ntasks_per_node"], params["gpus_per_node"]) == (2, 4, 4)
    assert params["cpus_per_task"] == 10 and params["time"] == 2880
    cpu = Profile(executor="slurm", tasks_per_node=2)
    params = _executor(cpu, tmp_path, "cpu", None, None).parameters
    assert (params["nodes"], params["ntasks_per_node"]) == (1, 2) and "gpus_per_node" not in params


def test_configurations_that_need_other_resources_go_to_separate_arrays():
    prof = load_profile(ROOT / "slurm" / "multinode.example.yaml")
    runs = resolve_runs(load_ablation(ROOT / "ablations" / "table4_2x_complexity.yaml"))
    arrays = plan_arrays(runs, [r.run_id for r in runs], prof, limit=3)
    by_id = {r.run_id: r.configuration for r in runs}
    shapes = [(res.nodes, res.gpus_per_node, res.timeout_min, sorted(by_id[job[0]] for job in jobs))
              for res, jobs in arrays]
    assert shapes == [
        (2, 4, 2880, ["resnet101_1x64d", "resnext101_32x4d"]),  # the 1x-complexity models: the profile's own
        (4, 4, 4320, ["resnet101_1x100d", "resnet200_1x64d", "resnext101_2x64d"]),  # 2x: the override's, 3 a time
        (4, 4, 4320, ["resnext101_64x4d"]),  # ...and the rest: MaxArraySize 3 splits within one set of resources
    ]


def test_the_dry_run_shows_nodes_x_gpus_and_the_gpu_hours(tmp_path, capsys, monkeypatch):
    fake_gpu_partition(tmp_path / "bin", monkeypatch)  # the profile's partition, here too
    assert main(["launch", str(ROOT / "ablations" / "table4_2x_complexity.yaml"), "--cluster",
                 str(ROOT / "slurm" / "multinode.example.yaml"), "--sweep-dir", str(tmp_path / "s"),
                 "--dry-run", "--throughput", "1000"]) == 0
    out = capsys.readouterr().out
    assert "arrays: 2 " in out and "of sizes [2, 4]" in out
    assert "2 runs of resnet101_1x64d, resnext101_32x4d: 2 nodes x 4 GPUs, 40 CPUs and 240 GB a node, 2880 min" in out
    assert ": 4 nodes x 4 GPUs, 40 CPUs and 240 GB a node, 4320 min" in out
    # 6 runs x 100 epochs x 1,281,167 images at 1,000 images/s per GPU = 213.53 GPU-hours, 2 + 4 runs of it
    assert "estimate: 213.53 GPU-hours for 6 runs" in out
    assert "2 x 4 GPUs: 71.18 GPU-hours, wall time per run on 8 GPUs: up to 4.45 h" in out
    assert "4 x 4 GPUs: 142.35 GPU-hours, wall time per run on 16 GPUs: up to 2.22 h" in out
    assert not (tmp_path / "s").exists()


def test_the_local_executor_runs_a_two_task_run_as_two_ranks(tmp_path):
    from support.ablations import tiny_ablation

    from resnext_bench.cluster.status import sweep_status

    grid = tiny_ablation(tmp_path, "local2", epochs=1, train_limit=256)
    prof = profile(tmp_path, (ROOT / "slurm" / "workstation.yaml").read_text() + "tasks_per_node: 2\n")
    sweep = tmp_path / "sweep"
    assert main(["launch", str(grid), "--cluster", str(prof), "--sweep-dir", str(sweep)]) == 0
    wait_until(lambda: all(r["state"] not in schema.LIVE for r in sweep_status(sweep)), "the local job",
               timeout=300, interval=0.5)
    (run_dir,) = (sweep / "runs").iterdir()
    result = runfolder.result_of(run_dir) or {}
    assert result.get("status") == "completed" and result["world_size"] == 2, result
    assert len(runfolder.epochs_of(run_dir)) == 1  # one writer: rank 0


# ---------------------------------------------------------------- the engine: one DDP path at every world size

def _probe(run_dir: Path, **env) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                             "MASTER_PORT", "RESNEXT_BENCH_DDP")}
    proc = subprocess.run([sys.executable, "-c", DDP_PROBE, str(run_dir)], env={**clean, **env}, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads([x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1][len("RESULT "):])


def test_resnext_bench_ddp_runs_world_size_1_through_the_process_group_and_changes_nothing(tmp_path):
    cpu = {"CUDA_VISIBLE_DEVICES": ""}  # gloo on the CPU, also on a machine with a GPU
    plain = make_run(tmp_path, "plain")
    assert _probe(plain, **cpu) == {"backend": None, "device_id": None, "current_at_init": None, "ddp": False}
    ddp = make_run(tmp_path, "ddp1")
    seen = _probe(ddp, RESNEXT_BENCH_DDP="1", **cpu)
    assert seen["backend"] == "gloo" and seen["ddp"] and seen["device_id"] is None  # the CPU: gloo, no device
    result = runfolder.result_of(ddp)
    assert result["world_size"] == 1 and result["status"] == "completed"
    assert_same_outcome(plain, ddp)  # one rank through DDP trains exactly what one process trains


def test_a_bad_ddp_switch_is_refused(tmp_path, monkeypatch):
    run_dir = make_run(tmp_path, "switch")
    monkeypatch.setenv("RESNEXT_BENCH_DDP", "yes")
    with pytest.raises(UserError, match="RESNEXT_BENCH_DDP: expected 0 or 1"):
        train_run(run_dir, log=quiet)
    assert not (run_dir / runfolder.CHECKPOINT).exists()


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.cuda
@cuda
def test_on_a_gpu_the_device_is_current_before_nccl_binds_to_it(tmp_path):
    run_dir = make_run(tmp_path, "nccl1")
    seen = _probe(run_dir, RESNEXT_BENCH_DDP="1")
    assert seen == {"backend": "nccl", "device_id": "cuda:0", "current_at_init": 0, "ddp": True}
    result = runfolder.result_of(run_dir)
    assert result["status"] == "completed" and result["num_gpus"] == 1 and result["world_size"] == 1


def test_each_rank_resumes_its_own_partial_sums_and_other_world_sizes_count_them_once():
    from types import SimpleNamespace

    from resnext_bench.engine.distributed import Dist
    from resnext_bench.engine.sums import EpochSums
    from resnext_bench.engine.train import Trainer

    rows = [dict(loss=1.5, correct=3.0, seen=4.0, seconds=0.5, data_seconds=0.25),
            dict(loss=2.5, correct=1.0, seen=4.0, seconds=0.75, data_seconds=0.5)]
    ckpt = {"sums": rows[0], "rank_sums": rows}

    def restored(rank, world, checkpoint=ckpt):
        return Trainer._restored_sums(SimpleNamespace(dist=Dist(rank, world, rank, ddp=world > 1)), checkpoint)

    assert [restored(r, 2) for r in (0, 1)] == [EpochSums(**rows[0]), EpochSums(**rows[1])]
    # resumed on another world size: the totals go to rank 0, once
    total = EpochSums(loss=4.0, correct=4.0, seen=8.0, seconds=1.25, data_seconds=0.75)
    assert [restored(r, 4) for r in range(4)] == [total] + [EpochSums()] * 3
    assert restored(0, 1) == total
    older = {"sums": rows[0]}  # a checkpoint from before rank_sums: rank 0's alone, never counted twice
    assert [restored(r, 2, older) for r in (0, 1)] == [EpochSums(**rows[0]), EpochSums()]


def test_a_cpu_checkpoint_holds_no_gpu_generator():
    state = rng_state(torch.device("cpu"))
    assert set(state) == {"torch", "python"}


@pytest.mark.cuda
@cuda
def test_a_checkpoint_holds_and_restores_its_own_gpus_generator_only():
    device = torch.device("cuda", torch.cuda.device_count() - 1)  # not GPU 0 where there are several
    torch.cuda.set_device(device)
    torch.cuda.manual_seed(123)
    state = rng_state(device)
    assert isinstance(state["cuda"], torch.Tensor)  # one generator, not a list of every visible GPU's
    first = torch.rand(4, device=device)
    set_rng_state(state, device)
    assert torch.equal(torch.rand(4, device=device), first)


# ---------------------------------------------------------------- the real Slurm: a 2-task job, preempted

@pytest.mark.slurm
def test_more_nodes_than_the_partition_has_is_one_line_and_exit_2(tmp_path, capsys):
    require_slurm()
    local = (ROOT / "slurm" / "local.yaml").read_text()
    for text, says in ((local + "nodes: 2\n", "a run needs 2 nodes with 0 GPUs, 1 CPU and 2 GB each; "
                                              "the partition has 1 such node"),
                       (local + "overrides: [{configurations: ['*'], nodes: 3}]\n", "a run needs 3 nodes")):
        assert main(["launch", str(ROOT / "ablations" / "demo.yaml"), "--cluster", str(profile(tmp_path, text)),
                     "--sweep-dir", str(tmp_path / "s")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0], err
        assert not (tmp_path / "s").exists()


@pytest.mark.slurm
def test_a_preempted_two_task_job_requeues_whole_and_ends_like_torchrun(tmp_path):
    from resnext_bench.cluster.status import sweep_status
    from resnext_bench.engine.checkpoint import load_checkpoint

    require_slurm()
    # Two CPU tasks (gloo) on the one node: the local node has 2 CPUs, one a task.
    prof = profile(tmp_path, (ROOT / "slurm" / "local.yaml").read_text() + "tasks_per_node: 2\n")
    run_dir = make_run(tmp_path, "two", epochs=4, train_limit=1024)  # 32 steps an epoch of 16 images a rank
    sweep = tmp_path / "sweep"
    grid = tmp_path / "two.yaml"  # written by make_run
    assert main(["launch", str(grid), "--cluster", str(prof), "--sweep-dir", str(sweep)]) == 0
    (job_dir,) = (sweep / "runs").iterdir()
    assert job_dir.name == run_dir.name
    job_id = runfolder.read_job(job_dir).job_id
    wait_until(lambda: len(runfolder.epochs_of(job_dir)) >= 1, "the first epoch", timeout=300, interval=0.5)
    # what a cluster does on preemption or near the time limit: USR2 to every task of the job
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    wait_until(lambda: int(job_fields(job_id).get("Restarts", -1)) >= 1, "the whole job to be requeued", timeout=240, interval=0.5)
    logs = lambda: "".join(p.read_text() for p in sorted((sweep / "submitit").rglob("*_log.err")))  # noqa: E731
    first = logs()
    assert first.count("stopped (USR2") == 1, first[-3000:]  # rank 0 checkpointed, once
    assert "rank 1: stopped with rank 0 (USR2" in first  # rank 1 stopped at the same step and left the rest to rank 0
    assert "Traceback" not in first
    epoch, step = (load_checkpoint(job_dir).state[k] for k in ("epoch", "step_in_epoch"))
    assert epoch < 4 and step > 0, (epoch, step)  # mid-epoch: each rank's partial sums are in the checkpoint

    def released_and_settled():
        release_requeued(job_id)
        return all(r["state"] not in schema.LIVE for r in sweep_status(sweep))  # requeued and held are live too

    wait_until(released_and_settled, "the requeued job to finish", timeout=400, interval=0.5,
               context=lambda: slurm_diagnosis(job_id, sweep))
    result = runfolder.result_of(job_dir) or {}
    assert result.get("status") == "completed" and result["world_size"] == 2, logs()[-3000:] + slurm_diagnosis(job_id)
    assert f"x2, from epoch {epoch + 1} step {step}" in logs()  # the same job resumed at the checkpoint
    job = runfolder.read_job(job_dir)
    assert (job.job_id, job.attempts) == (job_id, 1)  # requeued, not resubmitted
    # The same run, uninterrupted, as 2 processes under torchrun.
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "resnext_bench.cli", "train", "--run-dir", str(run_dir)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert runfolder.result_of(run_dir)["world_size"] == 2
    assert_same_outcome(run_dir, job_dir)  # weights bit for bit, every epoch's metrics, the result
