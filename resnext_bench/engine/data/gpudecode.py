"""The `nvjpeg` backend: DataLoader workers read bytes and headers, the training device decodes.

Workers do what needs no pixels: read the sample's bytes, parse the JPEG header for the size, and
draw the box and the mirror flag from (seed, epoch, sample) exactly as the CPU backends do. The
training process hands the batch's JPEGs to torchvision's batched nvjpeg decoder
(`torchvision.io.decode_jpeg(..., device="cuda")`), then crops, resizes (antialiased bilinear)
and mirrors each image on the device. Files nvjpeg cannot take (PNG named .JPEG, CMYK) are decoded
by the worker with the reference PIL path and travel as pixels. GPU decoding is not bit-identical
to the CPU decoders (IDCT and chroma upsampling differ), so a run resumed on another backend
sees the same crops of slightly different pixels; the sample order and the draws are unchanged.

On a CPU device the same code decodes the batch with torchvision's CPU decoder: that is how the
tests exercise the path without a GPU.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .decode import pixel_box, rgb_jpeg_size
from ...errors import UserError
from .workers import StopData, WorkerTrainData, WorkerValData, FolderImages


class EncodedImages(FolderImages):
    """Tickets as for `FolderImages`; items are (kind, payload, extra, flip, label, index): ("jpeg",
    bytes, box, ...) for nvjpeg, ("pixels", image, None, ...) for what only PIL decodes, or ("skip",
    None, why, ...) for an unreadable sample (a `StopData` why: a damaged shard)."""

    def _item(self, decode, data: bytes, box_of, flip: bool, label: int, index: int):
        size = rgb_jpeg_size(data)
        if size is not None:
            encoded = torch.frombuffer(bytearray(data), dtype=torch.uint8)
            return "jpeg", encoded, box_of(*size), flip, label, index
        return "pixels", decode(data, self.size, box_of, flip), None, False, label, index

    def _failed(self, index: int, label: int, why: str):
        return "skip", None, why, False, label, index


def _as_list(items: list) -> list:
    return items


def _decode_all(encoded: list[torch.Tensor], device: torch.device) -> list[Optional[torch.Tensor]]:
    """Decode a batch at once; if that fails, one by one, None for those that fail alone."""
    from torchvision.io import ImageReadMode, decode_jpeg

    if not encoded:
        return []
    try:
        return list(decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device))
    except RuntimeError:
        out = []
        for data in encoded:
            try:
                out.append(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))
            except RuntimeError:
                out.append(None)
        return out


def _crop_resize(image: torch.Tensor, box, size: int, flip: bool) -> torch.Tensor:
    """(3, H, W) uint8 on the device -> the box resized to (3, size, size) uint8, mirrored if asked."""
    left, top, right, bottom = pixel_box(box, image.shape[2], image.shape[1])
    crop = image[:, top:bottom, left:right].unsqueeze(0).float()
    out = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
    out = out.round_().clamp_(0, 255).to(torch.uint8)
    return out.flip(-1) if flip else out


def decode_batch(items: list, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, list]:
    """A worker batch -> (uint8 images (N, 3, S, S) on the device, labels, [(index, why) skipped])."""
    jpegs = [item for item in items if item[0] == "jpeg"]
    decoded = _decode_all([item[1] for item in jpegs], device)
    images, labels, skipped = [], [], []
    pixels_of = {id(item): image for item, image in zip(jpegs, decoded)}
    for item in items:
        kind, payload, extra, flip, label, index = item
        if kind == "skip":
            if isinstance(extra, StopData):
                raise UserError(str(extra))
            skipped.append((index, extra))
            continue
        if kind == "pixels":
            images.append(payload.to(device, non_blocking=True))
        else:
            image = pixels_of[id(item)]
            if image is None:
                skipped.append((index, "the JPEG decoder rejected the data"))
                continue
            images.append(_crop_resize(image, extra, size, flip))
        labels.append(label)
    if not images:
        return (torch.empty(0, 3, size, size, dtype=torch.uint8, device=device),
                torch.empty(0, dtype=torch.int64, device=device), skipped)
    return torch.stack(images), torch.as_tensor(labels, dtype=torch.int64).to(device), skipped


class GpuDecodeTrainData(WorkerTrainData):
    loader = "nvjpeg"

    def __init__(self, dataset: EncodedImages, tickets, spec, schedule, normalise, device):
        super().__init__(dataset, tickets, spec, schedule, normalise, device, collate_fn=_as_list)
        self.size = dataset.size
        self.skips.decode = lambda items: decode_batch(items, self.size, self.device)


class GpuDecodeValData(WorkerValData):
    def __init__(self, dataset: EncodedImages, batch_size, spec, normalise, device, world_size, rank):
        super().__init__(dataset, batch_size, spec, normalise, device, world_size, rank, collate_fn=_as_list)
        self.size = dataset.size
        self.skips.decode = lambda items: decode_batch(items, self.size, self.device)
