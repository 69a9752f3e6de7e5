"""TensorBoard events for a run (runtime.tensorboard): a live view of metrics.jsonl, never the record.

Rank 0 writes RUN/events/ (runfolder.EVENTS), so `tensorboard --logdir SWEEP` shows a sweep with one
run per run folder: per epoch (global step = epoch number) the scalars of `SCALARS`, and once per
run its hyperparameters, as a SessionStartInfo of the HParams plugin (the HParams tab then lists
every run of the sweep with its C, d, recipe, ... and its final val errors) and as a text summary.

Each epoch is written once: a writer opened on resume starts at the first epoch the checkpoint
does not hold and marks the file with `purge_step` at that epoch, so TensorBoard drops any later
step an earlier attempt wrote (an epoch ended after the checkpoint it resumed from). A folder with
no event yet (TensorBoard just switched on for a resumed run) gets the checkpoint's epochs first.

Nothing here may fail a run: the first error (tensorboard not installed, a full disk, an events
path that is not a folder) logs one warning and turns the writer off for the rest of the attempt.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Optional

from ..config.runs import Run
from ..config.specs import BaselineSpec, to_dict
from ..record import runfolder, schema
from ..record.schema import Epoch

# Tag -> Epoch field. Tags share a prefix per chart group: loss/, top1_err/, top5_err/, speed/.
SCALARS = {
    "loss/train": "train_loss",
    "loss/val": "val_loss",
    "top1_err/train": "train_top1_err",
    "top1_err/val": "val_top1_err",
    "top5_err/val": "val_top5_err",
    "lr": "lr",
    "speed/images_per_sec": "images_per_sec",
    "speed/data_wait_pct": "data_wait_pct",
}
HPARAMS_TEXT_TAG = "hparams"
INSTALL_HINT = "pip install 'resnext-bench[tensorboard]'"


def events_dir(run_dir: Path) -> Path:
    return Path(run_dir) / runfolder.EVENTS


def _import_tensorboard():
    """(SummaryWriter, hparams summary builder); an ImportError when tensorboard is not installed."""
    from torch.utils.tensorboard import SummaryWriter  # needs the `tensorboard` package
    from torch.utils.tensorboard.summary import hparams

    return SummaryWriter, hparams


def hparams_of(run: Run) -> dict[str, Any]:
    """The run's hyperparameters as flat str/number values (what the HParams table shows)."""
    hp: dict[str, Any] = {"ablation": run.ablation, "configuration": run.configuration}
    if isinstance(run.model, BaselineSpec):
        hp["baseline"] = run.model.name
    else:
        hp.update(template=run.model.template, C=run.model.cardinality, d=run.model.bottleneck_width)
    hp["dataset"] = run.data.name
    for key, value in to_dict(run.recipe).items():
        hp[f"recipe.{key}"] = value
    hp.update(seed=run.seed, precision=run.runtime.precision, run_id=run.run_id)
    return {k: _hparam(v) for k, v in hp.items() if v is not None}


def _hparam(value: Any) -> Any:
    """A value the HParams plugin can hold: numbers and strings as they are, anything else as text."""
    if isinstance(value, bool):  # torch's hparams() would store a bool as the number 0/1
        return "true" if value else "false"
    return value if isinstance(value, (int, float, str)) else str(value)


def _has_events(folder: Path) -> bool:
    """Whether an earlier attempt left a non-empty event file in `folder`."""
    try:
        return any(p.name.startswith("events.out.tfevents.") and p.stat().st_size > 0 for p in folder.iterdir())
    except OSError:  # no folder yet (or unreadable: the writer's own error will tell)
        return False


class EventLog:
    """The events writer of one training attempt (rank 0). Every method swallows its errors."""

    def __init__(self, run: Run, run_dir: Path, log: Callable[[str], None]):
        self.run, self.folder, self.log = run, events_dir(run_dir), log
        self.writer = None
        self.off = False

    @classmethod
    def open(cls, run: Run, run_dir: Path, history: list[Epoch], log: Callable[[str], None]) -> "EventLog":
        """Start writing after the epochs of `history` (those the resumed checkpoint holds)."""
        events = cls(run, run_dir, log)
        events._guard(events._open, list(history))
        return events

    def _open(self, history: list[Epoch]) -> None:
        SummaryWriter, hparams = _import_tensorboard()
        fresh = not _has_events(self.folder)
        backfill = history if fresh else []  # switched on for a run that already has epochs
        first = 1 if fresh else len(history) + 1
        # purge_step: TensorBoard hides steps >= first written by earlier files of this folder.
        self.writer = SummaryWriter(log_dir=str(self.folder), purge_step=first, flush_secs=30)
        if fresh:
            hp = hparams_of(self.run)
            _, start_info, _ = hparams(hp, {})  # the session start info only: the plugin
            self.writer.file_writer.add_summary(start_info)  # builds the sweep's table from every run
            table = "| hyperparameter | value |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in hp.items())
            self.writer.add_text(HPARAMS_TEXT_TAG, table, global_step=0)
        for epoch in backfill:
            self._write(epoch)
        self.writer.flush()

    def epoch(self, epoch: Epoch) -> None:
        """Write one finished epoch's scalars (and flush, so TensorBoard shows it now)."""
        if self.writer is not None:
            self._guard(self._write, epoch, flush=True)

    def _write(self, epoch: Epoch, flush: bool = False) -> None:
        for tag, name in SCALARS.items():
            value = getattr(epoch, name)
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(tag, value, global_step=epoch.epoch)
        if flush:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self._guard(self.writer.close)
            self.writer = None

    def _guard(self, fn: Callable, *args, **kwargs) -> None:
        if self.off:
            return
        try:
            fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - the events are a view: any failure only turns them off
            self.off = True
            writer, self.writer = self.writer, None
            if writer is not None:
                try:
                    writer.close()
                except Exception:  # noqa: BLE001
                    pass
            hint = f" (install it: {INSTALL_HINT})" if isinstance(e, ImportError) else ""
            self.log(f"{self.run.run_id}: warning: TensorBoard events off for this attempt: "
                     f"{type(e).__name__}: {schema.first_line(e)}{hint}; {runfolder.METRICS} is unaffected")


def open_events(run: Run, run_dir: Path, history: list[Epoch], log: Callable[[str], None]) -> Optional[EventLog]:
    """The run's event writer when tensorboard is among the run's trackers, else None (nothing imported, no folder)."""
    if "tensorboard" not in run.runtime.active_trackers:
        return None
    return EventLog.open(run, run_dir, history, log)
