"""End-to-end training throughput: the engine's own `train` of ResNeXt-50 32x4d and ResNet-50 reading a
generated pack of ImageNet-sized JPEGs through each input backend, eager and compiled.

Three steps, each its own process so that a slow compile or a crash costs one trial, not the rest:

  prepare  loader-bench's ImageNet-sized JPEGs (500x375 mostly, ~126 KB, q90), the unique ones
           hard-linked until the training split has `--train` images, packed with `pack`
  run      one trial (model, backend, compile): `train` of a fresh run folder for 2 epochs; the
           second epoch (compilation, cuDNN autotuning and the workers' start-up all fall in the
           first) gives training images/s and the data-wait share; MFU against the card's dense
           BF16 peak; the CUDA peak memory of the whole run. One JSON line appended to --results.
  report   a Markdown table of the trials

`--smoke` runs the same code at a size a CPU finishes in seconds (tiny images, narrow models, fp32):
the test that keeps the GPU script working where no GPU is.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from ..errors import UserError
from ..fsutil import write_text

MODELS = {"resnext50_32x4d": (32, 4), "resnet50": (1, 64)}
BACKENDS = ("pil", "turbo", "nvjpeg")
EPOCHS = 2  # the first warms up (compile, autotuning, workers); the second is measured


def _smoke_sizes(smoke: bool) -> dict:
    if smoke:
        return {"unique": 4, "train": 16, "val": 4, "batch": 4, "image_size": 32, "width": 8, "precision": "fp32"}
    return {"unique": 512, "train": 12_800, "val": 256, "batch": 256, "image_size": 224, "width": 64,
            "precision": "bf16"}


# ---------------------------------------------------------------- prepare

def prepare(work: Path, smoke: bool = False, workers: int | None = None) -> Path:
    """The folder tree (unique JPEGs hard-linked up to the training size) and its pack under WORK/pack."""
    from ..engine.data import pack
    from .loader import make_images

    sizes = _smoke_sizes(smoke)
    unique = make_images(work / "unique", sizes["unique"])
    tree = work / "tree"
    for split, count in (("train", sizes["train"]), ("val", sizes["val"])):
        for i in range(count):
            source, label = unique[i % len(unique)]
            target = tree / split / f"c{label}" / f"{split}{i:06d}.JPEG"
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(source, target)  # the same bytes, decoded again: the page cache holds one copy
    out = work / "pack"
    pack(tree, out, workers=workers or min(8, os.cpu_count() or 1))
    return out


# ---------------------------------------------------------------- one trial

def ablation_text(pack_dir: Path, smoke: bool, workers: int) -> str:
    """The trials' ablation: both models on the pack, a short recipe, bf16 + channels_last (fp32 in smoke)."""
    s = _smoke_sizes(smoke)
    width = s["width"]
    configurations = "\n".join(
        f"  - {{name: {name}, cardinality: {c}, bottleneck_width: {d if width == 64 else max(1, d * width // 64)}}}"
        for name, (c, d) in MODELS.items())
    return f"""name: e2e-throughput
template: imagenet-50
model: {{base_planes: {width}, stem_width: {width}}}
configurations:
{configurations}
data: {{name: imagenet, root: {json.dumps(str(pack_dir))}, num_workers: {workers}, image_size: {s['image_size']}}}
recipe: {{name: short, epochs: {EPOCHS}, batch_size: {s['batch']}, lr: 0.1, lr_batch: 256}}
seeds: [0]
runtime: {{precision: {s['precision']}, channels_last: true, checkpoint_minutes: 1000}}
"""


