"""One configuration, one run: run ids are the configuration, runs live in a store every sweep
shares, a launch owns its sweep, the code snapshot is whole, and an unread queue submits nothing."""
import dataclasses
import json
import multiprocessing
import os
import shutil
from pathlib import Path

import yaml

from support.ablations import write_launch_grid

from resnext_bench.cli import main
from resnext_bench.cluster import snapshot
from resnext_bench.config.runs import resolve_runs
from resnext_bench.config.load import load_ablation
from resnext_bench.record import runfolder
from resnext_bench.record.store import Store

ROOT = Path(__file__).resolve().parents[1]
DEBUG = ROOT / "slurm" / "debug.yaml"


def grid(folder: Path, name: str, cardinalities: str, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = write_launch_grid(folder, name, cardinalities, epochs=1, train_limit=64)
    if fields:
        data = yaml.safe_load(path.read_text())
        for key, value in fields.items():
            data[key] = value
        path.write_text(yaml.safe_dump(data))
    return path


def launch_debug(ablation: Path, sweep: Path) -> int:
    return main(["launch", str(ablation), "--cluster", str(DEBUG), "--sweep-dir", str(sweep)])


def ids_of(ablation: Path) -> list[str]:
    return sorted({r.run_id for r in resolve_runs(load_ablation(ablation, []))})


def test_the_run_id_is_the_configuration_not_the_ablation_or_its_labels(tmp_path):
    a = grid(tmp_path / "a", "first_study", "[1, 2]")
    b = grid(tmp_path / "b", "second_study", "[1, 2, 4]", study="residual")
    assert set(ids_of(a)) < set(ids_of(b))  # the shared configurations have one id
    wider = grid(tmp_path / "c", "first_study", "[1, 2]", model={"base_planes": 16, "stem_width": 8})
    assert not set(ids_of(a)) & set(ids_of(wider))  # another width is another run
    assert all("-bp16-" in rid for rid in ids_of(wider))  # and its name says so


def test_a_second_ablation_trains_only_what_the_first_did_not(tmp_path, capsys):
    a = grid(tmp_path, "study_a", "[1, 2]")
    assert launch_debug(a, tmp_path / "sa") == 0
    capsys.readouterr()
    store = Store(tmp_path / "store")
    shared = ids_of(a)
    before = {rid: (store.path(rid) / runfolder.METRICS).read_text() for rid in shared}
    b = grid(tmp_path / "b", "study_b", "[1, 2, 4]")
    assert main(["launch", str(b), "--cluster", str(DEBUG), "--sweep-dir", str(tmp_path / "sb"), "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "3 runs, 1 to submit, 2 skipped" in dry
    for rid in shared:
        assert f"completed; reused from {(tmp_path / 'sa').resolve()}" in dry.split(rid)[1].splitlines()[0]
    assert "hours for 1 run\n" in dry  # the estimate counts only what will train
    assert launch_debug(b, tmp_path / "sb") == 0
    out = capsys.readouterr()
    assert "1 run submitted, 2 skipped (2 reused from other sweeps)" in out.out
    assert "training" not in "".join(line for line in out.err.splitlines() if any(r in line for r in shared))
    for rid in shared:  # not trained again: one job, the same metrics, both sweeps list it
        assert (store.path(rid) / runfolder.METRICS).read_text() == before[rid]
        assert runfolder.read_job(store.path(rid)).attempts == 1
        assert store.sweeps_of(rid) == [str((tmp_path / d).resolve()) for d in ("sa", "sb")]
        assert (tmp_path / "sb" / "runs" / rid).resolve() == store.path(rid).resolve()
    listed = json.loads((tmp_path / "sb" / "sweep.json").read_text())
    assert sorted(e["run_id"] for e in listed["runs"]) == ids_of(b)
    assert all(e["ablation"] == "study_b" for e in listed["runs"])  # this sweep's labels, not the creator's
    # the second sweep's report names the runs it shares, and with which sweep
    assert main(["report", str(tmp_path / "sb"), "-o", str(tmp_path / "out")]) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "2 runs of this report are listed by other sweeps too" in report
    for rid in shared:
        assert f"`{rid}` in sb, also listed by sa" in report


def test_collect_gives_each_sweep_its_labels_and_names_the_other_sweeps(tmp_path, capsys):
    a = grid(tmp_path, "study_a", "[1]", study="table3")
    b = grid(tmp_path / "b", "study_b", "[1, 2]", study="residual")
    assert launch_debug(a, tmp_path / "sa") == 0 and launch_debug(b, tmp_path / "sb") == 0
    assert main(["collect", str(tmp_path / "sa"), str(tmp_path / "sb"), "-o", str(tmp_path / "out")]) == 0
    import pandas as pd

    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    rid = ids_of(a)[0]
    rows = runs[runs["run_id"] == rid].set_index("sweep")
    assert set(rows.index) == {"sa", "sb"}
    assert (rows.loc["sa", "study"], rows.loc["sb", "study"]) == ("table3", "residual")
    assert (rows.loc["sa", "shared_with"], rows.loc["sb", "shared_with"]) == ("sb", "sa")
    assert runs[runs["run_id"] != rid]["shared_with"].isna().all()


def _old_style(run_dir: Path, sweep: Path) -> Path:
    """Make a store run look like one made before the store: a folder in the sweep under an old id."""
    old = sweep / "runs" / "study_a-1x8d-s0-0123abcd"
    (sweep / "runs" / run_dir.name).unlink()
    shutil.move(str(run_dir.resolve()), old)
    config = yaml.safe_load((old / runfolder.CONFIG).read_text())
    config.pop("id_scheme")
    config["run_id"] = old.name
    (old / runfolder.CONFIG).write_text(yaml.safe_dump(config))
    (old / "sweeps").unlink()
    (sweep / "sweep.json").unlink()
    return old


def test_a_folder_made_under_an_old_run_id_is_reused_not_retrained(tmp_path, capsys):
    a = grid(tmp_path, "study_a", "[1]")
    sweep = tmp_path / "sa"
    assert launch_debug(a, sweep) == 0
    rid = ids_of(a)[0]
    old = _old_style(Store(tmp_path / "store").path(rid), sweep)
    metrics = (old / runfolder.METRICS).read_text()
    capsys.readouterr()
    assert launch_debug(a, sweep) == 0
    out = capsys.readouterr().out
    assert f"reuse {rid}: its folder {old.name} was made before run ids were the configuration alone" in out
    assert "0 runs submitted, 1 skipped" in out
    assert (old / runfolder.METRICS).read_text() == metrics
    assert Store(tmp_path / "store").path(rid).resolve() == old.resolve()  # listed in the store where it is
    # collect reads it under its id of today, and says which id the folder has
    assert main(["collect", str(sweep), "-o", str(tmp_path / "out")]) == 0
    import pandas as pd

    row = pd.read_csv(tmp_path / "out" / "runs.csv").iloc[0]
    assert (row["run_id"], row["legacy_run_id"]) == (rid, old.name)
    assert row["study"] == "none"  # an ablation that declares no study feeds no paper table


def test_a_second_launch_of_a_sweep_being_launched_exits_2_naming_the_holder(tmp_path, capsys):
    from resnext_bench.record import sweep as sweep_layout

    a = grid(tmp_path, "study_a", "[1]")
    sweep = tmp_path / "sa"
    sweep.mkdir()
    with sweep_layout.launch_lock(sweep):
        assert launch_debug(a, sweep) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"pid {os.getpid()}" in err and "is being launched by" in err
    assert not (sweep / "runs").exists()  # nothing written


def _snapshot(sweep: str, queue) -> None:
    try:
        queue.put(str(snapshot.snapshot_code(Path(sweep))))
    except BaseException as e:  # report, never hang the parent
        queue.put(f"error: {type(e).__name__}: {e}")


def test_racing_snapshots_all_get_one_whole_manifest_verified_copy(tmp_path):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_snapshot, args=(str(tmp_path), queue)) for _ in range(8)]
    for p in procs:
        p.start()
    got = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert len(set(got)) == 1 and not got[0].startswith("error"), got
    dest = Path(got[0])
    package = ROOT / "resnext_bench"
    manifest = snapshot.package_manifest(package)
    assert snapshot.snapshot_matches(dest, manifest)
    assert (dest / "resnext_bench" / "__init__.py").is_file() and len(manifest) > 50
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no staging folder left behind


def test_a_snapshot_with_a_wrong_manifest_is_never_used(tmp_path):
    dest = snapshot.snapshot_code(tmp_path)
    (dest / "resnext_bench" / "__init__.py").unlink()  # an incomplete snapshot, as a crashed copy leaves
    again = snapshot.snapshot_code(tmp_path)
    assert again == dest and (again / "resnext_bench" / "__init__.py").is_file()
    assert snapshot.snapshot_matches(again, snapshot.package_manifest(ROOT / "resnext_bench"))
    assert len(list(tmp_path.glob("code/*.bad-*"))) == 1  # the broken one set aside, not deleted


def test_a_store_given_by_flag_or_environment_is_where_runs_go(tmp_path, monkeypatch, capsys):
    a = grid(tmp_path, "study_a", "[1]")
    monkeypatch.setenv("RESNEXT_BENCH_STORE", str(tmp_path / "shared"))
    assert launch_debug(a, tmp_path / "sa") == 0
    rid = ids_of(a)[0]
    assert (tmp_path / "shared" / rid / runfolder.RESULT).is_file()
    assert main(["launch", str(a), "--cluster", str(DEBUG), "--sweep-dir", str(tmp_path / "sb"),
                 "--store", str(tmp_path / "other"), "--dry-run"]) == 0
    assert "1 to submit, 0 skipped" in capsys.readouterr().out  # another store holds none of them
    assert not (tmp_path / "store").exists()


def test_a_job_that_finds_its_run_trained_by_another_process_neither_fails_nor_trains(tmp_path):
    from resnext_bench.cluster.job import TrainJob
    from resnext_bench.record import runwrite
    from resnext_bench.record.locks import RunLock

    a = grid(tmp_path, "study_a", "[1]")
    run = resolve_runs(load_ablation(a, []))[0]
    run_dir = tmp_path / "store" / run.run_id
    runwrite.write_config(run_dir, run)
    runwrite.record_job(run_dir, "debug-1", "debug", runwrite.now_iso())
    with RunLock(run_dir):  # another trainer holds the run
        assert TrainJob([str(run_dir)])() == []  # the job ends without a failure
    attempt = runfolder.read_job(run_dir).attempt_log[-1]
    assert (attempt.end, attempt.reason.split(":")[0]) == ("cancelled", "not trained by this job")
    assert "already being trained by host" in attempt.reason
    assert not (run_dir / "result.json").exists() and not (run_dir / "metrics.jsonl").exists()



def test_a_relaunch_replaces_a_runs_labels_in_the_sweep_and_keeps_runs_only_earlier_launches_listed(tmp_path):
    from resnext_bench.record import sweep as sweep_layout

    a = grid(tmp_path, "study_a", "[1, 2]")
    runs = resolve_runs(load_ablation(a, []))
    sweep_layout.write_sweep(tmp_path / "s", "study_a", a, tmp_path / "store", runs)
    renamed = [dataclasses.replace(r, configuration=f"new-{r.configuration}") for r in runs[:1]]
    sweep_layout.write_sweep(tmp_path / "s", "study_a", a, tmp_path / "store", renamed)
    listed = sweep_layout.entries(tmp_path / "s")
    assert [e["configuration"] for e in listed[runs[0].run_id]] == [f"new-{runs[0].configuration}"]
    assert [e["configuration"] for e in listed[runs[1].run_id]] == [runs[1].configuration]


def test_logs_finds_a_run_two_sweeps_share_once_and_a_run_only_the_store_holds(tmp_path, monkeypatch):
    from resnext_bench.cluster.control import find_run

    a = grid(tmp_path, "study_a", "[1, 2]")
    monkeypatch.chdir(tmp_path)
    assert launch_debug(a, Path("sweeps/sa")) == 0 and launch_debug(a, Path("sweeps/sb")) == 0
    rid = ids_of(a)[0]
    assert find_run(rid).resolve() == (tmp_path / "sweeps" / "store" / rid).resolve()  # not "in several sweeps"
    for name in ("sa", "sb"):
        (tmp_path / "sweeps" / name / "runs" / rid).unlink()
    assert find_run(rid).resolve() == (tmp_path / "sweeps" / "store" / rid).resolve()


def test_a_job_that_ends_between_reading_the_files_and_the_queue_reads_completed_not_cancelled(tmp_path, monkeypatch):
    from resnext_bench.cluster import status
    from resnext_bench.record import runstate, runwrite, schema

    a = grid(tmp_path, "study_a", "[1]")
    run = resolve_runs(load_ablation(a, []))[0]
    sweep = tmp_path / "sweep"
    run_dir = tmp_path / "store" / run.run_id
    runwrite.write_config(run_dir, run)
    (sweep / "runs").mkdir(parents=True)
    (sweep / "runs" / run.run_id).symlink_to(run_dir)
    runwrite.record_job(run_dir, "4242", "slurm", runwrite.now_iso())
    runwrite.start_attempt(run_dir, "4242")
    runwrite.append_epoch(run_dir, schema.Epoch(epoch=1, val_top1_err=10.0))  # training, its last epoch written

    def the_job_ends_meanwhile(jobs, slurm=False):  # the result lands after the files were read
        runwrite.write_result(run_dir, schema.Result(status="completed", final_val_top1_err=10.0, epochs=1))
        runwrite.end_attempt(run_dir, "4242", schema.COMPLETED)  # the job records its own end, as jobs do
        return {"4242": runstate.Queued(schema.COMPLETED, "Slurm: COMPLETED")}

    monkeypatch.setattr(status, "queue_states", the_job_ends_meanwhile)
    assert [r["state"] for r in status.sweep_status(sweep)] == ["completed"]
    log = runfolder.read_job(run_dir).attempt_log  # the job's own end stands: no second, observed one
    assert [(a.end, a.observed) for a in log] == [("completed", None)]
