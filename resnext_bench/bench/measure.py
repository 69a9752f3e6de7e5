"""Measuring the throughput benchmark's (model, setting) pairs: step times and peak memory.

Every (model, setting) pair is prepared once (built with the same seed, converted to the
memory format, compiled, warmed up), then measured INTERLEAVED: repeat r measures every pair
before repeat r+1 starts, and the starting pair rotates from repeat to repeat, so machine
noise (other jobs, thermal drift) falls on all of them alike. Numbers are medians: the median
step time of each repeat, then the median over repeats.

Peak memory: on CUDA, torch.cuda.max_memory_allocated over the measured steps minus what was
allocated before them. On CPU (Linux), the resident-set high-water mark (VmHWM, reset through
/proc/self/clear_refs) minus the resident set before the steps: a lower bound, because the C
allocator keeps pages freed by earlier steps and models resident and reuses them. Weights and
optimizer state are not in it; they are `state_mb`.
"""
from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config.complexity import complexity
from ..config.registries import PRECISIONS
from ..config.specs import BaselineSpec, ModelSpec
from ..errors import UserError
from ..models import build_model, measured_complexity
from .results import results_frame
from .settings import Setting


# ---------------------------------------------------------------- timing and memory

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[], None], n: int, device: torch.device) -> list[float]:
    """Seconds of each of `n` calls of `step`; CUDA events on a GPU so launches still overlap."""
    if device.type == "cuda":
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
        _sync(device)
        for start, end in events:
            start.record()
            step()
            end.record()
        _sync(device)
        return [start.elapsed_time(end) / 1000 for start, end in events]
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def _proc_status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class MemoryProbe:
    """Peak memory growth over a block: CUDA allocator peak, or the CPU resident-set high-water mark."""

    def __init__(self, device: torch.device):
        self.device = device
        self.method = "cuda_max_memory_allocated" if device.type == "cuda" else self._cpu_method()

    @staticmethod
    def _cpu_method() -> str:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current resident set (Linux >= 4.0)
        except OSError:
            return "unavailable"
        return "vmhwm_growth" if _proc_status_kb("VmHWM") is not None else "unavailable"

    def start(self) -> None:
        if self.method == "cuda_max_memory_allocated":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
        elif self.method == "vmhwm_growth":
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.base = _proc_status_kb("VmRSS") * 1024

    def peak_mb(self) -> float:
        """MB above the start of the block (NaN where nothing can measure it)."""
        if self.method == "cuda_max_memory_allocated":
            return (torch.cuda.max_memory_allocated(self.device) - self.base) / 2**20
        if self.method == "vmhwm_growth":
            return max(_proc_status_kb("VmHWM") * 1024 - self.base, 0) / 2**20
        return math.nan


# ---------------------------------------------------------------- one prepared (model, setting)

def _model_macs(spec: ModelSpec | BaselineSpec, model: nn.Module, img_size: int) -> int:
    """Forward conv + fc multiply-adds: analytic for ours, fvcore for library models."""
    if isinstance(spec, ModelSpec):
        return complexity(spec, img_size).flops
    return measured_complexity(model, img_size, spec.in_chans)["flops"]


def _tensor_mb(tensors: Iterable[torch.Tensor]) -> float:
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


class Runner:
    """One model under one setting: weights, optimizer, a fixed batch, train and inference steps."""

    def __init__(self, label: str, spec, setting: Setting, batch_size: int, img_size: int,
                 device: torch.device, num_classes: int, seed: int = 0):
        self.label, self.setting, self.device = label, setting, device
        torch.manual_seed(seed)  # the same initial weights under every setting
        module = build_model(spec)
        self.param_count = sum(p.numel() for p in module.parameters())
        self.macs = _model_macs(spec, module, img_size)
        fmt = torch.channels_last if setting.channels_last else torch.contiguous_format
        self.module = module.to(device=device, memory_format=fmt)
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(batch_size, 3, img_size, img_size, generator=gen).to(device, memory_format=fmt)
        self.y = torch.randint(0, num_classes, (batch_size,), generator=gen).to(device)
        self.optimizer = torch.optim.SGD(module.parameters(), lr=1e-4, momentum=0.9, weight_decay=1e-4)
        self.model = torch.compile(self.module) if setting.compile else self.module
        precision = PRECISIONS[setting.precision]  # the training engine's registry: same dtype, same scaling
        dtype = getattr(torch, precision.autocast) if precision.autocast else None
        self.autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else nullcontext
        self.scaler = torch.amp.GradScaler(device.type) if precision.grad_scaler else None

    def train_step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            loss = F.cross_entropy(self.model(self.x).float(), self.y)
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:  # fp16 needs loss scaling to train; it is part of the measured step
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()

    @torch.no_grad()
    def infer_step(self) -> None:
        with self.autocast():
            self.model(self.x)

    def state_mb(self) -> float:
        """Weights, buffers and optimizer state resident between steps."""
        state = [t for s in self.optimizer.state.values() for t in s.values() if torch.is_tensor(t)]
        return _tensor_mb(list(self.module.parameters()) + list(self.module.buffers()) + state)

    def release_grads(self) -> None:
        # Free gradients between blocks so one runner's grads do not sit in another's measurement.
        self.optimizer.zero_grad(set_to_none=True)


