"""The training engine: one run folder in, metrics.jsonl / checkpoint.pt / result.json out.

Resume is exact: data order and augmentation depend only on (seed, epoch, batch), and a
checkpoint is only ever taken at a step boundary, holding the optimizer, the RNG states and the
partial sums of the epoch in progress. A stop request (SIGTERM/SIGINT in-process, USR2 from Slurm
through submitit) is honoured at the next step boundary, after a checkpoint.
"""
from __future__ import annotations

import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from .checkpoint import load_checkpoint, remove_stale_temporaries, rng_state, save_checkpoint, set_rng_state
from ..errors import UserError
from ..fsutil import append_line, read_json_object, write_json, write_text
from ..config.runs import Run, load_run
from ..config.spec import RecipeSpec

METRICS = "metrics.jsonl"
RESULT = "result.json"


# ---------------------------------------------------------------- stopping

@dataclass
class StopFlag:
    """Set by a signal handler; the loop checkpoints at the next step boundary and calls `after`."""

    requested: bool = False
    reason: str = ""
    after: Optional[Callable[[], None]] = None

    def request(self, reason: str) -> None:
        self.requested = True
        self.reason = reason


class Stopped(Exception):
    """Training left early on request, after a checkpoint."""


def install_stop_handlers(flag: StopFlag, signals=(signal.SIGTERM, signal.SIGINT)) -> None:
    """Make these signals request a checkpoint-and-stop instead of killing mid-step.

    A second Ctrl-C while the stop is pending gives up waiting (the last checkpoint stays).
    """
    def handler(sig, _frame):
        if flag.requested and sig == signal.SIGINT:
            raise KeyboardInterrupt
        flag.request(signal.Signals(sig).name)

    for sig in signals:
        signal.signal(sig, handler)


# ---------------------------------------------------------------- distributed

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


def _all_reduce(values: list[float], dist: Dist, device) -> list[float]:
    if dist.world_size == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return t.tolist()


# ---------------------------------------------------------------- schedule

def lr_at(recipe: RecipeSpec, step: int, steps_per_epoch: int) -> float:
    """Learning rate at a global step: linear warmup, then cosine or step decay (per iteration)."""
    base = recipe.scaled_lr
    epoch = step / steps_per_epoch
    if recipe.warmup_epochs and epoch < recipe.warmup_epochs:
        return base * (step + 1) / (recipe.warmup_epochs * steps_per_epoch)
    if recipe.schedule == "cosine":
        total = recipe.epochs * steps_per_epoch
        start = recipe.warmup_epochs * steps_per_epoch
        return 0.5 * base * (1 + math.cos(math.pi * (step - start) / max(1, total - start)))
    return base * recipe.gamma ** sum(epoch >= m for m in recipe.milestones)


# ---------------------------------------------------------------- environment

def device_for(runtime, dist: Dist) -> torch.device:
    if runtime.device == "cpu" or (runtime.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError("runtime.device is cuda but no CUDA device is visible")
    torch.cuda.set_device(dist.local_rank)
    return torch.device("cuda", dist.local_rank)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


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
    import torchvision

    try:
        import timm
        timm_version = timm.__version__
    except ImportError:  # pragma: no cover - timm is a dependency
        timm_version = None
    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm_version,
            "python": platform.python_version()}


def read_result(run_dir: Path) -> Optional[dict]:
    """result.json as a dict, or None when absent or unreadable."""
    return read_json_object(Path(run_dir) / RESULT)


def archive_failed_result(run_dir: Path) -> None:
    """A failed attempt is being retried: keep its record in failures.jsonl, clear result.json."""
    done = read_result(run_dir)
    if done is not None:
        append_line(Path(run_dir) / "failures.jsonl", json.dumps(done))
    (Path(run_dir) / RESULT).unlink(missing_ok=True)


