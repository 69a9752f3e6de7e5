"""Table 5's views: a finished run's final weights scored again at a test crop (`resnext-bench evaluate`),
recorded in RUN/evaluations.json, collected into runs.csv and tabulated beside the paper's Table 5."""
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from resnext_bench.cli import main
from resnext_bench.config.load import load_ablation
from resnext_bench.config.runs import resolve_runs
from resnext_bench.engine.evaluate import View, evaluate_run
from resnext_bench.engine.train import Stopped, train_run
from resnext_bench.errors import UserError
from resnext_bench.record import evaluations, runfolder, runwrite
from resnext_bench.record.store import link_into

from support.ablations import tiny_ablation
from support.data import write_jpeg_tree
from support.training import StopAfter, quiet

IMAGENET_ABLATION = """
name: folder
template: cifar-29
model: {{base_planes: 8, stem_width: 8}}
configurations:
  - {{cardinality: 2, bottleneck_width: 4}}
data: {{name: imagenet, root: {root}, image_size: 32, num_workers: 0, loader: pil}}
recipe: {{name: short, epochs: 2, batch_size: 4, lr: 0.05, warmup_epochs: 1}}
seeds: [{seeds}]
runtime: {{threads: 1, checkpoint_minutes: 10}}
"""


def place(ablation: Path, sweeps: Path, name: str) -> list[Path]:
    """The ablation's runs as the store/sweep layout holds them: SWEEPS/store/RUN_ID, listed by SWEEPS/NAME/runs."""
    dirs = []
    for run in resolve_runs(load_ablation(ablation)):
        run_dir = sweeps / "store" / run.run_id
        runwrite.write_config(run_dir, run)
        link_into(sweeps / name / "runs" / run.run_id, run_dir)
        dirs.append(sweeps / name / "runs" / run.run_id)
    return dirs


