"""The paper's tables as a reader sees them: headers that say each thing once, no all-blank
columns, integer counts, LaTeX notes that wrap (compiling them is tests/test_latex.py)."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest

from support.sweeps import BIG, make_every_table_sweep, make_table3_sweep

from resnext_bench.analysis.cells import ABSENT, NOT_SAME_DATA, is_blank
from resnext_bench.analysis.collect import collect
from resnext_bench.analysis.paper import load_reference
from resnext_bench.analysis.render import (COUNT_COLUMNS, Table, displayed, latex_table, leaf_names, to_csv, to_latex,
                                           to_markdown)
from resnext_bench.analysis.runs import load_runs
from resnext_bench.analysis.table3 import build_table3
from resnext_bench.analysis.tables import build_tables, write_tables

G50, G101 = "50-layer (digits, short, 3 ep)", "101-layer (digits, short, 3 ep)"


@pytest.fixture(scope="module")
def every_table(tmp_path_factory):
    """results/ with every table written in every format, from digits runs (ImageNet only in Table 4)."""
    root = tmp_path_factory.mktemp("every_table")
    out = root / "results"
    collect([make_every_table_sweep(root / "sweep")], out, verbose=False)
    write_tables(out, verbose=False)
    return out


def _tables(results: Path) -> dict[str, Table]:
    return build_tables(load_runs(results), load_reference())


def _table3(tmp_path: Path, dataset: str) -> Table:
    out = tmp_path / "results"
    collect([make_table3_sweep(tmp_path / "sweep", dataset=dataset)], out, verbose=False)
    return build_table3(load_runs(out), load_reference())


def _md_header(md: str) -> list[list[str]]:
    """The markdown table's header rows as cells: the header row, and the bold leaf row below the rule if any."""
    lines = [line for line in md.splitlines() if line.startswith("|")]
    rows = [lines[0]] + ([lines[2]] if "**" in lines[2] else [])
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def _latex_header(tex: str) -> str:
    """The LaTeX header: between \\toprule and \\midrule."""
    return tex.split(r"\toprule", 1)[1].split(r"\midrule", 1)[0]


# ---------------------------------------------------------------- headers say each thing once

def test_table3_group_label_spans_its_columns_once(tmp_path):
    table = _table3(tmp_path, "digits")
    md, tex = to_markdown(table), to_latex(table)
    header_text = "\n".join(" | ".join(row) for row in _md_header(md))
    for label in (G50, G101):
        assert header_text.count(label) == 1, header_text
        assert _latex_header(tex).count(label) == 1
        assert rf"\multicolumn{{3}}{{c}}{{{label}}}" in tex, "ours, paper, vs C=1 under one spanning header"
    groups, leaves = _md_header(md)
    assert leaves[:3] == ["**C**", "**ours**", "**paper**"] and groups[1] == "setting"
    assert leaves[3:] == ["**ours**", "**paper**", "**vs C=1**"] * 2, "leaf headers say only what differs"
    assert groups[3:] == [G50, "", "", G101, "", ""]
    assert "layer" not in " ".join(table.columns), "depths live in the group labels, never in a leaf"
    # the leaf row comes first below the rule, then the data
    body = [line for line in md.splitlines() if line.startswith("|")]
    assert body[3].startswith("| 1 | 1x16d | 1x64d | 31.00 ± 1.00 (3) | 23.9 | baseline |")


@pytest.mark.parametrize("name", ["table2", "table3", "table4", "residual", "table7"])
def test_no_header_says_a_thing_twice(every_table, name):
    """Within a group, leaf names are distinct and none repeats its group's label."""
    table = displayed(_tables(every_table)[name])
    start = 0
    for label, span in table.groups or [("", len(table.columns))]:
        leaves = table.columns[start:start + span]
        assert len(set(leaves)) == len(leaves), leaves
        if label:
            assert not any(label in leaf for leaf in leaves), (label, leaves)
        start += span
    assert len(set(leaf_names(table))) == len(leaf_names(table)), "every column is named uniquely"
    header = _md_header(to_markdown(table))
    tex_header = _latex_header(to_latex(table))
    for label, _ in table.groups:
        if label:
            assert header[0].count(label) == 1, (label, header)
            assert tex_header.count(rf"{{c}}{{{label}}}") == 1, (label, tex_header)


# ---------------------------------------------------------------- blank columns

def test_table3_has_no_diff_column_when_no_run_is_on_the_papers_data(tmp_path):
    table = _table3(tmp_path, "digits")
    assert not any(name.endswith(": diff") for name in leaf_names(table))
    md, tex = to_markdown(table), to_latex(table)
    assert "diff" not in _md_header(md)[1] and "n/a (different data)" not in md
    assert " diff " not in _latex_header(tex) and "different data" not in tex
    assert any("no diff for runs on digits" in note for note in table.notes), "the notes say why there is none"
    known = table.data["paper"].notna() & (table.data["n"] > 0)
    assert table.data.loc[known, "diff"].notna().all() and known.any(), "the CSV holds ours - paper on every row"
    assert not table.data["same_data"].any(), "... marked as not the paper's data (a difference of level only)"
    assert "diff" in pd.read_csv(io.StringIO(to_csv(table))).columns


