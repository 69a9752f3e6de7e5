"""`python -m resnext_bench.bench.counting`: how fast the analytic counter is (prints figures).

Counts are analytic, so listing a grid never builds a model: this prints the wall and CPU time of
10,000 complexity() calls (spec construction included) over every template, C = 1..50 and
d = 1..40, median of a few repeats. A benchmark, not a test: the machine's load moves it.
"""
from __future__ import annotations

import itertools
import statistics
import time

from ..config.complexity import complexity
from ..config.templates import TEMPLATES
from ..config.specs import ModelSpec


def time_counts(repeats: int = 5) -> tuple[float, float]:
    """(median wall s, median CPU s) of 10,000 complexity() calls."""
    combos = list(itertools.product(TEMPLATES, range(1, 51), range(1, 41)))
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for t, c, d in combos:
            complexity(ModelSpec(t, c, d))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    wall, cpu = time_counts()
    print(f"10,000 complexity() calls (spec construction included): {wall:.3f} s wall, {cpu:.3f} s CPU "
          "(median of 5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
