"""Deterministic draws: data order and augmentation as a pure function of (seed, epoch, batch).

The epoch order is a permutation seeded from (seed, epoch); crop/flip draws come from a generator
seeded from (seed, epoch, batch), ImageNet's from (seed, epoch, sample). No global RNG is touched,
so a run resumed mid-epoch replays exactly the batches the uninterrupted run would have seen.
"""
from __future__ import annotations

import hashlib
import math

import torch


def _seed_of(*parts) -> int:
    """A 63-bit seed from a tuple of ints and strings, the same in every process."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class Schedule:
    """Which samples each rank's batch k of epoch e holds, and their crop/flip draws.

    Global batch k is positions k*B .. (k+1)*B of the epoch's permutation; rank r takes the
    r-th contiguous slice of it, so the ranks of a step together see exactly the batch a single
    process would, with the same augmentation.
    """

    def __init__(self, n: int, batch_size: int, seed: int, world_size: int, rank: int):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.per_rank = batch_size // world_size
        self.rank = rank
        self.num_batches = n // batch_size  # drop_last: every step has the full batch

    def order(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(_seed_of("order", self.seed, epoch))
        return torch.randperm(self.n, generator=g)

    def _mine(self, values: torch.Tensor) -> torch.Tensor:
        return values[..., self.rank * self.per_rank:(self.rank + 1) * self.per_rank]

    def indices(self, order: torch.Tensor, k: int) -> torch.Tensor:
        return self._mine(order[k * self.batch_size:(k + 1) * self.batch_size])

    def crop_draws(self, epoch: int, k: int, pad: int, flip: bool) -> torch.Tensor:
        """(3, per_rank) int64: row offset, column offset (0..2*pad), mirror flag."""
        g = torch.Generator().manual_seed(_seed_of("crop", self.seed, epoch, k))
        offsets = torch.randint(0, 2 * pad + 1, (2, self.batch_size), generator=g)
        flips = torch.randint(0, 2, (1, self.batch_size), generator=g) if flip else offsets.new_zeros(1, self.batch_size)
        return self._mine(torch.cat([offsets, flips]))

    def check_start(self, epoch: int, start: int) -> None:
        if epoch < 0 or not 0 <= start <= self.num_batches:
            raise ValueError(f"epoch {epoch}, start {start}: expected epoch >= 0 and 0 <= start <= {self.num_batches}")


def _crop_pad(size: int) -> int:
    """Translation range of the random crop: 4 pixels at 32 (the paper's CIFAR), 1 at 8 (digits)."""
    return max(1, size // 8)


def _sample_draws(seed: int, epoch: int, index: int) -> list[float]:
    """23 uniforms for one ImageNet sample: 22 choose its `_inception_box`, the last its mirror flag.

    A private generator: the draws depend only on (seed, epoch, sample), whichever worker (or
    the main process) decodes it, and no global RNG is touched.
    """
    g = torch.Generator().manual_seed(_seed_of("sample", seed, epoch, index))
    return torch.rand(23, generator=g, dtype=torch.float64).tolist()


def _inception_box(width: int, height: int, draws: list[float]) -> tuple[float, float, float, float]:
    """A random box of 8%..100% of the area and aspect 3/4..4/3 (Inception-style crop).

    `draws` holds 22 uniforms: 10 tries of (area, aspect), then the box position.
    """
    area = width * height
    lo, hi = math.log(3 / 4), math.log(4 / 3)
    for i in range(10):
        target = area * (0.08 + 0.92 * draws[2 * i])
        aspect = math.exp(lo + (hi - lo) * draws[2 * i + 1])
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left = min(int(draws[20] * (width - w + 1)), width - w)
            top = min(int(draws[21] * (height - h + 1)), height - h)
            return left, top, left + w, top + h
    # Every try fell outside the image (extreme aspect): the central box clamped to the range.
    w, h = width, height
    if width / height < 3 / 4:
        h = round(width * 4 / 3)
    elif width / height > 4 / 3:
        w = round(height * 4 / 3)
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h
