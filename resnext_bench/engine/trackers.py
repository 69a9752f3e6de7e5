"""Experiment trackers (runtime.trackers): TensorBoard, Weights & Biases and MLflow, fed from rank 0.

Each is a view of the run folder, never its record. One suite run is one tracker run: W&B groups
its runs by the sweep's ablation and MLflow files them in an experiment of that name; both name a
run by its configuration label, but the run id (in the config/params) is what identifies it. The
tracker's own run id goes to RUN/trackers.json, so an attempt after a requeue or a resume
continues the same tracker run, from the epoch after the last one that tracker holds (no step
twice). The tracker receives the run's hyperparameters with its id and folder, every epoch's
scalars (step = epoch), and the result.

W&B and MLflow calls run on one worker thread per tracker: a slow server never holds a training
step, and `close` waits for them at most `CLOSE_TIMEOUT_S`. The first failure of a tracker (not
installed, offline, a server down, an exception in a call) is one warning line and turns that
tracker off for the rest of the attempt. TensorBoard writes a local file: engine/events.py writes
it on the training thread, as it always did.
"""
from __future__ import annotations

import math
import os
import queue
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from ..config.runs import Run
from ..record import runfolder, runwrite, schema
from ..record.schema import Epoch, Result
from .events import SCALARS, hparams_of, open_events

CLOSE_TIMEOUT_S = 30.0  # the longest the end of a run waits for a tracker's queued calls
PROJECT = "resnext-bench"  # the W&B project when WANDB_PROJECT does not name one
# Result fields every tracker receives (as result/NAME) at the end of the run.
RESULT_FIELDS = ("final_val_top1_err", "final_val_top5_err", "best_val_top1_err", "best_val_top5_err", "epochs",
                 "wall_seconds", "images_per_sec", "params", "flops")
MLFLOW_STATUS = {schema.COMPLETED: "FINISHED", schema.FAILED: "FAILED"}  # no result (a stop): KILLED


def scalars_of(epoch: Epoch) -> dict[str, float]:
    """The epoch's finite scalars under the tags TensorBoard uses (loss/train, top1_err/val, ...)."""
    values = {tag: getattr(epoch, name) for tag, name in SCALARS.items()}
    return {tag: float(v) for tag, v in values.items() if v is not None and math.isfinite(v)}


def result_values(result: Result) -> dict[str, float]:
    """The result's numbers as result/NAME (what a tracker's summary shows)."""
    values = {f"result/{k}": getattr(result, k) for k in RESULT_FIELDS}
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def tracker_config(run: Run, run_dir: Path) -> dict[str, Any]:
    """What a tracker run is told about its run: the hyperparameters, the run id and the run folder."""
    return {**hparams_of(run), "run_dir": str(Path(run_dir).resolve())}