def test_table3_diff_column_is_there_for_imagenet_runs(tmp_path):
    table = _table3(tmp_path, "imagenet")
    g50 = "50-layer (imagenet, short, 3 ep)"
    names = leaf_names(table)
    assert f"{g50}: diff" in names
    cells = {(row[0], name): cell for row in table.rows for name, cell in zip(names, row)}
    assert cells[("1", f"{g50}: diff")] == "+7.10"  # 31.0 - 23.9
    groups, leaves = _md_header(to_markdown(table))
    assert leaves[3:7] == ["**ours**", "**paper**", "**diff**", "**vs C=1**"]
    assert "+7.10" in to_markdown(table) and "+7.10" in to_latex(table)
    assert any(note.startswith("diff = ours - paper") for note in table.notes)
    assert not any("no diff" in note for note in table.notes)


def test_diff_columns_blank_in_every_row_are_dropped_from_residual_and_table7_display(every_table):
    tables = _tables(every_table)
    residual = tables["residual"]
    assert all(row[-1] == NOT_SAME_DATA for row in residual.rows), "digits runs: no diff"
    shown = displayed(residual)
    assert "diff (ours - paper)" not in [label for label, _ in shown.groups]
    assert "different data" not in to_markdown(residual) and "different data" not in to_latex(residual)
    t4 = displayed(tables["table4"])  # imagenet and digits sections: the diff columns stay
    assert "top-1 error: diff" in leaf_names(t4) and NOT_SAME_DATA in to_markdown(tables["table4"])
    t7 = displayed(tables["table7"])  # cifar10 and cifar100: diff given
    assert "diff" in t7.columns


def test_displayed_drops_blank_columns_and_shrinks_their_groups():
    table = Table("t", "T", ["a", "x", "y", "z", "w"],
                  [["1", ABSENT, "n/a (different data)", "2", ""], ["3", "—", "n/a", "4", " "]],
                  groups=[("", 1), ("g", 3), ("h", 1)], notes=["n"], align="lrrrr")
    shown = displayed(table)
    assert shown.columns == ["a", "z"] and shown.rows == [["1", "2"], ["3", "4"]]
    assert shown.groups == [("", 1), ("g", 1)] and shown.alignment == "lr"
    assert table.columns == ["a", "x", "y", "z", "w"], "the table itself keeps its columns"
    assert "| **a** | **z** |" in to_markdown(table)
    assert not displayed(Table("e", "E", ["a"], [])).rows
    assert [is_blank(c) for c in ("—", "n/a", "n/a (n<2)", "", "missing", "baseline", "0.00")] == \
        [True, True, True, True, False, False, False]


# ---------------------------------------------------------------- counts are integers

def test_csv_counts_are_integers(every_table):
    t2 = (every_table / "table2.csv").read_text()
    assert "16000,320000," in t2 and "16000.0" not in t2, t2
    numbers = pd.read_csv(every_table / "table2.csv")
    for col in ("cardinality", "bottleneck_width", "group_width", "params", "flops", "paper_bottleneck_width",
                "paper_group_width"):
        assert pd.api.types.is_integer_dtype(numbers[col]), col
    t4 = pd.read_csv(every_table / "table4.csv")
    assert BIG in set(t4["params"]) and f",{BIG}," in (every_table / "table4.csv").read_text()
    assert "4089184256" in (every_table / "table4.csv").read_text()
    for name in ("table2", "table3", "table4", "residual", "table7"):
        text = (every_table / f"{name}.csv").read_text()
        frame = pd.read_csv(every_table / f"{name}.csv", dtype=str, keep_default_na=False)
        for col in (c for c in COUNT_COLUMNS if c in frame):
            bad = [v for v in frame[col] if v and not re.fullmatch(r"-?\d+", v)]
            assert not bad, (name, col, bad[:3])
        assert "nan" not in text.lower().replace("n/a", ""), name


def test_table_data_counts_are_nullable_integers(every_table):
    tables = _tables(every_table)
    for name, table in tables.items():
        for col in (c for c in COUNT_COLUMNS if c in table.data):
            assert str(table.data[col].dtype) == "Int64", (name, col, table.data[col].dtype)
    t3 = tables["table3"].data
    gaps = t3[t3["bottleneck_width"].isna()]  # the paper's C=32 row: no d of ours
    assert len(gaps) and (gaps["cardinality"] == 32).all()
    t7 = tables["table7"].data
    assert t7["params"].isna().any() and (t7["params"].dropna() == 34_400_000).all(), "paper rows without our run"
    assert set(t7["paper_params"].dropna()) == {36_500_000, 34_400_000, 68_100_000}
    assert list(tables["table2"].data["params"][:1]) == [16_000]


# ---------------------------------------------------------------- LaTeX notes wrap

@pytest.mark.parametrize("name", ["table2", "table3", "table4", "residual", "table7"])
def test_latex_notes_wrap_inside_tablenotes(every_table, name):
    tex = (every_table / f"{name}.tex").read_text()
    table = _tables(every_table)[name]
    assert not re.search(r"\\multicolumn\{\d+\}\{l\}", tex), "a one-line cell never wraps"
    notes = tex.split(r"\begin{tablenotes}", 1)[1].split(r"\end{tablenotes}", 1)[0]
    assert notes.count(r"\item") == len(table.notes) >= 2
    assert tex.index(r"\end{tabular}") < tex.index(r"\begin{tablenotes}") < tex.index(r"\end{threeparttable}")
    assert r"\documentclass[varwidth" in tex, "standalone without varwidth cannot set paragraphs"
    block = latex_table(table)
    assert block.startswith(r"\begin{threeparttable}") and block.endswith(r"\end{threeparttable}")
    assert block in tex, "the block to cut out for a paper is in the document whole"
    assert tex.isascii()
