"""Damaged sweeps: `status` and `report` read every run folder through runfolder.read_run, which never
raises. Each test first shows that its damage is really in place, then that both commands exit 0,
write runs.csv, list the damaged path in skipped.csv with a reason, and keep the healthy runs'
rows intact.
"""
from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from resnext_bench.cli import main
from support.sweeps import make_run

REPO = Path(__file__).resolve().parents[1]

# Healthy Table 3 runs (50-layer, digits, short recipe, 3 epochs): run id -> (C, d, seed, final error).
HEALTHY = {
    "t3-1x16d-s0": (1, 16, 0, 30.0), "t3-1x16d-s1": (1, 16, 1, 31.0),
    "t3-2x10d-s0": (2, 10, 0, 29.0), "t3-2x10d-s1": (2, 10, 1, 30.0),
    "t3-4x6d-s0": (4, 6, 0, 26.0), "t3-4x6d-s1": (4, 6, 1, 27.0),
}
DAMAGED = "t3-4x6d-s2"  # a third seed of 4x6d: what it holds would enter the 4x6d cell


def healthy_sweep(tmp_path: Path) -> Path:
    sweep = tmp_path / "sweep"
    for run_id, (c, d, seed, err) in HEALTHY.items():
        make_run(sweep, run_id, cardinality=c, bottleneck_width=d, seed=seed, err=err)
    return sweep


def damaged_run(sweep: Path, err: float = 26.5) -> Path:
    """A good run beside the healthy ones, for a test to damage."""
    return make_run(sweep, DAMAGED, cardinality=4, bottleneck_width=6, seed=2, err=err)


def status_and_report(sweep: Path, out: Path, capsys) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """Run both commands; return (status output, runs.csv by run id, skipped.csv)."""
    capsys.readouterr()
    assert main(["status", str(sweep)]) == 0
    status_out = capsys.readouterr().out
    assert main(["report", str(sweep), "-o", str(out)]) == 0
    capsys.readouterr()
    assert (out / "runs.csv").is_file() and (out / "report.md").is_file() and (out / "skipped.csv").is_file()
    runs = pd.read_csv(out / "runs.csv").set_index("run_id")
    skipped = pd.read_csv(out / "skipped.csv", keep_default_na=False, dtype=str)
    return status_out, runs, skipped


def assert_healthy_rows_intact(runs: pd.DataFrame, status_out: str, out: Path) -> None:
    for run_id, (c, d, seed, err) in HEALTHY.items():
        assert run_id in status_out, f"status lists {run_id}"
        row = runs.loc[run_id]
        assert row["status"] == "completed", run_id
        assert row["final_val_top1_err"] == err, run_id
        assert (row["cardinality"], row["bottleneck_width"], row["seed"]) == (c, d, seed), run_id
    assert (out / "table3.md").is_file(), "the healthy runs still make Table 3"


def assert_skipped(skipped: pd.DataFrame, path, *words: str) -> str:
    """The path is listed in skipped.csv with a non-empty reason holding one of `words`; returns the reasons."""
    reasons = list(skipped.loc[skipped["path"] == str(path), "reason"])
    assert reasons, f"{path} is not listed in skipped.csv: {skipped.to_dict('records')}"
    assert all(r.strip() for r in reasons)
    joined = " | ".join(reasons)
    assert not words or any(w.lower() in joined.lower() for w in words), joined
    return joined


def table3_cell_4x6d(out: Path) -> str:
    row = next(line for line in (out / "table3.md").read_text().splitlines() if "| 4x6d " in line or "4x6d |" in line)
    return row


# ---------------------------------------------------------------- 1. a directory where a file belongs

@pytest.mark.parametrize("name", ["result.json", "metrics.jsonl", "config.yaml"])
def test_a_directory_in_place_of_a_run_file_is_skipped_with_a_reason(tmp_path, capsys, name):
    sweep = healthy_sweep(tmp_path)
    run = damaged_run(sweep)
    (run / name).unlink()
    (run / name).mkdir()
    (run / name / "inside").write_text("{}")
    assert (run / name).is_dir() and not (run / name).is_file()

    status_out, runs, skipped = status_and_report(sweep, tmp_path / "out", capsys)
    assert_skipped(skipped, run / name, "directory")
    assert DAMAGED in runs.index and DAMAGED in status_out
    assert_healthy_rows_intact(runs, status_out, tmp_path / "out")


