"""Training and inference throughput of our models against timm and torchvision.

Every (model, setting) pair is prepared once (built with the same seed, converted to the
memory format, compiled, warmed up), then measured INTERLEAVED: repeat r measures every pair
before repeat r+1 starts, and the starting pair rotates from repeat to repeat, so machine
noise (other jobs, thermal drift) falls on all of them alike. Numbers are medians: the median
step time of each repeat, then the median over repeats.

Models are named as `build_model` names them (a NAMED configuration, `timm:NAME`,
`torchvision:NAME`), as a ModelSpec, or as a spec string TEMPLATE:CxDd (e.g. `cifar-29:2x4d`,
`imagenet-50:32x4d`) for configurations without a name.

Training FLOPs per image are 3 x 2 x the forward multiply-adds (conv + fc); on CUDA the model
FLOP utilisation (MFU) is measured against the dense BF16 peak of A100 / H100 / H200, whatever
the precision of the run (an fp32 run therefore shows a low MFU by construction).

Peak memory: on CUDA, torch.cuda.max_memory_allocated over the measured steps minus what was
allocated before them. On CPU (Linux), the resident-set high-water mark (VmHWM, reset through
/proc/self/clear_refs) minus the resident set before the steps: a lower bound, because the C
allocator keeps pages freed by earlier steps and models resident and reuses them. Weights and
optimizer state are not in it; they are `state_mb`.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..config.complexity import complexity
from ..errors import UserError
from ..fsutil import write_text
from ..models import NAMED, build_model, measured_complexity
from ..config.templates import TEMPLATES
from ..config.specs import BaselineSpec, ModelSpec
from ..engine.environment import cpu_model

from .options import PRECISIONS, add_bench_arguments
REQUIRED_COLUMNS = (
    "model", "train_samples_per_sec", "infer_samples_per_sec", "batch_size", "img_size", "precision",
    "channels_last", "compiled", "param_count", "gmacs", "device",
)
# Dense BF16 tensor-core peak, FLOP/s (NVIDIA data sheets); matched against the device name.
PEAK_BF16_FLOPS = {"A100": 312e12, "H100": 989e12, "H200": 989e12}
SPEC_STRING = re.compile(r"^(?P<template>[a-z0-9-]+):(?P<c>\d+)x(?P<d>\d+)d?$")


# ---------------------------------------------------------------- what to measure

@dataclass(frozen=True)
class Setting:
    """How a model runs: precision, memory format, compiled or eager."""

    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise UserError(f"precision: expected one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    @property
    def label(self) -> str:
        layout = "channels_last" if self.channels_last else "nchw"
        return f"{self.precision}-{layout}-{'compile' if self.compile else 'eager'}"


def setting_from_dict(raw: dict | Setting) -> Setting:
    """A Setting from a mapping with keys precision / channels_last / compile."""
    if isinstance(raw, Setting):
        return raw
    known = {f.name for f in dataclasses.fields(Setting)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UserError(f"setting key {unknown[0]!r} unknown (known: {', '.join(sorted(known))})")
    return Setting(**raw)


def parse_setting(token: str) -> Setting:
    """A Setting from a '+'-joined token such as 'eager', 'cl', 'cl+compile', 'bf16+cl+compile'."""
    values: dict = {}
    words = {"nchw": ("channels_last", False), "cl": ("channels_last", True),
             "channels_last": ("channels_last", True), "nhwc": ("channels_last", True),
             "eager": ("compile", False), "compile": ("compile", True)}
    for word in token.lower().split("+"):
        if word in PRECISIONS:
            values["precision"] = word
        elif word in words:
            key, value = words[word]
            values[key] = value
        else:
            raise UserError(f"setting {token!r}: unknown word {word!r} "
                            f"(use {', '.join(PRECISIONS)}, nchw, cl, eager, compile joined by '+')")
    return Setting(**values)


def resolve_model(model: str | ModelSpec, num_classes: int) -> tuple[str, ModelSpec | BaselineSpec]:
    """(label, spec) of a model given by name, 'timm:'/'torchvision:' name, ModelSpec or TEMPLATE:CxDd."""
    if isinstance(model, ModelSpec):
        spec = dataclasses.replace(model, num_classes=num_classes)
        form = "" if spec.block_form == "c" else f"-{spec.block_form}"
        return f"{spec.template}:{spec.label}{form}", spec
    if not isinstance(model, str):
        raise UserError(f"model {model!r}: expected a name or a ModelSpec")
    if model.startswith(("timm:", "torchvision:")):
        return model, BaselineSpec(model, num_classes=num_classes)
    match = SPEC_STRING.match(model)
    if match and match["template"] in TEMPLATES:
        return model, ModelSpec(match["template"], int(match["c"]), int(match["d"]), num_classes=num_classes)
    if model in NAMED:
        return model, dataclasses.replace(NAMED[model], num_classes=num_classes)
    raise UserError(f"unknown model {model!r}: use a named configuration ({', '.join(NAMED)}), "
                    "timm:NAME, torchvision:NAME or TEMPLATE:CxDd (e.g. cifar-29:2x4d)")


def resolve_device(device: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is a UserError."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("device cuda requested but torch sees no GPU")
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"device {device!r}: expected auto, cpu or cuda")
    return dev


def check_setting(setting: Setting, device: torch.device) -> None:
    """Refuse settings the device cannot run."""
    if setting.precision == "fp16" and device.type == "cpu":
        raise UserError("fp16 autocast is not supported on CPU here: use bf16 or fp32")


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
    """(median step ms, peak MB) of one block: one untimed step to refill caches, then `steps`."""
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


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the benchmark

def run_bench_matrix(
    models: list[str | ModelSpec],
    settings: list[dict | Setting],
    batch_size: int = 32,
    img_size: int = 224,
    repeats: int = 3,
    warmup: int = 2,
    steps: int = 5,
    device: str = "auto",
    num_classes: int = 1000,
    out_csv: str | Path | None = None,
    threads: int | None = None,
    verbose: bool = True,
) -> pd.DataFrame:
    """Measure every model under every setting, interleaved over `repeats`; one row per pair."""
    if not models:
        raise UserError("bench: no model given")
    if not settings:
        raise UserError("bench: no setting given")
    for key, value in (("batch_size", batch_size), ("img_size", img_size), ("repeats", repeats),
                       ("steps", steps), ("num_classes", num_classes)):
        if value < 1:
            raise UserError(f"bench: {key} must be >= 1, got {value}")
    if warmup < 0:
        raise UserError(f"bench: warmup must be >= 0, got {warmup}")
    dev = resolve_device(device)
    settings = [setting_from_dict(s) for s in settings]
    for s in settings:
        check_setting(s, dev)
    resolved = [resolve_model(m, num_classes) for m in models]
    labels = [label for label, _ in resolved]
    if len(set(labels)) != len(labels):
        raise UserError(f"bench: a model is listed twice ({', '.join(labels)})")
    previous_threads, previous_cudnn = torch.get_num_threads(), torch.backends.cudnn.benchmark
    # cuDNN autotuning, as timm's benchmark does; the warmup steps absorb its cost.
    torch.backends.cudnn.benchmark = dev.type == "cuda" or previous_cudnn
    if threads is not None:
        if threads < 1:
            raise UserError(f"bench: threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    try:
        frame = _measure_all(resolved, settings, batch_size, img_size, repeats, warmup, steps, dev, num_classes,
                             _stderr if verbose else (lambda msg: None))
    finally:
        torch.set_num_threads(previous_threads)
        torch.backends.cudnn.benchmark = previous_cudnn
    if out_csv is not None:
        write_text(out_csv, frame.to_csv(index=False))
    return frame


def _measure_all(resolved, settings, batch_size, img_size, repeats, warmup, steps, dev, num_classes, log):
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


def run_bench(
    models: list[str | ModelSpec],
    batch_size: int = 32,
    img_size: int = 224,
    precision: str = "fp32",
    channels_last: bool = False,
    compile: bool = False,
    repeats: int = 3,
    warmup: int = 2,
    steps: int = 5,
    device: str = "auto",
    num_classes: int = 1000,
    out_csv: str | Path | None = None,
    threads: int | None = None,
    verbose: bool = True,
) -> pd.DataFrame:
    """Measure `models` under one setting, interleaved over `repeats`; one row per model."""
    setting = Setting(precision, channels_last, compile)
    return run_bench_matrix(models, [setting], batch_size, img_size, repeats, warmup, steps, device,
                            num_classes, out_csv, threads, verbose)


def peak_bf16_flops(device: torch.device) -> float | None:
    """The dense BF16 peak of a known GPU (A100, H100, H200), None for others and CPUs."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device).upper()
    return next((peak for key, peak in PEAK_BF16_FLOPS.items() if key in name), None)


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model name from /proc/cpuinfo."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def _spread_pct(step_ms: list[float]) -> float:
    """(max - min) / median of the per-repeat throughputs, in %: how noisy the repeats were."""
    if len(step_ms) < 2:
        return 0.0 if step_ms else math.nan
    rates = [1 / t for t in step_ms]
    return 100 * (max(rates) - min(rates)) / statistics.median(rates)


