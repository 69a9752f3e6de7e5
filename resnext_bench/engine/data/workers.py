"""The workers delivery path (`loader: workers`): a torch DataLoader assembles the batches.

The main process turns each batch into tickets carrying the draws (the same crops and flips the
device path makes, or ImageNet's (index, epoch)); workers apply them to in-memory images or to
images decoded from files.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from ...config.spec import DataSpec
from .draws import _Schedule, _inception_box, _sample_draws
from .seam import TrainData, ValData


class _TensorImages(Dataset):
    """In-memory images for DataLoader workers. A ticket (index, oy, ox, flip) crops; an index does not."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, pad: int):
        self.padded = F.pad(images, (pad, pad, pad, pad)) if pad else images
        self.labels, self.pad = labels, pad
        self.size = tuple(images.shape[-2:])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, ticket):
        index, oy, ox, flip = ticket if isinstance(ticket, tuple) else (ticket, self.pad, self.pad, 0)
        image = self.padded[index, :, oy:oy + self.size[0], ox:ox + self.size[1]]
        return (image.flip(-1) if flip else image).contiguous(), self.labels[index]


def _center_box(width: int, height: int, size: int) -> tuple[float, float, float, float]:
    """The box that "resize the short side to size*256/224, take the central size x size" reads."""
    side = min(width, height) * size / round(size * 256 / 224)
    left, top = (width - side) / 2, (height - side) / 2
    return left, top, left + side, top + side


class _FolderImages(Dataset):
    """Images decoded from files. A ticket (index, epoch) augments; a plain index does not."""

    def __init__(self, samples: tuple[tuple[str, int], ...], size: int, seed: int):
        self.samples, self.size, self.seed = samples, size, seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, ticket):
        from PIL import Image

        index, epoch = ticket if isinstance(ticket, tuple) else (ticket, None)
        path, label = self.samples[index]
        with Image.open(path) as im:
            img = im.convert("RGB")
        if epoch is None:
            img = img.resize((self.size, self.size), Image.BILINEAR, box=_center_box(*img.size, self.size))
        else:
            draws = _sample_draws(self.seed, epoch, index)
            box = _inception_box(*img.size, draws)
            img = img.resize((self.size, self.size), Image.BILINEAR, box=box)
            if draws[22] < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
        pixels = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).contiguous()
        return pixels, label


class _EpochSampler(Sampler):
    """Batch sampler of tickets for batches start.. of one epoch; set (epoch, start) before iterating.

    Iterated in the main process each time the DataLoader starts over, so persistent workers
    need not know the epoch.
    """

    def __init__(self, num_batches: int, tickets: Callable[[int], Callable[[int], list]]):
        self.num_batches, self.tickets = num_batches, tickets
        self.epoch, self.start = 0, 0

    def __iter__(self):
        batch_tickets = self.tickets(self.epoch)
        for k in range(self.start, self.num_batches):
            yield batch_tickets(k)

    def __len__(self) -> int:
        return self.num_batches - self.start


class _ChunkSampler(Sampler):
    """Batch sampler over fixed indices in order; its batch size may change between passes."""

    def __init__(self, indices: list[int], batch_size: int):
        self.indices, self.batch_size = indices, batch_size

    def __iter__(self):
        for start in range(0, len(self.indices), self.batch_size):
            yield self.indices[start:start + self.batch_size]

    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.batch_size)


def _make_loader(dataset: Dataset, sampler: Sampler, spec: DataSpec, device: torch.device) -> DataLoader:
    # A private generator: otherwise every pass draws the workers' base seed from the global
    # RNG, and the training engine's random state would depend on how often data was read.
    return DataLoader(dataset, batch_sampler=sampler, num_workers=spec.num_workers,
                      pin_memory=device.type == "cuda", persistent_workers=spec.num_workers > 0,
                      generator=torch.Generator().manual_seed(0))


class WorkerTrainData(TrainData):
    """Training batches assembled by a DataLoader; augmentation draws travel in the tickets."""

    loader = "workers"

    def __init__(self, dataset: Dataset, tickets, spec: DataSpec, schedule, normalise, device):
        super().__init__(schedule, normalise, device)
        self.sampler = _EpochSampler(schedule.num_batches, tickets)
        self._loader = _make_loader(dataset, self.sampler, spec, device)

    def batches(self, epoch: int, start: int = 0):
        self.schedule.check_start(epoch, start)
        self.sampler.epoch, self.sampler.start = epoch, start
        if start == self.num_batches:
            return
        for images, labels in self._loader:
            images = images.to(self.device, non_blocking=True)
            yield self.normalise(images), labels.to(self.device, non_blocking=True)


class WorkerValData(ValData):
    def __init__(self, dataset: Dataset, batch_size: int, spec: DataSpec, normalise, device,
                 world_size: int, rank: int):
        indices = list(range(rank, len(dataset), world_size))
        super().__init__(len(indices), batch_size, normalise)
        self.device = device
        self.sampler = _ChunkSampler(indices, batch_size)
        self._loader = _make_loader(dataset, self.sampler, spec, device)

    def batches(self, batch_size: Optional[int] = None):
        self.sampler.batch_size = batch_size or self.batch_size
        if self.size == 0:
            return
        for images, labels in self._loader:
            images = images.to(self.device, non_blocking=True)
            yield self.normalise(images), labels.to(self.device, non_blocking=True)


def _crop_tickets(schedule: _Schedule, pad: int, flip: bool):
    """Tickets (index, oy, ox, flip) with the same draws the device path makes."""
    def for_epoch(epoch: int):
        order = schedule.order(epoch)

        def for_batch(k: int) -> list:
            idx = schedule.indices(order, k)
            draws = schedule.crop_draws(epoch, k, pad, flip)
            return list(zip(idx.tolist(), *draws.tolist()))
        return for_batch
    return for_epoch


def _sample_tickets(schedule: _Schedule):
    """Tickets (index, epoch): the worker seeds each sample's augmentation from them."""
    def for_epoch(epoch: int):
        order = schedule.order(epoch)
        return lambda k: [(i, epoch) for i in schedule.indices(order, k).tolist()]
    return for_epoch
