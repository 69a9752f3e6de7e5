"""The same runs give the same report, byte for byte, figures included (seeded jitter, fixed metadata)."""
from __future__ import annotations

import shutil
from pathlib import Path

from resnext_bench.analysis import report
from resnext_bench.analysis.collect import CollectResult

DEMO = Path(__file__).resolve().parents[1] / "results" / "demo"


def report_files(tmp_path: Path, name: str, monkeypatch) -> dict[str, bytes]:
    """Every file a report writes from the demo's runs.csv and curves.csv, by name."""
    out = tmp_path / name
    out.mkdir()
    for f in ("runs.csv", "curves.csv"):
        shutil.copy(DEMO / f, out / f)
    monkeypatch.setattr(report, "collect", lambda sweeps, o, verbose=True: CollectResult(
        Path(o) / "runs.csv", Path(o) / "curves.csv", [], []))
    report.write_report([Path("sweeps/demo")], out)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_a_report_written_twice_is_the_same_bytes(tmp_path, monkeypatch):
    first = report_files(tmp_path, "first", monkeypatch)
    second = report_files(tmp_path, "second", monkeypatch)
    assert {"fig_cardinality.png", "fig_cardinality.pdf", "fig_curves.png", "report.md", "table3.csv"} <= set(first)
    assert sorted(first) == sorted(second)
    differ = [name for name in first if first[name] != second[name]]
    assert differ == [], f"not reproducible: {differ}"