# ---------------------------------------------------------------- 2. symlink loops

def test_a_result_json_symlink_loop_is_skipped_with_a_reason(tmp_path, capsys):
    sweep = healthy_sweep(tmp_path)
    run = damaged_run(sweep)
    (run / "result.json").unlink()
    os.symlink("result.b", run / "result.json")  # result.json -> result.b -> result.json
    os.symlink("result.json", run / "result.b")
    assert (run / "result.json").is_symlink()
    with pytest.raises(OSError) as e:
        os.path.realpath(run / "result.json", strict=True)
    assert e.value.errno == errno.ELOOP

    status_out, runs, skipped = status_and_report(sweep, tmp_path / "out", capsys)
    assert_skipped(skipped, run / "result.json", "unreadable", "symbolic links")
    assert runs.loc[DAMAGED, "status"] == "unknown" and "result.json" in runs.loc[DAMAGED, "reason"]
    assert_healthy_rows_intact(runs, status_out, tmp_path / "out")


def test_a_metrics_jsonl_linked_to_itself_is_skipped_with_a_reason(tmp_path, capsys):
    sweep = healthy_sweep(tmp_path)
    run = damaged_run(sweep)
    (run / "metrics.jsonl").unlink()
    os.symlink("metrics.jsonl", run / "metrics.jsonl")
    assert os.readlink(run / "metrics.jsonl") == "metrics.jsonl"
    with pytest.raises(OSError) as e:
        os.path.realpath(run / "metrics.jsonl", strict=True)
    assert e.value.errno == errno.ELOOP

    status_out, runs, skipped = status_and_report(sweep, tmp_path / "out", capsys)
    assert_skipped(skipped, run / "metrics.jsonl", "unreadable", "symbolic links")
    assert runs.loc[DAMAGED, "status"] == "unknown", "completed without a single recorded epoch"
    assert_healthy_rows_intact(runs, status_out, tmp_path / "out")


def test_a_run_entry_that_is_a_symlink_loop_is_listed_as_skipped(tmp_path, capsys):
    """run_dirs' docstring: entries of runs/ that are not folders are reported in `skipped`."""
    sweep = healthy_sweep(tmp_path)
    loop = sweep / "runs" / "t3-looping"
    os.symlink("t3-looping", loop)
    with pytest.raises(OSError) as e:
        os.path.realpath(loop, strict=True)
    assert e.value.errno == errno.ELOOP

    status_out, runs, skipped = status_and_report(sweep, tmp_path / "out", capsys)
    assert_healthy_rows_intact(runs, status_out, tmp_path / "out")
    assert_skipped(skipped, loop)


# ---------------------------------------------------------------- 3. absurd nesting

def _depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_a_result_json_nested_100000_deep_is_skipped_not_a_recursion_error(tmp_path, capsys, kind):
    sweep = healthy_sweep(tmp_path)
    run = damaged_run(sweep)
    n = 100_000
    text = "[" * n + "]" * n if kind == "list" else '{"a": ' * n + "1" + "}" * n
    (run / "result.json").write_text(text)
    stored = (run / "result.json").read_text()
    assert _depth(stored) == n
    with pytest.raises(RecursionError):
        json.loads(stored)

    status_out, runs, skipped = status_and_report(sweep, tmp_path / "out", capsys)
    assert_skipped(skipped, run / "result.json", "RecursionError", "not usable JSON")
    assert runs.loc[DAMAGED, "status"] == "unknown"
    assert runs.loc[DAMAGED, "cardinality"] == 4, "the good config.yaml is still read"
    assert_healthy_rows_intact(runs, status_out, tmp_path / "out")


# ---------------------------------------------------------------- 4. absurd numbers

def test_a_result_json_integer_of_5000_digits_makes_the_result_unusable_not_a_crash(tmp_path, capsys):
    sweep = healthy_sweep(tmp_path)
    run = damaged_run(sweep)
    text = '{"status": "completed", "final_val_top1_err": 1' + "0" * 5000 + "}"
    (run / "result.json").write_text(text)
    with pytest.raises(ValueError, match="digits"):
        json.loads((run / "result.json").read_text())

    status_out, runs, skipped = status_and_report(sweep, tmp_path / "out", capsys)
    assert_skipped(skipped, run / "result.json", "ValueError", "not usable JSON")
    assert runs.loc[DAMAGED, "status"] == "unknown"
    assert pd.isna(runs.loc[DAMAGED, "final_val_top1_err"])
    assert_healthy_rows_intact(runs, status_out, tmp_path / "out")


