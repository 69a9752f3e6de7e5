"""Will my run be input-bound? Images/s per CPU core of every ImageNet decoding backend here.

`resnext-bench loader-bench` writes (once, outside the repository) a set of ImageNet-sized JPEGs:
sizes drawn from a fixed mix around ImageNet's typical 500x375, photo-like texture, quality 90,
about 110 KB each, like ImageNet's average file. Every backend then turns the same samples into
training crops with the same tickets (one epoch's order, boxes and mirror flags: the draws of
engine/data/draws.py), on ONE thread, INTERLEAVED: repeat r measures every backend once (the
starting backend rotates), so machine noise falls on all alike. A backend's rate is images per
CPU-second of this process (file read included, page cache warm): images/s per core. Its ratio to
the PIL reference is taken per repeat (paired), then the median and the range over repeats.

The `floor` row reads each file and decodes it at 1/8 scale in libjpeg-turbo (the entropy decoding
alone, no IDCT, crop or resize): no CPU path that decodes the stored pixels can be faster, so the
distance from `turbo` to `floor` is all a faster CPU resampler could still win.

Given a model's training images/s per GPU (`--train-ips`, from `bench`), the table says how many
CPU cores each backend needs to keep one GPU fed. The `nvjpeg` backend (GPU decoding) is measured
on a CUDA device: its CPU cost is the workers' read + header parse and the training process's
launch work, its GPU rate the decode + crop + resize of whole batches.
"""
from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..fsutil import write_text
from ..progress import progress
from .options import add_loader_bench_arguments, check_loader_bench_options

# (width, height, share): landscape 4:3 dominates ImageNet; portraits, 3:2, and a few larger photos.
SIZE_MIX = ((500, 375, 0.45), (375, 500, 0.15), (500, 333, 0.15), (500, 400, 0.1), (640, 480, 0.1),
            (800, 600, 0.05))
QUALITY = 90
NOISE = 24  # texture amplitude: ~110 KB at 500x375, q90


@dataclass(frozen=True)
class Row:
    backend: str
    images_per_core_s: float  # images per CPU-second, median over repeats
    ratio: Optional[float]  # to pil, paired per repeat, median
    ratio_lo: Optional[float]
    ratio_hi: Optional[float]
    gpu_images_s: Optional[float] = None  # nvjpeg: decode+crop+resize on the GPU, images/s (wall)
    note: str = ""

    def cores_for(self, train_ips: float) -> float:
        return train_ips / self.images_per_core_s


# ---------------------------------------------------------------- the image set

def make_images(root: Path, n: int, seed: int = 0, classes: int = 4) -> list[tuple[str, int]]:
    """ImageFolder-style train/CLASS/IMAGE.JPEG files (reused when already there): (path, label)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    sizes = [(w, h) for w, h, share in SIZE_MIX for _ in range(round(share * n))][:n]
    while len(sizes) < n:
        sizes.append(SIZE_MIX[0][:2])
    order = rng.permutation(n)
    samples = []
    todo = []
    for i in range(n):
        label = i % classes
        path = root / "train" / f"c{label}" / f"img{i:06d}.JPEG"
        samples.append((str(path), label))
        if not path.exists():
            todo.append((i, path))
    for i, path in progress(todo, len(todo), "loader-bench: writing test images", label=lambda t: t[1].name):
        w, h = sizes[order[i]]
        g = np.random.default_rng((seed, i))
        base = g.random((h // 25 + 2, w // 25 + 2, 3))
        smooth = np.asarray(Image.fromarray((base * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC))
        pixels = np.clip(smooth.astype(np.int16) + g.normal(0, NOISE, (h, w, 3)).astype(np.int16), 0, 255)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        Image.fromarray(pixels.astype(np.uint8)).save(tmp, format="JPEG", quality=QUALITY)
        tmp.replace(path)
    return samples


def size_summary(samples: list[tuple[str, int]]) -> str:
    """The files' size distribution: KB and pixel dimensions."""
    from PIL import Image

    kb = np.array([Path(p).stat().st_size / 1e3 for p, _ in samples])
    dims: dict[str, int] = {}
    for p, _ in samples:
        with Image.open(p) as im:
            dims[f"{im.width}x{im.height}"] = dims.get(f"{im.width}x{im.height}", 0) + 1
    q = np.percentile(kb, [5, 50, 95])
    mix = ", ".join(f"{k} ({v})" for k, v in sorted(dims.items(), key=lambda kv: -kv[1]))
    return (f"{len(samples)} JPEGs, quality {QUALITY}: {kb.mean():.0f} KB mean (5/50/95%: {q[0]:.0f}/{q[1]:.0f}/"
            f"{q[2]:.0f} KB, {kb.sum() / 1e3:.1f} MB in all); sizes {mix}")


# ---------------------------------------------------------------- measuring

