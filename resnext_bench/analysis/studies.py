"""The studies a report is made of, in the order it shows them: one module a paper comparison."""
from __future__ import annotations

from . import cifar, complexity, curves, residual, table2, table3, table4, table5

TABLES = (table2.TABLE, table3.TABLE, table4.TABLE, table5.TABLE, residual.TABLE, cifar.TABLE)
FIGURES = (curves.FIGURE, table3.FIGURE, cifar.FIGURE, complexity.FIGURE)
