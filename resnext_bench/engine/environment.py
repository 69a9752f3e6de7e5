"""What a run executes on: device choice, distributed rank, and the provenance recorded with results."""
from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ..errors import UserError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "Dist":
        """Rank and world size as torchrun or submitit's TorchDistributedEnvironment export them."""
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def all_reduce(values: list[float], dist: Dist, device) -> list[float]:
    """Sum `values` over ranks (identity on one process)."""
    if dist.world_size == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return t.tolist()


def device_for(runtime, dist: Dist) -> torch.device:
    if runtime.device == "cpu" or (runtime.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError("runtime.device is cuda but no CUDA device is visible")
    torch.cuda.set_device(dist.local_rank)
    return torch.device("cuda", dist.local_rank)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what platform knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def device_name(device: torch.device) -> str:
    """The GPU's name, or "cpu (MODEL)": the hardware that can move a result's last digits."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({cpu_model()})"


def git_commit() -> Optional[str]:
    """The commit of the code that ran: set by the launcher for snapshots, else asked of git."""
    if os.environ.get("RESNEXT_BENCH_GIT_COMMIT"):
        return os.environ["RESNEXT_BENCH_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict:
    """Library versions that can change the numbers."""
    import torchvision

    try:
        import timm
        timm_version = timm.__version__
    except ImportError:  # pragma: no cover - timm is a dependency
        timm_version = None
    out = {"torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm_version,
           "python": platform.python_version()}
    if torch.cuda.is_available():
        out["cuda"] = torch.version.cuda
        out["cudnn"] = str(torch.backends.cudnn.version())
    return out
