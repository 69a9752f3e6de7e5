"""One report: collect the sweeps, write the tables and figures, and read each of them in words.

The report assembles studies (`studies.TABLES`, `studies.FIGURES`, the baselines and the design
spaces) and knows nothing of their insides: each study builds its table or figure and its reading
from one Context (the runs loaded once, the curves, the paper's numbers). Every sentence of a
reading is generated from a statistic, with the fixed words of `words`. The header (`header`)
names the sweeps, the runs by status, the files that were skipped, and the provenance of the runs.
"""
from __future__ import annotations

from pathlib import Path

from .. import fsutil
from .baselines import baselines_section
from .collect import collect
from .header import header, methods_section
from .paper import REFERENCE_DIR, load_reference
from .plots import draw_plots, save_plots
from .render import to_markdown
from .runs import load_curves, load_runs
from .space_report import design_space_section
from .studies import FIGURES, TABLES
from .study import Context
from .tables import build_tables, save_tables
from .words import reading

FIGURE_TITLES = {study.name: study.title for study in FIGURES}


def write_report(sweeps: list[Path], out: Path, reference_dir: Path = REFERENCE_DIR) -> Path:
    """Collect `sweeps` into `out`, write tables (md, latex, csv) and figures there, then out/report.md."""
    out = Path(out)
    result = collect(sweeps, out)
    ctx = Context(load_runs(out), load_curves(out), load_reference(reference_dir))
    runs = ctx.runs
    tables = build_tables(runs, ctx.reference)
    save_tables(tables, out, formats=("md", "latex", "csv"))
    plots = draw_plots(ctx)
    save_plots(plots, out)
    readers = {study.name: study.read for study in (*TABLES, *FIGURES)}
    lines = header(sweeps, result, runs, out)
    lines += methods_section()
    lines += ["", "## Tables"]
    if not tables:
        lines += ["", "No run feeds any of the paper's tables."]
    for name, table in tables.items():
        lines += ["", f"### {table.title}", "", to_markdown(table).split("\n", 2)[2].rstrip(), "",
                  f"Files: [{name}.md]({name}.md), [{name}.tex]({name}.tex), [{name}.csv]({name}.csv)", "",
                  reading(readers[name](table, ctx))]
    lines += baselines_section(runs)
    lines += design_space_section(runs, out, ctx.reference)
    lines += ["", "## Figures"]
    for plot in plots:
        title = FIGURE_TITLES[plot.name]
        if plot.figure is None:
            lines += ["", f"### {title}", "", f"Not drawn: {plot.reason}."]
            continue
        lines += ["", f"### {title}", "", f"![{title}]({plot.name}.png)", "", f"[PDF]({plot.name}.pdf)"]
        caption = getattr(plot, "caption", "")
        if caption:
            lines += ["", f"*{caption}*"]
        lines += ["", reading(readers[plot.name](plot, ctx))]
    path = out / "report.md"
    fsutil.write_text(path, "\n".join(lines) + "\n")
    print(f"wrote {path}")
    return path
