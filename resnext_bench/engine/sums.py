"""The sums of the epoch in progress: on the host (kept in checkpoints) and on the device (read rarely)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


class NonFinite(Exception):
    """A non-finite training loss found when the device's sums were read: the run fails, unsaved."""


@dataclass
class EpochSums:
    """Running sums of the epoch in progress (kept in checkpoints for exact mid-epoch resume)."""

    loss: float = 0.0
    correct: float = 0.0
    seen: float = 0.0
    seconds: float = 0.0
    data_seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class DeviceSums:
    """The epoch's loss and correct-prediction sums and the first non-finite loss, kept on the device.

    A training step only adds to them (no host synchronisation: the GPU runs ahead of Python); they
    are read once per `READ_EVERY` steps, before a checkpoint and at the epoch's end. The device
    sums continue the host's running sums in float64 and are never reset mid-epoch, so the additions
    happen in the same order, with the same roundings, as `loss.item() * n` added step by step on
    the host: a resumed run's sums are bit-identical to an uninterrupted one's wherever it reads them.
    """

    READ_EVERY = 50  # steps between reads (a log interval); also the progress bar's refresh

    def __init__(self, sums: EpochSums, device: torch.device):
        self.values = torch.tensor([sums.loss, sums.correct], dtype=torch.float64, device=device)
        self.first_bad = torch.full((), -1, dtype=torch.int64, device=device)  # step of the first non-finite loss

    def add(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, step: int) -> None:
        loss = loss.detach()
        self.values[0].add_(loss.double() * labels.numel())
        self.values[1].add_((logits.detach().argmax(1) == labels).sum().double())
        bad = (self.first_bad < 0) & ~torch.isfinite(loss)
        self.first_bad = torch.where(bad, step, self.first_bad)

    def read(self, sums: EpochSums) -> Optional[int]:
        """Copy the device sums into `sums` (one synchronisation); the first non-finite step or None."""
        (loss, correct), bad = self.values.tolist(), int(self.first_bad)
        sums.loss, sums.correct = loss, correct
        return bad if bad >= 0 else None