def read_metrics(run_dir: Path) -> list[dict]:
    """The epochs of metrics.jsonl that parse (a torn last line after a crash is dropped)."""
    from ..analysis.collect import read_metrics as read_metrics_file

    return read_metrics_file(Path(run_dir) / METRICS, [])


# ---------------------------------------------------------------- the loop

@dataclass
class EpochSums:
    """Running sums of the epoch in progress (kept in checkpoints for exact mid-epoch resume)."""

    loss: float = 0.0
    correct: float = 0.0
    seen: float = 0.0
    seconds: float = 0.0
    data_seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class State:
    epoch: int = 0  # epoch in progress (0-based)
    step_in_epoch: int = 0  # next batch index within it
    global_step: int = 0
    sums: EpochSums = field(default_factory=EpochSums)
    wall_seconds: float = 0.0  # training time over every attempt


def _autocast(device, precision):
    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


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
    loss, top1, top5, n = _all_reduce([loss, top1, top5, n], dist, device)
    n = max(n, 1)
    return loss / n, 100.0 * (1 - top1 / n), 100.0 * (1 - top5 / n)


class Trainer:
    """Trains one Run in one run folder (rank 0 writes; other ranks only compute)."""

    def __init__(self, run: Run, run_dir: Path, dist: Dist, stop: StopFlag):
        from .data import build_data
        from ..models import build_model

        self.run, self.run_dir, self.dist, self.stop = run, Path(run_dir), dist, stop
        rt = run.runtime
        if rt.threads:
            torch.set_num_threads(rt.threads)
        self.device = device_for(rt, dist)
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
        self.optimizer = torch.optim.SGD(
            model.parameters(), lr=run.recipe.scaled_lr, momentum=run.recipe.momentum,
            weight_decay=run.recipe.weight_decay, nesterov=run.recipe.nesterov,
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=rt.precision == "fp16")
        self.forward = model
        if dist.world_size > 1:
            self.forward = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if rt.compile:
            self.forward = torch.compile(self.forward)
        self.state = State()
        self.best = (math.inf, math.inf)
        self.last_checkpoint = time.monotonic()

    # -- checkpoints
    def save(self) -> None:
        if not self.dist.main:
            return
        s = self.state
        save_checkpoint(self.run_dir, {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "scheduler": {"global_step": s.global_step, "steps_per_epoch": self.train_data.num_batches},
            "rng": rng_state(),
            "epoch": s.epoch, "step_in_epoch": s.step_in_epoch, "global_step": s.global_step,
            "sums": s.sums.as_dict(), "wall_seconds": s.wall_seconds, "best": list(self.best),
            "run_id": self.run.run_id,
        })
        self.last_checkpoint = time.monotonic()

    def restore(self) -> bool:
        ckpt = load_checkpoint(self.run_dir)  # on the CPU: RNG states must stay there
        if ckpt is None:
            return False
        if ckpt.get("run_id") != self.run.run_id:
            raise UserError(f"{self.run_dir}/checkpoint.pt belongs to run {ckpt.get('run_id')}, not {self.run.run_id}")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
        self.state = State(ckpt["epoch"], ckpt["step_in_epoch"], ckpt["global_step"], EpochSums(**ckpt["sums"]),
                           ckpt["wall_seconds"])
        self.best = tuple(ckpt["best"])
        # Epochs finished after this checkpoint was taken (a kill between the metrics line and the
        # next checkpoint) are redone; drop their lines so each epoch is recorded once.
        if self.dist.main:
            self._truncate_metrics(self.state.epoch)
        return True

    def _truncate_metrics(self, epochs_done: int) -> None:
        path = self.run_dir / METRICS
        try:
            text = path.read_text()
        except OSError:
            return
        lines = read_metrics(self.run_dir)
        keep = [m for m in lines if m["epoch"] <= epochs_done]
        if len(keep) != len(lines) or (text and not text.endswith("\n")):
            write_text(path, "".join(json.dumps(m) + "\n" for m in keep))

    def _check_stop(self) -> None:
        requested = self.stop.requested
        if self.dist.world_size > 1:  # every rank must stop at the same step
            requested = _all_reduce([float(requested)], self.dist, self.device)[0] > 0
        if requested:
            self.save()
            raise Stopped(self.stop.reason or "stop requested")

    # -- one epoch
    def train_epoch(self) -> Optional[dict]:
        s, recipe, rt = self.state, self.run.recipe, self.run.runtime
        steps = self.train_data.num_batches
        self.model.train()
        batches = self.train_data.batches(s.epoch, start=s.step_in_epoch)
        progress = None
        if self.dist.main and sys.stderr.isatty():
            from tqdm import tqdm
            progress = tqdm(total=steps, initial=s.step_in_epoch, desc=f"epoch {s.epoch + 1}/{recipe.epochs}",
                            leave=False, unit="batch")
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
                    loss = F.cross_entropy(logits.float(), labels, label_smoothing=recipe.label_smoothing)
                if not torch.isfinite(loss):
                    return {"failed": f"non-finite training loss ({loss.item()}) at epoch {s.epoch + 1}, "
                                      f"step {s.step_in_epoch}"}
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                n = labels.numel()
                s.sums.loss += loss.item() * n
                s.sums.correct += (logits.detach().argmax(1) == labels).sum().item()
                s.sums.seen += n
                t2 = time.perf_counter()
                s.sums.seconds += t2 - t0
                s.sums.data_seconds += t1 - t0
                s.wall_seconds += t2 - t0
                s.step_in_epoch += 1
                s.global_step += 1
                if progress:
                    progress.update(1)
                    progress.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.3g}")
                every = rt.checkpoint_minutes * 60
                if time.monotonic() - self.last_checkpoint >= every and s.step_in_epoch < steps:
                    self.save()
                self._check_stop()
        finally:
            if progress:
                progress.close()
        return None

    def end_epoch(self) -> dict:
        s, rt = self.state, self.run.runtime
        t0 = time.perf_counter()
        val_loss, val_top1, val_top5 = evaluate(self.forward, self.val_data, self.device, rt.precision,
                                                rt.channels_last, self.dist)
        s.wall_seconds += time.perf_counter() - t0
        loss, correct, seen, seconds, data_s = _all_reduce(
            [s.sums.loss, s.sums.correct, s.sums.seen, s.sums.seconds, s.sums.data_seconds], self.dist, self.device)
        seen = max(seen, 1)
        per_rank_seconds = seconds / self.dist.world_size
        metrics = {
            "epoch": s.epoch + 1,
            "lr": lr_at(self.run.recipe, max(s.global_step - 1, 0), self.train_data.num_batches),
            "train_loss": loss / seen,
            "train_top1_err": 100.0 * (1 - correct / seen),
            "val_loss": val_loss,
            "val_top1_err": val_top1,
            "val_top5_err": val_top5,
            "epoch_seconds": per_rank_seconds,
            "images_per_sec": seen / per_rank_seconds if per_rank_seconds > 0 else None,
            "data_wait_pct": 100.0 * data_s / seconds if seconds > 0 else None,
        }
        self.best = min(self.best, (val_top1, val_top5))
        s.epoch += 1
        s.step_in_epoch = 0
        s.sums = EpochSums()
        if self.dist.main:
            append_line(self.run_dir / METRICS, json.dumps(metrics))
        self.save()
        return metrics


