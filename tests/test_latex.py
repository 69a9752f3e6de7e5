"""Every generated .tex compiles alone with a real TeX engine (pdflatex), and its table can be cut out.

TeX is required, never skipped: .ci/run installs it (Debian: texlive-latex-base,
texlive-latex-recommended for booktabs, texlive-latex-extra for standalone, varwidth and
threeparttable).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.sweeps import add_evaluations, make_every_table_sweep, make_run

from resnext_bench.analysis.collect import collect
from resnext_bench.analysis.paper import load_reference
from resnext_bench.analysis.render import LATEX_PREAMBLE, Table, latex_escape, latex_table, to_latex
from resnext_bench.analysis.runs import load_runs
from resnext_bench.analysis.studies import TABLES
from resnext_bench.analysis.tables import build_tables, write_tables

TEX_PACKAGES = "texlive-latex-base texlive-latex-recommended texlive-latex-extra"
TIMEOUT_S = 60


def pdflatex() -> str:
    """The pdflatex executable; a failure (not a skip) without one."""
    exe = shutil.which("pdflatex")
    if exe is None:
        pytest.fail("pdflatex not found: install TeX Live to compile the LaTeX tables, e.g. "
                    f"apt-get install -y --no-install-recommends {TEX_PACKAGES} (.ci/run does)", pytrace=False)
    return exe


def compile_tex(tex: Path) -> Path:
    """pdflatex TEX in its own folder; fails with the log's errors unless it exits 0 with a PDF."""
    exe = pdflatex()
    try:
        proc = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tex.parent,
                              capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pdflatex {tex.name}: no result in {TIMEOUT_S} s")
    log = tex.with_suffix(".log")
    text = log.read_text(errors="replace") if log.exists() else proc.stdout
    errors = [line for line in text.splitlines() if line.startswith("!")]
    pdf = tex.with_suffix(".pdf")
    assert proc.returncode == 0 and pdf.is_file() and pdf.stat().st_size > 0, \
        f"pdflatex {tex.name} exited {proc.returncode}: {errors or text[-2000:]}"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    overfull = [line for line in text.splitlines() if line.startswith("Overfull \\hbox")]
    assert not overfull, f"{tex.name}: text sticks out of its box (notes that do not wrap?): {overfull}"
    return pdf


def _results(root: Path, dataset: str) -> Path:
    """Every table's runs, with the Table 4 runs evaluated at two crops so Table 5 is written too."""
    out = root / "results"
    sweep = make_every_table_sweep(root / "sweep", dataset=dataset)
    for run_dir in sorted((sweep / "runs").glob("t4-*")):
        add_evaluations(run_dir, {224: 22.0, 320: 21.0})
    collect([sweep], out, verbose=False)
    return out


@pytest.mark.parametrize("dataset", ["digits", "imagenet"])
def test_every_generated_tex_compiles(tmp_path, dataset):
    """digits: diff columns dropped; imagenet: diff columns shown (Table 3 with four leaves a group)."""
    out = _results(tmp_path, dataset)
    paths = write_tables(out, formats="latex", verbose=False)
    assert sorted(p.stem for p in paths) == sorted(s.name for s in TABLES), "every table type"
    for tex in paths:
        compile_tex(tex)


def test_a_cell_pooling_devices_and_every_special_character_compile(tmp_path):
    sweep = tmp_path / "sweep"
    for seed, device in enumerate(["cpu", "cpu", "NVIDIA H100 80GB HBM3"]):  # a † cell
        make_run(sweep, f"c1-s{seed}", cardinality=1, bottleneck_width=16, seed=seed, err=30.0 + seed, device=device)
        make_run(sweep, f"c2-s{seed}", cardinality=2, bottleneck_width=10, seed=seed, err=29.0 + seed)
    collect([sweep], tmp_path / "results", verbose=False)
    tex = write_tables(tmp_path / "results", formats="latex", verbose=False)
    assert r"\textdagger{}" in (tmp_path / "results" / "table3.tex").read_text()
    special = "50% of a_b & c #1 {x} ~^\\ $5 ± 0.1 — – · × ≥ ≤ < > †"
    table = Table("special", f"Specials: {special}", ["C", f"group width (C·d) {special}", "x"],
                  [["1", special, "—"], ["2", "n/a (n<2)", "p<0.001"]], groups=[("", 1), (special, 2)],
                  notes=[special, "a long note " * 40])
    path = tmp_path / "special" / "special.tex"
    path.parent.mkdir()
    path.write_text(to_latex(table))
    assert path.read_text().isascii()
    for p in [*tex, path]:
        compile_tex(p)


def test_the_table_block_pastes_into_a_paper(tmp_path):
    """The threeparttable block (tabular and notes) compiles inside an article's table float."""
    out = _results(tmp_path, "imagenet")
    tables = build_tables(load_runs(out), load_reference())
    body = []
    for name, table in tables.items():
        block = latex_table(table)
        assert block in (to_latex(table)), name
        body += [r"\begin{table}[p]", r"\centering\small", rf"\caption{{{latex_escape(table.title)}}}",
                 block, r"\end{table}"]
    paper = tmp_path / "paper" / "paper.tex"
    paper.parent.mkdir()
    paper.write_text("\n".join([r"\documentclass{article}", r"\usepackage[landscape,margin=1cm]{geometry}",
                                r"\usepackage{booktabs}", r"\usepackage{threeparttable}", r"\begin{document}",
                                *body, r"\end{document}"]) + "\n")
    compile_tex(paper)


def test_each_tex_is_a_standalone_document_with_booktabs_and_threeparttable(tmp_path):
    out = _results(tmp_path, "digits")
    for tex in write_tables(out, formats="latex", verbose=False):
        text = tex.read_text()
        assert text.startswith("\n".join(LATEX_PREAMBLE)), tex.name
        assert re.search(r"\\begin\{document\}.*\\end\{document\}\s*$", text, re.S)
        for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
            assert text.count(rule) == 1, (tex.name, rule)
        assert r"\begin{tablenotes}" in text and r"\cmidrule" in text, tex.name  # notes; a spanning header


def test_latex_escape_covers_the_table_characters():
    assert latex_escape("± — % _ & # †") == r"$\pm$ --- \% \_ \& \# \textdagger{}"
    assert latex_escape("a_b & 50% #1 {x} ~^\\") == \
        r"a\_b \& 50\% \#1 \{x\} \textasciitilde{}\textasciicircum{}\textbackslash{}"
