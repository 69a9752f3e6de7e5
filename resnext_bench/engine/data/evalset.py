"""The held-out images of a run as one view: "resize the short side, take the central crop".

Training validates at its own image size (ImageNet: resize size*256/224, center crop size); a
finished run can be scored again at another crop (the paper's Table 5: 224 and 320). Only the
ImageNet path has such views: the in-memory sets (digits, CIFAR, synthetic) are stored at one small
size and validated whole, so their one view is the size the run trained at.
"""
from __future__ import annotations

from typing import Optional

import torch

from ...config.specs import DataSpec
from ...errors import UserError
from .build import resolve_loader
from .device import DeviceValData
from .gpudecode import EncodedImages, GpuDecodeValData
from .layout import NATIVE_SIZE, check_data, imagenet_images
from .seam import ValData, _Normaliser
from .sources import IMAGENET_STATS, load_arrays
from .workers import FolderImages, WorkerValData

# Why a crop other than the trained size means nothing for the in-memory sets.
FIXED_SIZE_WHY = ("its images are stored at {native}x{native} pixels and a run trained on them is validated on the "
                  "whole image at {trained}; another crop would only resample those few pixels, which is not the "
                  "test-time resolution the paper's Table 5 varies")


def trained_size(spec: DataSpec) -> int:
    """The image size the run trained (and validated) at: its native crop."""
    return spec.image_size or NATIVE_SIZE[spec.name]


def check_view(spec: DataSpec, crop: int, resize: Optional[int]) -> None:
    """Raise a one-line UserError when the data set has no such view (the module docstring)."""
    if crop < 1 or (resize is not None and resize < 1):
        raise UserError(f"--crop {crop} --resize {resize}: expected sizes >= 1")
    if resize is not None and resize < crop:
        raise UserError(f"--resize {resize} is smaller than --crop {crop}: the center crop must fit in the resized image")
    if spec.name == "imagenet":
        return
    trained = trained_size(spec)
    if crop != trained or (resize is not None and resize != crop):
        why = FIXED_SIZE_WHY.format(native=NATIVE_SIZE[spec.name], trained=trained)
        raise UserError(f"{spec.name}: only --crop {trained} (without --resize) can be evaluated: {why}")


def build_eval_data(spec: DataSpec, crop: int, resize: Optional[int], batch_size: int,
                    device: torch.device) -> ValData:
    """The held-out split at one view, on `device`, in the order training validates it."""
    device = torch.device(device)
    check_data(spec)
    check_view(spec, crop, resize)
    if spec.name != "imagenet":
        arrays = load_arrays(spec)
        val = DeviceValData(arrays.val_x, arrays.val_y, batch_size, _Normaliser(arrays.mean, arrays.std, device),
                            device, 1, 0)
        val.loader = "device"
        return val
    source = imagenet_images(spec).val.limited(spec.val_limit)
    normalise = _Normaliser(*IMAGENET_STATS, device)
    backend = resolve_loader(spec, device)
    if backend == "nvjpeg":
        if device.type != "cuda":
            raise UserError(f"data.loader nvjpeg decodes on a CUDA GPU; the device is {device} (use turbo or pil)")
        images = EncodedImages(source, crop, 0)  # its CPU decoder (pil) takes what nvjpeg cannot
        images.resize = resize
        val: ValData = GpuDecodeValData(images, batch_size, spec, normalise, device, 1, 0)
    else:
        images = FolderImages(source, crop, 0, backend)
        images.resize = resize
        val = WorkerValData(images, batch_size, spec, normalise, device, 1, 0)
    val.loader = backend
    return val
