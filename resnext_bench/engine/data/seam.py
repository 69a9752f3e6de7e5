"""The seam between the delivery paths and training: `TrainData`, `ValData`, and normalisation.

Both paths hand the device uint8 images and normalise them there with `_Normaliser`.
"""
from __future__ import annotations

from typing import Iterator, Optional

import torch

from .draws import Schedule


class _Normaliser:
    """uint8 (N, C, H, W) on the device -> float, minus mean, over std."""

    def __init__(self, mean, std, device: torch.device):
        self.mean, self.std = tuple(mean), tuple(std)
        std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.scale, self.shift = 1.0 / (255.0 * std_t), mean_t / std_t

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().mul_(self.scale).sub_(self.shift)


class TrainData:
    """Training batches of one rank: `batches(epoch, start)` replays any epoch from any batch."""

    num_batches: int  # per epoch, per rank
    images_per_batch: int  # per rank
    loader: str  # "device" or "workers"
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __init__(self, schedule: Schedule, normalise: _Normaliser, device: torch.device):
        self.schedule, self.normalise, self.device = schedule, normalise, device
        self.num_batches = schedule.num_batches
        self.images_per_batch = schedule.per_rank
        self.mean, self.std = normalise.mean, normalise.std

    def sample_indices(self, epoch: int, k: int) -> torch.Tensor:
        """Indices (into the training split) of the samples in this rank's batch k of `epoch`."""
        return self.schedule.indices(self.schedule.order(epoch), k)

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Normalised float images (N, C, H, W) and int64 labels on the device, batches start.. of `epoch`."""
        raise NotImplementedError


class ValData:
    """Validation samples of one rank (rank-strided, no padding), in a fixed order, unaugmented."""

    size: int  # samples on this rank
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __init__(self, size: int, batch_size: int, normalise: _Normaliser):
        self.size, self.batch_size, self.normalise = size, batch_size, normalise
        self.mean, self.std = normalise.mean, normalise.std

    def batches(self, batch_size: Optional[int] = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """All of this rank's validation samples, normalised, on the device."""
        raise NotImplementedError
