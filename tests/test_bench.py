"""The throughput benchmark: timm-style CSV, interleaved repeats, ratios to the first model."""
import argparse
import math

import pandas as pd
import pytest

from resnext_bench.bench import measure, results, throughput
from resnext_bench.bench.options import add_bench_arguments
from resnext_bench.bench.report import noise_warnings
from resnext_bench.bench.results import REQUIRED_COLUMNS, add_ratios
from resnext_bench.bench.settings import Setting, parse_setting, resolve_model
from resnext_bench.bench.throughput import bench_from_args, run_bench, run_bench_matrix
from resnext_bench.errors import UserError
from resnext_bench.config.specs import ModelSpec
from resnext_bench.models import build_model

TINY = ModelSpec("cifar-29", 1, 8, base_planes=8, stem_width=8, num_classes=10)
TINY_2X4D = ModelSpec("cifar-29", 2, 4, base_planes=8, stem_width=8, num_classes=10)
QUICK = {"batch_size": 2, "img_size": 8, "repeats": 2, "warmup": 1, "steps": 1, "device": "cpu",
         "num_classes": 10, "threads": 1, "verbose": False}


def test_the_csv_has_every_timm_column_with_positive_finite_numbers(tmp_path):
    out = tmp_path / "bench.csv"
    frame = run_bench([TINY, TINY_2X4D], out_csv=out, **QUICK)
    written = pd.read_csv(out)
    assert list(written.columns[: len(REQUIRED_COLUMNS)]) == list(REQUIRED_COLUMNS)
    assert list(written["model"]) == ["cifar-29:1x8d", "cifar-29:2x4d"]
    for col in ("train_samples_per_sec", "infer_samples_per_sec", "param_count", "gmacs",
                "train_step_ms", "infer_step_ms", "state_mb"):
        assert all(math.isfinite(v) and v > 0 for v in written[col]), col
    assert written["train_ratio"].iloc[0] == 1.0 and written["infer_ratio"].iloc[0] == 1.0
    assert written["train_ratio"].iloc[1] == pytest.approx(
        frame["train_samples_per_sec"].iloc[1] / frame["train_samples_per_sec"].iloc[0])
    assert (written["error"].isna() | (written["error"] == "")).all()
    assert written["param_count"].iloc[0] == pytest.approx(sum(
        p.numel() for p in build_model(TINY).parameters()) / 1e6)


def _fake_measure(calls):
    def measure(runner, train, steps, probe):
        calls.append((runner.label, runner.setting.label, train))
        return (10.0 if runner.label.endswith("1x8d") else 20.0), 1.0
    return measure


def test_repeats_interleave_every_model_and_setting(monkeypatch):
    calls = []
    monkeypatch.setattr(measure, "_measure_mode", _fake_measure(calls))
    frame = run_bench_matrix([TINY, TINY_2X4D], [Setting(), Setting(channels_last=True)], **{**QUICK, "repeats": 3})
    pairs = [(label, setting) for label, setting, train in calls if train]
    assert len(pairs) == 3 * 4
    for r in range(3):  # each repeat measures all four pairs before the next one begins
        assert len(set(pairs[4 * r: 4 * r + 4])) == 4
    assert pairs[0] != pairs[4]  # the starting pair rotates
    assert list(frame["train_step_ms"]) == [10.0, 20.0, 10.0, 20.0]
    assert list(frame["train_ratio"]) == [1.0, 0.5, 1.0, 0.5]  # to the first model, same setting
    assert list(frame["train_ratio_setting"]) == [1.0, 1.0, 1.0, 1.0]  # to the model's first setting
    assert list(frame["train_ratio_paired"]) == [1.0, 0.5, 1.0, 0.5]  # median of per-repeat ratios
    assert list(frame["train_ratio_setting_paired"]) == [1.0, 1.0, 1.0, 1.0]
    assert frame["train_ms_repeats"].iloc[1] == "20.000;20.000;20.000"
    assert list(frame["setting"]) == ["fp32-nchw-eager", "fp32-nchw-eager",
                                      "fp32-channels_last-eager", "fp32-channels_last-eager"]


def test_mfu_counts_three_forward_passes_of_two_flops_per_multiply_add(monkeypatch):
    monkeypatch.setattr(measure, "_measure_mode", _fake_measure([]))
    monkeypatch.setattr(results, "peak_bf16_flops", lambda device: 1e12)
    frame = run_bench([TINY], **QUICK)
    row = frame.iloc[0]
    assert row["train_samples_per_sec"] == pytest.approx(2 * 1000 / 10.0)
    assert row["train_mfu"] == pytest.approx(row["train_samples_per_sec"] * 6 * row["gmacs"] * 1e9 / 1e12)
    assert row["infer_mfu"] == pytest.approx(row["infer_samples_per_sec"] * 2 * row["gmacs"] * 1e9 / 1e12)