def test_params_of_10_to_the_400_is_left_empty_and_the_rest_of_the_result_kept(tmp_path, capsys):
    sweep = healthy_sweep(tmp_path)
    run = damaged_run(sweep, err=26.5)
    result = json.loads((run / "result.json").read_text())
    result["params"] = 10**400
    (run / "result.json").write_text(json.dumps(result))
    assert json.loads((run / "result.json").read_text())["params"] == 10**400

    status_out, runs, skipped = status_and_report(sweep, tmp_path / "out", capsys)
    assert_skipped(skipped, run / "result.json", "params")
    assert runs.loc[DAMAGED, "status"] == "completed"
    assert runs.loc[DAMAGED, "final_val_top1_err"] == 26.5
    assert runs.loc[DAMAGED, "params"] == 4 * 6 * 1000, "the config's params, not the absurd one"
    assert "0" * 400 not in (tmp_path / "out" / "runs.csv").read_text()
    assert_healthy_rows_intact(runs, status_out, tmp_path / "out")
    assert "26.50 ± 0.50 (3)" in table3_cell_4x6d(tmp_path / "out")


@pytest.mark.parametrize("word", ["Infinity", "-Infinity", "NaN"])
def test_an_infinite_or_nan_error_is_left_empty_and_never_reaches_table3(tmp_path, capsys, word):
    sweep = healthy_sweep(tmp_path)
    run = damaged_run(sweep)
    text = (run / "result.json").read_text()
    text = re.sub(r'"final_val_top1_err": [^,}]+', f'"final_val_top1_err": {word}', text)
    (run / "result.json").write_text(text)
    value = json.loads((run / "result.json").read_text())["final_val_top1_err"]
    assert math.isinf(value) if "Inf" in word else math.isnan(value)

    out = tmp_path / "out"
    status_out, runs, skipped = status_and_report(sweep, out, capsys)
    assert_skipped(skipped, run / "result.json", "final_val_top1_err")
    assert pd.isna(runs.loc[DAMAGED, "final_val_top1_err"])
    assert_healthy_rows_intact(runs, status_out, out)
    table3 = (out / "table3.md").read_text()
    assert not re.search(r"(?i)\b(inf|nan)\b", table3), table3
    assert "26.50 ± 0.71 (2)" in table3_cell_4x6d(out), "the 4x6d cell holds the two healthy seeds"


# ---------------------------------------------------------------- 5. a bare "completed"

@pytest.mark.parametrize("beside_healthy", [True, False], ids=["beside-healthy-runs", "alone"])
def test_a_completed_result_with_no_other_field_still_reports(tmp_path, capsys, beside_healthy):
    sweep = healthy_sweep(tmp_path) if beside_healthy else tmp_path / "sweep"
    run = damaged_run(sweep)
    (run / "result.json").write_text(json.dumps({"status": "completed"}))
    assert json.loads((run / "result.json").read_text()) == {"status": "completed"}

    out = tmp_path / "out"
    status_out, runs, skipped = status_and_report(sweep, out, capsys)
    assert runs.loc[DAMAGED, "status"] == "completed", "config plans 3 epochs and metrics hold 1-3"
    assert pd.isna(runs.loc[DAMAGED, "final_val_top1_err"])
    assert "## Environment" in (out / "report.md").read_text()
    if beside_healthy:
        assert_healthy_rows_intact(runs, status_out, out)


# ---------------------------------------------------------------- 6. a folder name that is not UTF-8

def test_a_run_folder_named_in_invalid_utf8_is_skipped_not_a_crash(tmp_path, capsys):
    sweep = healthy_sweep(tmp_path)
    good = damaged_run(sweep)
    bad = os.fsencode(str(sweep / "runs")) + b"/bad\xff\xfename"
    os.mkdir(bad)
    for name in ("config.yaml", "metrics.jsonl", "result.json"):
        shutil.copyfile(os.fsencode(str(good / name)), bad + b"/" + name.encode())
    with pytest.raises(UnicodeDecodeError):
        bad.decode("utf-8")
    assert os.path.isdir(bad) and os.path.isfile(bad + b"/result.json")

    out = tmp_path / "out"
    status_out, runs, skipped = status_and_report(sweep, out, capsys)
    reasons = assert_skipped(skipped, repr(bad)[2:-1], "UTF-8")
    assert "skipped" in reasons
    assert len(runs) == len(HEALTHY) + 1, "every valid folder is a row; the bad one is not"
    assert_healthy_rows_intact(runs, status_out, out)


