"""What a run executed on: the hardware and versions recorded with results (distributed.py chooses the device)."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Optional

import torch


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
