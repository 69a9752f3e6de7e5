"""Tables as text: GitHub markdown, LaTeX and CSV.

A `Table` holds display cells under leaf column names, optional column groups (spanning headers:
"50-layer (digits, short, 3 ep)" over "ours", "paper", "vs C=1") and footnotes, plus the numbers
behind it (`Table.data`). Each thing is said once: a group label sits in one spanning header, the
leaf names under it say only what differs ("ours", "paper", "diff").

Markdown and LaTeX show the table without its blank columns: a column whose every cell is empty,
"—" or "n/a ..." (`cells.is_blank`) is dropped from the display (`displayed`). The CSV keeps the
tidy numbers whatever the display drops.

Markdown (GitHub's tables have one header row and no spanning cells): a table with groups puts
the group labels in the header row, each once, over the first column it spans, and the leaf names
in bold in the first row below it.

LaTeX: each .tex file is a complete document that compiles alone with pdflatex
(`\\documentclass[varwidth]{standalone}`, booktabs, threeparttable: texlive-latex-extra on
Debian). The title is a bold line above the table (a paper's \\caption); the threeparttable
block below it, the booktabs tabular with its notes in `tablenotes` (they wrap at the table's
width), is what to cut out for a paper. Text is escaped (`latex_escape`): the file is ASCII.

CSV: the numbers behind a table (`Table.data`: mean, std, n, paper, diff, p) as a tidy table, one
row a (configuration, group), for further analysis rather than display. Counts (params, FLOPs, n,
epochs, depth, C, d) are integers (`with_counts`: pandas' nullable Int64 where a column has gaps).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd

from .cells import is_blank

FORMATS = ("md", "latex", "csv")

# Columns of Table.data that hold counts: integers in every format, never "25557032.0".
COUNT_COLUMNS = (
    "cardinality", "bottleneck_width", "group_width", "depth", "paper_depth", "epochs_planned", "planned", "n",
    "with_n", "params", "flops", "paper_params", "paper_bottleneck_width", "paper_group_width",
)


def with_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its count columns (COUNT_COLUMNS) as pandas' nullable Int64 (gaps stay empty)."""
    frame = frame.copy()
    for col in COUNT_COLUMNS:
        if col in frame and frame[col].dtype != "Int64":
            values = pd.to_numeric(frame[col], errors="coerce")
            frame[col] = values.round().astype("Int64")
    return frame


