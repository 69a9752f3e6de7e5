"""The training engine: one run folder in; its epochs, checkpoints and result out (through record/runwrite.py).

Resume is exact: data order and augmentation depend only on (seed, epoch, batch), and a
checkpoint is only ever taken at a step boundary, holding the optimizer, the RNG states and the
partial sums of the epoch in progress. A stop request (SIGTERM/SIGINT in-process, USR2 from Slurm
through submitit) is honoured at the next step boundary, after a checkpoint.
"""
from __future__ import annotations

import math
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from ..config.registries import PRECISIONS, build_loss, build_optimizer, lr_at
from ..config.runs import Run
from ..errors import UserError
from ..record import runfolder, runwrite, schema
from .checkpoint import DamagedCheckpoint, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .distributed import Dist, all_reduce, device_for, join_process_group, wrap_model
from .environment import device_name, git_commit, versions
from .trackers import Trackers, open_trackers
from ..record.locks import RunLock
from ..record.schema import EPOCH_FIELDS, Epoch, Result
from .stopping import StopFlag, Stopped
from .sums import DeviceSums, EpochSums, NonFinite


# ---------------------------------------------------------------- the loop

@dataclass
class State:
    epoch: int = 0  # epoch in progress (0-based)
    step_in_epoch: int = 0  # next batch index within it
    global_step: int = 0
    sums: EpochSums = field(default_factory=EpochSums)
    wall_seconds: float = 0.0  # training time over every attempt


def _autocast(device, precision):
    dtype = PRECISIONS[precision].autocast
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=getattr(torch, dtype))


@torch.no_grad()
def evaluate(model, val, device, precision, channels_last, dist: Dist) -> tuple[float, float, float]:
    """(loss, top-1 error %, top-5 error %) over the whole validation split, reduced over ranks."""
    model.eval()
    loss = top1 = top5 = n = 0.0
    for images, labels in val.batches():
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with _autocast(device, precision):
            logits = model(images)
        logits = logits.float()
        loss += F.cross_entropy(logits, labels, reduction="sum").item()
        k = min(5, logits.shape[1])
        topk = logits.topk(k, dim=1).indices
        hit = topk == labels[:, None]
        top1 += hit[:, 0].sum().item()
        top5 += hit.any(dim=1).sum().item()
        n += labels.numel()
    model.train()
    loss, top1, top5, n = all_reduce([loss, top1, top5, n], dist, device)
    n = max(n, 1)
    return loss / n, 100.0 * (1 - top1 / n), 100.0 * (1 - top5 / n)


