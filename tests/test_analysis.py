"""The analysis stage: collecting damaged sweeps, the paper's tables, figures and the report."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from resnext_bench.analysis.collect import collect
from resnext_bench.errors import UserError
from resnext_bench.analysis.cifar import plot_cifar_size
from resnext_bench.analysis.curves import plot_curves
from resnext_bench.analysis.plots import write_plots
from resnext_bench.analysis.report import write_report
from resnext_bench.analysis.cells import MISSING
from resnext_bench.analysis.paper import STUDY_TABLES, load_reference
from resnext_bench.analysis.render import latex_escape, leaf_names, to_latex
from resnext_bench.analysis.runs import load_runs
from resnext_bench.analysis.table3 import build_table3, plot_cardinality
from resnext_bench.analysis.tables import build_tables, write_tables
from resnext_bench.config.specs import STUDIES

from resnext_bench.reference import REFERENCE_DIR as REFERENCE

from support.sweeps import TABLE3_RUNS, make_run, make_table3_sweep  # fabricated run folders, known numbers


# ---------------------------------------------------------------- collect

def test_collect_reads_good_runs_with_their_values(tmp_path):
    sweep = tmp_path / "sweep"
    make_run(sweep, "a", cardinality=32, bottleneck_width=4, seed=2, err=22.5, num_gpus=2, device="cuda")
    make_run(sweep, "b", status="failed", epochs=4)
    make_run(sweep, "c", status="running", epochs=4)
    make_run(sweep, "d", baseline="timm:resnet50", err=40.0)
    result = collect([sweep], tmp_path / "out", verbose=False)
    runs = pd.read_csv(tmp_path / "out" / "runs.csv").set_index("run_id")
    assert result.skipped == []
    assert runs.loc["a", "status"] == "completed"
    assert (runs.loc["a", "cardinality"], runs.loc["a", "bottleneck_width"], runs.loc["a", "group_width"]) == (32, 4, 128)
    assert runs.loc["a", "depth"] == 50 and runs.loc["a", "seed"] == 2
    assert runs.loc["a", "final_val_top1_err"] == 22.5
    assert runs.loc["a", "gpu_hours"] == pytest.approx(4.0)  # 2 h wall on 2 GPUs
    assert runs.loc["b", "gpu_hours"] == pytest.approx(2.0)  # CPU run: wall hours, device says cpu
    assert runs.loc["b", "device"] == "cpu"
    assert runs.loc["b", "status"] == "failed" and runs.loc["b", "reason"] == "CUDA out of memory"
    assert runs.loc["c", "status"] == "running" and runs.loc["c", "epochs"] == 3
    assert runs.loc["d", "baseline"] == "timm:resnet50" and pd.isna(runs.loc["d", "cardinality"])
    curves = pd.read_csv(tmp_path / "out" / "curves.csv")
    assert sorted(curves[curves["run_id"] == "a"]["epoch"]) == [1, 2, 3]


def test_collect_reports_every_damaged_file_and_keeps_the_rest(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    truncated = make_run(sweep, "truncated-result")
    text = (truncated / "result.json").read_text()
    (truncated / "result.json").write_text(text[: len(text) // 2])
    garbage = make_run(sweep, "garbage-config")
    (garbage / "config.yaml").write_text("model: [unclosed\n  - : :\n")
    listing = make_run(sweep, "list-config")
    (listing / "config.yaml").write_text("- just\n- a list\n")
    torn = make_run(sweep, "torn-metrics", status="running", epochs=4)
    with open(torn / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 4, "val_top1')
    noisy = make_run(sweep, "garbage-line")
    lines = (noisy / "metrics.jsonl").read_text().splitlines()
    (noisy / "metrics.jsonl").write_text("\n".join([lines[0], "%%% not json", "[1, 2]", *lines[1:]]) + "\n")
    empty = make_run(sweep, "empty-files", status="pending")
    (empty / "config.yaml").write_text("")
    (empty / "result.json").write_text("")
    (sweep / "runs" / "no-config").mkdir()

    result = collect([sweep], tmp_path / "out")
    reasons = {(Path(p).parent.name, Path(p).name): why for p, why in result.skipped}
    assert "truncated" in reasons[("truncated-result", "result.json")]
    assert "not valid YAML" in reasons[("garbage-config", "config.yaml")]
    assert "not a mapping" in reasons[("list-config", "config.yaml")]
    assert "torn last line" in reasons[("torn-metrics", "metrics.jsonl")]
    assert reasons[("empty-files", "config.yaml")] == "empty file"
    assert reasons[("empty-files", "result.json")] == "empty file"
    assert reasons[("no-config", "config.yaml")] == "missing"
    noisy_reasons = sorted(why for p, why in result.skipped if "garbage-line" in p)
    assert noisy_reasons == ["line 2: not valid JSON", "line 3: not a JSON object"]
    assert len(result.skipped) == 9

    runs = pd.read_csv(tmp_path / "out" / "runs.csv").set_index("run_id")
    assert len(runs) == 7, "every folder is a row, however damaged"
    assert runs.loc["truncated-result", "status"] == "unknown"
    assert "result.json unreadable" in runs.loc["truncated-result", "reason"]
    assert runs.loc["truncated-result", "cardinality"] == 1, "a good config.yaml is still read"
    assert runs.loc["garbage-config", "status"] == "completed", "a good result.json is still read"
    assert runs.loc["garbage-config", "final_val_top1_err"] == 50.0
    assert runs.loc["torn-metrics", "epochs"] == 3
    assert runs.loc["garbage-line", "epochs"] == 3
    assert runs.loc["no-config", "status"] == "pending"
    printed = capsys.readouterr().out
    assert "7 runs" in printed and "9 skipped" in printed
    assert "skipped" in printed and "torn last line" in printed
    assert len(pd.read_csv(tmp_path / "out" / "skipped.csv")) == 9


def test_a_repeated_epoch_keeps_its_later_line(tmp_path):
    run = make_run(tmp_path / "sweep", "resumed", status="running", epochs=4)
    with open(run / "metrics.jsonl", "a") as f:  # epoch 3 redone after a crash before its checkpoint
        f.write(json.dumps({"epoch": 3, "val_top1_err": 1.5}) + "\n")
    result = collect([tmp_path / "sweep"], tmp_path / "out", verbose=False)
    curves = pd.read_csv(tmp_path / "out" / "curves.csv")
    assert list(curves["epoch"]) == [1, 2, 3] and curves["val_top1_err"].iloc[-1] == 1.5
    assert result.runs[0]["epochs"] == 3 and result.skipped == []


def test_collect_refuses_a_missing_sweep(tmp_path):
    with pytest.raises(UserError, match="no such directory"):
        collect([tmp_path / "nowhere"], tmp_path / "out")
    (tmp_path / "not-a-sweep").mkdir()
    with pytest.raises(UserError, match="no runs/ folder"):
        collect([tmp_path / "not-a-sweep"], tmp_path / "out")


def test_collect_a_thousand_runs_is_fast(tmp_path):
    sweep = tmp_path / "big"
    template = make_run(sweep, "template-run")
    files = {name: (template / name).read_text() for name in ("config.yaml", "metrics.jsonl", "result.json")}
    for i in range(999):
        run = sweep / "runs" / f"run-{i:04d}"
        run.mkdir()
        for name, text in files.items():
            (run / name).write_text(text)
    start, start_cpu = time.perf_counter(), time.process_time()
    result = collect([sweep], tmp_path / "out", verbose=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print(f"collected {result.n_runs} runs in {wall:.2f} s wall, {cpu:.2f} s CPU")
    assert result.n_runs == 1000
    # A sanity bound on this process's CPU time: wall time also counts other jobs on a shared machine.
    assert cpu < 2.0, f"collect used {cpu:.2f} s of CPU for 1,000 runs"


# ---------------------------------------------------------------- tables

@pytest.fixture
def table3_dir(tmp_path):
    sweep = make_table3_sweep(tmp_path / "sweep")
    out = tmp_path / "results"
    collect([sweep], out, verbose=False)
    return out


def _cells(table):
    """{(row C, column name): cell} with column names as the markdown writes them."""
    names = leaf_names(table)
    return {(row[0], name): cell for row in table.rows for name, cell in zip(names, row)}


def test_table3_cells_hold_means_stds_counts_and_missing(table3_dir):
    table = build_table3(load_runs(table3_dir), load_reference())
    cells = _cells(table)
    g50, g101 = "50-layer (digits, short, 3 ep)", "101-layer (digits, short, 3 ep)"
    assert cells[("1", f"{g50}: ours")] == "31.00 ± 1.00 (3)"
    assert cells[("4", f"{g50}: ours")] == "26.50 ± 0.50 (3)"
    assert cells[("1", f"{g101}: ours")] == "28.00 ± 0.00 (3)"
    assert cells[("8", f"{g101}: ours")] == MISSING, "three failed runs: no completed run"
    assert cells[("4", "setting: ours")] == "4x6d" and cells[("4", "setting: paper")] == "4x24d"
    assert cells[("1", f"{g50}: paper")] == "23.9"
    assert cells[("4", f"{g101}: paper")] == "21.4"
    assert cells[("32", f"{g50}: paper")] == "22.2", "the paper row is shown without our run"
    assert cells[("32", f"{g50}: ours")] == "—"
    assert f"{g50}: diff" not in leaf_names(table), "no diff column for digits runs: it would be n/a in every row"
    assert any("no diff for runs on digits" in note for note in table.notes)
    data = table.data.set_index(["depth", "cardinality"])
    assert data.loc[(50, 2), "mean"] == pytest.approx(30.0)
    assert data.loc[(50, 2), "std"] == pytest.approx(1.0)
    assert data.loc[(50, 2), "n"] == 3
    assert data.loc[(101, 8), "n"] == 0 and data.loc[(101, 8), "planned"] == 3


def test_table3_welch_verdicts_follow_seed_noise(table3_dir):
    cells = _cells(build_table3(load_runs(table3_dir), load_reference()))
    g50, g101 = "50-layer (digits, short, 3 ep)", "101-layer (digits, short, 3 ep)"
    assert cells[("1", f"{g50}: vs C=1")] == "baseline"
    assert cells[("4", f"{g50}: vs C=1")].startswith("yes"), "4.5 points apart with a spread of 1"
    assert cells[("8", f"{g50}: vs C=1")] == "no (Holm p=1.000)", "identical values are not a difference"
    assert cells[("2", f"{g50}: vs C=1")].startswith("no"), "1 point apart with a spread of 1 in 3 seeds"
    assert cells[("4", f"{g101}: vs C=1")].startswith("yes")


def test_table3_diff_is_filled_for_imagenet_runs(tmp_path):
    sweep = make_table3_sweep(tmp_path / "sweep", dataset="imagenet")
    collect([sweep], tmp_path / "results", verbose=False)
    cells = _cells(build_table3(load_runs(tmp_path / "results"), load_reference()))
    assert cells[("1", "50-layer (imagenet, short, 3 ep): diff")] == "+7.10"  # 31.0 - 23.9


def test_table4_puts_deeper_and_wider_models_beside_the_papers_rows(tmp_path):
    sweep = tmp_path / "sweep"
    for name, template, c, d, err in [("r101", "imagenet-101", 1, 64, 22.5), ("r200", "imagenet-200", 1, 64, 22.0),
                                      ("wide", "imagenet-101", 1, 100, 21.9), ("x64", "imagenet-101", 64, 4, 20.9)]:
        make_run(sweep, name, ablation="table4_2x_complexity", study="table4", template=template, cardinality=c,
                 bottleneck_width=d, dataset="imagenet", err=err)
    collect([sweep], tmp_path / "results", verbose=False)
    table = build_tables(load_runs(tmp_path / "results"), load_reference())["table4"]
    names = leaf_names(table)
    col = {name: names.index(name) for name in ("paper: model", "ours: model", "top-1 error: ours", "top-1 error: diff")}
    ours_by_paper = {row[col["paper: model"]]: (row[col["ours: model"]], row[col["top-1 error: ours"]],
                                                row[col["top-1 error: diff"]]) for row in table.rows}
    assert ours_by_paper["ResNet-101 1x64d (101-layer)"] == ("101-layer 1x64d", "22.50 (1)", "+0.50")
    assert ours_by_paper["ResNet-200 1x64d (200-layer)"] == ("200-layer 1x64d", "22.00 (1)", "+0.30")
    assert ours_by_paper["ResNet-101 wider 1x100d (101-layer)"] == ("101-layer 1x100d", "21.90 (1)", "+0.60")
    assert ours_by_paper["ResNeXt-101 64x4d (101-layer)"] == ("101-layer 64x4d", "20.90 (1)", "+0.50")
    assert ours_by_paper["ResNeXt-101 2x64d (101-layer)"][1] == "—", "a paper row we did not run"
    assert len(table.rows) == 6, "one section: the 200-layer run sits beside the 101-layer ones"


def test_a_seed_trained_by_two_ablations_counts_once(tmp_path):
    # one run (one run id) that the Table 3 and the residual sweeps both list
    make_run(tmp_path / "t3", "imagenet-50-32x4d-s0", ablation="table3_resnet50", cardinality=32,
             bottleneck_width=4, err=22.0)
    make_run(tmp_path / "res", "imagenet-50-32x4d-s0", ablation="residual", study="residual", cardinality=32,
             bottleneck_width=4, err=22.0)
    make_run(tmp_path / "res", "res-32x4d-noshort-s0", ablation="residual", study="residual", cardinality=32,
             bottleneck_width=4, shortcut=False, err=26.0)
    collect([tmp_path / "t3", tmp_path / "res"], tmp_path / "results", verbose=False)
    data = build_tables(load_runs(tmp_path / "results"), load_reference())["residual"].data
    assert data.loc[0, "with_n"] == 1 and data.loc[0, "n"] == 1


def _latex_rows(tex: str) -> list[str]:
    body = tex.split(r"\begin{tabular}", 1)[1].split(r"\end{tabular}", 1)[0]
    body = body.split("\n", 1)[1]  # after the column spec
    return [r.strip() for r in re.split(r"\\\\\s*\n", body) if r.strip()]


def _columns_in(row: str) -> int:
    row = re.sub(r"\\cmidrule\S*\{[^}]*\}\s*", "", row).strip()
    cells = re.split(r"(?<!\\)&", row)
    spans = [int(m.group(1)) if (m := re.search(r"\\multicolumn\{(\d+)\}", c)) else 1 for c in cells]
    return sum(spans)


def assert_latex_well_formed(tex: str):
    """booktabs rules, balanced braces and environments, each row as wide as the column spec, notes that wrap."""
    assert tex.startswith(r"\documentclass") and r"\usepackage{booktabs}" in tex
    assert r"\usepackage{threeparttable}" in tex
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert tex.count(rule) == 1, rule
    unescaped = re.sub(r"\\[{}]", "", tex)
    assert unescaped.count("{") == unescaped.count("}")
    depth = 0
    for ch in unescaped:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{(\w+)\}", tex):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack and stack.pop() == env, env
    assert stack == []
    begins = re.findall(r"\\begin\{(\w+)\}", tex)
    assert begins[:3] == ["document", "threeparttable", "tabular"] and set(begins) <= {
        "document", "threeparttable", "tabular", "tablenotes"}
    assert not re.search(r"\\multicolumn\{\d+\}\{l\}", tex), "notes wrap in tablenotes, not in a one-line cell"
    spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", tex).group(1)
    for row in _latex_rows(tex):
        if row.startswith((r"\toprule", r"\midrule", r"\bottomrule")):
            row = row.split("\n", 1)[1] if "\n" in row else ""
        for line in [l for l in row.split("\n") if l.strip() and not l.strip().startswith(("\\cmidrule", "\\toprule",
                                                                                          "\\midrule", "\\bottomrule"))]:
            assert _columns_in(line) == len(spec), line
    assert tex.isascii()


def test_table3_latex_is_a_well_formed_standalone_booktabs_table(table3_dir):
    tex = to_latex(build_table3(load_runs(table3_dir), load_reference()))
    assert_latex_well_formed(tex)
    assert r"31.00 $\pm$ 1.00 (3)" in tex


def test_latex_escape_makes_special_characters_safe():
    assert latex_escape("a_b & 50% #1 {x} ~^\\") == r"a\_b \& 50\% \#1 \{x\} \textasciitilde{}\textasciicircum{}\textbackslash{}"


def test_write_tables_writes_each_format_and_only_tables_with_runs(table3_dir):
    paths = write_tables(table3_dir)
    names = sorted(p.name for p in paths)
    assert names == sorted(f"{t}.{e}" for t in ("table2", "table3") for e in ("md", "tex", "csv"))
    for p in paths:
        assert p.stat().st_size > 0
        if p.suffix == ".tex":
            assert_latex_well_formed(p.read_text())
    assert "missing" in (table3_dir / "table3.md").read_text()
    numbers = pd.read_csv(table3_dir / "table3.csv")
    assert set(numbers["depth"]) == {50, 101}
    with pytest.raises(UserError, match="format"):
        write_tables(table3_dir, formats=("docx",))


def test_the_declared_study_decides_the_table_never_the_ablation_name(tmp_path):
    sweep = tmp_path / "sweep"
    # every ablation name below names another table than the run's study: the study wins
    make_run(sweep, "t4", ablation="table3_or_residual", study="table4", template="imagenet-101", cardinality=64,
             bottleneck_width=4, dataset="imagenet", err=20.0)
    make_run(sweep, "named-t4", ablation="table4_x", study="table3", cardinality=32, bottleneck_width=4, err=22.0)
    make_run(sweep, "res-without", ablation="table3_shortcut_fig7", study="residual", cardinality=32,
             bottleneck_width=4, shortcut=False, err=27.0)
    make_run(sweep, "no-short-t3", ablation="residual", study="table3", cardinality=2, bottleneck_width=40,
             shortcut=False, err=29.0)
    make_run(sweep, "cifar", ablation="table4_cifar", study="fig7", template="cifar-29", cardinality=8,
             bottleneck_width=64, dataset="cifar10", err=4.0)
    make_run(sweep, "mystery", ablation="table3", study="table9", cardinality=4, bottleneck_width=24, err=21.0)
    make_run(sweep, "base", ablation="table3", study="table3", baseline="timm:resnet50", err=30.0)
    out = tmp_path / "results"
    collect([sweep], out, verbose=False)
    table = load_runs(out).set_index("run_id")["table"].to_dict()
    assert table == {"t4": "table4", "named-t4": "table3", "res-without": "residual", "no-short-t3": "table3",
                     "cifar": "table7", "mystery": None, "base": None}, "an unknown study is not guessed"
    paths = write_tables(out, formats=("md", "latex"))
    assert {p.stem for p in paths} == {"table2", "table3", "table4", "residual", "table7"}
    for tex in (p for p in paths if p.suffix == ".tex"):
        assert_latex_well_formed(tex.read_text())
    t3 = (out / "table3.md").read_text()
    assert "22.00 (1)" in t3 and "29.00 (1)" in t3 and "21.00" not in t3
    t4 = (out / "table4.md").read_text()
    row = next(line for line in t4.splitlines() if "ResNeXt-101 64x4d" in line)
    assert "20.00 (1)" in row and "-0.40" in row  # 20.0 - 20.4
    residual = (out / "residual.md").read_text()
    res = next(line for line in residual.splitlines() if "32x4d" in line)
    assert "22.00 (1)" in res and "27.00 (1)" in res and "+5.00" in res and "ResNeXt-50 32x4d" in res
    assert "2x40d" not in residual, "a run of study table3 feeds Table 3 only, shortcut or not"
    t7 = next(line for line in (out / "table7.md").read_text().splitlines() if "8x64d" in line)
    assert "4.00 (1)" in t7 and "3.65" in t7 and "+0.35" in t7


def test_a_run_without_a_study_falls_back_on_its_own_fields(tmp_path):
    """An older sweep (config.yaml without a study key, runs.csv without the column): the name is ignored."""
    sweep = tmp_path / "sweep"
    runs = [
        make_run(sweep, "wide-101", ablation="table4_2x_complexity", template="imagenet-101", cardinality=1,
                 bottleneck_width=100, dataset="imagenet", err=21.9),
        make_run(sweep, "no-short", ablation="table3", cardinality=32, bottleneck_width=4, shortcut=False, err=26.0),
        make_run(sweep, "cifar", ablation="table3", template="cifar-29", cardinality=8, bottleneck_width=64,
                 dataset="cifar10", err=4.0),
        make_run(sweep, "cifar-digits", ablation="fig7", template="cifar-29", cardinality=4, bottleneck_width=32,
                 err=6.0),
        make_run(sweep, "base", ablation="residual", baseline="torchvision:resnet50", err=30.0),
    ]
    make_run(sweep, "new", ablation="residual", study="table4", template="imagenet-101", cardinality=64,
             bottleneck_width=4, dataset="imagenet", err=20.0)  # a newer run beside them: a mixed column
    for run in runs:
        config = yaml.safe_load((run / "config.yaml").read_text())
        del config["study"]
        (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    out = tmp_path / "results"
    collect([sweep], out, verbose=False)
    expected = {"wide-101": "table3", "no-short": "residual", "cifar": "table7", "cifar-digits": "table3",
                "base": None, "new": "table4"}
    assert load_runs(out).set_index("run_id")["table"].to_dict() == expected
    assert {p.stem for p in write_tables(out, formats="md", verbose=False)} == {"table2", "table3", "table4",
                                                                               "residual", "table7"}
    older = pd.read_csv(out / "runs.csv").drop(columns="study")  # from a collect before studies
    older.to_csv(out / "runs.csv", index=False)
    del expected["new"]  # without the column it is an old run too: imagenet-101, shortcut -> table3
    assert load_runs(out).set_index("run_id").drop(index="new")["table"].to_dict() == expected


def test_every_declared_study_feeds_a_table():
    assert set(STUDY_TABLES) == set(STUDIES)
    assert STUDY_TABLES["fig7"] == STUDY_TABLES["table7"] == "table7", "Fig. 7 shares Table 7's runs"


# ---------------------------------------------------------------- figures and report

@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    """A sweep with every kind of run (and a damaged file), reported once for the tests below."""
    root = tmp_path_factory.mktemp("report")
    sweep = make_table3_sweep(root / "sweep")
    for c, (err, params) in {1: (5.0, 64_000), 2: (4.6, 128_000), 8: (4.0, 512_000)}.items():
        for seed in range(2):
            make_run(sweep, f"cifar-{c}x64d-s{seed}", ablation="fig7", study="fig7", template="cifar-29", cardinality=c,
                     bottleneck_width=64, dataset="cifar10", seed=seed, err=err + seed * 0.1, params=params)
    make_run(sweep, "cifar-1x128d-s0", ablation="fig7", study="fig7", template="cifar-29", cardinality=1, bottleneck_width=128,
             dataset="cifar10", err=4.8, params=256_000)
    make_run(sweep, "tv-resnet50", baseline="torchvision:resnet50", err=33.0)
    broken = make_run(sweep, "broken", cardinality=2, bottleneck_width=10)
    (broken / "result.json").write_text('{"status": "comp')
    out = root / "results"
    return out, write_report([sweep], out)


def test_every_figure_is_written_as_png_and_pdf(report_dir):
    out, _ = report_dir
    for name in ("fig_curves", "fig_cardinality", "fig_cifar_size", "fig_error_vs_complexity"):
        png, pdf = out / f"{name}.png", out / f"{name}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000, name
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000, name


def test_cardinality_plot_draws_one_point_per_configuration_per_seed(report_dir):
    out, _ = report_dir
    plot = plot_cardinality(load_runs(out), load_reference())
    ours = plot.data[plot.data["source"] == "ours"]
    completed = sum(e is not None for configs in TABLE3_RUNS.values() for _, errs in configs.values() for e in errs)
    assert len(ours) == completed == 21
    assert ours.groupby(["group_label", "setting", "seed"]).size().eq(1).all()
    paper = plot.data[plot.data["source"] == "paper"]
    assert sorted(paper["top1_err"]) == sorted(pd.read_csv(REFERENCE / "paper_table3.csv")["top1_err"])


def test_curves_plot_draws_every_completed_configuration_of_each_depth(report_dir):
    out, _ = report_dir
    plot = plot_curves(load_runs(out), pd.read_csv(out / "curves.csv"))
    settings = plot.data.groupby("group_label")["setting"].unique().apply(sorted).to_dict()
    assert settings == {"50-layer (digits, short, 3 ep)": ["1x16d", "2x10d", "4x6d", "8x4d"],
                        "101-layer (digits, short, 3 ep)": ["1x16d", "2x10d", "4x6d"]}, "8x4d never completed at 101"
    assert set(plot.data["split"]) == {"train", "val"}


def test_figures_without_data_are_skipped_with_a_reason(table3_dir, capsys):
    runs = load_runs(table3_dir)
    assert plot_cifar_size(runs, load_reference()).figure is None
    paths = write_plots(table3_dir)
    assert not any("fig_cifar_size" in p.name for p in paths)
    assert "skipped fig_cifar_size: fewer than two CIFAR" in capsys.readouterr().out


def test_cifar_size_plot_separates_raising_cardinality_from_raising_width(report_dir):
    out, _ = report_dir
    ours = plot_cifar_size(load_runs(out), load_reference()).data.query("source == 'ours'")
    series = ours.groupby("series")["setting"].unique().apply(sorted).to_dict()
    assert series == {"raising cardinality (d fixed)": ["1x64d", "2x64d", "8x64d"],
                      "raising width (C=1)": ["1x128d", "1x64d"]}


def test_report_shows_tables_figures_readings_and_environment(report_dir):
    out, report = report_dir
    text = report.read_text()
    for png in sorted(out.glob("fig_*.png")):
        assert f"]({png.name})" in text, png.name
    for name in ("table2", "table3", "table7"):
        body = (out / f"{name}.md").read_text().split("\n", 2)[2].strip()
        assert body.splitlines()[2] in text, f"{name} is embedded"
    assert "runs by status: completed 29, failed 3, unknown 1 (total 33)" in text
    assert "broken/result.json" in text and "truncated" in text
    assert "torch: 2.14.1" in text and "device: cpu" in text
    assert "error falls monotonically with C: yes" in text  # 101-layer: 28.0 > 27.5 > 26.2
    assert re.search(r"Significant vs C=1 \(Holm-adjusted Welch p < 0\.05 over the table's \d+ comparisons\): 4x6d", text)
    assert "torchvision:resnet50" in text


def test_a_cell_pooling_runs_of_different_devices_says_so(tmp_path):
    sweep = tmp_path / "sweep"
    for seed, device in enumerate(["cpu (AMD EPYC)", "cpu (AMD EPYC)", "NVIDIA H100 80GB HBM3"]):
        make_run(sweep, f"c1-s{seed}", cardinality=1, bottleneck_width=16, seed=seed, err=30.0 + seed, device=device)
        make_run(sweep, f"c2-s{seed}", cardinality=2, bottleneck_width=10, seed=seed, err=29.0 + seed)
    collect([sweep], tmp_path / "results", verbose=False)
    table = build_tables(load_runs(tmp_path / "results"), load_reference())["table3"]
    cells = [cell for row in table.rows for cell in row]
    assert any(cell.endswith("(3) †") for cell in cells), cells  # the C=1 cell mixes CPU and GPU runs
    assert sum("†" in cell for cell in cells) == 1  # the C=2 cell does not
    assert any("different precision or device" in note for note in table.notes)
