"""The paper's figures of a results folder (runs.csv and curves.csv), as PNG and PDF.

Each figure is drawn by its study's module (`studies.FIGURES`) with the shared pieces of `style`.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .paper import REFERENCE_DIR, load_reference
from .runs import load_curves, load_runs
from .studies import FIGURES
from .study import Context
from .style import FORMATS, Plot, save_figure


def draw_plots(ctx: Context) -> list[Plot]:
    """Every figure (drawn with its caption, or skipped with its reason) from the runs and curves of `ctx`."""
    return [study.draw(ctx) for study in FIGURES]


def make_plots(results_dir: Path, reference_dir: Path = REFERENCE_DIR) -> list[Plot]:
    """Every figure (drawn with its caption, or skipped with its reason) from runs.csv and curves.csv."""
    return draw_plots(Context(load_runs(results_dir), load_curves(results_dir), load_reference(reference_dir)))


def save_plots(plots: list[Plot], results_dir: Path, verbose: bool = True) -> list[Path]:
    """Save the drawn plots as PNG and PDF, print why the others were skipped; return the paths."""
    paths = []
    for plot in plots:
        if plot.figure is None:
            if verbose:
                print(f"skipped {plot.name}: {plot.reason}")
            continue
        paths += save_figure(plot.figure, results_dir, plot.name)
    if verbose:
        print(f"wrote {len(paths) // len(FORMATS)} figure(s) to {results_dir}")
    return paths


def write_plots(results_dir: Path, reference_dir: Path = REFERENCE_DIR, verbose: bool = True) -> list[Path]:
    """Write each figure the data allow as PNG and PDF into results_dir; return the paths."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UserError(f"{results_dir}: no such directory")
    return save_plots(make_plots(results_dir, reference_dir), results_dir, verbose)
