"""A sweep: a list of run ids with its ablation and its own outputs; the one place its layout is spelled.

    SWEEP/sweep.json      the ablation's name and source, the store, and one entry a run the sweep
                          lists: {run_id, configuration, ablation, study, space, seed} (the labels are
                          this sweep's: the same run may carry other labels in another sweep)
    SWEEP/ablation.yaml   the ablation file as it was at the latest launch
    SWEEP/runs/RUN_ID     a link to the run's folder in the store (or, in a sweep made before the
                          store, the run folder itself)
    SWEEP/code/HASH       the code snapshot its jobs import
    SWEEP/submitit/       the scheduler's job folders and logs
    SWEEP/report_job.json the job that writes the sweep's report when its runs end (`launch --report`):
                          {job_id, executor, out, depends_on, submitted_at, folder}
    SWEEP/.launch.lock    held by the one launch that owns the sweep while it plans and submits
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator, Optional

from .. import fsutil
from ..errors import UserError, printable
from .locks import HeldLock, holder_of, live_holder
from .runfolder import RunRecord, read_run

SWEEP_FILE = "sweep.json"
ABLATION_FILE = "ablation.yaml"
RUNS = "runs"
CODE = "code"
SUBMITIT = "submitit"
LAUNCH_LOCK = ".launch.lock"
REPORT_JOB = "report_job.json"
LABELS = ("configuration", "ablation", "study", "space", "seed")  # a sweep entry's fields besides run_id


def runs_dir(sweep: Path) -> Path:
    return Path(sweep) / RUNS


def run_entry(sweep: Path, run_id: str) -> Path:
    """Where the sweep lists run `run_id` (a link into the store, or a folder of an old sweep)."""
    return runs_dir(sweep) / run_id


def code_root(sweep: Path) -> Path:
    return Path(sweep) / CODE


def submitit_dir(sweep: Path) -> Path:
    return Path(sweep) / SUBMITIT


def read_sweep(sweep: Path) -> dict:
    """sweep.json as a mapping ({} when absent or unreadable: a sweep made before it existed)."""
    try:
        data = json.loads((Path(sweep) / SWEEP_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def entries(sweep: Path) -> dict[str, list[dict]]:
    """run id -> the sweep's entries for it (one a membership: a model sampled in two spaces has two)."""
    out: dict[str, list[dict]] = {}
    for entry in read_sweep(sweep).get("runs") or []:
        if isinstance(entry, dict) and isinstance(entry.get("run_id"), str):
            out.setdefault(entry["run_id"], []).append(entry)
    return out


def write_sweep(sweep: Path, name: str, source: Optional[Path], store: Path, runs: list) -> None:
    """Record the sweep's runs (this launch's, after runs only earlier launches listed) and its ablation file."""
    sweep = Path(sweep)
    listed = [e for es in entries(sweep).values() for e in es]
    mine = [{"run_id": r.run_id, **{k: getattr(r, k) for k in LABELS}} for r in runs]
    ids = {e["run_id"] for e in mine}
    kept = [e for e in listed if e["run_id"] not in ids]  # this launch's labels replace a run's older ones
    data = {"ablation": name, "source": str(source) if source else None, "store": str(Path(store).resolve()),
            "runs": kept + mine}
    fsutil.write_json(sweep / SWEEP_FILE, data)
    if source is not None and Path(source).is_file():
        fsutil.write_text(sweep / ABLATION_FILE, Path(source).read_text())


def read_report_job(sweep: Path) -> Optional[dict]:
    """The sweep's report job (`launch --report`) as recorded, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((Path(sweep) / REPORT_JOB).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("job_id"), str) else None


def write_report_job(sweep: Path, record: dict) -> None:
    """Record the sweep's report job (replacing the one recorded before)."""
    fsutil.write_json(Path(sweep) / REPORT_JOB, record)


class SweepBusy(UserError):
    """Another launch owns the sweep."""


def launch_lock(sweep: Path) -> HeldLock:
    """The lock a launch holds on its sweep; entering it raises SweepBusy when another launch holds it."""
    return _SweepLock(Path(sweep) / LAUNCH_LOCK)


def launch_holder(sweep: Path) -> Optional[str]:
    """Who launches the sweep now ("host H, pid P, since T"), or None; reads, never takes, the lock."""
    return live_holder(Path(sweep) / LAUNCH_LOCK)


def busy_message(sweep: Path, holder: str) -> str:
    return f"sweep {sweep} is being launched by {holder}; wait for that launch to end"


class _SweepLock(HeldLock):
    def __enter__(self) -> "HeldLock":
        try:
            return super().__enter__()
        except BlockingIOError:
            raise SweepBusy(busy_message(self.path.parent, holder_of(self.path))) from None


# ---------------------------------------------------------------- listing a sweep

def run_dirs(sweep: Path, skipped: Optional[list] = None) -> list[Path]:
    """The run folders of one sweep, sorted by name; a missing sweep is a UserError.

    Entries that are not folders, or whose names are not valid UTF-8, are reported in `skipped`.
    """
    sweep = Path(sweep)
    skipped = [] if skipped is None else skipped
    if not sweep.is_dir():
        raise UserError(f"sweep {printable(sweep)}: no such directory")
    runs = runs_dir(sweep)
    if not runs.is_dir():
        raise UserError(f"sweep {printable(sweep)}: no runs/ folder (is it a sweep directory?)")
    found = []
    try:
        entries = list(os.scandir(runs))
    except OSError as e:
        raise UserError(f"sweep {printable(sweep)}: cannot list runs/ ({e.strerror or e})") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            entry.name.encode("utf-8")
        except UnicodeEncodeError:
            skipped.append((repr(os.fsencode(entry.path))[2:-1], "folder name is not valid UTF-8; skipped"))
            continue
        try:
            is_dir, why = entry.is_dir(), "not a folder"
        except OSError as e:
            is_dir, why = False, f"cannot be followed ({e.strerror or type(e).__name__})"
        if not is_dir and entry.is_symlink():
            why = "a link that cannot be followed (a loop or a missing target)"
        if is_dir:
            found.append(Path(entry.path))
        else:
            skipped.append((entry.path, f"{why}; skipped"))
    return sorted(found)


def iter_records(sweep: Path, skipped: list) -> Iterator[RunRecord]:
    """read_run over every run folder of a sweep (listing problems go to `skipped`)."""
    for run_dir in run_dirs(sweep, skipped):
        record = read_run(run_dir)
        skipped.extend(record.skipped)
        yield record
