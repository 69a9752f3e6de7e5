"""Score a finished run's final weights on its held-out split at one view (crop, resize), as the
paper's Table 5 does at 224 and 320, and record the result in RUN/evaluations.json.

The model is rebuilt from the run's config.yaml and loaded from its final checkpoint (the one
written at the end of the last epoch); the images are those training validated on, through the
same decoder and in the same order, and the forward pass is training's own (`train.evaluate`:
the run's precision and memory format). So the view training validated at (the run's image size,
resized by 256/224 on ImageNet) gives the final validation error training recorded, exactly,
when it runs where training ran: another ImageNet decoder (`auto` resolves by device) changes
pixels by rounding (the log warns), and a run trained with torch.compile is evaluated eagerly.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from .. import __version__
from ..config.runs import Run
from ..config.specs import DataSpec
from ..errors import UserError
from ..progress import progress
from ..record import evaluations, runfolder, schema
from ..record.runwrite import now_iso
from ..units import plural
from .checkpoint import final_weights
from .distributed import Dist
from .environment import device_name, git_commit


@dataclass(frozen=True)
class View:
    """What to evaluate: the center crop, the short side before it (None: the usual ratio), batch, device."""

    crop: Optional[int] = None  # None: the size the run trained at
    resize: Optional[int] = None
    batch_size: Optional[int] = None  # None: the run's batch (what training validated with)
    device: str = "auto"


def _print(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def finished_run(run_dir: Path) -> Run:
    """The Run of a completed run folder; a one-line UserError for any other."""
    run_dir = Path(run_dir)
    if not (run_dir / runfolder.CONFIG).is_file():
        raise UserError(f"{run_dir}: not a run folder (no {runfolder.CONFIG})")
    run = runfolder.load_config(run_dir)
    record = runfolder.read_run(run_dir)
    if record.state != schema.COMPLETED:
        why = f": {record.state_reason}" if record.state_reason else ""
        raise UserError(f"{run.run_id}: not finished ({record.state}{why}); evaluate needs a completed run's final "
                        "checkpoint")
    if not record.has_checkpoint:
        raise UserError(f"{run.run_id}: completed but its checkpoint files are gone; nothing to evaluate")
    evaluations.check_writable(run_dir)
    return run


def evaluable(run_dir: Path, view: View, data_root: Optional[str] = None) -> tuple[Run, DataSpec, int]:
    """(run, its data spec, crop) when the run can be evaluated at `view`; a one-line UserError otherwise."""
    import dataclasses

    from .data import check_view, trained_size

    run = finished_run(run_dir)
    spec = dataclasses.replace(run.data, root=data_root) if data_root else run.data
    crop = view.crop or trained_size(spec)
    check_view(spec, crop, view.resize)
    if view.batch_size is not None and view.batch_size < 1:
        raise UserError(f"--batch-size {view.batch_size}: expected a number >= 1")
    return run, spec, crop


def resolve_device(name: str) -> torch.device:
    """auto: the GPU when one is visible, else the CPU; cpu, cuda, cuda:N as named."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device is visible")
    return device


class _Counted:
    """Validation data whose batches are counted (images scored) and reported as they go."""

    def __init__(self, val, what: str):
        self.val, self.what, self.images = val, what, 0

    def batches(self, batch_size: Optional[int] = None):
        total = -(-self.val.size // self.val.batch_size) if self.val.size else 0
        for images, labels in progress(self.val.batches(batch_size), total, self.what, lambda _: "batches"):
            self.images += labels.numel()
            yield images, labels


def evaluate_run(run_dir: Path, view: View, log: Callable[[str], None] = _print,
                 data_root: Optional[str] = None) -> evaluations.Evaluation:
    """Evaluate a completed run at `view` and record it (replacing that view's earlier entry)."""
    from ..models import build_model
    from .data import build_eval_data
    from .train import evaluate

    run_dir = Path(run_dir)
    run, spec, crop = evaluable(run_dir, view, data_root)
    resize = view.resize or (evaluations.default_resize(crop) if spec.name == "imagenet" else crop)
    batch = view.batch_size or run.recipe.batch_size
    device = resolve_device(view.device)
    ids = tuple(i for i in (run.run_id, runfolder.recorded_run_id(run_dir)) if i)
    weights, epoch = final_weights(run_dir, run.recipe.epochs, ids)
    val = build_eval_data(spec, crop, resize if spec.name == "imagenet" else None, batch, device)
    model = build_model(run.model)
    model.load_state_dict(weights)
    model = model.to(device)
    if run.runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    log(f"{run.run_id}: evaluating epoch {epoch} weights on {plural(val.size, 'image')} of {spec.name} at crop {crop} "
        f"(resize {resize}) on {device_name(device)}")
    trained_with = (runfolder.result_of(run_dir) or {}).get("data_loader")
    if trained_with and getattr(val, "loader", None) not in (None, trained_with):
        log(f"{run.run_id}: warning: trained reading data with {trained_with}, evaluating with {val.loader}: the same "
            "images, pixels differ by decoder rounding")
    counted = _Counted(val, f"evaluate {run.run_id} crop {crop}")
    start = time.perf_counter()
    loss, top1, top5 = evaluate(model, counted, device, run.runtime.precision, run.runtime.channels_last, Dist())
    seconds = time.perf_counter() - start
    skips = getattr(val, "skips", None)
    skipped = len(skips.last) if skips is not None else 0
    if counted.images == 0:
        raise UserError(f"{run.run_id}: no image of the {evaluations.SPLIT} split could be read; nothing recorded")
    result = evaluations.Evaluation(
        crop=crop, resize=resize, split=evaluations.SPLIT, top1_err=top1, top5_err=top5, images=counted.images,
        checkpoint_epoch=epoch, loss=loss, skipped_images=skipped, run_id=run.run_id, batch_size=batch,
        device=device_name(device), precision=run.runtime.precision, data_loader=getattr(val, "loader", None),
        code_version=git_commit(), package_version=__version__, evaluated_at=now_iso(), seconds=seconds)
    evaluations.record_evaluation(run_dir, result)
    log(f"{run.run_id}: crop {crop} (resize {resize}): top-1 error {top1:.2f}%, top-5 {top5:.2f}% on "
        f"{plural(counted.images, 'image')}" + (f" ({skipped} unreadable skipped)" if skipped else "")
        + f"; recorded in {run_dir / evaluations.EVALUATIONS}")
    return result