class Remote:
    """One W&B or MLflow run fed from a worker thread; every call after the first failure is dropped."""

    name = label = hint = ""

    def __init__(self, run: Run, run_dir: Path, entry: dict, save: Callable[[str, dict], None],
                 log: Callable[[str], None]):
        self.run, self.run_dir, self.entry, self.save, self.log = run, Path(run_dir), dict(entry), save, log
        self.last_epoch = entry.get("last_epoch") if isinstance(entry.get("last_epoch"), int) else 0
        self.calls: queue.Queue = queue.Queue()
        self.off = False
        self.thread = threading.Thread(target=self._serve, name=f"tracker-{self.name}", daemon=True)
        self.thread.start()

    # -- the training thread's side: enqueue and return
    def start(self, history: list[Epoch]) -> None:
        self.calls.put((self._start, list(history)))

    def log_epoch(self, epoch: Epoch) -> None:
        self.calls.put((self._epoch, epoch))

    def finish(self, result: Optional[Result]) -> None:
        self.calls.put((self._finish, result))

    def close(self, deadline: float) -> None:
        """Wait (until time.monotonic() `deadline`) for the queued calls; one still busy then is left behind."""
        self.calls.put(None)
        self.thread.join(max(deadline - time.monotonic(), 0.0))
        if self.thread.is_alive() and not self.off:
            self.off = True
            self.log(f"{self.run.run_id}: warning: {self.label} did not answer within {CLOSE_TIMEOUT_S:g} s; left behind "
                     f"for this attempt; {runfolder.METRICS} is unaffected")

    # -- the worker's side
    def _serve(self) -> None:
        while (call := self.calls.get()) is not None:
            if self.off:
                continue
            fn, arg = call
            try:
                fn(arg)
            except Exception as e:  # noqa: BLE001 - a tracker is a view: any failure only turns it off
                if self.off:  # already left behind by close(), whose warning was this tracker's one
                    continue
                self.off = True
                hint = f" (install it: pip install 'resnext-bench[{self.name}]')" if isinstance(e, ImportError) else ""
                self.log(f"{self.run.run_id}: warning: {self.label} tracking off for this attempt: "
                         f"{type(e).__name__}: {schema.first_line(e)}{hint}; {runfolder.METRICS} is unaffected")

    def _start(self, history: list[Epoch]) -> None:
        self.open()
        self.save(self.name, self.entry)
        for epoch in history:  # epochs this tracker lacks: switched on late, or a kill before it was told
            self._epoch(epoch)

    def _epoch(self, epoch: Epoch) -> None:
        if epoch.epoch <= self.last_epoch:  # it holds this step already: a step is never written twice
            return
        self.write_epoch(epoch.epoch, scalars_of(epoch))
        self.last_epoch = self.entry["last_epoch"] = epoch.epoch
        self.save(self.name, self.entry)

    def _finish(self, result: Optional[Result]) -> None:
        self.end(result)

    # -- what each tracker implements
    def open(self) -> None:
        raise NotImplementedError

    def write_epoch(self, step: int, values: dict[str, float]) -> None:
        raise NotImplementedError

    def end(self, result: Optional[Result]) -> None:
        raise NotImplementedError


class Wandb(Remote):
    """A W&B run: id RUN_ID-XXXXXX (kept in trackers.json), group = the ablation, name = the configuration."""

    name, label = "wandb", "Weights & Biases"

    def open(self) -> None:
        import wandb

        self.entry.setdefault("id", f"{self.run.run_id}-{secrets.token_hex(3)}")
        # W&B's files (offline runs to `wandb sync`) go to WANDB_DIR, else the run folder. Read here at
        # each start, not once a process as W&B's own settings are: a job may train several runs.
        folder = os.environ.get("WANDB_DIR") or str(self.run_dir)
        self.wb = wandb.init(
            project=os.environ.get("WANDB_PROJECT") or PROJECT, id=self.entry["id"], resume="allow",
            group=self.run.ablation, name=self.run.configuration, config=tracker_config(self.run, self.run_dir),
            dir=folder, mode=os.environ.get("WANDB_MODE") or None, reinit="create_new",
            settings=wandb.Settings(console="off", silent=True),  # the job's own output is not W&B's to capture
        )

    def write_epoch(self, step: int, values: dict[str, float]) -> None:
        self.wb.log(values, step=step)

    def end(self, result: Optional[Result]) -> None:
        if result is not None:
            self.wb.summary.update({**result_values(result), "result/status": result.status})
        self.wb.finish(exit_code=0 if result is None or result.status == schema.COMPLETED else 1)


