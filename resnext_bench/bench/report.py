"""The throughput benchmark's results as text: the fixed-width table, warnings for ratios within
the noise of the repeats, and the environment line."""
from __future__ import annotations

import math
import platform

import pandas as pd
import torch

from .results import device_name
from .settings import resolve_device


def format_bench_table(frame: pd.DataFrame) -> str:
    """A readable fixed-width table of the results."""
    cols = {"model": "model", "setting": "setting", "train_samples_per_sec": "train img/s",
            "train_ratio_paired": "x first", "train_ratio_spread_pct": "± %",
            "train_ratio_setting_paired": "x own first setting",
            "infer_samples_per_sec": "infer img/s", "infer_ratio_paired": "x first ",
            "infer_ratio_spread_pct": "± % ", "train_step_ms": "train ms", "train_spread_pct": "spread %",
            "peak_mem_mb": "peak MiB"}
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
