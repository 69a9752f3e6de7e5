"""Tables as text: GitHub markdown, LaTeX and CSV.

LaTeX: each .tex file is a complete standalone document (`\\documentclass{standalone}` with
booktabs) holding one tabular; it compiles alone with pdflatex, and its tabular can be cut out
for a paper. The CSV holds the numbers behind a table (`Table.data`: mean, std, n, paper, diff,
p) as a tidy table, one row a (configuration, group), for further analysis rather than display.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

FORMATS = ("md", "latex", "csv")


@dataclass
class Table:
    """One table: display cells (with optional column groups), footnotes, and the numbers behind it."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    groups: list[tuple[str, int]] = field(default_factory=list)  # (label, span) over columns
    notes: list[str] = field(default_factory=list)
    data: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_label: int = 1  # leading text columns (left-aligned)
    align: str = ""  # one of l/r/c per column; empty = n_label columns left, the rest right

    @property
    def alignment(self) -> str:
        return self.align or "l" * self.n_label + "r" * (len(self.columns) - self.n_label)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def leaf_names(table: Table) -> list[str]:
    """Column names for flat formats: 'group: leaf' where a column sits under a group."""
    if not table.groups:
        return list(table.columns)
    names, i = [], 0
    for label, span in table.groups:
        names += [f"{label}: {c}" if label else c for c in table.columns[i:i + span]]
        i += span
    return names


def to_markdown(table: Table) -> str:
    """The table as GitHub markdown with its title and footnotes."""
    names = leaf_names(table)
    lines = [f"**{table.title}**", "", "| " + " | ".join(_md_cell(n) for n in names) + " |",
             "|" + "|".join({"l": ":--", "r": "--:", "c": ":-:"}[a] for a in table.alignment) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    lines += [""] + [f"- {n}" for n in table.notes]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "—": "---", "–": "--", "·": r"$\cdot$", "×": r"$\times$", "≥": r"$\geq$",
    "≤": r"$\leq$", "<": r"$<$", ">": r"$>$",
}


def latex_escape(text: str) -> str:
    """Text safe inside a LaTeX tabular cell (ASCII output; special characters escaped)."""
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))
    return out.encode("ascii", "replace").decode("ascii")


def to_latex(table: Table) -> str:
    """The table as a standalone LaTeX document (booktabs), compilable on its own."""
    n = len(table.columns)
    spec = table.alignment
    lines = [r"\documentclass[border=4pt]{standalone}", r"\usepackage{booktabs}", r"\begin{document}",
             rf"\begin{{tabular}}{{{spec}}}", rf"\multicolumn{{{n}}}{{l}}{{\textbf{{{latex_escape(table.title)}}}}} \\",
             r"\toprule"]
    if table.groups and any(label for label, _ in table.groups):
        cells, rules, start = [], [], 1
        for label, span in table.groups:
            cells.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(label)}}}" if label else " & ".join([""] * span))
            if label:
                rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
            start += span
        lines.append(" & ".join(cells) + r" \\")
        lines.append(" ".join(rules))
    lines.append(" & ".join(latex_escape(c) for c in table.columns) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in table.rows]
    lines.append(r"\bottomrule")
    lines += [rf"\multicolumn{{{n}}}{{l}}{{\footnotesize {latex_escape(note)}}} \\" for note in table.notes]
    lines += [r"\end{tabular}", r"\end{document}"]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """The numbers behind the table as tidy CSV."""
    return table.data.to_csv(index=False)


RENDERERS = {"md": ("md", to_markdown), "latex": ("tex", to_latex), "csv": ("csv", to_csv)}
