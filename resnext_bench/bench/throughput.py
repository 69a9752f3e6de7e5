"""Training and inference throughput of our models against timm and torchvision.

The entry points: `run_bench_matrix` / `run_bench`, which check the request (settings.py says
what to measure), measure every pair interleaved over the repeats (measure.py), and return and
write the table of one row per pair (results.py); and the `bench` verb, which prints it (report.py),
also run as `python -m resnext_bench.bench.throughput`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

from ..config.specs import ModelSpec
from ..errors import UserError
from ..fsutil import write_text
from .measure import measure_all
from .options import add_bench_arguments
from .report import environment_text, format_bench_table, noise_warnings
from .options import check_bench_options
from .settings import (Setting, check_setting, parse_setting, resolve_device, resolve_model, setting_from_dict,
                       total_stride)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


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
    for label, spec in resolved:
        stride = total_stride(spec)
        if img_size < stride:
            raise UserError(f"bench: img_size {img_size} is below {label}'s total stride {stride}: "
                            f"its last stage would see no image of its own (give at least {stride})")
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
        frame = measure_all(resolved, settings, batch_size, img_size, repeats, warmup, steps, dev, num_classes,
                            _stderr if verbose else (lambda msg: None))
    finally:
        torch.set_num_threads(previous_threads)
        torch.backends.cudnn.benchmark = previous_cudnn
    if out_csv is not None:
        write_text(out_csv, frame.to_csv(index=False))
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


def bench_from_args(args: argparse.Namespace) -> int:
    """Run the benchmark from parsed arguments, print the table and environment; 1 if a pair failed."""
    check_bench_options(args)  # before torch sees the device or any model is measured
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