# ---------------------------------------------------------------- 7. keys that would relabel a run

def test_metrics_keys_named_like_suite_columns_never_relabel_the_run(tmp_path, capsys):
    sweep = healthy_sweep(tmp_path)
    run = damaged_run(sweep)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    lines[1].update(run_id="someone-else", sweep="another-sweep", path="/elsewhere")
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[1])["run_id"] == "someone-else"

    out = tmp_path / "out"
    status_out, runs, skipped = status_and_report(sweep, out, capsys)
    assert_skipped(skipped, run / "metrics.jsonl", "collides")
    curves = pd.read_csv(out / "curves.csv")
    assert "someone-else" not in set(curves["run_id"])
    assert "another-sweep" not in set(curves["sweep"])
    mine = curves[curves["run_id"] == DAMAGED]
    assert sorted(mine["epoch"]) == [1, 2, 3], "epoch 2 is still the run's own"
    assert set(mine["sweep"]) == {"sweep"}
    assert "path" not in curves or "/elsewhere" not in set(curves["path"].astype(str))
    assert runs.loc[DAMAGED, "path"] == str(run)
    assert_healthy_rows_intact(runs, status_out, out)


# ---------------------------------------------------------------- 8. "completed" with epochs missing

def test_a_completed_result_with_missing_epochs_is_unknown_and_not_counted(tmp_path, capsys):
    sweep = healthy_sweep(tmp_path)
    run = damaged_run(sweep, err=10.0)  # would pull the 4x6d mean far down if counted
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join(lines[:2]) + "\n")
    assert json.loads((run / "result.json").read_text())["status"] == "completed"
    assert [json.loads(l)["epoch"] for l in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert yaml.safe_load((run / "config.yaml").read_text())["recipe"]["epochs"] == 3

    out = tmp_path / "out"
    status_out, runs, skipped = status_and_report(sweep, out, capsys)
    assert runs.loc[DAMAGED, "status"] == "unknown"
    assert "metrics.jsonl holds epochs 1-2 of 3" in runs.loc[DAMAGED, "reason"]
    row = next(line for line in status_out.splitlines() if line.startswith(DAMAGED))
    assert "unknown" in row and "error: result.json says completed" in status_out
    assert_healthy_rows_intact(runs, status_out, out)
    numbers = pd.read_csv(out / "table3.csv")
    four = numbers[(numbers["depth"] == 50) & (numbers["cardinality"] == 4)].iloc[0]
    assert (four["n"], four["planned"]) == (2, 3)
    assert four["mean"] == pytest.approx(26.5)
    assert "runs by status: completed 6, unknown 1 (total 7)" in (out / "report.md").read_text()


# ---------------------------------------------------------------- 9. an ablation whose model is not a mapping

@pytest.mark.parametrize("model", ["abc", "5"])
@pytest.mark.parametrize("verb", ["grid", "launch"])
def test_an_ablation_whose_model_is_not_a_mapping_exits_2_with_one_line(tmp_path, capsys, verb, model):
    text = (REPO / "ablations" / "demo.yaml").read_text()
    text, n = re.subn(r"(?m)^model: .*$", f"model: {model}", text)
    assert n == 1
    ablation = tmp_path / "bad.yaml"
    ablation.write_text(text)
    assert yaml.safe_load(ablation.read_text())["model"] == yaml.safe_load(model)

    argv = ["grid", str(ablation)] if verb == "grid" else [
        "launch", str(ablation), "--dry-run", "--cluster", str(REPO / "slurm" / "debug.yaml"),
        "--sweep-dir", str(tmp_path / "sweep")]
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert len(err) == 1, captured.err
    assert err[0].startswith(f"resnext-bench {verb}: error:") and "model" in err[0]
    assert "Traceback" not in captured.err and captured.out == ""
    assert not (tmp_path / "sweep").exists()
