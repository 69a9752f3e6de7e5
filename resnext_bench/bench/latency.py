"""`python -m resnext_bench.bench.latency`: how long the everyday commands take to start and finish.

Prints, per verb, the median wall and CPU time (user + system of the child process) of running
it as a fresh process, and whether it imported torch. Several code checkouts can be measured in
the same run (`--checkout before=/tmp/old-tree --checkout after=.`): every repeat runs every verb
of every checkout in turn (interleaved), so load on a shared machine hits them alike. A benchmark
that prints figures, not a test.

The verbs read a sweep of fabricated run folders (written through record/runwrite.py) in a
temporary folder, so `status`, `collect`, `tables`, `plots` and `report` have real work to do.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Runs a verb in a fresh interpreter from CHECKOUT, then reports whether torch was imported.
RUNNER = """
import sys
sys.path.insert(0, sys.argv[1])
from resnext_bench.cli import main
try:
    code = main(sys.argv[2:])
except SystemExit as e:
    code = e.code
sys.stderr.write("\\nTORCH=%d\\n" % ("torch" in sys.modules))
sys.exit(code or 0)
"""


def fabricate_sweep(sweep: Path, seeds: int = 3) -> Path:
    """A finished Table-3-like sweep (4 cardinalities x `seeds`) written through record/runwrite.py."""
    from ..config.runs import Run
    from ..config.specs import DataSpec, ModelSpec, RecipeSpec, RuntimeSpec
    from ..record import runwrite
    from ..record.schema import Epoch, Result
    from ..record.sweep import run_entry

    for c, d in ((1, 16), (2, 10), (4, 6), (8, 4)):
        for seed in range(seeds):
            run = Run(ablation="latency", configuration=f"{c}x{d}d", model=ModelSpec("imagenet-50", c, d, num_classes=10),
                      data=DataSpec("digits"), recipe=RecipeSpec(epochs=3), runtime=RuntimeSpec(), seed=seed,
                      complexity={"params": 1000 * c * d, "flops": 20000 * c * d}, image_size=8, study="table3")
            run_dir = run_entry(sweep, run.run_id)
            runwrite.write_config(run_dir, run)
            err = 30.0 - c / 4 + seed / 2
            runwrite.write_epochs(run_dir, [Epoch(epoch=e, lr=0.1, train_loss=1 / e, train_top1_err=err + 5 / e,
                                                val_loss=1 / e, val_top1_err=err + 3 - e, val_top5_err=err / 4)
                                          for e in (1, 2, 3)])
            runwrite.write_result(run_dir, Result(status="completed", final_val_top1_err=err, final_val_top5_err=err / 4,
                                                best_val_top1_err=err, epochs=3, wall_seconds=60.0, device="cpu",
                                                num_gpus=0, seed=seed, precision="fp32"))
    return sweep


def verbs(work: Path, sweep: Path, checkout: Path) -> dict[str, list[str]]:
    """Each verb's arguments; ablation files and profiles come from the checkout measured."""
    out = work / f"out-{checkout.name}"
    return {
        "--help": ["--help"],
        "grid": ["grid", str(checkout / "ablations/table3_resnet50.yaml")],
        "grid (timm baselines)": ["grid", str(checkout / "ablations/timm_baselines.yaml")],
        "launch --dry-run": ["launch", str(checkout / "ablations/table3_resnet50.yaml"), "--cluster",
                             str(checkout / "slurm/debug.yaml"), "--dry-run", "--sweep-dir", str(work / "dry")],
        "status": ["status", str(sweep)],
        "collect": ["collect", str(sweep), "-o", str(out)],
        "tables": ["tables", str(out)],
        "plots": ["plots", str(out)],
        "report": ["report", str(sweep), "-o", str(work / f"report-{checkout.name}")],
        "train --help": ["train", "--help"],
        "bench --help": ["bench", "--help"],
    }


def run_once(checkout: Path, argv: list[str]) -> tuple[float, float, bool, int]:
    """(wall s, CPU s, imported torch, exit code) of one verb in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(checkout), *argv], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, "TORCH=1" in proc.stderr, proc.returncode


def measure(checkouts: dict[str, Path], repeats: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sweep = fabricate_sweep(work / "sweep")
        tables = {name: verbs(work, sweep, checkout) for name, checkout in checkouts.items()}
        samples: dict[tuple[str, str], list[tuple[float, float, bool, int]]] = {}
        for i in range(repeats):
            for verb in tables[next(iter(tables))]:
                for name, checkout in checkouts.items():
                    samples.setdefault((verb, name), []).append(run_once(checkout, tables[name][verb]))
            print(f"repeat {i + 1}/{repeats} done", file=sys.stderr, flush=True)
    rows = []
    for (verb, name), runs in samples.items():
        rows.append({"verb": verb, "checkout": name, "wall_s": statistics.median(r[0] for r in runs),
                     "cpu_s": statistics.median(r[1] for r in runs), "torch": any(r[2] for r in runs),
                     "exit": max(r[3] for r in runs)})
    return rows


def markdown(rows: list[dict], checkouts: list[str]) -> str:
    head = "| verb | " + " | ".join(f"{c} wall s | {c} CPU s | {c} torch" for c in checkouts) + " |"
    lines = [head, "|" + "---|" * (1 + 3 * len(checkouts))]
    by = {(r["verb"], r["checkout"]): r for r in rows}
    for verb in dict.fromkeys(r["verb"] for r in rows):
        cells = []
        for c in checkouts:
            r = by[(verb, c)]
            flag = "yes" if r["torch"] else "no"
            cells += [f"{r['wall_s']:.2f}", f"{r['cpu_s']:.2f}", flag + ("" if r["exit"] == 0 else f" (exit {r['exit']})")]
        lines.append(f"| {verb} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resnext_bench.bench.latency", description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", action="append", default=[], metavar="NAME=DIR",
                        help="a tree holding resnext_bench/ to measure (repeatable; default: this one)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    checkouts = {}
    for item in args.checkout or [f"this={REPO}"]:
        name, sep, folder = item.partition("=")
        if not sep or not (Path(folder) / "resnext_bench" / "cli.py").is_file():
            print(f"--checkout {item!r}: expected NAME=DIR with DIR/resnext_bench/cli.py", file=sys.stderr)
            return 2
        checkouts[name] = Path(folder).resolve()
    if args.repeats < 1:
        print("--repeats: expected a number >= 1", file=sys.stderr)
        return 2
    rows = measure(checkouts, args.repeats)
    print(markdown(rows, list(checkouts)))
    print(f"\nmedians of {args.repeats} interleaved repeats; CPU = user + system time of the child process; "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