FLOOR = "floor: entropy decoding alone (1/8 scale)"


def _cpu_backends() -> dict[str, Callable]:
    """name -> decode(data, size, box_of, flip): every CPU backend (and turbo binding) usable here,
    the training crops' path of each, and the floor (which returns no image)."""
    from functools import partial

    from ..engine.data import decode_floor, decode_pil, decode_turbo, decode_turbo_training, turbo_decoder

    found = {"pil": decode_pil}
    if turbo_decoder() == "simplejpeg":
        found["turbo"] = partial(decode_turbo_training, binding="simplejpeg")
        found["turbo, accurate (evaluation crops)"] = partial(decode_turbo, binding="simplejpeg")
    found["turbo (torchvision.io)"] = partial(decode_turbo, binding="torchvision.io")
    if turbo_decoder() == "simplejpeg":
        found[FLOOR] = lambda data, size, box_of, flip: decode_floor(data)
    return found


def _tickets(samples, size: int, seed: int, epoch: int):
    """Each sample's bytes, label, box function and mirror flag for `epoch`, in the epoch's order."""
    from ..engine.data import Schedule, ticket_view

    out = []
    for index in Schedule(len(samples), 1, seed, 1, 0).order(epoch).tolist():
        _, box_of, flip = ticket_view((index, epoch), seed, size)  # the draws the training loaders take
        out.append((samples[index][0], samples[index][1], box_of, flip))
    return out


def _time_cpu(decode, tickets, size: int) -> tuple[float, list[int]]:
    """CPU seconds of this process to read and decode every ticket, and the labels in order."""
    labels = []
    start = time.process_time()
    for path, label, box_of, flip in tickets:
        with open(path, "rb") as f:
            data = f.read()
        image = decode(data, size, box_of, flip)
        assert image is None or image.shape == (3, size, size)  # None: the floor makes no crop
        labels.append(label)
    return time.process_time() - start, labels


def packed_copies(samples, folder: Path, max_side: int) -> list[tuple[str, int]]:
    """The set as `pack --max-side` stores it (longest side <= max_side), as files beside the originals."""
    from ..engine.data import PackOptions, stored_bytes

    copies = []
    for path, label in samples:
        target = folder / Path(path).relative_to(Path(path).parents[2])
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            write_bytes = stored_bytes(path, PackOptions(max_side=max_side))
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(write_bytes)
            tmp.replace(target)
        copies.append((str(target), label))
    return copies


def measure_cpu(samples, size: int, repeats: int, seed: int = 0, log=print,
                variants: Optional[dict[str, list]] = None) -> list[Row]:
    """Every CPU backend, interleaved over `repeats`, one epoch's tickets each repeat (paired with pil
    on the original files). `variants`: other copies of the set (e.g. packed at a bounded size),
    measured with every backend too, under the same draws and label order."""
    backends = _cpu_backends()
    sets = {"": samples, **(variants or {})}
    cases = [(name, variant) for variant in sets for name in backends]
    label_of = {case: case[0] + (f", {case[1]}" if case[1] else "") for case in cases}
    rates: dict[tuple, list[float]] = {case: [] for case in cases}
    for variant, items in sets.items():
        warm = _tickets(items[:8], size, seed, epoch=-1)
        for name in backends:  # first calls load libraries and fill caches: not measured
            _time_cpu(backends[name], warm, size)
    for r in range(repeats):
        tickets = {variant: _tickets(items, size, seed, epoch=r) for variant, items in sets.items()}
        reference_labels = None
        for j in range(len(cases)):
            name, variant = cases[(r + j) % len(cases)]
            cpu_s, labels = _time_cpu(backends[name], tickets[variant], size)
            if reference_labels is None:
                reference_labels = labels
            elif labels != reference_labels:  # every backend must see the same samples in the same order
                raise RuntimeError(f"{label_of[name, variant]}: label order differs from the other backends")
            rates[name, variant].append(len(samples) / cpu_s)
        log(f"loader-bench: repeat {r + 1}/{repeats}: " + ", ".join(
            f"{label_of[case]} {rates[case][-1]:.0f}/s" for case in cases))
    rows = []
    for case in cases:
        ratios = [a / b for a, b in zip(rates[case], rates["pil", ""])]
        rows.append(Row(label_of[case], statistics.median(rates[case]), statistics.median(ratios), min(ratios),
                        max(ratios)))
    return rows


