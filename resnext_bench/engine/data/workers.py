"""The workers delivery path (`loader: workers`): a torch DataLoader assembles the batches.

The main process turns each batch into tickets carrying the draws (the same crops and flips the
device path makes, or ImageNet's (index, epoch)); workers apply them to in-memory images or to
images decoded from files.
"""
from __future__ import annotations

import math
import sys
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from ...config.specs import DataSpec
from ...errors import UserError
from .decode import CPU_DECODERS, Unreadable, ticket_view, unreadable_note
from .draws import Schedule
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


class FolderImages(Dataset):
    """ImageNet samples decoded by one CPU backend (engine/data/decode.py). A ticket (index, epoch)
    augments; a plain index takes the central box. An unreadable sample comes back as
    `(None, index, why)`, which `_collate` drops and counts.
    """

    resize: Optional[int] = None  # the short side before evaluation's center crop (None: size*256/224)

    def __init__(self, source, size: int, seed: int, backend: str = "pil"):
        self.source, self.size, self.seed = source, size, seed
        self.train_decode, self.eval_decode = CPU_DECODERS[backend]

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, ticket):
        index, box_of, flip = ticket_view(ticket, self.seed, self.size, self.resize)
        label = self.source.label(index)
        decode = self.train_decode if isinstance(ticket, tuple) else self.eval_decode
        try:
            return self._item(decode, self.source.read(index), box_of, flip, label, index)
        except (Unreadable, OSError) as e:
            return self._failed(index, label, str(e) if isinstance(e, Unreadable) else f"{type(e).__name__}: {e}")
        except UserError as e:  # a damaged shard: it stops the run, with its one line (see _Skips)
            return self._failed(index, label, StopData(str(e)))

    def _item(self, decode, data: bytes, box_of, flip: bool, label: int, index: int):
        return decode(data, self.size, box_of, flip), label

    def _failed(self, index: int, label: int, why: str):
        return None, index, why


class StopData(str):
    """Why a sample ends the pass instead of being skipped (a truncated or missing shard). It travels
    from the worker as data, so the training process raises it as the one-line UserError it was,
    not wrapped in a DataLoader worker's traceback."""


def _collate(items: list) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, str]]]:
    """Stack the decoded samples; the unreadable ones become (index, why) in the third element."""
    good = [item for item in items if item[0] is not None]
    skipped = [(item[1], item[2]) for item in items if item[0] is None]
    if not good:
        return torch.empty(0, dtype=torch.uint8), torch.empty(0, dtype=torch.int64), skipped
    images = torch.stack([image for image, _ in good])
    labels = torch.as_tensor([int(label) for _, label in good], dtype=torch.int64)
    return images, labels, skipped


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


def _make_loader(dataset: Dataset, sampler: Sampler, spec: DataSpec, device: torch.device,
                 collate_fn=None) -> DataLoader:
    # A private generator: otherwise every pass draws the workers' base seed from the global
    # RNG, and the training engine's random state would depend on how often data was read.
    return DataLoader(dataset, batch_sampler=sampler, num_workers=spec.num_workers,
                      pin_memory=device.type == "cuda", persistent_workers=spec.num_workers > 0,
                      generator=torch.Generator().manual_seed(0), collate_fn=collate_fn)


def _collate_for(dataset: Dataset):
    """Decoded files may be unreadable (`_collate` drops them); in-memory images never are."""
    return _collate if isinstance(dataset, FolderImages) else None


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class _Skips:
    """The samples a pass could not decode, by name, logged once when the pass ends."""

    def __init__(self, dataset: Dataset, what: str, log: Callable[[str], None] = _log):
        self.dataset, self.what, self.log = dataset, what, log
        self.last: dict[str, str] = {}  # the previous pass's skipped samples: name -> why
        self.decode: Optional[Callable] = None  # loader item -> (images, labels, skipped); None: a tuple

    def batches(self, loader: DataLoader, device: torch.device, normalise):
        skipped: dict[str, str] = {}
        try:
            for item in loader:
                images, labels, *rest = self.decode(item) if self.decode else item
                for index, why in (rest[0] if rest else ()):
                    if isinstance(why, StopData):
                        raise UserError(str(why))
                    skipped[self.dataset.source.name(index)] = why
                if len(labels) == 0:
                    continue
                images = images.to(device, non_blocking=True)
                yield normalise(images), labels.to(device, non_blocking=True)
        finally:
            self.last = skipped
            note = unreadable_note(skipped)
            if note:
                self.log(f"{self.what}: {note}")


class WorkerTrainData(TrainData):
    """Training batches assembled by a DataLoader; augmentation draws travel in the tickets."""

    loader = "workers"

    def __init__(self, dataset: Dataset, tickets, spec: DataSpec, schedule, normalise, device, collate_fn=None):
        super().__init__(schedule, normalise, device)
        self.sampler = _EpochSampler(schedule.num_batches, tickets)
        self.skips = _Skips(dataset, "training data")
        self._loader = _make_loader(dataset, self.sampler, spec, device, collate_fn or _collate_for(dataset))

    def batches(self, epoch: int, start: int = 0):
        self.schedule.check_start(epoch, start)
        self.sampler.epoch, self.sampler.start = epoch, start
        if start == self.num_batches:
            return
        self.skips.what = f"training data, epoch {epoch + 1}"
        yield from self.skips.batches(self._loader, self.device, self.normalise)


class WorkerValData(ValData):
    def __init__(self, dataset: Dataset, batch_size: int, spec: DataSpec, normalise, device,
                 world_size: int, rank: int, collate_fn=None):
        indices = list(range(rank, len(dataset), world_size))
        super().__init__(len(indices), batch_size, normalise)
        self.device = device
        self.sampler = _ChunkSampler(indices, batch_size)
        self.skips = _Skips(dataset, "validation data")
        self._loader = _make_loader(dataset, self.sampler, spec, device, collate_fn or _collate_for(dataset))

    def batches(self, batch_size: Optional[int] = None):
        self.sampler.batch_size = batch_size or self.batch_size
        if self.size == 0:
            return
        yield from self.skips.batches(self._loader, self.device, self.normalise)


def _crop_tickets(schedule: Schedule, pad: int, flip: bool):
    """Tickets (index, oy, ox, flip) with the same draws the device path makes."""
    def for_epoch(epoch: int):
        order = schedule.order(epoch)

        def for_batch(k: int) -> list:
            idx = schedule.indices(order, k)
            draws = schedule.crop_draws(epoch, k, pad, flip)
            return list(zip(idx.tolist(), *draws.tolist()))
        return for_batch
    return for_epoch


def _sample_tickets(schedule: Schedule):
    """Tickets (index, epoch): the worker seeds each sample's augmentation from them."""
    def for_epoch(epoch: int):
        order = schedule.order(epoch)
        return lambda k: [(i, epoch) for i in schedule.indices(order, k).tolist()]
    return for_epoch
