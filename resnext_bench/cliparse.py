"""The command line's parser: a mistake in the arguments is the suite's one line and exit 2 (usage
stays on --help), and numeric options are checked by type, finite and within their range."""
from __future__ import annotations

import argparse
import math
import sys
from typing import Callable, NoReturn, Optional

from .errors import printable


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are `PROG: error: WHAT (see PROG --help)`, one line, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {printable(message.strip())} (see {self.prog} --help)\n")

    def exit(self, status: int = 0, message: Optional[str] = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        sys.exit(status)


def _number(kind: type, low: float, low_open: bool, high: Optional[float]) -> Callable[[str], float]:
    """An argparse `type=` that reads a finite `kind` in the range, else a one-line argument error."""
    expected = f"{'an integer' if kind is int else 'a number'} {'>' if low_open else '>='} {low:,}"
    if high is not None:
        expected += f" and <= {high:,}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not math.isfinite(value) or (value <= low if low_open else value < low) or (
                high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


def positive_number(high: Optional[float] = None) -> Callable[[str], float]:
    """A finite float > 0 (and <= high)."""
    return _number(float, 0, True, high)


def int_in(low: int, high: Optional[int] = None) -> Callable[[str], int]:
    """An integer >= low (and <= high)."""
    return _number(int, low, False, high)
