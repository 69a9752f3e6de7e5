"""GPU-hour estimates from measured throughput (cluster/estimate.py): the shipped table's rows are the
suite's own GPU records, a run takes the row of its GPU, family, depth, precision and compile, and where
no row fits the estimate falls back to FLOPs at a stated efficiency and says so."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from support.slurm import fake_gpu_partition

from resnext_bench.cli import main
from resnext_bench.cluster.estimate import (THROUGHPUT_TABLE, estimate_gpu_hours, gpu_key, measured_rate,
                                            measured_rates)
from resnext_bench.config.load import load_ablation
from resnext_bench.config.runs import resolve_runs

REPO = Path(__file__).resolve().parents[1]
TABLE3 = REPO / "ablations" / "table3_resnet50.yaml"
H200_PROFILE = REPO / "slurm" / "h200.example.yaml"


def table3_runs(*overrides: str):
    """Table 3's five ResNeXt-50s (1x64d .. 32x4d), bf16 + channels_last as the ablation says."""
    return {r.configuration: r for r in resolve_runs(load_ablation(TABLE3, list(overrides)))}


def test_every_row_of_the_table_is_a_gpu_record_of_the_suite():
    """Each row cites a bench CSV under results/bench/ whose model row gives the same rate and settings."""
    rows = list(csv.DictReader(open(THROUGHPUT_TABLE)))
    assert rows and rows[0]["gpu"] == "H200"  # H200 rows first
    for row in rows:
        record = next(r for r in csv.DictReader(open(REPO / row["source"])) if r["model"] == row["source_model"])
        assert abs(float(record["train_samples_per_sec"]) - float(row["images_per_sec"])) < 0.1, row
        assert record["precision"] == row["precision"] and record["compiled"].lower() == row["compile"]
        assert gpu_key(record["device"]) == row["gpu"] and abs(float(record["gmacs"]) - float(row["gmacs"])) < 1e-3


def test_a_resnext_on_an_h200_takes_its_measured_row_scaled_by_multiply_adds():
    runs = table3_runs()
    rate, row = measured_rate(runs["32x4d"], "NVIDIA H200")
    assert row.source == "results/bench/gpu-h200/eager-resnext50_32x4d.csv"
    assert rate == pytest.approx(3675.7 * 4.2305e9 / runs["32x4d"].complexity["flops"])
    assert rate == pytest.approx(3675.7, rel=0.001)  # the row's own model
    rate_2x40d, row_2x40d = measured_rate(runs["2x40d"], "h200")  # the same row at the 2x40d's complexity
    assert row_2x40d is row and rate_2x40d > rate
    resnet_rate, resnet_row = measured_rate(runs["1x64d"], "H200")
    assert resnet_row.family == "resnet" and resnet_rate == pytest.approx(4671.4, rel=0.001)


def test_compile_picks_the_compiled_row_and_an_unmeasured_setting_finds_none():
    compiled = table3_runs("runtime.compile=true")
    rate, row = measured_rate(compiled["32x4d"], "H200")
    assert row.compile and rate == pytest.approx(5228.6, rel=0.001)
    assert measured_rate(compiled["1x64d"], "H200") is None  # no compiled ResNet-50 row
    assert measured_rate(table3_runs("runtime.precision=fp32")["32x4d"], "H200") is None
    assert measured_rate(table3_runs()["32x4d"], "A100") is None
    assert measured_rate(table3_runs()["32x4d"], None) is None


def test_the_estimate_says_which_rate_it_used():
    runs = list(table3_runs("runtime.compile=true").values())
    rows = {e["configuration"]: e for e in estimate_gpu_hours(runs, 25.0, None, gpu_model="H200")}
    assert rows["32x4d"]["basis"] == "measured" and "compiled-resnext50_32x4d.csv" in rows["32x4d"]["source"]
    fallback = rows["1x64d"]
    assert fallback["basis"] == "flops" and fallback["source"] is None
    assert fallback["images_per_sec"] == pytest.approx(25e12 / (6 * runs[0].complexity["flops"]))
    assert fallback["gpu_hours"] == pytest.approx(1_281_167 * 100 / fallback["images_per_sec"] / 3600)
    stated = estimate_gpu_hours(runs, 25.0, 1000.0, gpu_model="H200")
    assert {e["basis"] for e in stated} == {"stated"} and {e["images_per_sec"] for e in stated} == {1000.0}
    assert {e["basis"] for e in estimate_gpu_hours(runs, 25.0, None)} == {"flops"}  # no GPU model named


def test_the_h200_dry_run_of_table3_uses_measured_rows_and_says_so(tmp_path, capsys, monkeypatch):
    fake_gpu_partition(tmp_path / "bin", monkeypatch, mem_gb=2048)  # an H200 node: the dry run checks it
    assert main(["launch", str(TABLE3), "--cluster", str(H200_PROFILE), "--sweep-dir", str(tmp_path / "s"),
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "rate: measured on H200 (results/bench/gpu-h200/eager-resnext50_32x4d.csv" in out
    assert "rate: measured on H200 (results/bench/gpu-h200/eager-resnet50.csv" in out
    assert "fallback" not in out
    runs = table3_runs()
    hours = sum(1_281_167 * 100 / measured_rate(r, "H200")[0] / 3600 for r in runs.values())
    assert f"estimate: {hours:.2f} GPU-hours for 5 runs" in out
    assert not (tmp_path / "s").exists()


def test_a_dry_run_without_a_fitting_row_falls_back_to_flops_and_says_why(tmp_path, capsys, monkeypatch):
    fake_gpu_partition(tmp_path / "bin", monkeypatch, mem_gb=2048)
    profile = tmp_path / "a100.yaml"
    profile.write_text(H200_PROFILE.read_text().replace("gpu_model: H200", "gpu_model: A100"))
    assert main(["launch", str(TABLE3), "--cluster", str(profile), "--sweep-dir", str(tmp_path / "s"),
                 "--dry-run", "--tflops", "40"]) == 0
    out = capsys.readouterr().out
    assert "rate: fallback, 40 effective TFLOP/s per GPU" in out and "no measured row for A100 fits" in out
    assert "measured on" not in out


def test_the_table_is_read_in_order_and_keys_gpus_by_model():
    assert gpu_key("NVIDIA H100 80GB HBM3") == "H100" and gpu_key(" nvidia h200 ") == "H200"
    assert gpu_key("NVIDIA A100-SXM4-80GB") == "A100" and gpu_key(None) == ""
    rates = measured_rates()
    assert [r.gpu for r in rates][:3] == ["H200"] * 3
