"""The `resnext-bench` command: one thin function a verb; user mistakes exit 2 with one line."""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from .errors import UserError


def cmd_grid(args) -> int:
    """List an ablation's equal-complexity configurations with params and FLOPs."""
    from .spec import load_ablation

    ablation = load_ablation(args.ablation, args.set)  # validate before importing torch
    from .grid import expand, format_table

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


def _add_set(p) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the ablation file, e.g. recipe.epochs=3 or data.root=/data")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="resnext-bench",
        description="Rerun the ResNeXt paper's architecture ablations: grids, training, Slurm, tables.",
    )
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("grid", help="list an ablation's configurations with params and FLOPs")
    p.add_argument("ablation", help="ablation YAML file, e.g. ablations/table3_resnet50.yaml")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    _add_set(p)
    p.set_defaults(func=cmd_grid)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"resnext-bench {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"resnext-bench {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
