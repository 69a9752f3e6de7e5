"""A run is its run id: analysis counts each run id once and never merges two models into one.

The run id hashes the configuration alone (model with every field, data, recipe, seed, precision):
two models that share C, d and seed but differ in base planes are two runs, and one run listed by
two sweeps is one run. Runs are fabricated as runs.csv-like frames, prepared as load_runs prepares
them, and handed to the functions that build each table's and figure's data; the report is
written once from run folders laid out as the run store lays them out.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from support.sweeps import make_run

from resnext_bench.analysis import edf
from resnext_bench.analysis import spaces as space_study
from resnext_bench.analysis.collect import RUN_COLUMNS, CollectResult
from resnext_bench.analysis.paper import load_reference
from resnext_bench.analysis.cifar import plot_cifar_size
from resnext_bench.analysis.complexity import plot_error_vs_complexity
from resnext_bench.analysis.curves import plot_curves
from resnext_bench.analysis.table3 import plot_cardinality
from resnext_bench.analysis.header import header, shared_lines
from resnext_bench.analysis.report import write_report
from resnext_bench.analysis.runs import prepare_runs
from resnext_bench.analysis.tables import build_tables
from resnext_bench.record.store import Store, link_into


def row(run_id, *, study, template="imagenet-50", dataset="digits", c=1, d=64, bp=64, seed=0, err=30.0,
        shortcut=True, space=None, sweep="sweep", shared_with=None) -> dict:
    """One runs.csv row of a completed run."""
    return dict(run_id=run_id, sweep=sweep, study=study, template=template, dataset=dataset, recipe="short",
                epochs_planned=3, cardinality=c, bottleneck_width=d, group_width=c * d, base_planes=bp,
                stem_width=64, block_form="c", shortcut=shortcut, space=space, seed=seed, status="completed",
                params=1000.0 * c * d * bp, flops=2e4 * c * d * bp, final_val_top1_err=err,
                final_val_top5_err=err / 4, shared_with=shared_with)


def runs_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in RUN_COLUMNS:
        if column not in frame:
            frame[column] = None
    return prepare_runs(frame)


def twin_rows() -> list[dict]:
    """Every table's and the design spaces' runs, each model twice: base planes 16 and 64, nothing else apart.

    The bp16 model's error is the bp64 model's + 5 (so a cell that pooled them would show it)."""
    rows = []
    for bp, extra in ((16, 5.0), (64, 0.0)):
        for seed in (0, 1):
            for c, d in ((1, 64), (2, 40)):
                rows.append(row(f"t3-{c}x{d}d-bp{bp}-s{seed}", study="table3", c=c, d=d, bp=bp, seed=seed,
                                err=30.0 - c + seed + extra))
            rows.append(row(f"t7-8x64d-bp{bp}-s{seed}", study="table7", template="cifar-29", dataset="cifar10",
                            c=8, d=64, bp=bp, seed=seed, err=4.0 + seed + extra))
            rows.append(row(f"t7-1x64d-bp{bp}-s{seed}", study="table7", template="cifar-29", dataset="cifar10",
                            c=1, d=64, bp=bp, seed=seed, err=5.0 + seed + extra))
        rows.append(row(f"t4-64x4d-bp{bp}", study="table4", template="imagenet-101", dataset="imagenet", c=64, d=4,
                        bp=bp, err=20.0 + extra))
        rows.append(row(f"res-32x4d-bp{bp}", study="residual", c=32, d=4, bp=bp, err=22.0 + extra))
        rows.append(row(f"res-32x4d-noshort-bp{bp}", study="residual", c=32, d=4, bp=bp, shortcut=False,
                        err=26.0 + 2 * extra))
        rows.append(row(f"ds-resnet-1x11d-bp{bp}", study="none", template="cifar-29", c=1, d=11, bp=bp,
                        space="resnet", err=7.0 + extra))
    return rows


# ---------------------------------------------------------------- two models, not one

def test_models_differing_only_in_base_planes_are_two_rows_in_every_table():
    runs = runs_frame(twin_rows())
    tables = build_tables(runs, load_reference())
    t3 = tables["table3"].data.dropna(subset=["bottleneck_width"])
    t3 = t3[t3["n"] > 0].set_index("setting")
    assert sorted(t3.index) == ["1x64d-bp16", "1x64d-bp64", "2x40d-bp16", "2x40d-bp64"]
    assert (t3["n"] == 2).all(), "each cell holds its own model's two seeds"
    assert t3.loc["1x64d-bp16", "mean"] - t3.loc["1x64d-bp64", "mean"] == pytest.approx(5.0)
    assert t3.loc["2x40d-bp16", "mean"] == pytest.approx(33.5)
    # each is compared with the C=1 of its own base planes
    assert t3.loc["1x64d-bp16", "baseline"] and t3.loc["1x64d-bp64", "baseline"]
    assert not t3.loc["2x40d-bp16", "baseline"]
    t2 = tables["table2"].data
    assert sorted(t2["setting"]) == ["1x64d-bp16", "1x64d-bp64", "2x40d-bp16", "2x40d-bp64"]
    t4 = tables["table4"].data
    t4 = t4[t4["n"] > 0].set_index("setting")
    assert sorted(t4.index) == ["64x4d-bp16", "64x4d-bp64"] and (t4["n"] == 1).all()
    assert t4.loc["64x4d-bp16", "mean"] == 25.0 and t4.loc["64x4d-bp64", "mean"] == 20.0
    res = tables["residual"].data.set_index("setting")
    assert sorted(res.index) == ["32x4d-bp16", "32x4d-bp64"]
    assert (res["n"] == 1).all() and (res["with_n"] == 1).all(), "without and with: the same base planes"
    assert res.loc["32x4d-bp16", "gap"] == pytest.approx(9.0) and res.loc["32x4d-bp64", "gap"] == pytest.approx(4.0)
    t7 = tables["table7"].data
    t7 = t7[t7["n"] > 0].set_index("setting")
    assert sorted(t7.index) == ["1x64d-bp16", "1x64d-bp64", "8x64d-bp16", "8x64d-bp64"] and (t7["n"] == 2).all()
    shown = " ".join(cell for table in tables.values() for r in table.rows for cell in r)
    for label in ("1x64d-bp16", "64x4d-bp64", "32x4d-bp16", "8x64d-bp64"):
        assert label in shown, f"{label}: the displayed tables tell the two models apart"


def test_models_differing_only_in_base_planes_are_two_rows_in_every_figure_input():
    runs = runs_frame(twin_rows())
    reference = load_reference()
    done = runs[runs["ours"]]
    complexity = plot_error_vs_complexity(runs).data
    assert len(complexity) == len(done) == 24, "one point per run, whatever its C, d and seed share"
    assert set(complexity["run_id"]) == set(done["run_id"])
    cardinality = plot_cardinality(runs, reference).data
    ours = cardinality[cardinality["source"] == "ours"]
    assert len(ours) == 8 and set(ours["setting"]) == {"1x64d-bp16", "1x64d-bp64", "2x40d-bp16", "2x40d-bp64"}
    cifar = plot_cifar_size(runs, reference).data
    assert len(cifar[cifar["source"] == "ours"].drop_duplicates("run_id")) == 8
    assert {"1x64d-bp16", "1x64d-bp64", "8x64d-bp16", "8x64d-bp64"} <= set(cifar["setting"])
    t3 = done[done["table"] == "table3"]
    curves = pd.DataFrame([{"sweep": s, "run_id": r, "epoch": e, "val_top1_err": 40.0 - e, "train_top1_err": 45.0 - e}
                           for s, r in zip(t3["sweep"], t3["run_id"]) for e in (1, 2, 3)])
    drawn = plot_curves(runs, curves).data
    assert drawn["run_id"].nunique() == 8 and drawn["setting"].nunique() == 4
    sampled = edf.space_runs(runs)
    assert sorted(sampled["setting"]) == ["1x11d-bp16", "1x11d-bp64"], "two sampled models, two labels"
    study = space_study.study_of(sampled, sampled["group"].iloc[0], permutations=10)
    assert sorted(space_study.best_models(study)["configuration"]) == ["1x11d-bp16", "1x11d-bp64"]


def test_the_same_run_listed_by_two_sweeps_counts_once():
    rows = [row(f"t3-{c}x{d}d-s{seed}", study="table3", c=c, d=d, seed=seed, err=30.0 - c + seed, sweep="t3",
                shared_with="residual") for c, d in ((1, 64), (2, 40)) for seed in (0, 1)]
    rows += [{**r, "sweep": "residual", "study": "residual", "shared_with": "t3"} for r in rows]  # listed there too
    rows += [row(f"ds-{i}", study="none", template="cifar-29", c=1, d=8 + i, space="resnet", err=7.0 + i, sweep=s,
                 shared_with=other) for i in range(5) for s, other in (("ds", "ds2"), ("ds2", "ds"))]
    runs = runs_frame(rows)
    t3 = build_tables(runs, load_reference())["table3"].data
    t3 = t3[t3["n"] > 0].set_index("setting")
    assert list(t3["n"]) == [2, 2] and list(t3["planned"]) == [2, 2], "two seeds a cell, not four"
    assert t3.loc["2x40d", "mean"] == pytest.approx(28.5)
    plot = plot_cardinality(runs, load_reference())
    assert plot.figure is not None, f"the run feeds Table 3 whichever sweep's row is kept: {plot.reason}"
    assert len(plot.data[plot.data["source"] == "ours"]) == 4
    assert len(plot_error_vs_complexity(runs).data) == 9
    sampled = edf.space_runs(runs)
    assert sorted(sampled["run_id"]) == [f"ds-{i}" for i in range(5)], "one model of the space a run id"
    (study,) = space_study.design_spaces(runs, permutations=10)
    assert study.spaces["resnet"].n == 5


# ---------------------------------------------------------------- the report says what it shares

def store_run(store: Store, sweeps: list[Path], run_id: str, **kwargs) -> None:
    """A run in the store, listed by each of `sweeps` (a link in its runs/ and a line in the run's sweeps file)."""
    folder = make_run(store.root.parent, run_id, **kwargs)  # store.root is <pool>/runs
    for sweep in sweeps:
        link_into(sweep / "runs" / run_id, folder)
        store.add_sweep(run_id, sweep)


def test_the_report_names_the_runs_it_shares_and_the_other_sweeps(tmp_path):
    store = Store(tmp_path / "store" / "runs")
    t3, residual = tmp_path / "table3-sweep", tmp_path / "residual-sweep"
    for c, d in ((1, 64), (2, 40)):
        store_run(store, [t3], f"t3-{c}x{d}d-s0", cardinality=c, bottleneck_width=d, err=30.0 - c)
    store_run(store, [t3, residual], "shared-32x4d-s0", cardinality=32, bottleneck_width=4, err=22.0)
    text = write_report([t3], tmp_path / "out").read_text()
    lines = [line for line in text.splitlines() if "shared-32x4d-s0" in line]
    assert len(lines) == 1 and "residual-sweep" in lines[0] and "table3-sweep" in lines[0], lines
    assert "1 run of this report is listed by other sweeps too" in text
    assert f"- sweep `{t3}`: 3 runs" in text
    # nothing shared, or a runs.csv from before the column: not a word of it
    alone = runs_frame([row("a", study="table3"), row("b", study="table3", c=2, d=40)])
    for runs in (alone, alone.drop(columns=["shared_with"])):
        lines = header([Path("sweep")], CollectResult(Path("runs.csv"), Path("curves.csv")), runs, Path("."))
        assert shared_lines(runs) == [] and not any("shared" in line for line in lines)
