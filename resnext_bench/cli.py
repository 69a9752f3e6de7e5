"""The `resnext-bench` command: one thin function a verb; user mistakes exit 2 with one line."""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from .units import plural
from .cliparse import OneLineParser, int_in, positive_number
from .errors import UserError, printable


def cmd_grid(args) -> int:
    """List an ablation's equal-complexity configurations with params and FLOPs."""
    from .config.load import load_ablation

    ablation = load_ablation(args.ablation, args.set)  # validate before importing torch
    from .config.grid import expand, format_table

    configs = expand(ablation)
    rows = [c.row() for c in configs]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif args.format == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        print(buf.getvalue(), end="")
    else:
        print(format_table(configs))
    return 0


def cmd_train(args) -> int:
    """Train one run in-process (resuming from its checkpoint; a completed run is not retrained)."""
    from .config.runs import with_runtime
    from .config.load import load_ablation
    from .record import runfolder, runwrite, schema
    from .engine.data import check_data

    if args.ablation:
        if args.configuration is None:
            raise UserError("train: name a configuration (name or index) after the ablation file")
        ablation = load_ablation(args.ablation, args.set)
        from .config.grid import expand, select
        from .config.runs import resolve_runs

        chosen = select(expand(ablation), args.configuration).name
        seed = ablation.seeds[0] if args.seed is None else args.seed
        matches = [r for r in resolve_runs(ablation) if r.configuration == chosen and r.seed == seed]
        if not matches:
            raise UserError(f"seed {seed} is not among the ablation's seeds {list(ablation.seeds)}")
        run = matches[0]
        check_data(run.data)  # before anything is written: a refused run leaves no folder behind
        if args.run_dir:
            run_dir = Path(args.run_dir)
            runwrite.write_config(run_dir, run)
        else:
            run_dir = _place_one(run, Path(args.sweep_dir or f"sweeps/train/{ablation.name}"), args.store,
                                 ablation)
    elif args.run_dir:
        run_dir = Path(args.run_dir)
        run = with_runtime(runfolder.load_config(run_dir), args.set)
        check_data(run.data)
    else:
        raise UserError("train: give ABLATION CONFIG, or --run-dir of an existing run")
    from .engine.stopping import StopFlag, Stopped, install_stop_handlers
    from .engine.train import train_run

    print(f"run folder: {run_dir}", file=sys.stderr)
    stop = StopFlag()
    install_stop_handlers(stop)
    try:
        result = train_run(run_dir, stop=stop, run=run)
    except Stopped:
        return 130 if stop.reason == "SIGINT" else 143  # the shell's codes for death by that signal
    print(json.dumps({k: result.get(k) for k in ("status", "reason", "final_val_top1_err", "best_val_top1_err",
                                                  "epochs", "images_per_sec", "wall_seconds")}))
    return 0 if result.get("status") == schema.COMPLETED else 1


def _place_one(run, sweep: Path, store_flag, ablation) -> Path:
    """Put one run in the store and list it in `sweep` (under the sweep's launch lock); its folder."""
    from .cluster.plan import place_runs
    from .record import sweep as sweep_layout
    from .record.store import Store, store_for

    store = store_for(sweep, store_flag)
    sweep.mkdir(parents=True, exist_ok=True)
    with sweep_layout.launch_lock(sweep):
        run_dirs, adopted = place_runs([run], sweep, Store(store), write=True)
        sweep_layout.write_sweep(sweep, ablation.name, Path(ablation.source) if ablation.source else None, store, [run])
    for old in adopted.values():
        print(f"reusing {old}: made before run ids were the configuration alone", file=sys.stderr)
    return run_dirs[run.run_id]


