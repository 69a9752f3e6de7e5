"""What a study gives the report: its table or figure, and the reading of it, from one Context."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd


@dataclass
class Context:
    """What every reader may use: the prepared runs, the per-epoch curves and the paper's numbers."""

    runs: pd.DataFrame
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    reference: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TableStudy:
    """A paper table: `build(runs, reference)` gives a render.Table or None, `read(table, ctx)` its reading."""

    name: str
    build: Callable
    read: Callable


@dataclass(frozen=True)
class FigureStudy:
    """A paper figure: `draw(ctx)` gives a style.Plot, `read(plot, ctx)` its reading, under `title`."""

    name: str
    title: str
    draw: Callable
    read: Callable
