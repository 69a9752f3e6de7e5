"""Trackers with no network: W&B offline and MLflow on a file store in a tmp folder, and readers of what they hold."""
import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb  # the records of W&B's offline run files

from resnext_bench.config.load import load_ablation
from resnext_bench.config.runs import resolve_runs
from resnext_bench.record import runwrite

from support.ablations import tiny_ablation
from support.polling import wait_until

# What a caller's shell may set that would send the trackers elsewhere (a real project, a server).
FOREIGN = ("WANDB_API_KEY", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_BASE_URL", "WANDB_RUN_ID", "WANDB_RESUME",
           "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID")


def offline_trackers(monkeypatch, folder: Path) -> dict[str, Path | str]:
    """Point W&B (offline) and MLflow (a file store) into `folder`; returns {'wandb': dir, 'mlflow': uri}."""
    for name in FOREIGN:
        monkeypatch.delenv(name, raising=False)
    wandb_dir = folder / "wandb-home"
    wandb_dir.mkdir(parents=True)
    mlruns = folder / "mlruns"
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(wandb_dir))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(wandb_dir / "config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(wandb_dir / "cache"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlruns.as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 refuses a file store without it
    return {"wandb": wandb_dir, "mlflow": mlruns.as_uri()}


def tracked_run(tmp_path: Path, name: str, trackers: str = "[wandb, mlflow]", epochs: int = 2) -> Path:
    """The tiny ablation's run folder with `runtime.trackers` set (`""` for none)."""
    overrides = [f"runtime.trackers={trackers}"] if trackers else []
    run = resolve_runs(load_ablation(tiny_ablation(tmp_path, name, epochs), overrides))[0]
    run_dir = tmp_path / name / "runs" / run.run_id
    runwrite.write_config(run_dir, run)
    return run_dir


def _log_records(path: Path):
    """The records of a W&B transaction log (.wandb: a LevelDB-style log of 32 KiB blocks after a 7-byte header)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if (kind == 0 and length == 0) or pos + 7 + length > len(data):  # the end, or a record still being written
            break
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            yield pending
            pending = b""


def _parsed(path: Path) -> list:
    """The records of one run file, once W&B's service has written its last (`exit`): finish() may return first."""
    def records():
        out = []
        for raw in _log_records(path):
            record = pb.Record()
            record.ParseFromString(raw)
            out.append(record)
        return out

    wait_until(lambda: any(r.WhichOneof("record_type") == "exit" for r in records()), f"{path} ends", timeout=30)
    return records()


def wandb_attempts(wandb_dir: Path, tracker_id: str) -> list[dict]:
    """Each offline W&B run file of `tracker_id` (one an attempt), oldest first, as
    {run_id, group, name, config, history: [(step, {key: value})], summary}."""
    attempts = []
    for path in sorted(Path(wandb_dir).glob(f"wandb/offline-run-*/run-{tracker_id}.wandb")):
        seen = {"history": [], "summary": {}, "config": {}}
        for record in _parsed(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                r = record.run
                seen.update(run_id=r.run_id, group=r.run_group, name=r.display_name)
                seen["config"].update({u.key: json.loads(u.value_json) for u in r.config.update})
            elif kind == "config":
                seen["config"].update({u.key: json.loads(u.value_json) for u in record.config.update})
            elif kind == "history":
                values = {"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.history.item}
                seen["history"].append((record.history.step.num,
                                        {k: v for k, v in values.items() if not k.startswith("_")}))
            elif kind == "summary":
                seen["summary"].update({"/".join(u.nested_key) or u.key: json.loads(u.value_json)
                                        for u in record.summary.update})
        attempts.append(seen)
    return attempts


def mlflow_view(uri: str, mlflow_run_id: str) -> dict:
    """What the MLflow store holds for one run: {run, experiment, params, tags, status, metrics: {key: [(step, value)]}}."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    run = client.get_run(mlflow_run_id)
    metrics = {key: sorted((m.step, m.value) for m in client.get_metric_history(mlflow_run_id, key))
               for key in run.data.metrics}
    return {"run": run, "experiment": client.get_experiment(run.info.experiment_id).name,
            "params": run.data.params, "tags": run.data.tags, "status": run.info.status, "metrics": metrics,
            "runs_in_experiment": len(client.search_runs([run.info.experiment_id]))}