def cmd_launch(args) -> int:
    """Submit an ablation's runs (configurations x seeds); runs already in the store are reused."""
    from .cluster.launch import launch
    from .cluster.profile import load_profile
    from .config.load import load_ablation
    from .record.store import store_for

    overrides = list(args.set) + (["runtime.tensorboard=true"] if args.tensorboard else [])
    ablation = load_ablation(args.ablation, overrides)
    profile = load_profile(args.cluster)
    sweep = Path(args.sweep_dir or f"sweeps/{ablation.name}")
    store = store_for(sweep, args.store)
    from .engine.data import check_data

    try:
        check_data(ablation.data)
    except UserError as e:
        if not args.dry_run:
            raise
        print(f"warning: {e}")
    from .cluster.budget import HoursCap

    cap = None if args.max_gpu_hours is None else HoursCap(args.max_gpu_hours, args.tflops, args.throughput)
    if args.dry_run:
        from .cluster.launch import dry_run

        print(dry_run(ablation, profile, sweep, store, args.retry or (), args.retry_failed, args.tflops,
                      args.throughput, args.loader_rate, cap))
        return 0

    def say_plan(plan) -> None:
        for rid, old in plan.adopted.items():
            print(f"reuse {rid}: its folder {old} was made before run ids were the configuration alone; "
                  "reused under its id of today, not retrained")
        for rid, why in plan.skipped.items():
            print(f"skip {rid}: {why}")

    if args.report_dir and not args.report:
        raise UserError("--report-dir: only with --report (the report job writes there)")
    report = Path(args.report_dir or f"results/{ablation.name}") if args.report else None
    launched = launch(ablation, profile, sweep, store, retry=args.retry or (), retry_failed=args.retry_failed,
                      on_plan=say_plan, cap=cap, report=report)
    plan = launched.plan
    reused = len(plan.reused_from)
    print(f"{plural(len(launched.submitted), 'run')} submitted, {len(plan.skipped)} skipped"
          f"{f' ({reused} reused from other sweeps)' if reused else ''}; sweep: {sweep}; store: {store}")
    print(f"follow with: resnext-bench status {sweep}")
    return 0


def cmd_status(args) -> int:
    """Print the state of every run of a sweep."""
    from .cluster.status import format_status, sweep_status

    print(format_status(sweep_status(Path(args.sweep)), args.format, Path(args.sweep)), end="")
    return 0


def cmd_cancel(args) -> int:
    """Cancel the live jobs of a sweep (or of some of its runs) and record them cancelled."""
    from .cluster.control import cancel

    cancel(Path(args.sweep), args.run_ids)
    return 0


def cmd_logs(args) -> int:
    """Print (or follow) the stdout and stderr of one attempt of a run, wherever its executor put them."""
    from .cluster.control import show_logs

    if args.attempt is not None and args.attempt < 1:
        raise UserError(f"--attempt: expected a number >= 1, got {args.attempt}")
    show_logs(args.run, Path(args.sweep) if args.sweep else None, args.attempt, args.follow)
    return 0


def cmd_evaluate(args) -> int:
    """Evaluate finished runs' final weights at a crop (Table 5's views) and record it in RUN/evaluations.json."""
    from .cluster.control import find_run
    from .record import runfolder, sweep as sweep_layout

    runs: dict = {}  # resolved folder -> (folder, named alone): a run in two named sweeps is evaluated once
    for target in args.runs:
        path = Path(target)
        if args.sweep is None and sweep_layout.runs_dir(path).is_dir():  # a sweep: its finished runs
            for run_dir in sweep_layout.run_dirs(path):
                runs.setdefault(run_dir.resolve(), (run_dir, False))
        else:  # a run folder, or a run id looked up in --sweep, sweeps/*/runs and the store
            run_dir = find_run(target, Path(args.sweep) if args.sweep else None)
            runs[run_dir.resolve()] = (run_dir, True)
    from .engine.evaluate import View, evaluable, evaluate_run, finished_run

    view = View(args.crop, args.resize, args.batch_size, args.device)
    chosen = []
    for run_dir, named in runs.values():  # every run is checked before any is evaluated
        try:
            finished_run(run_dir)
        except UserError as e:
            if named:
                raise
            print(f"skip {run_dir.name}: {e}", file=sys.stderr)  # a sweep's unfinished runs wait for later
            continue
        evaluable(run_dir, view, args.data_root)
        chosen.append(run_dir)
    if not chosen:
        raise UserError(f"no finished run among {', '.join(args.runs)}; nothing evaluated")
    for run_dir in chosen:
        done = evaluate_run(run_dir, view, data_root=args.data_root)
        print(json.dumps({"run_id": done.run_id or runfolder.recorded_run_id(run_dir), "crop": done.crop,
                          "resize": done.resize, "top1_err": done.top1_err, "top5_err": done.top5_err,
                          "images": done.images}))
    return 0


