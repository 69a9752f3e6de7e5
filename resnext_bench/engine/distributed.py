"""Distributed data parallel: who this process is, which device it drives, and the process group it joins.

torchrun and submitit's TorchDistributedEnvironment (a Slurm job of several tasks, on one node or
many) export the same variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so one
code path serves both. A run joins a process group and wraps its model in DDP when its world size
is above 1, or when RESNEXT_BENCH_DDP=1 asks for it at world size 1: one GPU (or one CPU process)
then runs exactly what each rank of a multi-GPU job runs.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch

from ..errors import UserError

FORCE_DDP = "RESNEXT_BENCH_DDP"  # "1": a process group and DDP even at world size 1


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    ddp: bool = False  # joins a process group and wraps the model in DDP

    @property
    def main(self) -> bool:
        """The global rank 0: the only process that writes the run folder."""
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "Dist":
        """Rank and world size as torchrun or submitit's TorchDistributedEnvironment export them."""
        env = os.environ
        world_size = int(env.get("WORLD_SIZE", 1))
        forced = env.get(FORCE_DDP, "")
        if forced not in ("", "0", "1"):
            raise UserError(f"{FORCE_DDP}: expected 0 or 1, got {forced!r}")
        return cls(int(env.get("RANK", 0)), world_size, int(env.get("LOCAL_RANK", 0)),
                   ddp=world_size > 1 or forced == "1")


def all_reduce(values: list[float], dist: Dist, device) -> list[float]:
    """Sum `values` over ranks (identity without a process group)."""
    if not dist.ddp:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return t.tolist()


def device_for(runtime, dist: Dist) -> torch.device:
    """The device this rank trains on (its LOCAL_RANK-th GPU), made current before any CUDA work."""
    if runtime.device == "cpu" or (runtime.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError("runtime.device is cuda but no CUDA device is visible")
    if dist.local_rank >= torch.cuda.device_count():
        raise UserError(f"LOCAL_RANK {dist.local_rank} but only {torch.cuda.device_count()} CUDA devices are "
                        "visible: one task per GPU (tasks_per_node = gpus_per_node)")
    torch.cuda.set_device(dist.local_rank)
    return torch.device("cuda", dist.local_rank)


def join_process_group(dist: Dist, device: torch.device) -> bool:
    """Join the job's process group on `device` (NCCL on a GPU, gloo on the CPU); True when this call
    created it (and so must destroy it), False without DDP or when the caller already holds one.

    The device must be current first (device_for): NCCL binds each rank to its GPU through
    `device_id`, which otherwise defaults to GPU 0 on every rank of a node.
    """
    if not dist.ddp or torch.distributed.is_initialized():
        return False
    if dist.world_size == 1:  # a lone rank (RESNEXT_BENCH_DDP=1) needs no launcher to find its peers
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
    kwargs = {"device_id": device} if device.type == "cuda" else {}
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=dist.rank,
                                         world_size=dist.world_size, **kwargs)
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrap_model(model: torch.nn.Module, dist: Dist, device: torch.device) -> torch.nn.Module:
    """The module the loop calls: DDP over the process group, or the model itself."""
    if not dist.ddp:
        return model
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
