"""GPU-hours of runs from their FLOPs, epochs and data set size, at a stated throughput."""
from __future__ import annotations

from typing import Optional

from ..config.runs import Run
from ..errors import UserError


# Training-split sizes of the standard data sets, for estimates made without the data at hand.
CANONICAL_TRAIN_SIZE = {"imagenet": 1_281_167, "cifar10": 50_000, "cifar100": 50_000}


def estimate_gpu_hours(runs: list[Run], images_per_sec_per_tflop: Optional[float], throughput: Optional[float]) -> list[dict]:
    """GPU-hours of each run from its FLOPs, epochs and data set size, at a stated throughput.

    `throughput` (images/s per GPU) is used as given when set; otherwise it is derived from the
    run's training FLOPs (3 x 2 x forward multiply-adds per image) at `images_per_sec_per_tflop`
    effective TFLOP/s.
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
        speed = throughput
        if speed is None and images_per_sec_per_tflop and flops:
            speed = images_per_sec_per_tflop * 1e12 / (6 * flops)
        hours = None
        if train_size and speed:
            hours = train_size * r.recipe.epochs / speed / 3600
        rows.append({"run_id": r.run_id, "configuration": r.configuration, "seed": r.seed,
                     "train_images": train_size, "epochs": r.recipe.epochs, "images_per_sec": speed,
                     "gpu_hours": hours})
    return rows
