"""The `bench` verb's options, defined once and free of torch (so `--help` and the CLI start fast).

Both entry points use them: `resnext-bench bench` and `python -m resnext_bench.bench.throughput`.
"""
from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from ..config.registries import PRECISIONS
from ..errors import UserError, printable
from ..fsutil import output_problem

MAX_IMAGE_SIZE = 1024  # beyond any model here: a typo (e.g. 2240), not a measurement
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `bench` verb's options to `parser`."""
    parser.add_argument("models", nargs="+",
                        help="NAMED configuration, timm:NAME, torchvision:NAME or TEMPLATE:CxDd; "
                             "ratios are to the first")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 8 on a CPU, 32 on a GPU")
    parser.add_argument("--img-size", type=int, default=None,
                        help="default: 128 on a CPU, 224 on a GPU; at most 1024, at least the model's total stride "
                             "(CIFAR 4, ImageNet 32)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile (warmup covers compilation)")
    parser.add_argument("--settings", nargs="+", metavar="SETTING",
                        help="measure several settings side by side, e.g. eager cl cl+compile bf16+cl; "
                             "replaces --precision/--channels-last/--compile")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds over all models")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per mode before the repeats")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per mode and repeat")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: 1 on a CPU, for stable ratios; torch's own on a GPU)")
    parser.add_argument("--out", type=Path, default=None, help="CSV file to write")


LOADER_BENCH_DATA = Path.home() / ".cache" / "resnext-bench" / "loader-bench"


def add_loader_bench_arguments(p: argparse.ArgumentParser) -> None:
    """`loader-bench`'s options (bench/loader.py measures)."""
    p.add_argument("--images", type=int, default=256, help="number of test images (default 256)")
    p.add_argument("--data", type=Path, default=LOADER_BENCH_DATA,
                   help=f"where the test images are written once and reused (default {LOADER_BENCH_DATA})")
    p.add_argument("--size", type=int, default=224, help="training crop (default 224)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved repeats (default 5)")
    p.add_argument("--train-ips", type=float, default=None,
                   help="a model's training images/s per GPU (from `bench`): print the CPU cores each backend needs")
    p.add_argument("--max-side", type=int, action="append", default=[], metavar="N",
                   help="also measure the set as `pack --max-side N` stores it (repeatable)")
    p.add_argument("--gpu-batch", type=int, default=256, help="nvjpeg: images per decoded batch (default 256)")
    p.add_argument("--out", type=Path, default=None, help="also write the report (Markdown) here")


def check_range(flag: str, value, low, high=None) -> None:
    """Refuse a numeric option outside [low, high] (one line, before any work)."""
    if value is None:
        return
    if not (math.isfinite(value) and value >= low and (high is None or value <= high)):
        bound = f">= {low}" if high is None else f"from {low} to {high}"
        raise UserError(f"{flag}: expected a number {bound}, got {value}")


def check_output(out, inputs=()) -> None:
    """Refuse an --out that cannot be written (or lies inside an input) before anything is measured."""
    if out is None:
        return
    why = output_problem(out, inputs)
    if why:
        raise UserError(f"--out {printable(out)}: {why}")


def check_bench_options(args: argparse.Namespace) -> None:
    """`bench`'s options within bounds, its device one torch knows and its --out writable, before any work.

    (The smallest image a model takes, its total stride, is checked once the models are known.)"""
    if not DEVICE.match(args.device):
        raise UserError(f"--device {printable(args.device)}: expected auto, cpu, cuda or cuda:N")
    for flag, value, low, high in (("--batch-size", args.batch_size, 1, None), ("--img-size", args.img_size, 1, MAX_IMAGE_SIZE),
                                   ("--repeats", args.repeats, 1, None), ("--warmup", args.warmup, 0, None),
                                   ("--steps", args.steps, 1, None), ("--num-classes", args.num_classes, 1, None),
                                   ("--threads", args.threads, 1, None)):
        check_range(flag, value, low, high)
    check_output(args.out)


def check_loader_bench_options(args: argparse.Namespace) -> None:
    """`loader-bench`'s options within bounds and its --out writable (not inside --data), before any work."""
    for flag, value, low, high in (("--images", args.images, 1, None), ("--size", args.size, 16, MAX_IMAGE_SIZE),
                                   ("--repeats", args.repeats, 1, None), ("--gpu-batch", args.gpu_batch, 1, None)):
        check_range(flag, value, low, high)
    if args.train_ips is not None and not (args.train_ips > 0 and math.isfinite(args.train_ips)):
        raise UserError(f"--train-ips: expected a number > 0, got {args.train_ips}")
    for side in args.max_side:
        check_range("--max-side", side, 16)
    check_output(args.out, [args.data])
