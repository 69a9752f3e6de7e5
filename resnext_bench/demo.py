"""`resnext-bench demo`: the whole suite on the embedded data set, launch to report, in minutes.

Launch the miniature Table-3 ablation (on the local Slurm when it answers, else as local
subprocesses), wait with a progress bar over runs, then collect, tabulate, plot and report.
Rerunning reuses finished runs.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

from .units import plural
from .record import schema
from .errors import UserError
from .fsutil import write_text

REPO = Path(__file__).resolve().parents[1]
ACTIVE = schema.LIVE  # held and requeued runs are not done either


def default_ablation() -> Path:
    """ablations/demo.yaml of the working directory, else of the source checkout."""
    here = Path("ablations/demo.yaml")
    return here if here.exists() else REPO / "ablations" / "demo.yaml"


def pick_profile(executor: str) -> tuple[Path, str]:
    """The cluster profile to use and a sentence saying why."""
    from .cluster.profile import slurm_available

    slurm = REPO / "slurm"
    if executor == "slurm" or (executor == "auto" and slurm_available()):
        if executor == "slurm" and not slurm_available():
            raise UserError("--executor slurm: no Slurm controller answers here (start one: slurm/local-cluster.sh start)")
        return slurm / "local.yaml", "Slurm answers on this machine: runs go to it as a job array (slurm/local.yaml)"
    return slurm / "workstation.yaml", ("no Slurm here: runs execute as local subprocesses through submitit's "
                                        "local executor (slurm/workstation.yaml)")


def wait_for_runs(sweep: Path, total: int, poll_s: float = 2.0, timeout_s: float | None = None) -> list[dict]:
    """Block until no run of the sweep is pending or running, with a progress bar over runs."""
    from tqdm import tqdm

    from .cluster.status import sweep_status

    start = time.monotonic()
    last = None
    # A live bar on a terminal; in a log file, one line each time the counts change.
    with tqdm(total=total, desc="runs", unit="run", file=sys.stderr, dynamic_ncols=True,
              disable=not sys.stderr.isatty()) as bar:
        while True:
            rows = sweep_status(sweep)
            done = sum(r["state"] not in ACTIVE for r in rows)
            running = sum(r["state"] == schema.RUNNING for r in rows)
            failed = sum(r["state"] in (schema.FAILED, schema.CANCELLED) for r in rows)
            bar.n = done
            bar.set_postfix(running=running, failed=failed)
            bar.refresh()
            if bar.disable and (done, running, failed) != last:
                print(f"runs: {done}/{len(rows)} finished, {running} running, {failed} failed "
                      f"({time.monotonic() - start:.0f} s)", file=sys.stderr, flush=True)
                last = (done, running, failed)
            if done >= len(rows):
                return rows
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                raise UserError(f"runs still active after {timeout_s:.0f} s; follow with: resnext-bench status {sweep}")
            time.sleep(poll_s)


def cancel_owned(sweep: Path, run_ids: list[str]) -> str:
    """Cancel the live jobs of the runs this invocation submitted (the demo owns them); one line saying so."""
    from .cluster.control import cancel

    if not run_ids:
        return "interrupted: it submitted no job, so none is cancelled"
    try:
        cancelled = cancel(sweep, run_ids, log=lambda msg: None)
    except UserError as e:  # the queue did not answer: the jobs may live on, and the user must know
        return f"interrupted: its jobs could not be cancelled ({e}); cancel them with: resnext-bench cancel {sweep}"
    return (f"interrupted: cancelled the live jobs of {plural(len(cancelled), 'run')} it submitted "
            f"({len(run_ids) - len(cancelled)} had already ended); see: resnext-bench status {sweep}")


def machine_description() -> str:
    """CPU model, cores, memory and torch version of this machine, in one line."""
    import torch

    from .engine.environment import cpu_model

    model = cpu_model()
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB memory"
    except (OSError, ValueError, IndexError):
        pass
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return f"{model}, {os.cpu_count()} cores{mem}{gpu}; Python {platform.python_version()}, torch {torch.__version__}"


def run_demo(ablation_path: Path, out: Path, sweep: Path, executor: str, overrides: list[str],
             timeout_s: float | None = None, log=print) -> Path:
    """Launch, wait, report; returns the path of report.md."""
    from .engine.data import check_data
    from .cluster.launch import launch
    from .cluster.profile import load_profile
    from .analysis.html import write_html
    from .analysis.report import write_report
    from .config.load import load_ablation

    started = time.monotonic()
    ablation = load_ablation(ablation_path, overrides)
    check_data(ablation.data)
    profile_path, why = pick_profile(executor)
    profile = load_profile(profile_path)
    log(f"demo: {ablation.description or ablation.name}")
    log(f"demo: {why}")
    counted: dict = {}

    def say_plan(plan) -> None:
        counted["reused"] = sum(s == schema.COMPLETED for s in plan.states.values())
        if counted["reused"]:
            log(f"demo: reusing {plural(counted['reused'], 'finished run')} from the store of {sweep}")

    launched = launch(ablation, profile, sweep, log=lambda m: log(f"demo: {m}"), on_plan=say_plan)
    plan, submitted, reused = launched.plan, launched.submitted, counted.get("reused", 0)
    try:
        rows = wait_for_runs(sweep, len(plan.runs), timeout_s=timeout_s)
    except KeyboardInterrupt:
        log(f"demo: {cancel_owned(sweep, submitted)}")
        raise
    bad = [r for r in rows if r["state"] != schema.COMPLETED]
    for r in bad:
        log(f"demo: run {r['run_id']} ended {r['state']}: {r['last_error'] or 'no result'}")
    report = write_report([sweep], out)
    elapsed = time.monotonic() - started
    command = " ".join(["resnext-bench demo"] + (sys.argv[2:] if sys.argv[1:2] == ["demo"] else []))
    if submitted:
        executed = f"{plural(len(submitted), 'run')} executed by this invocation: {why}"
    else:
        executed = "no run was executed by this invocation: every run was reused as an earlier one left it"
    note = (
        "\n## How this was produced\n\n"
        f"- command: `{command}`\n"
        f"- this machine: {machine_description()} (where each run trained: the device, threads and "
        "precision columns of runs.csv)\n"
        f"- {executed}\n"
        f"- runs: {len(rows)} ({len(rows) - len(bad)} completed, {reused} reused from an earlier invocation)\n"
        f"- wall time of this invocation: {elapsed / 60:.1f} min\n"
    )
    write_text(report, report.read_text() + note)
    page = write_html(report)
    log(f"demo: {len(rows) - len(bad)}/{len(rows)} runs completed in {elapsed / 60:.1f} min; report: {report} "
        f"(browse: {page})")
    return report
