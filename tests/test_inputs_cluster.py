"""Bad input to the cluster, bench and data verbs: one line, exit 2, refused before anything is written or
measured. A dry run refuses what the launch refuses and calls unknown what it could not check; the demo
cancels the jobs it owns when interrupted."""
from __future__ import annotations

import argparse
import contextlib
import errno
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image
from support.polling import wait_until
from support.slurm import queue_state, require_slurm, silent_slurm

from resnext_bench import cli
from resnext_bench.cli import main
from resnext_bench.record import runfolder, runwrite, schema, sweep as sweep_layout

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "ablations" / "demo.yaml"
LOCAL = REPO / "slurm" / "local.yaml"
DEBUG = REPO / "slurm" / "debug.yaml"
LIVE_IN_SQUEUE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED")


def one_error_line(capsys) -> str:
    """The one line the CLI printed on stderr (failing when it printed more or none)."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def local_profile(tmp_path: Path, **changes) -> Path:
    """slurm/local.yaml with some keys changed."""
    data = {**yaml.safe_load(LOCAL.read_text()), **changes}
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def launch(profile: Path, sweep: Path, *extra: str) -> int:
    return main(["launch", str(DEMO), "--cluster", str(profile), "--sweep-dir", str(sweep), *extra])


# ---------------------------------------------------------------- launch --dry-run makes the launch's checks

REFUSALS = {
    "partition": "partition 'nosuch' does not exist here (partitions: ",
    "memory": "no node can run a job with 0 GPUs, 1 CPUs and 16000 GB",
    "sweep folder": "is a file, not a folder",
    "store": "is a file, not a folder",
    "lock": "is being launched by host ",
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_dry_run_refuses_what_the_launch_refuses_in_the_same_line(case, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    sweep, profile, extra = work / "sweep", DEBUG, []
    if case in ("partition", "memory"):  # the local Slurm's: a partition it lacks, memory no node has
        require_slurm()
        profile = local_profile(tmp_path, **({"partition": "nosuch"} if case == "partition" else {"mem_gb": 16000}))
    elif case in ("sweep folder", "store"):
        (work / "file").write_text("not a folder\n")
        sweep = work / "file" / "sweep" if case == "sweep folder" else sweep
        extra = ["--store", str(work / "file" / "store")] if case == "store" else []
    else:
        sweep.mkdir()
    with contextlib.ExitStack() as held:
        if case == "lock":  # another launch owns the sweep
            held.enter_context(sweep_layout.launch_lock(sweep))
        before = listing(work)
        assert launch(profile, sweep, "--dry-run", *extra) == 2
        dry = one_error_line(capsys)
        assert launch(profile, sweep, *extra) == 2
        real = one_error_line(capsys)
        assert listing(work) == before  # neither wrote anything
    assert REFUSALS[case] in dry and dry == real


def test_a_dry_run_on_the_local_slurm_says_what_it_checked(tmp_path, capsys):
    require_slurm()
    assert launch(LOCAL, tmp_path / "sweep", "--dry-run") == 0
    out = capsys.readouterr().out
    assert ("checked: the partition, a node's resources, the queue, the sweep folder and the store (writable), the "
            "sweep's launch lock (free)") in out
    assert "unknown" not in out and not (tmp_path / "sweep").exists()


def test_without_slurm_the_dry_run_calls_its_checks_unknown_and_the_launch_does_nothing(tmp_path, capsys,
                                                                                       monkeypatch):
    from resnext_bench.cluster.status import sweep_status
    from resnext_bench.config.load import load_ablation
    from resnext_bench.config.runs import resolve_runs

    sweep = tmp_path / "sweep"
    runs = resolve_runs(load_ablation(DEMO))
    live = sweep / "runs" / runs[0].run_id  # a run whose Slurm job may still be live
    runwrite.write_config(live, runs[0])
    runwrite.record_job(live, "424242", "slurm", runwrite.now_iso())
    silent_slurm(tmp_path / "bin", monkeypatch)
    assert subprocess.run(["sinfo"], capture_output=True).returncode == 1  # the fault is in place
    assert launch(LOCAL, sweep, "--dry-run") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("dry run: 24 runs, 23 to submit, 1 skipped")  # the plan is printed
    assert any(runs[0].run_id in line and "skip (unknown" in line for line in out)
    unknown = [line for line in out if line.startswith("unknown, not checked: ")]
    assert len(unknown) == 2 and "the partition and a node's resources (sinfo failed" in unknown[0]
    assert "the queue (squeue failed)" in unknown[1]
    assert not any(line.startswith("checked:") or " ok" in line for line in out)
    before = listing(tmp_path)
    assert launch(LOCAL, sweep) == 2
    assert "Slurm does not answer here (sinfo failed)" in one_error_line(capsys)
    assert listing(tmp_path) == before and runfolder.read_job(live).attempts == 1  # nothing acted on
    assert {r["run_id"]: r["state"] for r in sweep_status(sweep)} == {runs[0].run_id: schema.UNKNOWN}


def test_a_cpu_profiles_dry_run_speaks_of_cpu_hours_and_cpus(tmp_path, capsys):
    from resnext_bench.cluster.estimate import estimate_gpu_hours
    from resnext_bench.cluster.plan import unique_runs
    from resnext_bench.config.load import load_ablation
    from resnext_bench.config.runs import resolve_runs

    profile = tmp_path / "cpu.yaml"
    profile.write_text("executor: local\ncpus_per_run: 2\narray_parallelism: 2\n")
    assert launch(profile, tmp_path / "sweep", "--dry-run", "--throughput", "50") == 0
    out = capsys.readouterr().out
    hours = [e["gpu_hours"] for e in estimate_gpu_hours(unique_runs(resolve_runs(load_ablation(DEMO))), None, 50.0)]
    assert len(hours) == 24 and all(h > 0 for h in hours)
    assert "GPU" not in out
    assert f"estimate: {sum(hours) * 2:.2f} CPU-hours for 24 runs" in out
    assert "rate: 50 images/s per run (stated)" in out
    assert f"1 x 1 CPU task: {sum(hours) * 2:.2f} CPU-hours, wall time per run on 2 CPUs: up to {max(hours):.2f} h" in out


# ---------------------------------------------------------------- Ctrl-C on the demo

def test_ctrl_c_on_the_demo_cancels_the_jobs_it_submitted_and_says_so(tmp_path):
    require_slurm()
    sweep, out, err = tmp_path / "sweep", tmp_path / "stdout", tmp_path / "stderr"
    command = [sys.executable, "-m", "resnext_bench.cli", "demo", "--executor", "slurm", "--sweep-dir", str(sweep),
               "-o", str(tmp_path / "results"), "--set", "recipe.epochs=300"]
    job_ids: list[str] = []
    with open(out, "w") as stdout, open(err, "w") as stderr:
        # SIGINT as a terminal's Ctrl-C finds it, even where this suite was started with it ignored
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=tmp_path,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # the demo is waiting on its runs (its progress line) with every job in the queue
        wait_until(lambda: "runs: " in err.read_text() or proc.poll() is not None, "the demo to wait on its runs",
                   timeout=300, interval=0.5, context=lambda: err.read_text()[-2000:])
        assert proc.poll() is None, err.read_text()
        job_ids += sorted({runfolder.read_job(d).job_id for d in (sweep / "runs").iterdir()})
        assert len(job_ids) == 24
        before = {j: queue_state(j) for j in job_ids}
        assert all(state in LIVE_IN_SQUEUE for state in before.values()), before  # queued or running
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130, err.read_text()
        said = [line for line in out.read_text().splitlines() if "interrupted" in line]
        assert said == ["demo: interrupted: cancelled the live jobs of 24 runs it submitted (0 had already ended); "
                        f"see: resnext-bench status {sweep}"], out.read_text()
        wait_until(lambda: not any(queue_state(j) in LIVE_IN_SQUEUE for j in job_ids), "the jobs to leave the queue",
                   timeout=60, interval=0.5, context=lambda: str({j: queue_state(j) for j in job_ids}))
        ends = {runfolder.read_job(d).last_attempt.end for d in (sweep / "runs").iterdir()}
        assert ends == {schema.CANCELLED}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if job_ids:  # never leave jobs on the shared Slurm
            subprocess.run(["scancel", *job_ids], capture_output=True)


# ---------------------------------------------------------------- user text on one line

def test_user_text_in_an_error_is_escaped_onto_one_line(tmp_path, capsys, monkeypatch):
    sweep = tmp_path / "sweep"
    (sweep / "runs").mkdir(parents=True)
    assert main(["cancel", str(sweep), "a\nb"]) == 2
    assert one_error_line(capsys).startswith("resnext-bench cancel: error: a\\nb: no such run")
    assert main(["logs", "a\nb", "--sweep", str(sweep)]) == 2
    assert one_error_line(capsys).startswith("resnext-bench logs: error: a\\nb: no such run folder")
    assert main(["status", str(tmp_path / "no\nsuch")]) == 2
    assert one_error_line(capsys).endswith("no\\nsuch: no such directory")

    def denied(args):
        raise PermissionError(errno.EACCES, "Permission denied", "x\ny\x1b[2J")

    monkeypatch.setattr(cli, "cmd_status", denied)
    assert main(["status", "anything"]) == 2
    assert one_error_line(capsys) == "resnext-bench status: error: x\\ny\\x1b[2J: Permission denied"


# ---------------------------------------------------------------- logs of a job whose files are gone

def test_logs_of_an_ended_job_whose_files_were_deleted_say_they_are_missing(tmp_path, capsys):
    ended, queued = tmp_path / "sweep" / "runs" / "ended", tmp_path / "sweep" / "runs" / "queued"
    for run_dir, job_id in ((ended, "991"), (queued, "992")):
        run_dir.mkdir(parents=True)
        runwrite.record_job(run_dir, job_id, "slurm", runwrite.now_iso(), str(tmp_path / "sweep" / "submitit" / job_id))
    runwrite.start_attempt(ended, "991")
    runwrite.end_attempt(ended, "991", schema.COMPLETED)
    assert not (tmp_path / "sweep" / "submitit").exists()  # its log files were deleted
    assert main(["logs", str(ended)]) == 0
    out = capsys.readouterr().out
    assert out.count("(missing: job 991 has ended (completed), so the file was deleted or is on a disk not seen "
                     "here)") == 2 and "not written yet" not in out
    assert main(["logs", str(queued)]) == 0
    assert capsys.readouterr().out.count("(not written yet: the job has not started)") == 2


# ---------------------------------------------------------------- pack into its own tree

@pytest.mark.parametrize("out", ["", "packed", "train/packed"])
def test_pack_refuses_to_write_into_its_own_tree(out, tmp_path, capsys):
    root = tmp_path / "tree"
    for split in ("train", "val"):
        (root / split / "cat").mkdir(parents=True)
        Image.new("RGB", (8, 8), (200, 30, 30)).save(root / split / "cat" / "a.jpg")
    before = listing(root)
    target = root / out if out else root
    assert main(["pack", str(root), str(target), "--workers", "1"]) == 2
    line = one_error_line(capsys)
    assert f"{target}: output folder is " in line and f"the input {root}" in line
    assert listing(root) == before


# ---------------------------------------------------------------- bench options and outputs

@pytest.fixture
def nothing_measured(monkeypatch):
    """Record any measurement bench or loader-bench starts (none should)."""
    from resnext_bench.bench import loader, throughput

    started: list[str] = []
    monkeypatch.setattr(throughput, "measure_all", lambda *a, **k: started.append("bench"))
    monkeypatch.setattr(loader, "make_images", lambda *a, **k: started.append("loader-bench"))
    return started


@pytest.mark.parametrize("argv, words", [
    (["bench", "cifar-29:2x4d", "--device", "tpu"], "--device tpu: expected auto, cpu, cuda or cuda:N"),
    (["bench", "cifar-29:2x4d", "--device", "cpu", "--img-size", "1"],
     "img_size 1 is below cifar-29:2x4d's total stride 4"),
    (["bench", "imagenet-50:32x4d", "--device", "cpu", "--img-size", "16"],
     "img_size 16 is below imagenet-50:32x4d's total stride 32"),
    (["bench", "cifar-29:2x4d", "--device", "cpu", "--img-size", "4096"], "--img-size: expected a number from 1 to 1024"),
    (["loader-bench", "--size", "8"], "--size: expected a number from 16 to 1024, got 8"),
    (["loader-bench", "--size", "5000"], "--size: expected a number from 16 to 1024, got 5000"),
])
def test_out_of_bounds_bench_options_are_one_line_before_anything_is_measured(argv, words, tmp_path, capsys,
                                                                               nothing_measured):
    extra = ["--data", str(tmp_path / "data")] if argv[0] == "loader-bench" else []
    assert main(argv + extra) == 2
    assert words in one_error_line(capsys)
    assert nothing_measured == []


def test_an_unwritable_out_is_refused_by_its_given_name_before_anything_is_measured(tmp_path, capsys,
                                                                                   nothing_measured):
    (tmp_path / "file").write_text("not a folder\n")
    bad = tmp_path / "file" / "report"
    assert main(["bench", "cifar-29:2x4d", "--device", "cpu", "--out", str(bad)]) == 2
    line = one_error_line(capsys)
    assert f"--out {bad}: {tmp_path / 'file'} is a file, not a folder" in line and ".tmp" not in line
    data = tmp_path / "data"
    for out, why in ((bad, "is a file, not a folder"), (data / "report.md", f"is inside the input {data}")):
        assert main(["loader-bench", "--data", str(data), "--out", str(out)]) == 2
        line = one_error_line(capsys)
        assert f"--out {out}: " in line and why in line
    assert nothing_measured == [] and not data.exists()


def test_the_readme_says_how_many_images_loader_bench_writes():
    from resnext_bench.bench.options import add_loader_bench_arguments

    parser = argparse.ArgumentParser()
    add_loader_bench_arguments(parser)
    said = re.search(r"`resnext-bench loader-bench --train-ips N` writes (\d+)", (REPO / "README.md").read_text())
    assert said is not None and int(said[1]) == parser.parse_args([]).images == 256
