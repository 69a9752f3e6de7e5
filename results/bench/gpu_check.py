"""Summarise the bench CSVs of results/bench/gpu.sh as one Markdown table.

    python results/bench/gpu_check.py OUT/*.csv [--out OUT/table.md] [--peak-tflops 989]

One row per (model, setting): training images/s, the ratio to timm's implementation of the same
architecture under the same setting (so ours' row gives ours / timm), model FLOP utilisation and
peak memory. MFU = training images/s x 3 x 2 x forward multiply-adds per image / the card's dense
BF16 peak (backward costs twice the forward; 2 FLOPs per multiply-add). The peak is read from the
CSV's device name (A100 312, H100 989, H200 989 TFLOP/s dense BF16, as in the bench module) unless
--peak-tflops gives one; on a CPU there is none and MFU is left empty. Where the bench wrote its
own `train_mfu`, it is checked against this computation.

Standard library only, so it runs in any Python.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

# Dense BF16 tensor-core peak in TFLOP/s (NVIDIA data sheets; SXM parts), matched in the device name.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0}


def peak_tflops(device: str) -> float | None:
    name = device.upper()
    return next((peak for key, peak in PEAK_BF16_TFLOPS.items() if key in name), None)


def num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def read_rows(paths: list[Path]) -> tuple[list[dict], list[str]]:
    rows, problems = [], []
    for path in paths:
        try:
            with open(path, newline="") as f:
                found = list(csv.DictReader(f))
        except OSError as e:
            problems.append(f"{path}: unreadable ({e})")
            continue
        if not found:
            problems.append(f"{path}: no rows")
        for r in found:
            r["_file"] = path.name
        rows.extend(found)
    return rows, problems


def base_name(model: str) -> str:
    """The architecture a row measures: `timm:resnet50` and `torchvision:resnet50` are `resnet50`."""
    return model.split(":", 1)[1] if ":" in model else model


def fmt(value: float, digits: int) -> str:
    return "" if math.isnan(value) else f"{value:.{digits}f}"


def summarise(rows: list[dict], peak_override: float | None = None) -> tuple[str, list[str]]:
    """(Markdown text, notes) for the rows of one or more bench CSVs."""
    notes = []
    timm = {}
    for r in rows:
        if r["model"].startswith("timm:"):
            timm[(base_name(r["model"]), r["setting"], r["batch_size"], r["img_size"])] = num(r["train_samples_per_sec"])
    lines = ["| model | setting | train img/s | x timm (same setting) | train MFU % | peak mem MB | note |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        sps = num(r["train_samples_per_sec"])
        macs = num(r.get("gmacs")) * 1e9
        device = r.get("device", "")
        peak = peak_override or peak_tflops(device)
        mfu = sps * 6 * macs / (peak * 1e12) if peak else math.nan
        bench_mfu = num(r.get("train_mfu"))
        if not math.isnan(bench_mfu) and not math.isnan(mfu) and abs(bench_mfu - mfu) > 0.01 * max(mfu, 1e-12):
            notes.append(f"{r['model']} {r['setting']}: the bench's train_mfu {bench_mfu:.4f} differs from "
                         f"{mfu:.4f} computed here")
        ref = timm.get((base_name(r["model"]), r["setting"], r["batch_size"], r["img_size"]), math.nan)
        ratio = sps / ref if ref and not math.isnan(ref) else math.nan
        error = (r.get("error") or "").replace("|", "/").strip()
        lines.append(f"| {r['model']} | {r['setting']} | {fmt(sps, 1)} | {fmt(ratio, 3)} | "
                     f"{fmt(100 * mfu, 1)} | {fmt(num(r.get('peak_mem_mb')), 0)} | {error[:80]} |")
    devices = sorted({r.get("device", "") for r in rows})
    shapes = sorted({(r["batch_size"], r["img_size"]) for r in rows})
    torch_versions = sorted({r.get("torch", "") for r in rows})
    peaks = sorted({str(peak_override or peak_tflops(d)) for d in devices})
    head = (f"Device: {', '.join(devices)}; torch {', '.join(torch_versions)}; "
            f"batch x image: {', '.join(f'{b} x {i}px' for b, i in shapes)}; "
            f"dense BF16 peak used for MFU: {', '.join(p + ' TFLOP/s' if p != 'None' else 'none (no GPU)' for p in peaks)}.")
    foot = ("MFU = train img/s x 3 x 2 x forward multiply-adds (`gmacs`) / peak. "
            "Peak memory: CUDA max_memory_allocated growth over the measured steps (CPU: resident-set growth). "
            "x timm: training throughput over timm's model of the same architecture and setting.")
    return "\n".join([head, "", *lines, "", foot]), notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csvs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="dense BF16 peak of the card, TFLOP/s (default: from the device name)")
    args = parser.parse_args(argv)
    rows, problems = read_rows([p for p in args.csvs if p.exists()])
    problems += [f"{p}: missing" for p in args.csvs if not p.exists()]
    if not rows:
        print("no bench rows to summarise: " + "; ".join(problems), file=sys.stderr)
        return 1
    text, notes = summarise(rows, args.peak_tflops)
    extra = [f"- {n}" for n in notes + problems]
    if extra:
        text += "\n\n" + "\n".join(extra)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
