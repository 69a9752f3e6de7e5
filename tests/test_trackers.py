"""Experiment trackers (runtime.trackers): W&B and MLflow hold each run once, resumed runs included, and never fail it."""
import socket
import sys
import threading
import time

import pytest
from support.trackers import mlflow_view, offline_trackers, tracked_run, wandb_attempts
from support.training import StopAfter, assert_same_outcome

from resnext_bench.config.load import load_ablation
from resnext_bench.engine import trackers as trackers_mod
from resnext_bench.engine.events import SCALARS
from resnext_bench.engine.train import Stopped, train_run
from resnext_bench.errors import UserError
from resnext_bench.record import runfolder

# The test extra installs both (support.trackers imports wandb): a missing install fails instead of skipping.
from mlflow.tracking import MlflowClient  # noqa: E402

from support.ablations import tiny_ablation  # noqa: E402


def expected_steps(run_dir, field):
    """[(epoch, value)] of one metric as metrics.jsonl holds it."""
    return [(m["epoch"], pytest.approx(m[field], rel=1e-9)) for m in runfolder.epochs_of(run_dir)]


def warnings_in(lines):
    return [line for line in lines if "warning" in line]


def test_wandb_and_mlflow_receive_the_runs_config_epochs_result_and_folder(tmp_path, monkeypatch):
    where = offline_trackers(monkeypatch, tmp_path)
    run_dir = tracked_run(tmp_path, "both")
    run = runfolder.load_config(run_dir)
    lines = []
    result = train_run(run_dir, log=lines.append)
    assert result["status"] == "completed" and warnings_in(lines) == []
    ids = runfolder.read_trackers(run_dir)
    assert set(ids) == {"wandb", "mlflow"} and ids["wandb"]["last_epoch"] == ids["mlflow"]["last_epoch"] == 2

    (wb,) = wandb_attempts(where["wandb"], ids["wandb"]["id"])
    assert ids["wandb"]["id"].startswith(run.run_id)  # keyed by the run id; the label only names it
    assert (wb["run_id"], wb["group"], wb["name"]) == (ids["wandb"]["id"], run.ablation, "2x4d")
    assert wb["config"]["run_id"] == run.run_id and wb["config"]["run_dir"] == str(run_dir.resolve())
    assert (wb["config"]["C"], wb["config"]["d"], wb["config"]["recipe.epochs"]) == (2, 4, 2)
    for tag, field in SCALARS.items():
        assert [(step, values[tag]) for step, values in wb["history"] if tag in values] == \
            expected_steps(run_dir, field), tag
    assert wb["summary"]["result/final_val_top1_err"] == pytest.approx(result["final_val_top1_err"])
    assert wb["summary"]["result/status"] == "completed"

    ml = mlflow_view(where["mlflow"], ids["mlflow"]["run_id"])
    assert ml["experiment"] == run.ablation and ml["tags"]["mlflow.runName"] == "2x4d"
    assert ml["params"]["run_id"] == ml["tags"]["run_id"] == run.run_id
    assert ml["params"]["run_dir"] == ml["tags"]["run_dir"] == str(run_dir.resolve())
    assert (ml["params"]["C"], ml["params"]["d"]) == ("2", "4")
    for tag, field in SCALARS.items():
        assert ml["metrics"][tag] == expected_steps(run_dir, field), tag
    assert ml["metrics"]["result/final_val_top1_err"] == [(0, pytest.approx(result["final_val_top1_err"]))]
    assert ml["status"] == "FINISHED" and ml["tags"]["status"] == "completed"


def test_a_requeued_run_continues_the_same_tracker_runs_with_each_epoch_once(tmp_path, monkeypatch):
    where = offline_trackers(monkeypatch, tmp_path)
    run_dir = tracked_run(tmp_path, "requeue", epochs=3)
    with pytest.raises(Stopped):
        train_run(run_dir, stop=StopAfter(8), log=lambda m: None)  # 6 steps an epoch: stop inside epoch 2
    first = runfolder.read_trackers(run_dir)
    assert first["wandb"]["last_epoch"] == first["mlflow"]["last_epoch"] == 1  # the stop happened mid-run
    assert mlflow_view(where["mlflow"], first["mlflow"]["run_id"])["status"] == "KILLED"

    lines = []
    assert train_run(run_dir, log=lines.append)["status"] == "completed" and warnings_in(lines) == []
    again = runfolder.read_trackers(run_dir)
    assert again["wandb"]["id"] == first["wandb"]["id"] and again["mlflow"]["run_id"] == first["mlflow"]["run_id"]

    attempts = wandb_attempts(where["wandb"], first["wandb"]["id"])
    assert len(attempts) == 2 and {a["run_id"] for a in attempts} == {first["wandb"]["id"]}
    steps = [step for a in attempts for step, _ in a["history"]]
    assert steps == [1, 2, 3]  # `wandb sync` merges both files into one run: no step twice
    merged = [(step, values["top1_err/val"]) for a in attempts for step, values in a["history"]]
    assert merged == expected_steps(run_dir, "val_top1_err")

    ml = mlflow_view(where["mlflow"], first["mlflow"]["run_id"])
    assert ml["runs_in_experiment"] == 1 and ml["status"] == "FINISHED"
    for tag, field in SCALARS.items():
        assert ml["metrics"][tag] == expected_steps(run_dir, field), tag


