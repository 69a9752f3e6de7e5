"""The run store: one folder a run, keyed by run id, shared by every sweep on a file system.

    STORE/RUN_ID/         the run folder (config.yaml, metrics, checkpoints, result.json, job.json)
    STORE/RUN_ID/sweeps   the sweeps that list the run, one absolute path a line, the first its creator
    STORE/RUN_ID -> DIR   a link to a run folder made before the store, inside its old sweep
    STORE/.submit.lock    held while a launch decides and records which runs get a job

The store is `--store`, else $RESNEXT_BENCH_STORE, else `store/` beside the sweep folder
(sweeps/NAME -> sweeps/store). Sweeps that should share runs must name the same store.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .. import fsutil
from ..errors import UserError
from .locks import HeldLock, holder_of

STORE_ENV = "RESNEXT_BENCH_STORE"
DEFAULT_NAME = "store"
SWEEPS = "sweeps"
SUBMIT_LOCK = ".submit.lock"
SWEEPS_LOCK = ".sweeps.lock"
SUBMIT_WAIT_S = 600.0  # how long a launch waits for another launch's submission on the same store


def store_in(folder: Path, given: Optional[str | Path] = None) -> Path:
    """The store of the sweeps in `folder`: the flag's, the environment's, or `folder/store`."""
    chosen = given or os.environ.get(STORE_ENV)
    return (Path(chosen).expanduser() if chosen else Path(folder) / DEFAULT_NAME).resolve()


def store_for(sweep: Path, given: Optional[str | Path] = None) -> Path:
    """The store a sweep's runs live in: the flag's, the environment's, or `store/` beside the sweep."""
    store = store_in(Path(sweep).resolve().parent, given)
    if store == Path(sweep).resolve():
        raise UserError(f"store {store}: is the sweep folder itself; give the store another folder")
    return store


class Store:
    """Run folders by run id, and the sweeps that list each."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, run_id: str) -> Path:
        return self.root / run_id

    def has(self, run_id: str) -> bool:
        """The store holds the run (a folder, or a link to an old sweep's folder that still exists)."""
        return self.path(run_id).is_dir()

    def create(self, run_id: str) -> Path:
        """The run's folder in the store, made when absent."""
        path = self.path(run_id)
        if path.is_symlink() and not path.exists():
            raise UserError(f"{path}: links to {os.readlink(path)}, which is gone; remove the link to train the run anew")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def adopt(self, run_id: str, folder: Path) -> None:
        """List an old sweep's run folder under its run id of today (a link: the folder stays where its jobs know it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        link = self.path(run_id)
        if not link.exists() and not link.is_symlink():
            os.symlink(Path(folder).resolve(), link)

    def sweeps_of(self, run_id: str) -> list[str]:
        """The sweeps that list the run, its creator first ([] when none is recorded)."""
        return sweeps_listing(self.path(run_id))

    def add_sweep(self, run_id: str, sweep: Path) -> None:
        """Record that `sweep` lists the run (once)."""
        name = str(Path(sweep).resolve())
        with HeldLock(self.path(run_id) / SWEEPS_LOCK, wait_s=30):
            if name not in self.sweeps_of(run_id):
                fsutil.append_line(self.path(run_id) / SWEEPS, name)

    def submit_lock(self) -> HeldLock:
        """Held while one launch decides and records submissions (waits for another launch's, then fails)."""
        return _SubmitLock(self.root / SUBMIT_LOCK, wait_s=SUBMIT_WAIT_S)


class _SubmitLock(HeldLock):
    def __enter__(self) -> HeldLock:
        try:
            return super().__enter__()
        except BlockingIOError:
            raise UserError(f"store {self.path.parent}: another launch ({holder_of(self.path)}) has been submitting "
                            f"for {SUBMIT_WAIT_S:.0f} s; try again when it ends") from None


def sweeps_listing(run_dir: Path) -> list[str]:
    """The sweeps a run folder records as listing it, its creator first ([] when none is recorded)."""
    try:
        text = (Path(run_dir) / SWEEPS).read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()]


def link_into(sweep_entry: Path, target: Path) -> None:
    """Make the sweep's entry a relative link to the store's folder (replacing a dangling link)."""
    entry = Path(sweep_entry)
    if entry.is_symlink() and not entry.exists():
        entry.unlink()
    if entry.exists():
        return
    entry.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(Path(target).resolve(), entry.parent.resolve()), entry)
