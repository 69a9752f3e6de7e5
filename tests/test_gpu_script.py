"""results/bench/gpu.sh's end-to-end measurement, run on this CPU at tiny size (`--smoke`): every piece the
GPU run calls — the generated pack, `train` through each CPU backend, the report — works apart from the GPU."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from resnext_bench.bench import e2e

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "results" / "bench" / "gpu.sh"


def test_the_smoke_run_trains_end_to_end_and_reports_every_trial(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    env = {**os.environ, "OUT": str(out), "RB_PY": sys.executable, "RB_E2E_WORK": str(work), "RB_BUDGET_S": "400"}
    env.pop("RB_STEPS", None)
    proc = subprocess.run(["bash", str(SCRIPT), "--smoke"], env=env, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    steps = (out / "steps.tsv").read_text()
    assert proc.returncode == 0, proc.stdout[-3000:] + steps
    names = [line.split("\t")[0] for line in steps.splitlines()[1:]]
    assert names == ["versions", "e2e-prepare", "e2e-resnext50_32x4d-turbo-eager", "e2e-resnet50-pil-eager",
                     "e2e-table"]
    rows = [json.loads(line) for line in (out / "e2e.jsonl").read_text().splitlines()]
    assert [(r["model"], r["backend"], r["compile"]) for r in rows] == [
        ("resnext50_32x4d", "turbo", False), ("resnet50", "pil", False)]
    for row in rows:
        assert row["status"] == "completed" and row["data_loader"] == row["backend"]
        assert row["images_per_sec"] > 0 and 0 <= row["data_wait_pct"] <= 100
        assert row["mfu_pct"] is None and row["peak_mem_gb"] is None  # a CPU: no BF16 peak, no CUDA memory
        metrics = Path(row["run_dir"]) / "metrics.jsonl"
        assert [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()] == [1, 2]
    table = (out / "e2e.md").read_text()
    assert "| resnext50_32x4d | turbo | no |" in table and "| resnet50 | pil | no |" in table
    # The pack holds the training split the trials read: 16 images, 4 unique ones hard-linked.
    manifest = json.loads((work / "pack" / "manifest.json").read_text())
    assert "train" in json.dumps(manifest) and len(list((work / "unique").rglob("*.JPEG"))) == 4


def test_a_trial_that_cannot_run_is_one_line_and_exit_2(tmp_path, capsys):
    e2e.prepare(tmp_path, smoke=True)
    code = e2e.main(["run", "--work", str(tmp_path), "--smoke", "--model", "resnet50", "--backend", "nvjpeg",
                     "--device", "cpu", "--results", str(tmp_path / "r.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and "nvjpeg decodes on a CUDA GPU" in err and "Traceback" not in err
    assert not (tmp_path / "r.jsonl").exists()


def test_the_gpu_trials_name_only_models_and_backends_the_measurement_knows():
    text = SCRIPT.read_text()
    block = re.search(r'default_trials="(.*?)"', text, re.S).group(1).replace("\\\n", " ")
    trials = [t.split(":") for t in block.split()]
    assert len(trials) == 10
    assert {tuple(t[1:]) for t in trials} >= {(b, m) for b in e2e.BACKENDS for m in ("eager",)}
    for model, backend, mode in trials:
        assert model in e2e.MODELS and backend in e2e.BACKENDS and mode in ("eager", "compile")
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