def results_frame(measurements, batch_size, img_size, device, repeats, warmup, steps, mem_method) -> pd.DataFrame:
    """One row per (model, setting): required timm-style columns first, then the extras."""
    peak = peak_bf16_flops(device)
    rows = []
    for m in measurements:
        runner = m.runner
        train_ms, infer_ms = _median(m.train_ms), _median(m.infer_ms)
        train_sps, infer_sps = batch_size * 1000 / train_ms, batch_size * 1000 / infer_ms
        macs = runner.macs if runner else math.nan
        rows.append({
            "model": m.label,
            "train_samples_per_sec": train_sps,
            "infer_samples_per_sec": infer_sps,
            "batch_size": batch_size,
            "img_size": img_size,
            "precision": m.setting.precision,
            "channels_last": m.setting.channels_last,
            "compiled": m.setting.compile,
            "param_count": runner.param_count / 1e6 if runner else math.nan,  # millions, as timm
            "gmacs": macs / 1e9,  # forward conv + fc multiply-adds per image at img_size
            "device": device_name(device),
            "setting": m.setting.label,
            "train_step_ms": train_ms,
            "infer_step_ms": infer_ms,
            "train_spread_pct": _spread_pct(m.train_ms),
            "infer_spread_pct": _spread_pct(m.infer_ms),
            "train_ms_repeats": list(m.train_ms),
            "infer_ms_repeats": list(m.infer_ms),
            "peak_mem_mb": max(m.train_mem_mb) if m.train_mem_mb else math.nan,
            "infer_peak_mem_mb": max(m.infer_mem_mb) if m.infer_mem_mb else math.nan,
            "peak_mem_method": mem_method,
            "state_mb": m.state_mb,
            # training FLOPs = 3 x forward (backward is twice the forward), 2 FLOPs per multiply-add
            "train_mfu": train_sps * 6 * macs / peak if peak else math.nan,
            "infer_mfu": infer_sps * 2 * macs / peak if peak else math.nan,
            "warmup_s": m.warmup_s,
            "repeats": repeats,
            "steps": steps,
            "warmup": warmup,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "error": m.error,
        })
    frame = pd.DataFrame(rows)
    add_ratios(frame)
    return frame