@dataclass
class Table:
    """One table: display cells (with optional column groups), footnotes, and the numbers behind it."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    groups: list[tuple[str, int]] = field(default_factory=list)  # (label, span) over columns; "" = no label
    notes: list[str] = field(default_factory=list)
    data: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_label: int = 1  # leading text columns (left-aligned)
    align: str = ""  # one of l/r/c per column; empty = n_label columns left, the rest right

    def __post_init__(self):
        n = len(self.columns)
        if self.groups and sum(span for _, span in self.groups) != n:
            raise ValueError(f"table {self.name}: groups span {sum(s for _, s in self.groups)} of {n} columns")
        if self.align and len(self.align) != n:
            raise ValueError(f"table {self.name}: align {self.align!r} for {n} columns")
        for row in self.rows:
            if len(row) != n:
                raise ValueError(f"table {self.name}: a row of {len(row)} cells for {n} columns: {row}")

    @property
    def alignment(self) -> str:
        return self.align or "l" * self.n_label + "r" * (len(self.columns) - self.n_label)

    @property
    def labelled_groups(self) -> bool:
        """Whether any column group has a label (a spanning header row to draw)."""
        return any(label for label, _ in self.groups)


def displayed(table: Table) -> Table:
    """The table as shown: without the columns whose every cell is blank (`cells.is_blank`).

    Groups shrink with their columns (a group left with none goes); the data and notes stay.
    A table without rows keeps every column.
    """
    if not table.rows:
        return table
    keep = [j for j in range(len(table.columns)) if not all(is_blank(row[j]) for row in table.rows)]
    if len(keep) == len(table.columns):
        return table
    groups, start = [], 0
    for label, span in table.groups:
        kept = sum(1 for j in keep if start <= j < start + span)
        if kept:
            groups.append((label, kept))
        start += span
    align = table.alignment
    return replace(table, columns=[table.columns[j] for j in keep], rows=[[row[j] for j in keep] for row in table.rows],
                   groups=groups, align="".join(align[j] for j in keep),
                   n_label=sum(1 for j in keep if j < table.n_label))


def _spans(table: Table) -> list[tuple[str, int, int]]:
    """(label, first column, span) of each group, 0-based."""
    out, start = [], 0
    for label, span in table.groups:
        out.append((label, start, span))
        start += span
    return out


def leaf_names(table: Table) -> list[str]:
    """Column names for flat formats: 'group: leaf' where a column sits under a labelled group."""
    if not table.groups:
        return list(table.columns)
    names = []
    for label, start, span in _spans(table):
        names += [f"{label}: {c}" if label else c for c in table.columns[start:start + span]]
    return names


# ---------------------------------------------------------------- markdown

def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_row(cells) -> str:
    return "| " + " | ".join(_md_cell(c) for c in cells) + " |"


def to_markdown(table: Table) -> str:
    """The table as GitHub markdown with its title and footnotes (blank columns dropped)."""
    table = displayed(table)
    rule = "|" + "|".join({"l": ":--", "r": "--:", "c": ":-:"}[a] for a in table.alignment) + "|"
    if table.labelled_groups:
        header = []
        for label, _, span in _spans(table):
            header += [label] + [""] * (span - 1)
        head = [_md_row(header), rule, _md_row(f"**{c}**" if c else "" for c in table.columns)]
    else:
        head = [_md_row(table.columns), rule]
    lines = [f"**{table.title}**", "", *head]
    lines += [_md_row(row) for row in table.rows]
    lines += [""] + [f"- {n}" for n in table.notes]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- LaTeX

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "—": "---", "–": "--", "−": r"$-$", "·": r"$\cdot$", "×": r"$\times$", "≥": r"$\geq$",
    "≤": r"$\leq$", "<": r"$<$", ">": r"$>$", "†": r"\textdagger{}", "→": r"$\rightarrow$", "≈": r"$\approx$",
    "µ": r"$\mu$", "°": r"\textdegree{}", "‰": r"\textperthousand{}", "’": "'", "‘": "`", "“": "``", "”": "''",
    "…": r"\dots{}", "é": r"\'e", "ö": r'\"o', "ü": r'\"u',
}


def latex_escape(text: str) -> str:
    """Text safe inside a LaTeX tabular cell (ASCII output; special characters escaped)."""
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))
    return out.encode("ascii", "replace").decode("ascii")


LATEX_PREAMBLE = (
    r"\documentclass[varwidth=200cm,border=4pt]{standalone}",  # varwidth: the notes are paragraphs
    r"\usepackage{booktabs}",
    r"\usepackage{threeparttable}",
)


def latex_table(table: Table) -> str:
    """The table's threeparttable block: booktabs tabular, then its notes (wrapping at the table's width).

    This is the part to paste into a paper's table float (with booktabs and threeparttable loaded).
    """
    table = displayed(table)
    lines = [r"\begin{threeparttable}", rf"\begin{{tabular}}{{{table.alignment}}}", r"\toprule"]
    if table.labelled_groups:
        cells, rules = [], []
        for label, start, span in _spans(table):
            if label:
                cells.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(label)}}}")
                rules.append(rf"\cmidrule(lr){{{start + 1}-{start + span}}}")
            else:
                cells += [""] * span
        lines.append(" & ".join(cells) + r" \\")
        lines.append(" ".join(rules))
    lines.append(" & ".join(latex_escape(c) for c in table.columns) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in table.rows]
    lines.append(r"\bottomrule")
    lines.append(r"\end{tabular}")
    if table.notes:
        lines += [r"\begin{tablenotes}[flushleft]", r"\footnotesize\raggedright\setlength{\labelsep}{0pt}"]
        lines += [rf"\item[] {latex_escape(note)}" for note in table.notes]
        lines.append(r"\end{tablenotes}")
    lines.append(r"\end{threeparttable}")
    return "\n".join(lines)


def to_latex(table: Table) -> str:
    """The table as a standalone LaTeX document (booktabs, threeparttable), compilable on its own."""
    lines = [*LATEX_PREAMBLE, r"\begin{document}",
             rf"\textbf{{{latex_escape(table.title)}}}\par\smallskip",
             "% for a paper: the threeparttable block below, in a table float, the title as its caption",
             latex_table(table), r"\end{document}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- CSV

def to_csv(table: Table) -> str:
    """The numbers behind the table as tidy CSV (counts as integers)."""
    return with_counts(table.data).to_csv(index=False)


RENDERERS = {"md": ("md", to_markdown), "latex": ("tex", to_latex), "csv": ("csv", to_csv)}