def measure_nvjpeg(samples, size: int, repeats: int, batch: int, seed: int = 0, log=print,
                   device: str = "cuda") -> Optional[Row]:
    """GPU decoding: CPU seconds per image (worker-side read + header, main-side launches) and the
    GPU's images/s for whole batches; None without CUDA. (`device="cpu"` runs the same code with
    torchvision's CPU decoder: a rehearsal, not a measurement of anything useful.)"""
    import torch

    from ..engine.data import decode_batch, EncodedImages, FolderSource

    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        return None
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    dataset = EncodedImages(FolderSource(tuple(samples)), size, seed)
    cpu_rates, gpu_rates = [], []
    for r in range(repeats + 1):  # the first pass warms nvjpeg up and is not counted
        order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(r)).tolist()
        t0 = time.process_time()
        items = [dataset[(i, r)] for i in order]
        worker_cpu = time.process_time() - t0
        sync()
        t0, w0 = time.process_time(), time.perf_counter()
        for k in range(0, len(items), batch):
            images, _, _ = decode_batch(items[k:k + batch], size, device)
        sync()
        main_cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        if r:
            cpu_rates.append(len(items) / (worker_cpu + main_cpu))
            gpu_rates.append(len(items) / wall)
            log(f"loader-bench: nvjpeg repeat {r}/{repeats}: {cpu_rates[-1]:.0f} images per CPU-s, "
                f"GPU {gpu_rates[-1]:.0f}/s")
    diff = _parity(dataset, samples[:64], size, device)
    return Row("nvjpeg", statistics.median(cpu_rates), None, None, None, statistics.median(gpu_rates),
               note=f"{torch.cuda.get_device_name(0) if device.type == 'cuda' else 'CPU stand-in'}, batches of {batch}; CPU: read + header + launches; "
                    f"evaluation crops of the first {min(64, len(samples))} images differ from pil's by "
                    f"{diff:.2f} grey levels on average (decoder rounding)")


def _parity(dataset, samples, size: int, device) -> float:
    """Mean |nvjpeg - pil| of the evaluation crops (central box), in grey levels."""
    from ..engine.data import decode_batch, FolderImages

    reference = FolderImages(dataset.source, size, dataset.seed, "pil")  # a plain index: the central box
    gpu, _, _ = decode_batch([dataset[i] for i in range(len(samples))], size, device)
    diffs = [(gpu[i].cpu().float() - reference[i][0].float()).abs().mean().item() for i in range(len(samples))]
    return sum(diffs) / len(diffs)


# ---------------------------------------------------------------- the table

def table(rows: list[Row], train_ips: Optional[float]) -> str:
    head = "| backend | images/s per core | vs pil (paired: median, range) | GPU images/s |"
    sep = "|---|---|---|---|"
    if train_ips:
        head += f" cores per GPU at {train_ips:,.0f} img/s |"
        sep += "---|"
    lines = [head, sep]
    for row in rows:
        ratio = (f"{row.ratio:.2f}x ({row.ratio_lo:.2f}-{row.ratio_hi:.2f})" if row.ratio is not None
                 else "(not paired: other device)")
        gpu = f"{row.gpu_images_s:,.0f}" if row.gpu_images_s else "-"
        line = f"| {row.backend} | {row.images_per_core_s:,.0f} | {ratio} | {gpu} |"
        if train_ips:
            line += f" {math.ceil(row.cores_for(train_ips))} |"
        lines.append(line)
    return "\n".join(lines)


def run(args) -> int:
    import torch

    check_loader_bench_options(args)  # before any image is written or measured
    torch.set_num_threads(1)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    samples = make_images(args.data / f"v1-{args.images}", args.images)
    sizes = size_summary(samples)
    variants = {f"pack --max-side {side}": packed_copies(samples, args.data / f"v1-{args.images}-max{side}", side)
                for side in args.max_side}
    rows = measure_cpu(samples, args.size, args.repeats, log=log, variants=variants)
    gpu = measure_nvjpeg(samples, args.size, args.repeats, args.gpu_batch, log=log)
    rows += [gpu] if gpu else []
    from ..engine.environment import cpu_model
    from ..engine.data import turbo_decoder

    text = "\n".join([
        f"# loader-bench: ImageNet training crops ({args.size} px) per CPU core",
        "",
        f"- machine: {cpu_model()}, {platform.python_implementation()} {platform.python_version()}, "
        f"torch {torch.__version__}, one thread; turbo uses {turbo_decoder()}",
        f"- images: {sizes}",
        f"- {args.repeats} interleaved repeats, each one epoch's tickets (same order, boxes, flips) for every backend",
    ] + [f"- `pack --max-side {side}` rows: the same images as `pack` stores them with their longest side bounded "
         f"to {side} px (a smaller data set than the originals: the reference stays pil on the originals)"
         for side in args.max_side] + [
        "",
        table(rows, args.train_ips),
        "",
    ] + ([f"- nvjpeg: {gpu.note}"] if gpu else ["- nvjpeg: not measured (no CUDA device here)"]) + [
        "" if args.train_ips else "- pass --train-ips (training images/s per GPU, from `bench`) for cores per GPU",
    ])
    print(text)
    if args.out:
        write_text(args.out, text + "\n")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m resnext_bench.bench.loader", description=__doc__.split("\n")[0])
    add_loader_bench_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