def test_a_tracker_that_is_not_installed_costs_one_warning_and_changes_nothing(tmp_path, monkeypatch):
    offline_trackers(monkeypatch, tmp_path)
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` now raises ImportError
    plain, tracked = tracked_run(tmp_path, "plain", trackers=""), tracked_run(tmp_path, "nowandb", "[wandb]")
    assert plain.name == tracked.name  # runtime keys never change the run id
    assert train_run(plain, log=lambda m: None)["status"] == "completed"
    lines = []
    assert train_run(tracked, log=lines.append)["status"] == "completed"
    (warning,) = warnings_in(lines)
    assert "Weights & Biases" in warning and "pip install 'resnext-bench[wandb]'" in warning
    assert_same_outcome(plain, tracked)


def test_a_tracker_raising_in_its_log_calls_costs_one_warning_and_changes_nothing(tmp_path, monkeypatch):
    where = offline_trackers(monkeypatch, tmp_path)
    calls = []

    def broken(self, *args, **kwargs):
        calls.append(kwargs)
        raise ConnectionError("tracking server down")

    monkeypatch.setattr(MlflowClient, "log_batch", broken)
    plain, tracked = tracked_run(tmp_path, "plain", trackers=""), tracked_run(tmp_path, "broken", "[mlflow, wandb]")
    assert train_run(plain, log=lambda m: None)["status"] == "completed"
    lines = []
    assert train_run(tracked, log=lines.append)["status"] == "completed"
    assert len(calls) == 1  # the first call failed, and the tracker was off after it
    (warning,) = warnings_in(lines)
    assert "MLflow" in warning and "ConnectionError: tracking server down" in warning
    assert_same_outcome(plain, tracked)
    ids = runfolder.read_trackers(tracked)  # the other tracker is unaffected
    assert [s for a in wandb_attempts(where["wandb"], ids["wandb"]["id"]) for s, _ in a["history"]] == [1, 2]


def test_a_tracker_that_hangs_is_left_behind_after_the_close_timeout(tmp_path, monkeypatch):
    offline_trackers(monkeypatch, tmp_path)
    release = threading.Event()
    hung = threading.Event()

    def hang(self, *args, **kwargs):
        hung.set()
        release.wait(120)

    monkeypatch.setattr(MlflowClient, "log_batch", hang)
    monkeypatch.setattr(trackers_mod, "CLOSE_TIMEOUT_S", 0.5)
    run_dir = tracked_run(tmp_path, "hang", "[mlflow]")
    lines = []
    try:
        t0 = time.monotonic()
        assert train_run(run_dir, log=lines.append)["status"] == "completed"
        waited = time.monotonic() - t0
    finally:
        release.set()
    assert hung.is_set()  # the tracker did hang while the run trained
    (warning,) = warnings_in(lines)
    assert "did not answer within 0.5 s" in warning
    assert waited < 60  # the run ended without waiting for the hung tracker (it waits for 120 s)
    assert [m["epoch"] for m in runfolder.epochs_of(run_dir)] == [1, 2]


def test_trackers_are_validated_and_tensorboard_is_one_of_them(tmp_path, monkeypatch):
    path = tiny_ablation(tmp_path, "names")
    with pytest.raises(UserError, match=r"runtime.trackers\[1\]: expected one of tensorboard, wandb, mlflow"):
        load_ablation(path, ["runtime.trackers=[wandb, comet]"])
    with pytest.raises(UserError, match="runtime.trackers"):
        load_ablation(path, ["runtime.trackers=7"])
    both = load_ablation(path, ["runtime.tensorboard=true", "runtime.trackers=[mlflow, tensorboard]"])
    assert both.runtime.active_trackers == ("tensorboard", "mlflow")
    run_dir = tracked_run(tmp_path, "tb", "[tensorboard]")
    assert train_run(run_dir, log=lambda m: None)["status"] == "completed"
    assert any((run_dir / runfolder.EVENTS).iterdir())
    assert not (run_dir / runfolder.TRACKERS).exists()  # TensorBoard keeps its own folder, no remote run id


def test_a_damaged_trackers_file_costs_one_warning_and_new_tracker_runs(tmp_path, monkeypatch):
    where = offline_trackers(monkeypatch, tmp_path)
    run_dir = tracked_run(tmp_path, "damaged", "[mlflow]")
    (run_dir / runfolder.TRACKERS).write_text('{"mlflow": {"run_id": ')
    lines = []
    assert train_run(run_dir, log=lines.append)["status"] == "completed"
    (warning,) = warnings_in(lines)
    assert runfolder.TRACKERS in warning and "not JSON" in warning
    ml = mlflow_view(where["mlflow"], runfolder.read_trackers(run_dir)["mlflow"]["run_id"])
    assert ml["metrics"]["loss/val"] == expected_steps(run_dir, "val_loss")


def test_a_tracking_server_that_is_down_costs_one_warning(tmp_path, monkeypatch):
    offline_trackers(monkeypatch, tmp_path)
    with socket.socket() as s:  # a port nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # refused at once, not after minutes of backoff
    run_dir = tracked_run(tmp_path, "down", "[mlflow]")
    lines = []
    assert train_run(run_dir, log=lines.append)["status"] == "completed"
    (warning,) = warnings_in(lines)
    assert "MLflow tracking off" in warning and str(port) in warning
    assert not (run_dir / runfolder.TRACKERS).exists()  # no tracker run was made, so none is recorded
    assert [m["epoch"] for m in runfolder.epochs_of(run_dir)] == [1, 2]
