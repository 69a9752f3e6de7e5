"""Atomic checkpoints that load with torch.load(weights_only=True).

A checkpoint holds everything needed to continue a run bit for bit: model, optimizer, scaler,
schedule position, RNG states, epoch, step within the epoch, and the partial epoch's sums.
"""
from __future__ import annotations

import random
from pathlib import Path

import torch

from ..fsutil import atomic_write

CHECKPOINT = "checkpoint.pt"


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_checkpoint(run_dir: Path, state: dict) -> Path:
    """Write `state` to run_dir/checkpoint.pt atomically (temporary file, fsync, rename)."""
    path = Path(run_dir) / CHECKPOINT
    atomic_write(path, lambda f: torch.save(state, f))
    return path


def load_checkpoint(run_dir: Path, map_location="cpu") -> dict | None:
    """The run's checkpoint, or None when it has none. Only tensors and plain data are unpickled."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    return torch.load(path, map_location=map_location, weights_only=True)


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete temporary files left by a process killed while writing (the real files are intact)."""
    stale = list(Path(run_dir).glob(".*.tmp"))
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
