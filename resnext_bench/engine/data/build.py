"""Training and validation data of one rank: the choice of delivery path ("auto" resolution)."""
from __future__ import annotations

import torch

from ...errors import UserError
from ...config.specs import DataSpec
from .decode import nvjpeg_available, resolve_backend
from .device import DeviceTrainData, DeviceValData
from .gpudecode import GpuDecodeTrainData, GpuDecodeValData, EncodedImages
from .draws import Schedule, _crop_pad
from .seam import TrainData, ValData, _Normaliser
from .layout import NATIVE_SIZE, check_data, imagenet_images
from .sources import IMAGENET_STATS, load_arrays
from .workers import WorkerTrainData, WorkerValData, FolderImages, _TensorImages, _crop_tickets, _sample_tickets



def resolve_loader(spec: DataSpec, device="cpu") -> str:
    """The loader a spec asks for on `device`: "device" or "workers" for the in-memory data sets
    ("auto": device), a decoding backend (pil, turbo, nvjpeg) for ImageNet ("auto": the fastest here)."""
    if spec.name == "imagenet":
        return resolve_backend(spec.loader, torch.device(device))
    return "device" if spec.loader == "auto" else spec.loader


def build_data(spec: DataSpec, batch_size: int, device: torch.device, seed: int,
               world_size: int = 1, rank: int = 0) -> tuple[TrainData, ValData]:
    """Training and validation data of one rank; `batch_size` is the global batch over all ranks."""
    device = torch.device(device)
    check_data(spec)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} of world_size {world_size}: expected 0 <= rank < world_size")
    if batch_size < 1 or batch_size % world_size:
        raise UserError(f"batch_size {batch_size}: must be a positive multiple of the {world_size} processes")
    if spec.name == "imagenet":
        return _build_folder_data(spec, batch_size, device, seed, world_size, rank)
    return _build_array_data(spec, batch_size, device, seed, world_size, rank)


def _checked_schedule(spec: DataSpec, n: int, batch_size: int, seed: int, world_size: int, rank: int) -> Schedule:
    schedule = Schedule(n, batch_size, seed, world_size, rank)
    if schedule.num_batches == 0:
        raise UserError(f"batch_size {batch_size} exceeds the {n} training images of {spec.name}"
                        " (lower the batch size or raise data.train_limit)")
    return schedule


def _build_array_data(spec, batch_size, device, seed, world_size, rank):
    arrays = load_arrays(spec)
    schedule = _checked_schedule(spec, len(arrays.train_y), batch_size, seed, world_size, rank)
    normalise = _Normaliser(arrays.mean, arrays.std, device)
    pad = _crop_pad(arrays.train_x.shape[-1])
    per_rank = schedule.per_rank
    if resolve_loader(spec) == "device":
        train = DeviceTrainData(arrays.train_x, arrays.train_y, pad, arrays.flip, schedule, normalise, device)
        val = DeviceValData(arrays.val_x, arrays.val_y, per_rank, normalise, device, world_size, rank)
        return train, val
    train_set = _TensorImages(arrays.train_x, arrays.train_y, pad)
    train = WorkerTrainData(train_set, _crop_tickets(schedule, pad, arrays.flip), spec, schedule, normalise, device)
    val_set = _TensorImages(arrays.val_x, arrays.val_y, 0)
    val = WorkerValData(val_set, per_rank, spec, normalise, device, world_size, rank)
    return train, val


def _build_folder_data(spec, batch_size, device, seed, world_size, rank):
    images = imagenet_images(spec)
    size = spec.image_size or NATIVE_SIZE["imagenet"]
    train_source, val_source = images.train.limited(spec.train_limit), images.val.limited(spec.val_limit)
    schedule = _checked_schedule(spec, len(train_source), batch_size, seed, world_size, rank)
    normalise = _Normaliser(*IMAGENET_STATS, device)
    backend = resolve_loader(spec, device)
    if backend == "nvjpeg":
        if device.type == "cuda" and not nvjpeg_available(device):
            raise UserError("data.loader nvjpeg: this torchvision cannot decode JPEG on the GPU (use turbo or pil)")
        if device.type != "cuda":
            raise UserError(f"data.loader nvjpeg decodes on a CUDA GPU; the device is {device} (use turbo or pil)")
        train = GpuDecodeTrainData(EncodedImages(train_source, size, seed), _sample_tickets(schedule), spec,
                                   schedule, normalise, device)
        val = GpuDecodeValData(EncodedImages(val_source, size, seed), schedule.per_rank, spec, normalise, device,
                               world_size, rank)
        return train, val
    train = WorkerTrainData(FolderImages(train_source, size, seed, backend), _sample_tickets(schedule), spec,
                            schedule, normalise, device)
    val = WorkerValData(FolderImages(val_source, size, seed, backend), schedule.per_rank, spec, normalise, device,
                        world_size, rank)
    train.loader = backend
    return train, val