def cmd_collect(args) -> int:
    """Gather run folders into runs.csv and curves.csv."""
    from .analysis.collect import collect

    collect([Path(s) for s in args.sweeps], Path(args.out))
    return 0


def cmd_tables(args) -> int:
    """Write the paper's tables from a results folder (runs.csv)."""
    from .analysis.tables import write_tables

    for path in write_tables(Path(args.results), args.format or ("md", "latex", "csv")):
        print(path)
    return 0


def cmd_plots(args) -> int:
    """Write the paper-style figures (PNG and PDF) from a results folder."""
    from .analysis.plots import write_plots

    write_plots(Path(args.results))
    return 0


def cmd_report(args) -> int:
    """collect + tables + plots + report.md with a reading of each."""
    from .analysis.report import write_report

    report = write_report([Path(s) for s in args.sweeps], Path(args.out))
    print(report)
    if args.html:
        from .analysis.html import write_html

        print(write_html(report))
    return 0


def cmd_demo(args) -> int:
    """The miniature Table-3 study on the embedded data set, launch to report."""
    from .demo import default_ablation, run_demo

    overrides = list(args.set)
    if args.data != "digits":
        if not args.data_root:
            raise UserError(f"--data {args.data} needs --data-root DIR (torchvision's on-disk layout)")
        overrides += [f"data.name={args.data}", f"data.root={args.data_root}"]
    elif args.data_root:
        raise UserError("--data-root is only for --data cifar10/cifar100 (digits ships with scikit-learn)")
    sweep = Path(args.sweep_dir or ("sweeps/demo" if args.data == "digits" else f"sweeps/demo-{args.data}"))
    out = Path(args.out or ("results/demo" if args.data == "digits" else f"results/demo-{args.data}"))
    run_demo(Path(args.ablation or default_ablation()), out, sweep, args.executor, overrides,
             timeout_s=args.timeout_min * 60 if args.timeout_min else None)
    return 0


def cmd_baselines(args) -> int:
    """Our named configurations beside timm's and torchvision's: size, layout, outputs, published top-1."""
    from .bench.baselines import baseline_rows, format_baselines

    print(format_baselines(baseline_rows(args.models or None)))
    return 0


def cmd_pack(args) -> int:
    """Pack an ImageFolder tree into WebDataset-compatible tar shards with an index and a manifest (resumable)."""
    from .engine.data import PackOptions, pack

    options = PackOptions(max_side=args.max_side, quality=args.quality, shard_mb=args.shard_size,
                          shard_samples=args.shard_samples)
    result = pack(Path(args.root), Path(args.out), options, workers=args.workers, force=args.force)
    for split, entry in result.manifest["splits"].items():
        print(f"{split}: {plural(entry['samples'], 'sample')} in {plural(len(entry['shards']), 'shard')} "
              f"({result.written[split]} written, {result.reused[split]} kept from an earlier run); "
              f"{entry['reencoded']} re-encoded, {len(entry['converted'])} converted, "
              f"{len(entry['skipped'])} unreadable skipped")
    print(f"manifest: {Path(args.out) / 'manifest.json'}")
    return 0