def _paired_ratio(base_ms, ms) -> float:
    """Median over repeats of the throughput ratio within each repeat (noise of a whole repeat cancels)."""
    ratios = [b / t for b, t in zip(base_ms, ms) if t > 0]
    return statistics.median(ratios) if ratios else math.nan


def _paired_spread_pct(base_ms, ms) -> float:
    """(max - min) / median of the per-repeat ratios, in %: how far the repeats disagree on the ratio."""
    ratios = [b / t for b, t in zip(base_ms, ms) if t > 0]
    if len(ratios) < 2:
        return math.nan
    return 100 * (max(ratios) - min(ratios)) / statistics.median(ratios)


def add_ratios(frame: pd.DataFrame) -> None:
    """Throughput ratios to the first model under the same setting and to the model's own first setting.

    `*_ratio` / `*_ratio_setting` divide the median throughputs; `*_ratio_paired` /
    `*_ratio_setting_paired` are medians of the per-repeat ratios. The per-repeat step times are
    kept in `*_ms_repeats` (';'-separated) so other statistics can be drawn later.
    """
    first_setting = frame["setting"].iloc[0]
    in_first_setting = frame[frame["setting"] == first_setting].set_index("model")
    for mode in ("train", "infer"):
        col, reps = f"{mode}_samples_per_sec", f"{mode}_ms_repeats"
        first_model = frame.groupby("setting", sort=False)[col].transform("first")
        frame[f"{mode}_ratio"] = frame[col] / first_model
        frame[f"{mode}_ratio_setting"] = frame[col] / frame["model"].map(in_first_setting[col])
        first_reps = frame.groupby("setting", sort=False)[reps].transform("first")
        frame[f"{mode}_ratio_paired"] = [_paired_ratio(b, t) for b, t in zip(first_reps, frame[reps])]
        frame[f"{mode}_ratio_spread_pct"] = [_paired_spread_pct(b, t) for b, t in zip(first_reps, frame[reps])]
        own_first = frame["model"].map(in_first_setting[reps])
        frame[f"{mode}_ratio_setting_paired"] = [_paired_ratio(b, t) for b, t in zip(own_first, frame[reps])]
    for mode in ("train", "infer"):
        frame[f"{mode}_ms_repeats"] = [";".join(f"{v:.3f}" for v in reps) for reps in frame[f"{mode}_ms_repeats"]]


