"""Atomic checkpoints that load with torch.load(weights_only=True); the last two are kept.

A checkpoint holds everything needed to continue a run bit for bit: model, optimizer, scaler,
schedule position, RNG states, epoch, step within the epoch, the partial epoch's sums, and the
metrics of every finished epoch (so a damaged metrics file is rebuilt on resume).

Saving writes the new file beside the old one, then moves the latest to checkpoint.prev.pt and
the new one into place; a kill at any moment leaves at least one complete checkpoint. Loading
tries the latest, then the previous one, and says which it used.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ..errors import UserError
from ..fsutil import atomic_write
from ..record.runfolder import checkpoint_paths

REQUIRED = ("model", "optimizer", "scaler", "rng", "epoch", "step_in_epoch", "global_step", "sums", "run_id")


def rng_state(device: torch.device) -> dict:
    """The generators this process draws from: CPU, Python, and its own GPU's (no other GPU's).

    A rank drives one GPU; storing every visible GPU's state and restoring it by index would hand
    a resumed rank the generator of whichever GPU had that index when the checkpoint was written.
    """
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Restore `rng_state`'s generators; the CUDA one onto this process's own GPU.

    Checkpoints of earlier versions hold a list (every visible GPU's state): their CUDA generator is
    not restored, since which entry was this rank's cannot be known.
    """
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    if device.type == "cuda" and isinstance(state.get("cuda"), torch.Tensor):
        torch.cuda.set_rng_state(state["cuda"], device)


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_checkpoint(run_dir: Path, state: dict) -> Path:
    """Write `state` as the latest checkpoint; the one it replaces becomes the previous one."""
    latest, previous = checkpoint_paths(run_dir)
    atomic_write(latest, lambda f: torch.save(state, f), keep_previous=previous)
    return latest


@dataclass(frozen=True)
class Loaded:
    state: dict
    path: Path
    fallback: Optional[str] = None  # why the latest checkpoint was not used, when it was not


def _load_one(path: Path, map_location) -> dict:
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"holds a {type(state).__name__}, not a checkpoint")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise ValueError(f"lacks {', '.join(missing)}")
    return state


def _why(e: BaseException) -> str:
    """The damage in whole words: torch's weights-only refusal by its one informative line (not its
    advice to re-run with weights_only=False), anything else by its first sentence."""
    text = str(e).strip()
    head, marker, detail = text.partition("WeightsUnpickler error:")
    if marker:
        lines = [line.strip() for line in detail.splitlines() if line.strip()]
        return f"{type(e).__name__}: not a weights-only checkpoint ({lines[0] if lines else 'refused'})"
    sentence = re.split(r"(?<=[.!?])\s", " ".join(text.split()), maxsplit=1)[0]
    if len(sentence) > 200:  # no sentence end in sight: cut between words, and say so
        sentence = sentence[:200].rsplit(" ", 1)[0] + " ..."
    return f"{type(e).__name__}: {sentence}" if sentence else type(e).__name__


def load_checkpoint(run_dir: Path, map_location="cpu") -> Optional[Loaded]:
    """The newest checkpoint that loads, or None when the run has none.

    A damaged latest file falls back to the previous one (`Loaded.fallback` says why); when no
    file loads, a UserError names each file and its damage.
    """
    damaged = []
    for path in checkpoint_paths(run_dir):
        if not path.exists():
            continue
        try:
            state = _load_one(path, map_location)
        except Exception as e:  # truncated zip, bad pickle, wrong contents: all mean "damaged"
            damaged.append(f"{path.name} is damaged ({_why(e)})")
            continue
        return Loaded(state, path, "; ".join(damaged) + f"; resumed from {path.name}" if damaged else None)
    if damaged:
        raise DamagedCheckpoint(f"{Path(run_dir)}: cannot resume: {'; '.join(damaged)}. Remove the checkpoint "
                                "files to restart the run from scratch")
    return None


class DamagedCheckpoint(UserError):
    """No checkpoint of the run loads."""


def final_weights(run_dir: Path, epochs: int, run_ids: tuple[str, ...], map_location="cpu") -> tuple[dict, int]:
    """(model state_dict, epoch) of the run's final checkpoint: the one written at the end of epoch
    `epochs`, of one of `run_ids`. A UserError says why there is none (unfinished, damaged, another run's)."""
    loaded = load_checkpoint(run_dir, map_location)
    if loaded is None:
        raise UserError(f"{Path(run_dir)}: no checkpoint; the run has not trained")
    state = loaded.state
    if state.get("run_id") not in run_ids:
        raise UserError(f"{loaded.path} belongs to run {state.get('run_id')}, not {run_ids[0]}")
    if state["epoch"] != epochs or state["step_in_epoch"] != 0:
        why = f" ({loaded.fallback})" if loaded.fallback else ""
        raise UserError(f"{loaded.path}: written at epoch {state['epoch']} step {state['step_in_epoch']}, not at the "
                        f"end of epoch {epochs}{why}: no final checkpoint to evaluate")
    return state["model"], int(state["epoch"])
