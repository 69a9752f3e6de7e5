"""Stop requests: a signal asks for a checkpoint at the next step boundary instead of killing mid-step.

Torch-free, so a Slurm job can install its handlers before the slow imports of training.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Callable, Optional


@dataclass
class StopFlag:
    """Set by a signal handler; the loop checkpoints at the next step boundary and calls `after`."""

    requested: bool = False
    reason: str = ""
    after: Optional[Callable[[], None]] = None

    def request(self, reason: str) -> None:
        self.requested = True
        self.reason = reason


class Stopped(Exception):
    """Training left early on request, after a checkpoint."""


def install_stop_handlers(flag: StopFlag, signals=(signal.SIGTERM, signal.SIGINT)) -> None:
    """Make these signals request a checkpoint-and-stop instead of killing mid-step.

    A second Ctrl-C while the stop is pending gives up waiting (the last checkpoint stays).
    """
    def handler(sig, _frame):
        if flag.requested and sig == signal.SIGINT:
            raise KeyboardInterrupt
        flag.request(signal.Signals(sig).name)

    for sig in signals:
        signal.signal(sig, handler)