def _add_set(p) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the ablation file, e.g. recipe.epochs=3 or data.root=/data")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="resnext-bench",
        description="Rerun the ResNeXt paper's architecture ablations: grids, training, Slurm, tables.",
    )
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("grid", help="list an ablation's configurations with params and FLOPs")
    p.add_argument("ablation", help="ablation YAML file, e.g. ablations/table3_resnet50.yaml")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    _add_set(p)
    p.set_defaults(func=cmd_grid)

    p = sub.add_parser("train", help="train one run in this process (resumes from its checkpoint)")
    p.add_argument("ablation", nargs="?", help="ablation YAML file")
    p.add_argument("configuration", nargs="?", help="configuration name (e.g. 32x4d) or 0-based index")
    p.add_argument("--seed", type=int_in(0, 2**32 - 1), help="one of the ablation's seeds (default: the first)")
    p.add_argument("--sweep-dir", help="sweep folder; the run goes to SWEEP/runs/RUN_ID (default sweeps/train/ABLATION: "
                        "its own, never the folder `launch` or `demo` fill)")
    p.add_argument("--run-dir", help="exact run folder; alone, resumes the run already there")
    p.add_argument("--store", help="run store (default $RESNEXT_BENCH_STORE, else store/ beside the sweep folder)")
    _add_set(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("launch", help="submit an ablation's runs with submitit (Slurm, local or debug)")
    p.add_argument("ablation", help="ablation YAML file")
    p.add_argument("--cluster", required=True, help="cluster profile, e.g. slurm/local.yaml")
    p.add_argument("--sweep-dir", help="sweep folder (default sweeps/ABLATION)")
    p.add_argument("--store", help="run store shared by sweeps (default $RESNEXT_BENCH_STORE, else store/ beside "
                                   "the sweep folder)")
    p.add_argument("--dry-run", action="store_true",
                   help="make the launch's checks and print what it would submit, with a GPU-hour (CPU-hour) estimate")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard events per run (RUN/events; `tensorboard --logdir SWEEP`)")
    p.add_argument("--throughput", type=positive_number(), help="images/s per GPU for the estimate (stated or measured)")
    p.add_argument("--loader-rate", type=positive_number(),
                   help="ImageNet: training crops/s one CPU core decodes (from loader-bench) for the dry run's "
                        "cores-per-GPU check (default: the figures measured in results/bench)")
    p.add_argument("--tflops", type=positive_number(), default=25.0,
                   help="effective training TFLOP/s per GPU for the estimate when --throughput is not given "
                        "(default 25: about ResNeXt-50 at 1,000 images/s)")
    p.add_argument("--retry", nargs="+", metavar="RUN_ID",
                   help="resubmit these failed or cancelled runs even past the profile's max_retries")
    p.add_argument("--retry-failed", action="store_true",
                   help="resubmit every failed or cancelled run even past the profile's max_retries")
    p.add_argument("--report", action="store_true",
                   help="also submit a small CPU job that writes the sweep's report (collect, tables, plots, "
                        "report.md) when its last run ends, whatever the outcome")
    p.add_argument("--report-dir", metavar="DIR",
                   help="where --report writes (default results/ABLATION)")
    p.add_argument("--max-gpu-hours", type=positive_number(), metavar="N",
                   help="refuse the launch when the dry run's estimate of what would train exceeds N GPU-hours "
                        "(CPU-hours, cores x hours, on a profile without GPUs) and say which runs fit")
    _add_set(p)
    p.set_defaults(func=cmd_launch)

    p = sub.add_parser("status", help="state of every run of a sweep")
    p.add_argument("sweep", help="sweep folder")
    p.add_argument("--format", choices=("table", "csv"), default="table")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("cancel", help="cancel a sweep's queued and running jobs (or some runs') and record it")
    p.add_argument("sweep", help="sweep folder")
    p.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="only these runs (default: every run of the sweep)")
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("logs", help="stdout and stderr of a run's job, wherever its executor wrote them")
    p.add_argument("run", metavar="RUN_ID|RUN_DIR", help="run folder, or run id (looked up in --sweep or sweeps/*/runs)")
    p.add_argument("--sweep", help="sweep folder holding the run id")
    p.add_argument("--attempt", type=int, help="which submission, 1 = the first (default: the latest)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing what is appended (Ctrl-C stops, exit 130)")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("evaluate", help="score finished runs' final weights at a test crop (Table 5), recorded in "
                                        "RUN/evaluations.json")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR|SWEEP|RUN_ID",
                   help="run folders, sweep folders (their finished runs) or run ids (looked up in --sweep, "
                        "sweeps/*/runs and the store)")
    p.add_argument("--crop", type=int, help="center crop in pixels, e.g. 320 (default: the size the run trained at)")
    p.add_argument("--resize", type=int, help="short side before the crop (default: crop * 256/224, e.g. 366 for 320)")
    p.add_argument("--batch-size", type=int, help="images a forward pass (default: the run's batch size)")
    p.add_argument("--device", default="auto", help="auto (a GPU when visible), cpu, cuda or cuda:N")
    p.add_argument("--sweep", help="sweep folder holding the run ids")
    p.add_argument("--data-root", help="where the run's data set is now (default: its data.root)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("collect", help="gather run folders into runs.csv and curves.csv")
    p.add_argument("sweeps", nargs="+", help="sweep folders")
    p.add_argument("-o", "--out", required=True, help="results folder, e.g. results/NAME")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("tables", help="write the paper's tables from a results folder")
    p.add_argument("results", help="results folder holding runs.csv")
    p.add_argument("--format", action="append", choices=("md", "latex", "csv"),
                   help="repeatable; default: all three")
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("plots", help="write the paper-style figures from a results folder")
    p.add_argument("results", help="results folder holding runs.csv and curves.csv")
    p.set_defaults(func=cmd_plots)

    p = sub.add_parser("report", help="collect, tables, plots and report.md in one go")
    p.add_argument("sweeps", nargs="+", help="sweep folders")
    p.add_argument("-o", "--out", required=True, help="results folder, e.g. results/NAME")
    p.add_argument("--html", action="store_true",
                   help="also write report.html: one self-contained page (figures embedded, tables sortable)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("demo", help="the whole suite on the embedded data set: launch, wait, report")
    p.add_argument("--data", choices=("digits", "cifar10", "cifar100"), default="digits")
    p.add_argument("--data-root", help="data folder for --data cifar10/cifar100")
    p.add_argument("--executor", choices=("auto", "slurm", "local"), default="auto",
                   help="auto: the local Slurm when it answers, else local subprocesses")
    p.add_argument("--ablation", help="default: ablations/demo.yaml")
    p.add_argument("--sweep-dir", help="default: sweeps/demo")
    p.add_argument("-o", "--out", help="default: results/demo")
    p.add_argument("--timeout-min", type=positive_number(43_200), help="give up waiting after this many minutes")
    _add_set(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("baselines", help="our configurations beside timm's and torchvision's")
    p.add_argument("models", nargs="*", help="named configurations (default: all with a counterpart)")
    p.set_defaults(func=cmd_baselines)

    p = sub.add_parser("pack", help="pack an ImageFolder tree into tar shards (WebDataset layout) with a manifest")
    p.add_argument("root", help="ImageFolder tree: ROOT/train/CLASS/IMAGE and ROOT/val/CLASS/IMAGE")
    p.add_argument("out", help="output folder for SPLIT-NNNNNN.tar, SPLIT.idx.npy and manifest.json")
    p.add_argument("--max-side", type=int, help="resize (LANCZOS) and re-encode images whose longest side exceeds "
                                                 "this, e.g. 512 (default: keep every size)")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality of re-encoded and converted images")
    p.add_argument("--shard-size", type=positive_number(), default=256.0, metavar="MB", help="shard size bound in MB (10^6 bytes)")
    p.add_argument("--shard-samples", type=int, help="also close a shard at this many samples")
    p.add_argument("--workers", type=int_in(1, 1024), help="encoding processes (default: all cores)")
    p.add_argument("--force", action="store_true", help="replace a different pack already in OUT")
    p.set_defaults(func=cmd_pack)

    from .bench.options import add_bench_arguments, add_loader_bench_arguments  # torch-free: the options only

    p = sub.add_parser("bench", help="training/inference throughput of models under identical settings",
                       description="Training and inference throughput under identical settings.")
    add_bench_arguments(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("loader-bench", help="ImageNet decoding backends: images/s per CPU core, cores per GPU",
                       description="Will my run be input-bound? Images/s per CPU core of each ImageNet decoding "
                                   "backend, on generated ImageNet-sized JPEGs, and the cores a GPU needs.")
    add_loader_bench_arguments(p)
    p.set_defaults(func=cmd_loader_bench)
    return parser


def cmd_bench(args) -> int:
    """Measure throughput, step time and memory of models side by side (see `bench --help`)."""
    from .bench.throughput import bench_from_args

    return bench_from_args(args)


def cmd_loader_bench(args) -> int:
    """Images/s per core of every ImageNet decoding backend here (see `loader-bench --help`)."""
    from .bench.loader import run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed on one line
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    try:
        return args.func(args)
    except UserError as e:
        print(f"resnext-bench {args.verb}: error: {printable(str(e).strip())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"resnext-bench {args.verb}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # an unwritable folder, a full disk: the user's to fix, not a bug to trace
        where = f"{e.filename}: " if e.filename else ""
        print(f"resnext-bench {args.verb}: error: {printable(f'{where}{e.strerror or e}'.strip())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