def _result(run: Run, trainer: Optional["Trainer"], status: str, reason: Optional[str], failed_epoch=None) -> dict:
    metrics = read_metrics(trainer.run_dir) if trainer else []
    last = metrics[-1] if metrics else {}
    speeds = [m["images_per_sec"] for m in metrics if m.get("images_per_sec")]
    best = min(metrics, key=lambda m: m["val_top1_err"]) if metrics else {}
    device = trainer.device if trainer else torch.device("cpu")
    world = trainer.dist.world_size if trainer else 1
    return {
        "status": status, "reason": reason, "failed_epoch": failed_epoch,
        "final_val_top1_err": last.get("val_top1_err"), "final_val_top5_err": last.get("val_top5_err"),
        "best_val_top1_err": best.get("val_top1_err"), "best_val_top5_err": min(
            (m["val_top5_err"] for m in metrics), default=None),
        "params": run.complexity.get("params"), "flops": run.complexity.get("flops"),
        "epochs": len(metrics), "wall_seconds": trainer.state.wall_seconds if trainer else 0.0,
        "images_per_sec": sorted(speeds)[len(speeds) // 2] if speeds else None,
        "device": device_name(device), "num_gpus": world if device.type == "cuda" else 0,
        "world_size": world, "seed": run.seed, "versions": versions(), "git_commit": git_commit(),
        "run_id": run.run_id, "code_dir": str(Path(__file__).resolve().parents[1]),
    }


def _print(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def train_run(run_dir: Path, stop: Optional[StopFlag] = None, log: Callable[[str], None] = _print,
              run: Optional[Run] = None) -> dict:
    """Train (or resume, or skip when completed) the run in `run_dir`; returns its result.

    Raises Stopped after checkpointing when `stop` is requested; records failures in result.json.
    """
    run_dir = Path(run_dir)
    run = run or load_run(run_dir)
    dist = Dist.from_env()
    done = read_result(run_dir)
    if done and done.get("status") == "completed":
        log(f"{run.run_id}: already completed (val top-1 error {done.get('final_val_top1_err'):.2f}%), not retrained")
        return done
    if done and dist.main:
        archive_failed_result(run_dir)
    stop = stop or StopFlag()
    if dist.world_size > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and run.runtime.device != "cpu" else "gloo"
        torch.distributed.init_process_group(backend)
    trainer = None
    try:
        if dist.main:
            remove_stale_temporaries(run_dir)
        trainer = Trainer(run, run_dir, dist, stop)
        resumed = trainer.restore()
        s = trainer.state
        if dist.main:
            where = f"epoch {s.epoch + 1} step {s.step_in_epoch}" if resumed else "the start"
            log(f"{run.run_id}: training {run.configuration} seed {run.seed} on {device_name(trainer.device)}"
                f" x{dist.world_size}, from {where}")
        while s.epoch < run.recipe.epochs:
            failure = trainer.train_epoch()
            if failure:
                result = _result(run, trainer, "failed", failure["failed"], failed_epoch=s.epoch + 1)
                if dist.main:
                    write_json(run_dir / RESULT, result)
                    log(f"{run.run_id}: failed: {failure['failed']}")
                return result
            m = trainer.end_epoch()
            if dist.main:
                log(f"{run.run_id}: epoch {m['epoch']}/{run.recipe.epochs} train loss {m['train_loss']:.4f} "
                    f"err {m['train_top1_err']:.2f}% | val err {m['val_top1_err']:.2f}% top-5 {m['val_top5_err']:.2f}% "
                    f"| {m['images_per_sec'] or 0:.0f} img/s, data wait {m['data_wait_pct'] or 0:.0f}%")
        result = _result(run, trainer, "completed", None)
        if dist.main:
            write_json(run_dir / RESULT, result)
        return result
    except Stopped as e:
        if dist.main:
            log(f"{run.run_id}: stopped ({e}) at epoch {trainer.state.epoch + 1} step "
                f"{trainer.state.step_in_epoch}; checkpoint saved, rerun to resume")
        if stop.after is not None:
            stop.after()
        raise
    except UserError as e:
        if dist.main:
            write_json(run_dir / RESULT, _result(run, trainer, "failed", str(e)))
        raise
    except Exception as e:
        if dist.main:
            epoch = trainer.state.epoch + 1 if trainer else None
            write_json(run_dir / RESULT, _result(run, trainer, "failed", f"{type(e).__name__}: {e}", epoch))
        raise
    finally:
        if dist.world_size > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