# ---------------------------------------------------------------- presentation and CLI

def format_bench_table(frame: pd.DataFrame) -> str:
    """A readable fixed-width table of the results."""
    cols = {"model": "model", "setting": "setting", "train_samples_per_sec": "train img/s",
            "train_ratio_paired": "x first", "train_ratio_spread_pct": "± %",
            "train_ratio_setting_paired": "x own first setting",
            "infer_samples_per_sec": "infer img/s", "infer_ratio_paired": "x first ",
            "infer_ratio_spread_pct": "± % ", "train_step_ms": "train ms", "train_spread_pct": "spread %",
            "peak_mem_mb": "peak MB"}
    if frame["train_mfu"].notna().any():
        cols["train_mfu"] = "train MFU"
    if (frame["error"] != "").any():
        cols["error"] = "error"
    ratio = lambda v: f"{v:.3f}"
    number = lambda v: f"{v:.4g}"
    formatters = {c: (ratio if "ratio" in c or "mfu" in c else number)
                  for c in cols if frame[c].dtype.kind == "f"}
    return frame[list(cols)].to_string(index=False, header=list(cols.values()), formatters=formatters)


def noise_warnings(frame: pd.DataFrame) -> list[str]:
    """One line for each ratio whose effect is within the spread of its repeats (not a measured difference)."""
    lines = []
    firsts = frame.groupby("setting", sort=False)["model"].transform("first")
    for (_, row), first in zip(frame.iterrows(), firsts):
        if row["model"] == first:
            continue
        for mode in ("train", "infer"):
            ratio, spread = row[f"{mode}_ratio_paired"], row[f"{mode}_ratio_spread_pct"]
            if math.isnan(ratio):
                continue
            effect = abs(ratio - 1) * 100
            if math.isnan(spread):
                lines.append(f"warning: {row['model']} vs {first} ({row['setting']}, {mode}): one repeat, "
                             "no spread to judge the ratio by; use --repeats 3 or more")
            elif effect <= spread:
                lines.append(f"warning: {row['model']} vs {first} ({row['setting']}, {mode}): x{ratio:.3f} is a "
                             f"{effect:.1f}% effect within the repeats' {spread:.1f}% spread: not a measured "
                             "difference (more --repeats/--steps, --threads 1, a quieter machine)")
    return lines


def environment_text(device: str | torch.device = "auto", threads: int | None = None) -> str:
    """torch / torchvision / timm versions, the device and the thread count."""
    import timm
    import torchvision

    dev = resolve_device(device) if isinstance(device, str) else device
    return (f"torch {torch.__version__}, torchvision {torchvision.__version__}, timm {timm.__version__}, "
            f"python {platform.python_version()}; device {dev.type}: {device_name(dev)}; "
            f"torch threads {threads or torch.get_num_threads()}")


def bench_from_args(args: argparse.Namespace) -> int:
    """Run the benchmark from parsed arguments, print the table and environment; 1 if a pair failed."""
    on_cpu = resolve_device(args.device).type == "cpu"
    # CPU defaults that give stable ratios here: one thread (OpenMP barriers on a shared machine
    # made repeats spread 80-170 %) and shapes that finish a repeat in seconds.
    defaults = {"batch_size": 8, "img_size": 128, "threads": 1} if on_cpu else {"batch_size": 32, "img_size": 224}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.settings:
        settings = [parse_setting(token) for token in args.settings]
    else:
        settings = [Setting(args.precision, args.channels_last, args.compile)]
    frame = run_bench_matrix(
        args.models, settings, batch_size=args.batch_size, img_size=args.img_size, repeats=args.repeats,
        warmup=args.warmup, steps=args.steps, device=args.device, num_classes=args.num_classes,
        out_csv=args.out, threads=args.threads,
    )
    print(format_bench_table(frame))
    for line in noise_warnings(frame):
        print(line)
    print(f"batch {args.batch_size}, image {args.img_size}, {args.repeats} interleaved repeats x "
          f"{args.steps} steps (medians), memory: {frame['peak_mem_method'].iloc[0]}")
    print(environment_text(args.device, int(frame["threads"].iloc[0])))
    if args.out is not None:
        print(f"wrote {args.out}")
    return 1 if (frame["error"] != "").any() else 0


def main(argv: list[str] | None = None) -> int:
    """`python -m resnext_bench.bench.throughput MODEL ... [options]`: the bench verb without the project CLI."""
    parser = argparse.ArgumentParser(prog="python -m resnext_bench.bench.throughput", description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    try:
        return bench_from_args(parser.parse_args(argv))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
