"""Damaged runs.csv and curves.csv are refused by `tables`, `plots` and `report`: one line naming the file
and the column, exit 2, before any table cell or figure is made from them (analysis/runs.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from resnext_bench.analysis import report
from resnext_bench.analysis.collect import CollectResult
from resnext_bench.cli import main

DEMO = Path(__file__).resolve().parents[1] / "results" / "demo"


@pytest.fixture
def results(tmp_path) -> Path:
    """A copy of the demo's runs.csv and curves.csv (valid: the damage is added by each test)."""
    out = tmp_path / "results"
    out.mkdir()
    for name in ("runs.csv", "curves.csv"):
        shutil.copy(DEMO / name, out / name)
    return out


def set_cell(path: Path, column: str, value: str) -> None:
    """Write `value` verbatim into the first data row's `column` (every cell kept as text)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[0, column] = value
    frame.to_csv(path, index=False)


def refused(capsys, argv: list[str], *words: str) -> str:
    """Run the CLI, assert exit 2 with one line on stderr holding every word; return that line."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}, expected 2 (refused); stderr: {err!r}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"one line, not a traceback: {err!r}"
    for word in words:
        assert word in lines[0], f"{word!r} not named in {lines[0]!r}"
    return lines[0]


def stub_collect(monkeypatch) -> None:
    """The report's collect without sweeps: the damaged files stay as the test wrote them."""
    def collect(sweeps, out, verbose=True):
        return CollectResult(Path(out) / "runs.csv", Path(out) / "curves.csv", [], [])

    monkeypatch.setattr(report, "collect", collect)


@pytest.mark.parametrize("value", ["-5", "inf", "1e400", "nan", "abc"])
def test_tables_refuses_an_error_that_is_not_a_finite_percentage(results, capsys, value):
    set_cell(results / "runs.csv", "final_val_top1_err", value)
    refused(capsys, ["tables", str(results)], "runs.csv", "final_val_top1_err")
    assert not list(results.glob("table*")), "no table written from a damaged runs.csv"


def test_tables_refuses_a_runs_csv_without_the_expected_columns(results, capsys):
    (results / "runs.csv").write_text("a,b\n1,2\n")
    refused(capsys, ["tables", str(results)], "runs.csv", "column run_id")


def test_tables_refuses_a_non_numeric_count(results, capsys):
    set_cell(results / "runs.csv", "cardinality", "abc")
    refused(capsys, ["tables", str(results)], "runs.csv", "cardinality")


def test_tables_refuses_a_runs_csv_that_is_a_folder(results, capsys):
    (results / "runs.csv").unlink()
    (results / "runs.csv").mkdir()
    refused(capsys, ["tables", str(results)], "runs.csv", "not a file")


@pytest.mark.parametrize("value", ["inf", "1e400"])
def test_plots_refuses_an_infinite_error_before_drawing(results, capsys, monkeypatch, value):
    from resnext_bench.analysis import plots

    drawn = []
    monkeypatch.setattr(plots, "draw_plots", lambda ctx: drawn.append(ctx) or [])
    set_cell(results / "runs.csv", "final_val_top1_err", value)
    refused(capsys, ["plots", str(results)], "runs.csv", "final_val_top1_err")
    assert drawn == [], "nothing reaches matplotlib"


def test_plots_refuses_undecodable_curves(results, capsys):
    (results / "curves.csv").write_bytes(b"sweep,run_id,epoch\n\xff\xfe\x00garbage\x9c\n")
    refused(capsys, ["plots", str(results)], "curves.csv")


def test_plots_refuses_a_curves_csv_that_is_a_folder(results, capsys):
    (results / "curves.csv").unlink()
    (results / "curves.csv").mkdir()
    refused(capsys, ["plots", str(results)], "curves.csv", "not a file")


def test_plots_refuses_curves_without_an_epoch_column(results, capsys):
    frame = pd.read_csv(results / "curves.csv").drop(columns=["epoch"])
    frame.to_csv(results / "curves.csv", index=False)
    refused(capsys, ["plots", str(results)], "curves.csv", "column epoch")


@pytest.mark.parametrize("value", ["-5", "1e400", "nan", "abc"])
def test_plots_refuses_a_damaged_curve_error(results, capsys, value):
    set_cell(results / "curves.csv", "val_top1_err", value)
    refused(capsys, ["plots", str(results)], "curves.csv", "val_top1_err")


def test_report_refuses_damaged_runs_and_curves(results, capsys, monkeypatch):
    stub_collect(monkeypatch)
    (results / "curves.csv").unlink()
    (results / "curves.csv").mkdir()
    refused(capsys, ["report", "sweeps/none", "-o", str(results)], "curves.csv", "not a file")
    (results / "curves.csv").rmdir()
    set_cell(results / "runs.csv", "final_val_top1_err", "inf")
    refused(capsys, ["report", "sweeps/none", "-o", str(results)], "runs.csv", "final_val_top1_err")
    assert not (results / "report.md").exists(), "no report from damaged files"