class Mlflow(Remote):
    """An MLflow run in the experiment named by the ablation, named by the configuration, tagged with the run id."""

    name, label = "mlflow", "MLflow"

    def open(self) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient()  # MLFLOW_TRACKING_URI, or MLflow's default store
        uri = str(self.client.tracking_uri)
        if self.entry.get("run_id") and self.entry.get("tracking_uri") == uri:
            self.client.update_run(self.entry["run_id"], status="RUNNING")  # the same run, resumed
            return
        config = tracker_config(self.run, self.run_dir)
        experiment = self._experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME") or self.run.ablation)
        tags = {"run_id": self.run.run_id, "ablation": self.run.ablation, "configuration": self.run.configuration,
                "run_dir": config["run_dir"]}
        created = self.client.create_run(experiment, run_name=self.run.configuration, tags=tags)
        self.entry.clear()  # another store: a new run there, with no epoch yet
        self.entry.update(run_id=created.info.run_id, experiment_id=experiment, tracking_uri=uri)
        self.last_epoch = 0
        from mlflow.entities import Param

        self.client.log_batch(created.info.run_id, params=[Param(k, str(v)) for k, v in config.items()])

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name)
        except Exception:  # noqa: BLE001 - another run of the sweep created it first
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def write_epoch(self, step: int, values: dict[str, float]) -> None:
        self._metrics(values, step)

    def _metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.entry["run_id"], metrics=[Metric(k, v, now, step) for k, v in values.items()])

    def end(self, result: Optional[Result]) -> None:
        if result is not None:
            self._metrics(result_values(result), 0)
            self.client.set_tag(self.entry["run_id"], "status", result.status)
        status = MLFLOW_STATUS.get(result.status, "FAILED") if result is not None else "KILLED"
        self.client.set_terminated(self.entry["run_id"], status=status)


REMOTES = {"wandb": Wandb, "mlflow": Mlflow}


class Trackers:
    """The trackers of one training attempt on rank 0 (none elsewhere); no method raises or blocks a step."""

    def __init__(self, run: Optional[Run] = None, run_dir: Optional[Path] = None, log: Callable[[str], None] = print):
        self.run, self.run_dir, self.log = run, run_dir, log
        self.events = None  # engine/events.py's writer, when tensorboard is on
        self.remotes: list[Remote] = []
        self.entries: dict[str, dict] = {}
        self.lock = threading.Lock()  # trackers.json is rewritten by several worker threads

    def _save(self, name: str, entry: dict) -> None:
        with self.lock:
            self.entries[name] = dict(entry)
            runwrite.write_trackers(self.run_dir, self.entries)

    def log_epoch(self, epoch: Epoch) -> None:
        """Hand one finished epoch to every tracker."""
        if self.events is not None:
            self.events.epoch(epoch)
        for remote in self.remotes:
            remote.log_epoch(epoch)

    def finish(self, result: Result) -> None:
        """Hand the run's result (completed or failed) to every tracker and end their runs."""
        for remote in self.remotes:
            remote.finish(result)
        self.remotes, remotes = [], self.remotes
        self._close(remotes)

    def close(self) -> None:
        """End the attempt (a stop or a crash: the tracker runs are ended without a result)."""
        for remote in self.remotes:
            remote.finish(None)
        self.remotes, remotes = [], self.remotes
        self._close(remotes)
        if self.events is not None:
            self.events.close()
            self.events = None

    def _close(self, remotes: list[Remote]) -> None:
        deadline = time.monotonic() + CLOSE_TIMEOUT_S  # one bound for all of them together
        for remote in remotes:
            remote.close(deadline)


def open_trackers(run: Run, run_dir: Path, history: list[Epoch], log: Callable[[str], None]) -> Trackers:
    """Start the run's trackers after the epochs of `history` (those the resumed checkpoint holds)."""
    trackers = Trackers(run, Path(run_dir), log)
    trackers.events = open_events(run, run_dir, history, log)
    names = [n for n in run.runtime.active_trackers if n in REMOTES]
    if names:
        skipped: list = []
        trackers.entries = runfolder.read_trackers(run_dir, skipped)
        for path, why in skipped:  # a damaged file only costs the continuity of the tracker runs
            log(f"{run.run_id}: warning: {path}: {why}; the trackers start new runs")
        for name in names:
            remote = REMOTES[name](run, run_dir, trackers.entries.get(name, {}), trackers._save, log)
            remote.start(history)
            trackers.remotes.append(remote)
    return trackers
