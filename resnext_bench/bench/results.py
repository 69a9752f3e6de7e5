"""The throughput benchmark's results as a table: one row per (model, setting), timm's columns
first, then step times, spreads, memory, MFU and the ratios between rows.

Training FLOPs per image are 3 x 2 x the forward multiply-adds (conv + fc); on CUDA the model
FLOP utilisation (MFU) is measured against the dense BF16 peak of A100 / H100 / H200, whatever
the precision of the run (an fp32 run therefore shows a low MFU by construction).
"""
from __future__ import annotations

import math
import statistics

import pandas as pd
import torch

from ..engine.environment import cpu_model

REQUIRED_COLUMNS = (
    "model", "train_samples_per_sec", "infer_samples_per_sec", "batch_size", "img_size", "precision",
    "channels_last", "compiled", "param_count", "gmacs", "device",
)
# Dense BF16 tensor-core peak, FLOP/s (NVIDIA data sheets); matched against the device name.
PEAK_BF16_FLOPS = {"A100": 312e12, "H100": 989e12, "H200": 989e12}


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