def trained(ablation: Path, sweeps: Path, name: str) -> list[Path]:
    dirs = place(ablation, sweeps, name)
    for run_dir in dirs:
        assert train_run(run_dir, log=quiet)["status"] == "completed"
    return dirs


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """A tiny digits run, trained once: SWEEPS/tiny/runs/RUN_ID (copy it before changing it)."""
    root = tmp_path_factory.mktemp("digits")
    return trained(tiny_ablation(root), root / "sweeps", "tiny")[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> list[Path]:
    """Two seeds of a tiny model trained on an ImageNet-format JPEG tree at 32 pixels."""
    root = tmp_path_factory.mktemp("folder")
    tree = write_jpeg_tree(root / "tree")
    path = root / "folder.yaml"
    path.write_text(IMAGENET_ABLATION.format(root=tree, seeds="0, 1"))
    return trained(path, root / "sweeps", "folder")


def copy_sweeps(run_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the run's sweeps folder (store and links); the run's folder in it."""
    sweeps = run_dir.parents[2]
    shutil.copytree(sweeps, tmp_path / "sweeps", symlinks=True)
    return tmp_path / "sweeps" / run_dir.relative_to(sweeps)


def run_cli(argv, capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- the native crop

def test_the_native_crop_reproduces_the_final_validation_error_training_recorded(digits, tmp_path, capsys):
    run_dir = copy_sweeps(digits, tmp_path)
    result = runfolder.result_of(run_dir)
    capsys.readouterr()
    done = evaluate_run(run_dir, View(), log=quiet)
    assert f"evaluate {digits.name} crop 8: 4/4 batches" in capsys.readouterr().err  # progress, off a terminal
    assert (done.crop, done.resize, done.split) == (8, 8, "val")  # digits' 8x8 images, whole
    assert done.top1_err == result["final_val_top1_err"] and done.top5_err == result["final_val_top5_err"]
    assert done.images == 120 and done.checkpoint_epoch == 2
    assert [e.to_dict() for e in evaluations.read_evaluations(run_dir, [])] == [done.to_dict()]


def test_the_native_crop_of_an_image_folder_run_reproduces_its_error_and_another_crop_is_recorded_beside_it(folder):
    for run_dir in folder:
        result = runfolder.result_of(run_dir)
        native = evaluate_run(run_dir, View(), log=quiet)
        assert (native.crop, native.resize) == (32, 37)  # image_size 32, resized by 256/224 as training validates
        assert (native.top1_err, native.top5_err) == (result["final_val_top1_err"], result["final_val_top5_err"])
        larger = evaluate_run(run_dir, View(crop=48), log=quiet)
        assert (larger.crop, larger.resize, larger.images, larger.checkpoint_epoch) == (48, 55, 12, 2)
        assert [(e.crop, e.resize) for e in evaluations.read_evaluations(run_dir, [])] == [(32, 37), (48, 55)]


def test_a_view_reads_the_center_crop_of_the_resized_image_at_its_size(folder):
    from resnext_bench.engine.data import build_eval_data

    spec = runfolder.load_config(folder[0]).data
    for crop, resize in ((32, None), (48, None), (48, 48)):
        images, labels = next(build_eval_data(spec, crop, resize, 12, "cpu").batches())
        assert tuple(images.shape) == (12, 3, crop, crop) and labels.tolist() == [0, 1, 2] * 4
    wide = next(build_eval_data(spec, 48, 96, 12, "cpu").batches())[0]
    tight = next(build_eval_data(spec, 48, 48, 12, "cpu").batches())[0]
    assert not (wide == tight).all()  # resizing to 96 before a 48 crop shows the center only
    with pytest.raises(UserError, match="smaller than --crop 48"):
        build_eval_data(spec, 48, 40, 12, "cpu")


# ---------------------------------------------------------------- the record

def test_evaluating_a_view_again_replaces_its_entry_and_keeps_every_other(digits, tmp_path):
    run_dir = copy_sweeps(digits, tmp_path)
    evaluate_run(run_dir, View(batch_size=32), log=quiet)
    stranger = {"crop": "eight", "note": "written by hand"}  # unusable, but not ours to drop
    path = run_dir / evaluations.EVALUATIONS
    path.write_text(json.dumps(json.loads(path.read_text()) + [stranger]))
    again = evaluate_run(run_dir, View(batch_size=7), log=quiet)
    entries = json.loads(path.read_text())
    assert len(entries) == 2 and stranger in entries
    kept = [e for e in entries if e is not stranger and e != stranger]
    assert kept == [again.to_dict()] and kept[0]["batch_size"] == 7
    skipped = []
    assert [e.batch_size for e in evaluations.read_evaluations(run_dir, skipped)] == [7]
    assert skipped and all(r.startswith("entry 0: ") for _, r in skipped)  # the stranger, kept in its place


def test_a_damaged_evaluations_file_is_reported_by_collect_and_never_overwritten(digits, tmp_path, capsys):
    run_dir = copy_sweeps(digits, tmp_path)
    path = run_dir / evaluations.EVALUATIONS
    path.write_text('[{"crop": 8, "resi')
    code, _, err = run_cli(["evaluate", str(run_dir)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "evaluations.json" in err
    assert path.read_text() == '[{"crop": 8, "resi'  # refused before any work, the file as it was
    run_cli(["collect", str(tmp_path / "sweeps" / "tiny"), "-o", str(tmp_path / "out")], capsys)
    skipped = pd.read_csv(tmp_path / "out" / "skipped.csv")
    assert any(p.endswith("evaluations.json") and "truncated" in r for p, r in zip(skipped["path"], skipped["reason"]))


# ---------------------------------------------------------------- refusals

def test_an_unfinished_run_is_refused_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESNEXT_BENCH_STORE", raising=False)
    [run_dir] = place(tiny_ablation(tmp_path), Path("sweeps"), "tiny")
    code, _, err = run_cli(["evaluate", run_dir.name], capsys)  # never trained
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not finished (pending)" in err
    with pytest.raises(Stopped):
        train_run(run_dir, stop=StopAfter(3), log=quiet)
    code, _, err = run_cli(["evaluate", run_dir.name], capsys)  # a checkpoint, but not the final one
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not finished (running)" in err
    assert not (run_dir / evaluations.EVALUATIONS).exists()
    code, _, err = run_cli(["evaluate", "sweeps/tiny"], capsys)  # a sweep skips it, and says so
    assert code == 2 and "skip " in err and "no finished run" in err


def test_a_completed_run_whose_last_checkpoint_is_not_the_final_one_is_refused(digits, tmp_path):
    from resnext_bench.engine.checkpoint import load_checkpoint, save_checkpoint

    run_dir = copy_sweeps(digits, tmp_path)
    state = load_checkpoint(run_dir).state
    save_checkpoint(run_dir, {**state, "epoch": 1})
    with pytest.raises(UserError, match="not at the end of epoch 2"):
        evaluate_run(run_dir, View(), log=quiet)
    assert not (run_dir / evaluations.EVALUATIONS).exists()


def test_an_unknown_run_id_is_refused_with_one_line(digits, tmp_path, capsys, monkeypatch):
    copy_sweeps(digits, tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESNEXT_BENCH_STORE", raising=False)
    code, _, err = run_cli(["evaluate", digits.name + "x"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no such run folder or run id" in err
    code, out, _ = run_cli(["evaluate", digits.name], capsys)  # the same id, spelled right, through the store
    assert code == 0 and json.loads(out)["run_id"] == digits.name


def test_a_small_fixed_size_data_set_refuses_a_resize_and_says_why(digits, tmp_path, capsys):
    run_dir = copy_sweeps(digits, tmp_path)
    code, _, err = run_cli(["evaluate", str(run_dir), "--crop", "8", "--resize", "10"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--resize means nothing here" in err and "stored at 8x8 pixels" in err
    assert not (run_dir / evaluations.EVALUATIONS).exists()


def test_a_small_data_set_at_another_crop_is_its_images_resampled_as_training_would(digits, tmp_path, capsys):
    """--crop 32 on digits (stored 8x8) scores the whole images resampled to 32 px, recorded beside the native view."""
    run_dir = copy_sweeps(digits, tmp_path)
    code, out, err = run_cli(["evaluate", str(run_dir), "--crop", "32"], capsys)
    assert code == 0, err
    entry = next(e for e in evaluations.read_evaluations(run_dir, []) if e.crop == 32)
    assert entry.data_loader == "device (resampled from 8px)"
    assert 0 <= entry.top1_err <= 100 and entry.images > 0


# ---------------------------------------------------------------- collect and Table 5

def test_evaluations_become_runs_csv_columns_after_the_others_and_feed_table5(folder, tmp_path, capsys):
    from resnext_bench.analysis.runs import load_runs
    from resnext_bench.analysis.study import Context
    from resnext_bench.analysis.table5 import TABLE, build_table5

    sweep = folder[0].parents[1]
    for run_dir in folder:
        (run_dir / evaluations.EVALUATIONS).unlink(missing_ok=True)
    run_cli(["collect", str(sweep), "-o", str(tmp_path / "before")], capsys)
    before = list(pd.read_csv(tmp_path / "before" / "runs.csv").columns)
    assert build_table5(load_runs(tmp_path / "before")) is None
    for crop in ("48", "32"):
        code, _, _ = run_cli(["evaluate", str(sweep), "--crop", crop], capsys)
        assert code == 0
    run_cli(["collect", str(sweep), "-o", str(tmp_path / "after")], capsys)
    runs_csv = pd.read_csv(tmp_path / "after" / "runs.csv")
    columns = list(runs_csv.columns)
    assert columns == before + ["eval_err1_crop32", "eval_err5_crop32", "eval_err1_crop48", "eval_err5_crop48"]
    for _, row in runs_csv.iterrows():
        recorded = {e.crop: e for e in evaluations.read_evaluations(Path(row["path"]), [])}
        assert row["eval_err1_crop32"] == pytest.approx(row["final_val_top1_err"])
        assert row["eval_err1_crop48"] == pytest.approx(recorded[48].top1_err)
    table = build_table5(load_runs(tmp_path / "after"))
    data = table.data
    assert list(data["crop"]) == [32, 48] and list(data["n"]) == [2, 2]
    err48 = runs_csv["eval_err1_crop48"]
    assert data["mean"].iloc[1] == pytest.approx(err48.mean()) and data["std"].iloc[1] == pytest.approx(err48.std())
    assert [row[2] for row in table.rows] == ["32", "48"] and f"({len(folder)})" in table.rows[1][4]
    section = TABLE.read(table, Context(load_runs(tmp_path / "after")))
    assert "crop48" in section and "crop32" in section and "paired over 2 runs" in section


def test_table5_sets_our_imagenet_rows_beside_the_papers_and_differences_only_on_its_data():
    from resnext_bench.analysis.runs import prepare_runs
    from resnext_bench.analysis.collect import RUN_COLUMNS
    from resnext_bench.analysis.table5 import build_table5

    rows = []
    for dataset in ("imagenet", "digits"):
        for seed, (e224, e320) in enumerate([(20.0, 19.0), (21.0, 19.4)]):
            row = dict.fromkeys(RUN_COLUMNS)
            row.update(run_id=f"{dataset}-s{seed}", sweep="s", status="completed", template="imagenet-101",
                       dataset=dataset, recipe="paper-imagenet", epochs_planned=100, cardinality=64,
                       bottleneck_width=4, seed=seed, eval_err1_crop224=e224, eval_err5_crop224=5.0,
                       eval_err1_crop320=e320, eval_err5_crop320=4.0)
            rows.append(row)
    table = build_table5(prepare_runs(pd.DataFrame(rows)))
    data = table.data.set_index(["dataset", "crop"])
    assert data.loc[("imagenet", 224), "paper"] == 20.4 and data.loc[("imagenet", 320), "paper"] == 19.1
    assert data.loc[("imagenet", 320), "diff"] == pytest.approx(19.2 - 19.1)
    assert data.loc[("imagenet", 320), "diff_top5"] == pytest.approx(4.0 - 4.4)
    assert pd.isna(data.loc[("digits", 320), "diff"])  # not the paper's data
    shown = {(r[0].split(",")[0], r[2]): r for r in table.rows}
    assert shown[("imagenet", "320")][4] == "19.20 ± 0.28 (2)" and shown[("imagenet", "320")][6] == "+0.10"
    assert shown[("digits", "320")][6].startswith("n/a")


def test_a_view_read_with_another_decoder_than_training_says_so(folder, tmp_path, monkeypatch):
    from resnext_bench.engine.data import evalset

    run_dir = copy_sweeps(folder[0], tmp_path)
    monkeypatch.setattr(evalset, "resolve_loader", lambda spec, device: "turbo")  # as `auto` on another machine
    lines = []
    done = evaluate_run(run_dir, View(), log=lines.append)
    assert done.data_loader == "turbo" and runfolder.result_of(run_dir)["data_loader"] == "pil"
    warnings = [line for line in lines if "warning" in line]
    assert len(warnings) == 1 and "trained reading data with pil, evaluating with turbo" in warnings[0]
