"""GPU-hours of runs from their epochs and data set size, at a measured, stated or FLOP-derived throughput.

The rate of a run comes, in this order of preference, from: `--throughput` (stated by the user); a
row of the shipped table of measured training rates (resnext_bench/reference/throughput.csv: GPU
model, family, depth, precision, compile, each row citing the record it comes from), scaled by the
ratio of forward multiply-adds so that a ResNeXt of other C x d at the same depth takes the row of
its family; else the run's training FLOPs at a stated efficiency (the fallback). Every estimate
says which it used.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from ..config.runs import Run
from ..errors import UserError
from ..reference import REFERENCE_DIR


# Training-split sizes of the standard data sets, for estimates made without the data at hand.
CANONICAL_TRAIN_SIZE = {"imagenet": 1_281_167, "cifar10": 50_000, "cifar100": 50_000}
THROUGHPUT_TABLE = REFERENCE_DIR / "throughput.csv"


@dataclass(frozen=True)
class MeasuredRate:
    """One row of the measured-throughput table."""

    gpu: str
    family: str
    depth: int
    precision: str
    compile: bool
    images_per_sec: float
    gmacs: float
    source: str


def gpu_key(name: Optional[str]) -> str:
    """A GPU model as the table keys it, its model number: "NVIDIA H200", "h200" and "H200" are all
    "H200"; "NVIDIA H100 80GB HBM3" and "NVIDIA A100-SXM4-80GB" are "H100" and "A100"."""
    words = [w for w in (name or "").upper().replace("-", " ").split() if w != "NVIDIA"]
    return words[0] if words else ""


@lru_cache(maxsize=None)
def measured_rates(path: str = str(THROUGHPUT_TABLE)) -> tuple[MeasuredRate, ...]:
    """The measured training rates, in the table's order (its first matching row wins)."""
    with open(path, newline="") as f:
        return tuple(MeasuredRate(gpu_key(r["gpu"]), r["family"], int(r["depth"]), r["precision"],
                                  r["compile"].strip().lower() == "true", float(r["images_per_sec"]),
                                  float(r["gmacs"]), r["source"]) for r in csv.DictReader(f))


def run_family(run: Run) -> Optional[tuple[str, int]]:
    """(family, depth) of an ImageNet-template run: ("resnet", 50) for C = 1, ("resnext", 50) above;
    None for CIFAR templates and timm/torchvision baselines (no measured row stands for them)."""
    template = getattr(run.model, "template", None)  # a BaselineSpec has none
    if template is None or not template.startswith("imagenet-"):
        return None
    return ("resnet" if run.model.cardinality == 1 else "resnext"), int(template.split("-", 1)[1])


def measured_rate(run: Run, gpu_model: Optional[str],
                  rates: Optional[tuple[MeasuredRate, ...]] = None) -> Optional[tuple[float, MeasuredRate]]:
    """(images/s per GPU, the row it comes from) for `run` on `gpu_model`, or None when no row fits.

    The row's rate is scaled by (row's forward multiply-adds / the run's), so a 2x40d ResNeXt-50
    takes the 32x4d row at its own complexity."""
    family = run_family(run)
    flops = run.complexity.get("flops")
    if not gpu_model or family is None or not flops:
        return None
    rt = run.runtime
    for row in measured_rates() if rates is None else rates:
        if (row.gpu, row.family, row.depth, row.precision, row.compile) == (
                gpu_key(gpu_model), family[0], family[1], rt.precision, rt.compile):
            return row.images_per_sec * row.gmacs * 1e9 / flops, row
    return None


def estimate_gpu_hours(runs: list[Run], images_per_sec_per_tflop: Optional[float], throughput: Optional[float],
                       gpu_model: Optional[str] = None) -> list[dict]:
    """GPU-hours of each run from its epochs and data set size, at a stated, measured or FLOP-derived rate.

    `throughput` (images/s per GPU) is used as given when set; else the measured row for
    (`gpu_model`, the run's family, depth, precision, compile), scaled by multiply-adds; else the
    run's training FLOPs (3 x 2 x forward multiply-adds per image) at `images_per_sec_per_tflop`
    effective TFLOP/s. Each row's `basis` says which ("stated", "measured" with `source`, "flops").
    """
    from ..engine.data import dataset_info

    rows = []
    for r in runs:
        try:
            train_size = dataset_info(r.data).train_size
        except UserError:  # data not readable here (a login node): the standard training split
            train_size = CANONICAL_TRAIN_SIZE.get(r.data.name)
            if train_size and r.data.train_limit:
                train_size = min(train_size, r.data.train_limit)
        flops = r.complexity.get("flops") or 0
        speed, basis, source = throughput, "stated", None
        if speed is None:
            found = measured_rate(r, gpu_model)
            if found is not None:
                speed, basis, source = found[0], "measured", found[1].source
            elif images_per_sec_per_tflop and flops:
                speed, basis = images_per_sec_per_tflop * 1e12 / (6 * flops), "flops"
            else:
                basis = None
        hours = None
        if train_size and speed:
            hours = train_size * r.recipe.epochs / speed / 3600
        rows.append({"run_id": r.run_id, "configuration": r.configuration, "seed": r.seed,
                     "train_images": train_size, "epochs": r.recipe.epochs, "images_per_sec": speed,
                     "gpu_hours": hours, "basis": basis, "source": source})
    return rows
