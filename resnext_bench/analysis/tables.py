"""The paper's tables from runs.csv, our numbers beside the paper's.

Six tables (`studies.TABLES`; one module each), each built from the runs that feed it (`paper.table_of`: the run's declared study,
never the ablation's name) and written by `write_tables` in markdown, LaTeX and CSV (`render`).
Headers say each thing once: a column group ("ours", "paper", a Table 3 group's label) spans its
columns, whose leaf names say only what differs ("ours", "paper", "diff", "vs C=1"); a column
blank in every row (a diff column when no run is on the paper's data) is not displayed:

- table2 lists the configurations (with their complexity) of the table3 runs;
- table3: top-1 error by cardinality at equal complexity, a column group per (template, data,
  recipe, epochs) group, each configuration tested against the group's C=1 (`stats.welch`);
- table4: the models of about twice the complexity, top-1 and top-5, one section per data and
  recipe (depths mixed, as in the paper);
- table5: test error at several test crops, from the runs' evaluations (`evaluate`); absent when
  no run was evaluated;
- residual: the runs without the shortcut (study residual, or an older run with shortcut false),
  each beside every run of the same configuration, data and recipe that keeps the shortcut,
  whatever its study;
- table7: CIFAR test error and model size (the table7 and fig7 studies).

Our number is the final top-1 (top-5) validation error of completed runs: mean +- sample std (n)
(`stats`); "missing" and "—" are explained in `cells`. Our rows meet the paper's as `paper`
describes; the difference (ours - paper) is given only when our data are the paper's, otherwise
it reads "n/a (different data)" (Table 3 has a diff column only for groups on the paper's data).
Counts (params, FLOPs, n, epochs, depth, C, d) are integers in `Table.data` and the CSV.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import fsutil
from ..errors import UserError
from .cells import MIXED, MIXED_NOTE
from .paper import REFERENCE_DIR, load_reference
from .render import FORMATS, RENDERERS, Table
from .runs import load_runs
from .studies import TABLES


def build_tables(runs: pd.DataFrame, reference: dict[str, pd.DataFrame]) -> dict[str, Table]:
    """Every table the runs have something for, by name."""
    tables = {}
    for study in TABLES:
        table = study.build(runs, reference)
        if table is not None:
            if any(MIXED in str(cell) for row in table.rows for cell in row):
                table.notes.append(MIXED_NOTE)
            tables[study.name] = table
    return tables


def check_formats(formats) -> tuple[str, ...]:
    """The table formats asked for, as a tuple; UserError on one this module cannot write."""
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown:
        raise UserError(f"table format {unknown[0]!r}: expected one of {', '.join(RENDERERS)}")
    return formats


def save_tables(tables: dict[str, Table], results_dir: Path, formats=FORMATS, verbose: bool = True) -> list[Path]:
    """Write built tables into results_dir in every format; return the paths."""
    formats = check_formats(formats)
    paths = []
    for name, table in tables.items():
        for fmt in formats:
            ext, render = RENDERERS[fmt]
            path = Path(results_dir) / f"{name}.{ext}"
            fsutil.write_text(path, render(table))
            paths.append(path)
    if verbose:
        absent = [s.name for s in TABLES if s.name not in tables]
        print(f"wrote {len(tables)} table(s) ({', '.join(tables) or 'none'}) to {results_dir}"
              + (f"; no runs for {', '.join(absent)}" if absent else ""))
    return paths


def write_tables(results_dir: Path, formats=FORMATS, reference_dir: Path = REFERENCE_DIR,
                 verbose: bool = True) -> list[Path]:
    """Write every table the runs in results_dir/runs.csv have something for; return the paths."""
    formats = check_formats(formats)
    results_dir = Path(results_dir)
    tables = build_tables(load_runs(results_dir), load_reference(reference_dir))
    return save_tables(tables, results_dir, formats, verbose)
