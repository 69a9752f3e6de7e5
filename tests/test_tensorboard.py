"""TensorBoard events (runtime.tensorboard): a live view of metrics.jsonl that never fails a run."""
import sys
from pathlib import Path

import pytest
from support.ablations import tiny_ablation

from resnext_bench.config.runs import resolve_runs
from resnext_bench.config.load import load_ablation
from resnext_bench.engine import events as events_mod
from resnext_bench.record import runfolder, runwrite
from resnext_bench.engine.train import Stopped, train_run

# The test extra installs tensorboard: a missing install fails here instead of skipping quietly.
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from support.training import StopAfter  # noqa: E402


def make_run(tmp_path: Path, name: str, overrides=("runtime.tensorboard=true",), epochs=2) -> Path:
    run = resolve_runs(load_ablation(tiny_ablation(tmp_path, name, epochs), list(overrides)))[0]
    run_dir = tmp_path / name / "runs" / run.run_id
    runwrite.write_config(run_dir, run)
    return run_dir


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of the run's events folder, as TensorBoard itself reads it: [(step, value)]."""
    acc = EventAccumulator(str(run_dir / runfolder.EVENTS), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def assert_events_match_metrics(run_dir: Path) -> None:
    metrics = runfolder.epochs_of(run_dir)
    seen = scalars(run_dir)
    assert set(seen) == set(events_mod.SCALARS)
    for tag, field in events_mod.SCALARS.items():
        expected = [(m["epoch"], pytest.approx(m[field], rel=1e-6)) for m in metrics]  # events hold float32
        assert seen[tag] == expected, tag


def test_events_hold_each_epochs_metrics_and_the_runs_hyperparameters(tmp_path):
    run_dir = make_run(tmp_path, "tb")
    assert run_dir.name == make_run(tmp_path, "plain", overrides=()).name  # runtime keys never change the id
    assert train_run(run_dir, log=lambda m: None)["status"] == "completed"
    assert [m["epoch"] for m in runfolder.epochs_of(run_dir)] == [1, 2]
    assert_events_match_metrics(run_dir)

    acc = EventAccumulator(str(run_dir / runfolder.EVENTS), size_guidance={"tensors": 0})
    acc.Reload()
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    from tensorboard.plugins.hparams import metadata
    start = metadata.parse_session_start_info_plugin_data(content)
    assert start.hparams["configuration"].string_value == "2x4d"
    assert (start.hparams["C"].number_value, start.hparams["d"].number_value) == (2, 4)
    assert start.hparams["template"].string_value == "cifar-29"
    assert start.hparams["dataset"].string_value == "digits"
    assert start.hparams["recipe.epochs"].number_value == 2
    assert start.hparams["seed"].number_value == 0 and start.hparams["precision"].string_value == "fp32"
    assert "| C | 2 |" in acc.Tensors("hparams/text_summary")[0].tensor_proto.string_val[0].decode()


def test_a_run_stopped_mid_epoch_and_resumed_shows_each_epoch_once(tmp_path):
    run_dir = make_run(tmp_path, "resume", epochs=3)
    with pytest.raises(Stopped):
        train_run(run_dir, stop=StopAfter(8), log=lambda m: None)  # 6 steps an epoch: stop inside epoch 2
    assert [m["epoch"] for m in runfolder.epochs_of(run_dir)] == [1]
    assert [step for step, _ in scalars(run_dir)["loss/val"]] == [1]
    assert train_run(run_dir, log=lambda m: None)["status"] == "completed"
    assert len(list((run_dir / runfolder.EVENTS).iterdir())) == 2  # one event file an attempt
    assert_events_match_metrics(run_dir)


def test_an_epoch_an_earlier_attempt_wrote_past_the_checkpoint_is_shown_once_with_the_redone_values(tmp_path):
    """A resume from an older checkpoint redoes epochs already in the events: the redone ones win."""
    run_dir = make_run(tmp_path, "redo", epochs=3)
    with pytest.raises(Stopped):
        train_run(run_dir, stop=StopAfter(8), log=lambda m: None)
    first_attempt = {p.name for p in (run_dir / runfolder.EVENTS).iterdir()}
    # As if the attempt had written epoch 2's events and died before its checkpoint.
    from torch.utils.tensorboard import SummaryWriter
    with SummaryWriter(str(run_dir / runfolder.EVENTS)) as late:
        late.add_scalar("loss/val", 99.0, global_step=2)
    assert scalars(run_dir)["loss/val"][-1] == (2, 99.0)
    assert len(list((run_dir / runfolder.EVENTS).iterdir())) == len(first_attempt) + 1
    assert train_run(run_dir, log=lambda m: None)["status"] == "completed"
    assert_events_match_metrics(run_dir)


def test_without_the_option_no_events_folder_is_made(tmp_path):
    run_dir = make_run(tmp_path, "off", overrides=())
    assert runfolder.load_config(run_dir).runtime.tensorboard is False
    assert train_run(run_dir, log=lambda m: None)["status"] == "completed"
    assert not (run_dir / runfolder.EVENTS).exists()


def test_without_tensorboard_installed_the_run_completes_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # `import` now raises ImportError
    run_dir = make_run(tmp_path, "noimport")
    lines = []
    assert train_run(run_dir, log=lines.append)["status"] == "completed"
    warnings = [line for line in lines if "warning" in line]
    assert len(warnings) == 1 and "TensorBoard" in warnings[0] and "pip install" in warnings[0]
    assert [m["epoch"] for m in runfolder.epochs_of(run_dir)] == [1, 2]


def test_an_events_path_that_cannot_be_written_costs_one_warning_not_the_run(tmp_path):
    run_dir = make_run(tmp_path, "ioerror")
    (run_dir / runfolder.EVENTS).write_text("a file where the events folder should be")
    lines = []
    assert train_run(run_dir, log=lines.append)["status"] == "completed"
    assert len([line for line in lines if "warning" in line]) == 1
    assert [m["epoch"] for m in runfolder.epochs_of(run_dir)] == [1, 2]


def test_a_sweep_launched_with_tensorboard_shows_every_runs_curves(tmp_path, capsys):
    from resnext_bench.cli import main

    grid = tiny_ablation(tmp_path, "grid", epochs=2, train_limit=64)
    grid.write_text(grid.read_text().replace("configurations:\n  - {cardinality: 2, bottleneck_width: 4}",
                                             "configurations:\n  - {cardinality: 2, bottleneck_width: 4}\n"
                                             "  - {cardinality: 1, bottleneck_width: 8}"))
    sweep = tmp_path / "sweep"
    assert main(["launch", str(grid), "--cluster", "slurm/debug.yaml", "--sweep-dir", str(sweep),
                 "--tensorboard"]) == 0
    run_dirs = sorted((sweep / "runs").iterdir())
    assert len(run_dirs) == 2
    for run_dir in run_dirs:
        assert runfolder.result_of(run_dir)["status"] == "completed"
        assert [step for step, _ in scalars(run_dir)["top1_err/val"]] == [1, 2]
        assert_events_match_metrics(run_dir)