def test_cpu_has_no_mfu_and_names_its_memory_method(monkeypatch):
    monkeypatch.setattr(measure, "_measure_mode", _fake_measure([]))
    row = run_bench([TINY], **QUICK).iloc[0]
    assert math.isnan(row["train_mfu"])
    assert row["peak_mem_method"] in ("vmhwm_growth", "unavailable")


def test_models_are_named_by_configuration_library_or_spec_string():
    assert resolve_model("cifar-29:2x4d", 10) == ("cifar-29:2x4d", ModelSpec("cifar-29", 2, 4, num_classes=10))
    label, spec = resolve_model("resnext50_32x4d", 100)
    assert label == "resnext50_32x4d" and (spec.cardinality, spec.num_classes) == (32, 100)
    assert resolve_model("timm:resnet50", 1000)[1].library == "timm"
    with pytest.raises(UserError, match="unknown model"):
        resolve_model("resnet51", 1000)


def test_settings_are_parsed_from_tokens():
    assert parse_setting("eager") == Setting("fp32", False, False)
    assert parse_setting("cl+compile") == Setting("fp32", True, True)
    assert parse_setting("bf16+cl").label == "bf16-channels_last-eager"
    with pytest.raises(UserError, match="unknown word 'fast'"):
        parse_setting("cl+fast")


def test_impossible_requests_are_user_errors():
    with pytest.raises(UserError, match="fp16"):
        run_bench([TINY], precision="fp16", **QUICK)
    with pytest.raises(UserError, match="listed twice"):
        run_bench([TINY, TINY], **QUICK)
    with pytest.raises(UserError, match="precision"):
        run_bench_matrix([TINY], [{"precision": "fp8"}], **QUICK)
    with pytest.raises(UserError, match="unknown"):
        run_bench_matrix([TINY], [{"memory_format": "nhwc"}], **QUICK)


def test_the_cli_options_run_a_matrix_and_write_the_csv(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    out = tmp_path / "cli.csv"
    args = parser.parse_args(["cifar-29:1x8d", "--batch-size", "2", "--img-size", "8", "--repeats", "1",
                              "--steps", "1", "--warmup", "0", "--device", "cpu", "--num-classes", "10",
                              "--threads", "1", "--settings", "eager", "bf16+cl", "--out", str(out)])
    assert bench_from_args(args) == 0
    frame = pd.read_csv(out)
    assert list(frame["precision"]) == ["fp32", "bf16"] and list(frame["channels_last"]) == [False, True]
    printed = capsys.readouterr().out
    assert "train img/s" in printed and "torch " in printed and "threads" in printed


def _two_models(ms_first, ms_second) -> pd.DataFrame:
    """A results frame of two models under one setting with these per-repeat step times."""
    frame = pd.DataFrame({
        "model": ["ours", "timm:x"], "setting": ["eager", "eager"],
        "train_samples_per_sec": [1000 / pd.Series(ms_first).median(), 1000 / pd.Series(ms_second).median()],
        "infer_samples_per_sec": [1000 / pd.Series(ms_first).median(), 1000 / pd.Series(ms_second).median()],
        "train_ms_repeats": [list(ms_first), list(ms_second)], "infer_ms_repeats": [list(ms_first), list(ms_second)],
    })
    add_ratios(frame)
    return frame


def test_a_ratio_within_the_repeats_spread_is_flagged_as_no_measured_difference():
    noisy = _two_models([10.0, 20.0, 10.0], [10.5, 10.0, 20.0])  # repeats disagree far more than 5 %
    assert noisy["train_ratio_spread_pct"].iloc[1] > 50
    warnings = noise_warnings(noisy)
    assert len(warnings) == 2 and all("not a measured difference" in w for w in warnings)


def test_a_ratio_well_beyond_the_spread_is_not_flagged():
    clear = _two_models([10.0, 11.0, 10.5], [20.0, 22.0, 21.0])  # half the speed in every repeat
    assert clear["train_ratio_paired"].iloc[1] == pytest.approx(0.5)
    assert clear["train_ratio_spread_pct"].iloc[1] == pytest.approx(0.0)
    assert noise_warnings(clear) == []


def test_cpu_defaults_are_one_thread_and_small_shapes(monkeypatch, capsys):
    seen = {}

    def fake_matrix(models, settings, **kw):
        seen.update(kw)
        raise UserError("stop here")

    monkeypatch.setattr(throughput, "run_bench_matrix", fake_matrix)
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    with pytest.raises(UserError, match="stop here"):
        bench_from_args(parser.parse_args(["resnext50_32x4d", "--device", "cpu"]))
    assert (seen["threads"], seen["batch_size"], seen["img_size"]) == (1, 8, 128)
