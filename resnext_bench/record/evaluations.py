"""RUN/evaluations.json: a finished run's weights evaluated after training, one entry a view.

A view is (crop, resize, split): "resize the short side to `resize`, take the central crop x crop"
of the `split` images. The file is a JSON list of entries (`Evaluation`), at most one a view:
evaluating a view again replaces its entry. It is rewritten atomically under RUN/.evaluations.lock,
so two evaluations of one run never lose each other's entry, and an entry the reader cannot use is
kept as it is (never dropped by a rewrite). `read_evaluations` never raises: damage is reported as
(path, reason) like every reader of the run folder.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .. import fsutil
from ..errors import UserError
from .locks import HeldLock
from .runfolder import _json, _read_text
from .schema import _typed

EVALUATIONS = "evaluations.json"
EVALUATIONS_LOCK = ".evaluations.lock"
EVALUATION_VERSION = 1
SPLIT = "val"  # the held-out split a run is scored on (CIFAR's test set is its "val")


def default_resize(crop: int) -> int:
    """The short side before the center crop by the usual ratio, 256 for 224 (crop / 0.875)."""
    return round(crop * 256 / 224)


@dataclass(frozen=True)
class Evaluation:
    """One view of a run's final weights: errors (%), how many images, and what computed them."""

    crop: int
    resize: int
    split: str
    top1_err: float
    top5_err: float
    images: int
    checkpoint_epoch: int
    loss: Optional[float] = None
    skipped_images: Optional[int] = None  # unreadable files left out of `images`
    run_id: Optional[str] = None
    batch_size: Optional[int] = None
    device: Optional[str] = None
    precision: Optional[str] = None
    data_loader: Optional[str] = None
    code_version: Optional[str] = None  # the git commit of the code that evaluated
    package_version: Optional[str] = None
    evaluated_at: Optional[str] = None
    seconds: Optional[float] = None
    schema_version: int = EVALUATION_VERSION

    @property
    def key(self) -> tuple[int, int, str]:
        return self.crop, self.resize, self.split

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


REQUIRED = ("crop", "resize", "split", "top1_err", "top5_err", "images", "checkpoint_epoch")


def _entries(run_dir: Path, skipped: list) -> Optional[list]:
    """The file's raw list ([] when absent); None (and a skipped entry) when it is damaged."""
    path = Path(run_dir) / EVALUATIONS
    n = len(skipped)
    text = _read_text(path, skipped)
    if text is None:
        return None if len(skipped) > n else []
    data, why = _json(text) if text.strip() else (None, "empty file")
    if why is None and not isinstance(data, list):
        why = f"not a JSON list (got {type(data).__name__})"
    if why:
        skipped.append((str(path), why))
        return None
    return data


def read_evaluations(run_dir: Path, skipped: list) -> list[Evaluation]:
    """The usable entries, one a view (a later entry of the same view wins), sorted by view."""
    entries = _entries(run_dir, skipped) or []
    where = str(Path(run_dir) / EVALUATIONS)
    found: dict[tuple, Evaluation] = {}
    for i, entry in enumerate(entries):
        at = f"entry {i}: "
        if not isinstance(entry, dict):
            skipped.append((where, at + "not a JSON object"))
            continue
        evaluation = _typed(Evaluation, entry, where, skipped, required=REQUIRED, prefix=at)
        if evaluation is not None:
            found[evaluation.key] = evaluation
    return [found[k] for k in sorted(found)]


def check_writable(run_dir: Path) -> None:
    """Raise a UserError when evaluations.json exists but cannot be read (a rewrite would lose it)."""
    skipped: list = []
    if _entries(run_dir, skipped) is None:
        path, why = skipped[-1]
        raise UserError(f"{path}: {why}; move it away to record new evaluations (nothing was evaluated)")


def _same_view(entry, evaluation: Evaluation) -> bool:
    return isinstance(entry, dict) and (entry.get("crop"), entry.get("resize"), entry.get("split")) == evaluation.key


def record_evaluation(run_dir: Path, evaluation: Evaluation) -> list[Evaluation]:
    """Add `evaluation`, replacing the entry of its view; every other entry is kept as it is."""
    with HeldLock(Path(run_dir) / EVALUATIONS_LOCK, wait_s=None):  # held for one small rewrite
        check_writable(run_dir)
        kept = [e for e in _entries(run_dir, []) if not _same_view(e, evaluation)]
        entries = kept + [evaluation.to_dict()]
        fsutil.write_text(Path(run_dir) / EVALUATIONS, json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return read_evaluations(run_dir, [])
