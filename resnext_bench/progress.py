"""Progress of long commands on stderr: a tqdm bar on a terminal, one line a step in a log file."""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int, desc: str, label=str, every_s: float = 10.0) -> Iterator[T]:
    """Yield `items`, telling how far along they are; `label(item)` names the step in log lines.

    Off a terminal, a line is printed for the first step, then at most every `every_s` seconds,
    and for the last one, so a log shows progress without one line per item of a long list.
    """
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=False)
        return
    start = last = time.monotonic()
    for i, item in enumerate(items, start=1):
        now = time.monotonic()
        if i == 1 or i == total or now - last >= every_s:
            print(f"{desc}: {i}/{total} {label(item)} ({now - start:.0f} s)", file=sys.stderr, flush=True)
            last = now
        yield item