def run_trial(work: Path, model: str, backend: str, compile: bool, smoke: bool = False, device: str = "auto",
              workers: int | None = None) -> dict:
    """Train one fresh run folder (model, backend, compile) for 2 epochs; its measured figures."""
    import torch

    from ..config.load import load_ablation
    from ..config.runs import resolve_runs
    from ..engine.train import train_run
    from ..record import runfolder, runwrite
    from .results import peak_bf16_flops

    if model not in MODELS or backend not in BACKENDS:
        raise UserError(f"expected a model of {list(MODELS)} and a backend of {list(BACKENDS)}, got {model}, {backend}")
    workers = workers if workers is not None else (0 if smoke else max(1, min(12, (os.cpu_count() or 2) - 2)))
    ablation_file = work / "e2e.yaml"
    write_text(ablation_file, ablation_text(work / "pack", smoke, workers))
    overrides = [f"data.loader={backend}", f"runtime.compile={str(compile).lower()}", f"runtime.device={device}"]
    run = next(r for r in resolve_runs(load_ablation(ablation_file, overrides)) if r.configuration == model)
    name = f"{model}-{backend}-{'compile' if compile else 'eager'}"
    run_dir = work / "runs" / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}"
    runwrite.write_config(run_dir, run)
    cuda = torch.cuda.is_available() and device != "cpu"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = train_run(run_dir, run=run, log=lambda m: print(m, file=sys.stderr, flush=True))
    wall = time.perf_counter() - t0
    epochs = runfolder.read_epochs(run_dir, [])
    last = epochs[-1] if epochs else None
    ips = last.images_per_sec if last else None
    peak = peak_bf16_flops(torch.device("cuda")) if cuda else None
    flops = run.complexity.get("flops")
    return {"model": model, "backend": backend, "compile": compile, "status": result.get("status"),
            "device": result.get("device"), "data_loader": result.get("data_loader"),
            "images_per_sec": ips, "data_wait_pct": last.data_wait_pct if last else None,
            "mfu_pct": 100 * ips * 6 * flops / peak if ips and peak and flops else None,
            "peak_mem_gb": torch.cuda.max_memory_allocated() / 1e9 if cuda else None,
            "batch_size": run.recipe.batch_size, "image_size": run.image_size, "precision": run.runtime.precision,
            "workers": workers, "wall_s": wall, "run_dir": str(run_dir)}


# ---------------------------------------------------------------- report

def report(results: Path) -> str:
    """Markdown table of the trials in a results JSON-lines file (the latest line of each trial wins)."""
    trials: dict[tuple, dict] = {}
    for line in results.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            trials[row["model"], row["backend"], row["compile"]] = row

    def cell(value, fmt):
        return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, fmt)

    lines = ["| model | input | compile | train img/s (epoch 2) | MFU % | data wait % | GPU peak memory GB | status | wall s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (model, backend, compiled), r in trials.items():
        lines.append(f"| {model} | {backend} | {'yes' if compiled else 'no'} | {cell(r['images_per_sec'], ',.0f')} | "
                     f"{cell(r['mfu_pct'], '.1f')} | {cell(r['data_wait_pct'], '.1f')} | {cell(r['peak_mem_gb'], '.1f')} | "
                     f"{r['status']} | {cell(r['wall_s'], '.0f')} |")
    first = next(iter(trials.values()), {})
    head = (f"End-to-end `train` (engine/train.py through `python -m resnext_bench.bench.e2e`) on {first.get('device')}: "
            f"batch {first.get('batch_size')}, {first.get('image_size')} px, {first.get('precision')} + channels_last, "
            f"{first.get('workers')} loader workers, a pack of ImageNet-sized JPEGs; figures of the second of {EPOCHS} "
            "epochs (the first holds compilation and warm-up). MFU = img/s x 3 x 2 x forward multiply-adds / the "
            "card's dense BF16 peak.")
    return head + "\n\n" + "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m resnext_bench.bench.e2e", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    for name in ("prepare", "run"):
        q = sub.add_parser(name)
        q.add_argument("--work", type=Path, required=True, help="where the images, the pack and the runs go")
        q.add_argument("--smoke", action="store_true", help="tiny sizes, for a CPU")
        q.add_argument("--workers", type=int, default=None)
    run = sub.choices["run"]
    run.add_argument("--model", required=True, choices=list(MODELS))
    run.add_argument("--backend", required=True, choices=list(BACKENDS))
    run.add_argument("--compile", action="store_true")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    run.add_argument("--results", type=Path, required=True, help="JSON-lines file the trial is appended to")
    rep = sub.add_parser("report")
    rep.add_argument("results", type=Path)
    rep.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    try:
        if args.what == "prepare":
            print(prepare(args.work, args.smoke, args.workers))
        elif args.what == "run":
            row = run_trial(args.work, args.model, args.backend, args.compile, args.smoke, args.device, args.workers)
            with open(args.results, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row))
            return 0 if row["status"] == "completed" else 1
        else:
            text = report(args.results)
            print(text)
            if args.out:
                write_text(args.out, text)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