class Trainer:
    """Trains one Run in one run folder (rank 0 writes; other ranks only compute)."""

    def __init__(self, run: Run, run_dir: Path, dist: Dist, device: torch.device, stop: StopFlag):
        from ..models import build_model
        from .data import build_data

        self.run, self.run_dir, self.dist, self.device, self.stop = run, Path(run_dir), dist, device, stop
        rt = run.runtime
        if rt.threads:
            torch.set_num_threads(rt.threads)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = rt.cudnn_benchmark
        if run.recipe.batch_size % dist.world_size:
            raise UserError(f"recipe.batch_size {run.recipe.batch_size} is not divisible by {dist.world_size} GPUs")
        torch.manual_seed(run.seed)
        self.train_data, self.val_data = build_data(
            run.data, run.recipe.batch_size, self.device, run.seed, dist.world_size, dist.rank  # global batch
        )
        if self.train_data.num_batches < 1:
            raise UserError(f"data {run.data.name}: fewer training images than one batch of {run.recipe.batch_size}")
        model = build_model(run.model).to(self.device)
        if rt.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        # One fused kernel for the update on a GPU; the CPU keeps torch's loop (its numbers unchanged).
        self.optimizer = build_optimizer(model.parameters(), run.recipe, fused=self.device.type == "cuda")
        self.loss_fn = build_loss(run.recipe)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=PRECISIONS[rt.precision].grad_scaler)
        self.forward = wrap_model(model, dist, self.device)
        if rt.compile:
            self.forward = torch.compile(self.forward)
        self.state = State()
        self.history: list[Epoch] = []  # the finished epochs, also kept in every checkpoint
        self.best = (math.inf, math.inf)
        self.fallback: Optional[str] = None  # why the latest checkpoint was not the one resumed
        self.loader_switch: Optional[str] = None  # the data loader differs from the checkpoint's
        self.last_checkpoint = time.monotonic()
        self.device_sums: Optional[DeviceSums] = None  # the epoch in progress's sums, on the device
        self.bad_step: Optional[int] = None  # global step of the first non-finite training loss

    def read_sums(self) -> None:
        """Bring the device's running sums to the host (one synchronisation), noting a non-finite loss."""
        if self.device_sums is not None:
            bad = self.device_sums.read(self.state.sums)
            if bad is not None and self.bad_step is None:
                self.bad_step = bad

    def _nonfinite(self) -> Optional[str]:
        if self.bad_step is None:
            return None
        steps = self.train_data.num_batches
        return (f"non-finite training loss at epoch {self.bad_step // steps + 1}, step {self.bad_step % steps}")

    # -- checkpoints
    def save(self) -> None:
        """Checkpoint (rank 0 writes). Collective under DDP: every rank calls it at the same step."""
        self.read_sums()
        if self._nonfinite():  # never checkpoint weights a non-finite loss has already reached
            raise NonFinite(self._nonfinite())
        rank_sums = self._rank_sums()
        self.last_checkpoint = time.monotonic()
        if not self.dist.main:
            return
        s = self.state
        save_checkpoint(self.run_dir, {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "scheduler": {"global_step": s.global_step, "steps_per_epoch": self.train_data.num_batches},
            "rng": rng_state(self.device),
            "epoch": s.epoch, "step_in_epoch": s.step_in_epoch, "global_step": s.global_step,
            "sums": s.sums.as_dict(), "rank_sums": rank_sums, "wall_seconds": s.wall_seconds, "best": list(self.best),
            "history": [{k: getattr(e, k) for k in EPOCH_FIELDS} for e in self.history],
            "run_id": self.run.run_id,
            "data_loader": self.train_data.loader,
        })

    def _rank_sums(self) -> list[dict]:
        """Every rank's partial sums of the epoch in progress, in rank order.

        Each rank fills its own row of a zero matrix and the rows are summed over ranks: adding
        zeros is exact, so a resumed rank continues from its very own sums and the epoch's totals
        come out bit for bit as in a run never stopped.
        """
        mine = self.state.sums.as_dict()
        if not self.dist.ddp:
            return [mine]
        n, rank = len(mine), self.dist.rank
        rows = [0.0] * (n * self.dist.world_size)
        rows[rank * n:(rank + 1) * n] = mine.values()
        rows = all_reduce(rows, self.dist, self.device)
        return [dict(zip(mine, rows[r * n:(r + 1) * n])) for r in range(self.dist.world_size)]

    def _restored_sums(self, ckpt: dict) -> EpochSums:
        """This rank's partial sums from a checkpoint. Saved by another world size (or by a version
        that kept rank 0's alone), the epoch's totals go to rank 0 so that they are counted once."""
        per_rank = ckpt.get("rank_sums")
        if isinstance(per_rank, list) and len(per_rank) == self.dist.world_size:
            return EpochSums(**per_rank[self.dist.rank])
        if not self.dist.main:
            return EpochSums()
        if isinstance(per_rank, list) and per_rank:
            return EpochSums(**{k: sum(r[k] for r in per_rank) for k in per_rank[0]})
        return EpochSums(**ckpt["sums"])

    def restore(self) -> bool:
        """Continue from the newest checkpoint that loads; False when the run has none."""
        loaded = load_checkpoint(self.run_dir)  # on the CPU: RNG states must stay there
        if loaded is None:
            return False
        ckpt = loaded.state
        # a folder made before run ids were the configuration alone keeps its checkpoints' old id
        if ckpt.get("run_id") not in (self.run.run_id, runfolder.recorded_run_id(self.run_dir)):
            raise UserError(f"{loaded.path} belongs to run {ckpt.get('run_id')}, not {self.run.run_id}")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"], self.device)
        self.state = State(ckpt["epoch"], ckpt["step_in_epoch"], ckpt["global_step"], self._restored_sums(ckpt),
                           ckpt["wall_seconds"])
        self.best = tuple(ckpt["best"])
        self.fallback = loaded.fallback
        previous = ckpt.get("data_loader")
        if previous is not None and previous != self.train_data.loader:  # `auto` resolved elsewhere differently
            self.loader_switch = (f"the checkpoint was written reading data with {previous}, this process reads "
                                  f"with {self.train_data.loader}: same samples and draws, pixels differ by decoder "
                                  "rounding (set data.loader to keep one)")
        history = ckpt.get("history")
        history = [Epoch(**h) for h in history] if isinstance(history, list) else None
        # Epochs finished after this checkpoint (a kill between the metrics line and the next
        # checkpoint, or a fallback to the previous checkpoint) are redone: the metrics file keeps
        # exactly the checkpoint's epochs, rebuilt from its history where the file lost lines.
        if self.dist.main:
            self.history = runwrite.truncate_metrics(self.run_dir, self.state.epoch, history)
        else:
            self.history = history or []
        if self.dist.main and [e.epoch for e in self.history] != list(range(1, self.state.epoch + 1)):
            raise UserError(f"{self.run_dir}: {runfolder.METRICS} lost epochs of a checkpoint that carries no history "
                            "(written by an older version); remove the checkpoint files to restart the run")
        return True

    def _at_step_boundary(self, epoch_ends: bool) -> None:
        """Checkpoint when one is due, or checkpoint and stop when asked. Under DDP every rank takes
        the same decision at the same step (one reduce a step): a checkpoint is collective, and
        clocks and signals reach ranks at different moments."""
        every = self.run.runtime.checkpoint_minutes * 60
        due = not epoch_ends and time.monotonic() - self.last_checkpoint >= every
        requested = self.stop.requested
        if self.dist.ddp:
            due, requested = (v > 0 for v in all_reduce([float(due), float(requested)], self.dist, self.device))
        if due or requested:
            self.save()
        if requested:
            raise Stopped(self.stop.reason or "stop requested")

    # -- one epoch
    def train_epoch(self) -> Optional[str]:
        """Train the rest of the current epoch; returns why it failed, or None."""
        s, recipe, rt = self.state, self.run.recipe, self.run.runtime
        steps = self.train_data.num_batches
        self.model.train()
        batches = self.train_data.batches(s.epoch, start=s.step_in_epoch)
        progress = None
        if self.dist.main and sys.stderr.isatty():
            from tqdm import tqdm
            progress = tqdm(total=steps, initial=s.step_in_epoch, desc=f"epoch {s.epoch + 1}/{recipe.epochs}",
                            leave=False, unit="batch")
        self.device_sums = DeviceSums(s.sums, self.device)
        try:
            while s.step_in_epoch < steps:
                t0 = time.perf_counter()
                images, labels = next(batches)
                t1 = time.perf_counter()
                if rt.channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                lr = lr_at(recipe, s.global_step, steps)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                with _autocast(self.device, rt.precision):
                    logits = self.forward(images)
                    loss = self.loss_fn(logits, labels)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.device_sums.add(loss, logits, labels, s.global_step)
                s.sums.seen += labels.numel()
                s.step_in_epoch += 1
                s.global_step += 1
                if s.step_in_epoch % DeviceSums.READ_EVERY == 0 or s.step_in_epoch >= steps:
                    self.read_sums()  # the log interval's one synchronisation
                    if self._nonfinite():
                        return self._nonfinite()
                    if progress:
                        progress.set_postfix(loss=f"{s.sums.loss / max(s.sums.seen, 1):.3f}", lr=f"{lr:.3g}")
                t2 = time.perf_counter()
                s.sums.seconds += t2 - t0
                s.sums.data_seconds += t1 - t0
                s.wall_seconds += t2 - t0
                if progress:
                    progress.update(1)
                try:
                    self._at_step_boundary(epoch_ends=s.step_in_epoch >= steps)
                except NonFinite as e:
                    return str(e)
        finally:
            if progress:
                progress.close()
        return None

    def end_epoch(self) -> Epoch:
        s, rt = self.state, self.run.runtime
        t0 = time.perf_counter()
        val_loss, val_top1, val_top5 = evaluate(self.forward, self.val_data, self.device, rt.precision,
                                                rt.channels_last, self.dist)
        s.wall_seconds += time.perf_counter() - t0
        loss, correct, seen, seconds, data_s = all_reduce(
            [s.sums.loss, s.sums.correct, s.sums.seen, s.sums.seconds, s.sums.data_seconds], self.dist, self.device)
        seen = max(seen, 1)
        per_rank_seconds = seconds / self.dist.world_size
        epoch = Epoch(
            epoch=s.epoch + 1,
            lr=lr_at(self.run.recipe, max(s.global_step - 1, 0), self.train_data.num_batches),
            train_loss=loss / seen,
            train_top1_err=100.0 * (1 - correct / seen),
            val_loss=val_loss,
            val_top1_err=val_top1,
            val_top5_err=val_top5,
            epoch_seconds=per_rank_seconds,
            images_per_sec=seen / per_rank_seconds if per_rank_seconds > 0 else None,
            data_wait_pct=100.0 * data_s / seconds if seconds > 0 else None,
        )
        self.best = min(self.best, (val_top1, val_top5))
        s.epoch += 1
        s.step_in_epoch = 0
        s.sums = EpochSums()
        self.device_sums = None  # read at the epoch's last step; the next epoch starts its own
        self.history.append(epoch)
        if self.dist.main:
            runwrite.append_epoch(self.run_dir, epoch)
        self.save()
        return epoch