@dataclass
class Measurement:
    """What one runner gathered over the repeats."""

    runner: Runner | None
    label: str
    setting: Setting
    train_ms: list[float] = dataclasses.field(default_factory=list)  # per-repeat medians
    infer_ms: list[float] = dataclasses.field(default_factory=list)
    train_mem_mb: list[float] = dataclasses.field(default_factory=list)
    infer_mem_mb: list[float] = dataclasses.field(default_factory=list)
    warmup_s: float = math.nan
    state_mb: float = math.nan
    error: str = ""


def _measure_mode(runner: Runner, train: bool, steps: int, probe: MemoryProbe) -> tuple[float, float]:
    """(median step ms, peak MiB) of one block: one untimed step to refill caches, then `steps`."""
    runner.module.train(train)
    step = runner.train_step if train else runner.infer_step
    runner.release_grads()
    probe.start()
    step()
    times = time_steps(step, steps, runner.device)
    _sync(runner.device)
    peak = probe.peak_mb()
    runner.release_grads()
    return statistics.median(times) * 1000, peak


def _prepare(label, spec, setting, batch_size, img_size, device, num_classes, warmup, log) -> Measurement:
    """Build, convert, compile and warm up one runner; a failure becomes the row's error."""
    try:
        t0 = time.perf_counter()
        runner = Runner(label, spec, setting, batch_size, img_size, device, num_classes)
        for train in (True, False):  # both graphs compile here, before anything is timed
            runner.module.train(train)
            for _ in range(warmup):
                runner.train_step() if train else runner.infer_step()
        _sync(device)
        runner.release_grads()
        m = Measurement(runner, label, setting, warmup_s=time.perf_counter() - t0)
        log(f"prepared {label} [{setting.label}] in {m.warmup_s:.1f} s")
        return m
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001  (a compile or out-of-memory failure is reported; the rest runs)
        first = (str(e).strip().splitlines() or [""])[0][:200]
        log(f"FAILED {label} [{setting.label}]: {type(e).__name__}: {first}")
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return Measurement(None, label, setting, error=f"{type(e).__name__}: {first}")



# ---------------------------------------------------------------- the interleaved repeats

def measure_all(resolved, settings, batch_size, img_size, repeats, warmup, steps, dev, num_classes, log):
    """Prepare every (model, setting), run the interleaved repeats, and tabulate."""
    measurements = [
        _prepare(label, spec, s, batch_size, img_size, dev, num_classes, warmup, log)
        for s in settings for label, spec in resolved
    ]
    live = [m for m in measurements if m.runner is not None]
    probe = MemoryProbe(dev)
    for r in range(repeats):
        order = live[r % len(live):] + live[: r % len(live)] if live else []
        for m in order:  # rotate the start so no pair is always measured first
            train_ms, train_mem = _measure_mode(m.runner, True, steps, probe)
            infer_ms, infer_mem = _measure_mode(m.runner, False, steps, probe)
            m.train_ms.append(train_ms), m.infer_ms.append(infer_ms)
            m.train_mem_mb.append(train_mem), m.infer_mem_mb.append(infer_mem)
        log(f"repeat {r + 1}/{repeats} done")
    for m in live:  # after the repeats the optimizer state surely exists
        m.state_mb = m.runner.state_mb()
    frame = results_frame(measurements, batch_size, img_size, dev, repeats, warmup, steps, probe.method)
    for m in measurements:
        m.runner = None  # drop the models before the caller goes on
    return frame
