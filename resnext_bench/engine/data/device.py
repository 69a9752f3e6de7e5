"""The device delivery path (`loader: device`): a whole split as one uint8 tensor on the device.

Each training batch is cropped and flipped there in one gather, with the draws from `draws`.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .seam import TrainData, ValData


def gather_crops(padded: torch.Tensor, idx: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor,
                 flip: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop `size` at (oy, ox) from padded images `idx`, mirrored where `flip`, in one gather."""
    h, w = size
    dev = padded.device
    rows = oy[:, None] + torch.arange(h, device=dev)
    cols = ox[:, None] + torch.arange(w, device=dev)
    cols = torch.where(flip[:, None].bool(), cols.flip(1), cols)
    chans = torch.arange(padded.shape[1], device=dev)
    return padded[idx[:, None, None, None], chans[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]


class DeviceTrainData(TrainData):
    """The whole training split, padded for cropping, as one uint8 tensor on the device."""

    loader = "device"

    def __init__(self, images, labels, pad: int, flip: bool, schedule, normalise, device):
        super().__init__(schedule, normalise, device)
        self.size = tuple(images.shape[-2:])
        self.padded = F.pad(images, (pad, pad, pad, pad)).to(device)
        self.labels = labels.to(device)
        self.pad, self.flip = pad, flip

    def batches(self, epoch: int, start: int = 0):
        self.schedule.check_start(epoch, start)
        order = self.schedule.order(epoch)
        for k in range(start, self.num_batches):
            idx = self.schedule.indices(order, k)
            draws = self.schedule.crop_draws(epoch, k, self.pad, self.flip)
            plan = torch.cat([idx[None], draws]).to(self.device, non_blocking=True)  # one copy a batch
            images = gather_crops(self.padded, plan[0], plan[1], plan[2], plan[3], self.size)
            yield self.normalise(images), self.labels[plan[0]]


class DeviceValData(ValData):
    def __init__(self, images, labels, batch_size: int, normalise, device, world_size: int, rank: int):
        super().__init__(len(labels[rank::world_size]), batch_size, normalise)
        self.images = images[rank::world_size].to(device)
        self.labels = labels[rank::world_size].to(device)

    def batches(self, batch_size: Optional[int] = None):
        step = batch_size or self.batch_size
        for start in range(0, self.size, step):
            yield self.normalise(self.images[start:start + step]), self.labels[start:start + step]