def _result(run: Run, trainer: Optional[Trainer], history: list[Epoch], status: str, reason: Optional[str],
            failed_epoch: Optional[int] = None) -> Result:
    last = history[-1] if history else None
    finite = [e for e in history if e.val_top1_err is not None and math.isfinite(e.val_top1_err)]
    speeds = sorted(e.images_per_sec for e in history if e.images_per_sec)
    device = trainer.device if trainer else torch.device("cpu")
    world = trainer.dist.world_size if trainer else 1
    rt = run.runtime
    return Result(
        status=status, reason=reason, failed_epoch=failed_epoch,
        final_val_top1_err=last.val_top1_err if last and status == schema.COMPLETED else None,
        final_val_top5_err=last.val_top5_err if last and status == schema.COMPLETED else None,
        best_val_top1_err=min((e.val_top1_err for e in finite), default=None),
        best_val_top5_err=min((e.val_top5_err for e in finite if e.val_top5_err is not None), default=None),
        params=run.complexity.get("params"), flops=run.complexity.get("flops"),
        epochs=len(history), wall_seconds=trainer.state.wall_seconds if trainer else 0.0,
        images_per_sec=speeds[len(speeds) // 2] if speeds else None,
        device=device_name(device), num_gpus=world if device.type == "cuda" else 0, world_size=world,
        seed=run.seed, precision=rt.precision, channels_last=rt.channels_last, compile=rt.compile,
        threads=torch.get_num_threads(), data_loader=trainer.train_data.loader if trainer else None,
        versions=versions(), git_commit=git_commit(), run_id=run.run_id,
        code_dir=str(Path(__file__).resolve().parents[1]), checkpoint_fallback=trainer.fallback if trainer else None,
    )


def _print(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def train_run(run_dir: Path, stop: Optional[StopFlag] = None, log: Callable[[str], None] = _print,
              run: Optional[Run] = None) -> dict:
    """Train (or resume, or skip when completed) the run in `run_dir`; returns its result.

    Holds the run's lock while it trains (a second trainer gets RunLocked, a UserError, and
    writes nothing). Raises Stopped after checkpointing when `stop` is requested; records
    failures in the run's result.
    """
    run_dir = Path(run_dir)
    run = run or runfolder.load_config(run_dir)
    dist = Dist.from_env()
    lock = RunLock(run_dir).acquire() if dist.main else None
    try:
        return _train_locked(run_dir, run, dist, stop or StopFlag(), log)
    finally:
        if lock is not None:
            lock.release()


def _train_locked(run_dir: Path, run: Run, dist: Dist, stop: StopFlag, log: Callable[[str], None]) -> dict:
    record = runfolder.read_run(run_dir)
    if record.state == schema.COMPLETED:
        log(f"{run.run_id}: already completed (val top-1 error {record.result.final_val_top1_err:.2f}%), "
            "not retrained")
        return record.result.to_dict()
    if dist.main:
        if record.result is not None or record.result_unreadable:
            runwrite.archive_failure(run_dir)  # a failed attempt, or a completed one with damaged metrics
        runwrite.remove_stale_temporaries(run_dir)
    trainer = None
    trackers = Trackers()  # rank 0's experiment trackers (runtime.trackers): views that never fail the run

    def fail(reason: str, failed_epoch: Optional[int]) -> Result:
        history = trainer.history if trainer else record.epochs
        result = _result(run, trainer, history, schema.FAILED, reason, failed_epoch)
        if dist.main:
            runwrite.write_result(run_dir, result)
        trackers.finish(result)
        return result

    def epoch_in_progress() -> int:
        if trainer is not None and (trainer.history or trainer.state.epoch):
            return trainer.state.epoch + 1
        return len(record.epochs) + 1  # nothing restored: the epoch after the last one on disk

    own_group = False
    try:
        device = device_for(run.runtime, dist)  # current before the process group binds to it
        own_group = join_process_group(dist, device)
        trainer = Trainer(run, run_dir, dist, device, stop)
        resumed = trainer.restore()
        s = trainer.state
        if dist.main:
            if not resumed:
                runwrite.reset_progress(run_dir)  # a start from scratch keeps no earlier epoch lines
            for warning in (trainer.fallback, trainer.loader_switch):
                if warning:
                    log(f"{run.run_id}: warning: {warning}")
            where = f"epoch {s.epoch + 1} step {s.step_in_epoch}" if resumed else "the start"
            log(f"{run.run_id}: training {run.configuration} seed {run.seed} on {device_name(trainer.device)}"
                f" x{dist.world_size}, from {where}")
            trackers = open_trackers(run, run_dir, trainer.history, log)  # after the epochs the checkpoint holds
        while s.epoch < run.recipe.epochs:
            failure = trainer.train_epoch()
            if failure:
                if dist.main:
                    log(f"{run.run_id}: failed: {failure}")
                return fail(failure, s.epoch + 1).to_dict()
            m = trainer.end_epoch()
            trackers.log_epoch(m)
            if dist.main:
                log(f"{run.run_id}: epoch {m.epoch}/{run.recipe.epochs} train loss {m.train_loss:.4f} "
                    f"err {m.train_top1_err:.2f}% | val err {m.val_top1_err:.2f}% top-5 {m.val_top5_err:.2f}% "
                    f"| {m.images_per_sec or 0:.0f} img/s, data wait {m.data_wait_pct or 0:.0f}%")
        if dist.main:
            # Completed only when the metrics hold every epoch once, in order.
            runwrite.truncate_metrics(run_dir, run.recipe.epochs, trainer.history)
            on_disk = runfolder.read_epochs(run_dir, [])  # file order: a repeated or missing epoch shows
            if [e.epoch for e in on_disk] != list(range(1, run.recipe.epochs + 1)):
                return fail(f"{runfolder.METRICS} does not hold epochs 1..{run.recipe.epochs} after training", None).to_dict()
        result = _result(run, trainer, trainer.history, schema.COMPLETED, None)
        if dist.main:
            runwrite.write_result(run_dir, result)
        trackers.finish(result)
        return result.to_dict()
    except Stopped as e:
        if dist.main:
            log(f"{run.run_id}: stopped ({e}) at epoch {trainer.state.epoch + 1} step "
                f"{trainer.state.step_in_epoch}; checkpoint saved, rerun to resume")
        if stop.after is not None:
            stop.after()
        raise
    except DamagedCheckpoint as e:
        fail(f"damaged checkpoint: {e}", epoch_in_progress())
        raise
    except UserError as e:
        fail(str(e), epoch_in_progress())
        raise
    except Exception as e:
        fail(f"{type(e).__name__}: {e}", epoch_in_progress())
        raise
    finally:
        trackers.close()
        if own_group:
            torch.distributed.destroy_process_group()
