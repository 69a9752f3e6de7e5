"""The held-out images of a run as one view: "resize the short side, take the central crop".

Training validates at its own image size (ImageNet: resize size*256/224, center crop size); a
finished run can be scored again at another crop (the paper's Table 5: 224 and 320). The in-memory
sets (digits, CIFAR, synthetic) are stored at one small size and validated whole: their view at N is
the whole image resampled from its stored size to N, exactly as training makes its image_size (no
crop, so no --resize). That is a test-time resolution check of the same pixels, not the paper's
protocol of cropping more of a larger photograph; Table 5 compares it with the paper in direction only.
"""
from __future__ import annotations

import dataclasses
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

# Why the in-memory sets take no --resize: their view is the whole image, never a crop of a larger one.
WHOLE_IMAGE_WHY = ("its images are stored at {native}x{native} pixels and validated whole: --crop N resamples "
                   "the whole image to N, there is nothing to resize before a crop")
MAX_CROP = 1024


def trained_size(spec: DataSpec) -> int:
    """The image size the run trained (and validated) at: its native crop."""
    return spec.image_size or NATIVE_SIZE[spec.name]


def check_view(spec: DataSpec, crop: int, resize: Optional[int]) -> None:
    """Raise a one-line UserError when the data set has no such view (the module docstring)."""
    if not 1 <= crop <= MAX_CROP or (resize is not None and not 1 <= resize <= MAX_CROP):
        raise UserError(f"--crop {crop} --resize {resize}: expected sizes from 1 to {MAX_CROP}")
    if resize is not None and resize < crop:
        raise UserError(f"--resize {resize} is smaller than --crop {crop}: the center crop must fit in the resized image")
    if spec.name == "imagenet":
        return
    if resize is not None and resize != crop:
        why = WHOLE_IMAGE_WHY.format(native=NATIVE_SIZE[spec.name])
        raise UserError(f"{spec.name}: --resize means nothing here: {why}")


def build_eval_data(spec: DataSpec, crop: int, resize: Optional[int], batch_size: int,
                    device: torch.device) -> ValData:
    """The held-out split at one view, on `device`, in the order training validates it."""
    device = torch.device(device)
    check_data(spec)
    check_view(spec, crop, resize)
    if spec.name != "imagenet":
        # The same resampling from the stored size that training's image_size applies (sources.load_arrays).
        resampled = crop != trained_size(spec)
        arrays = load_arrays(dataclasses.replace(spec, image_size=crop) if resampled else spec)
        val = DeviceValData(arrays.val_x, arrays.val_y, batch_size, _Normaliser(arrays.mean, arrays.std, device),
                            device, 1, 0)
        val.loader = f"device (resampled from {NATIVE_SIZE[spec.name]}px)" if resampled else "device"
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
