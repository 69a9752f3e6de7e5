"""The command line as a user meets it: run a verb (in this process or a fresh one), check that a
refusal is the suite's one line with exit 2, and snapshot a folder tree to see what a command wrote."""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def clean_env() -> dict:
    """This environment without the variables that redirect the suite's folders (the caller's store)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RESNEXT_BENCH_")}


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> Outcome:
    """`resnext-bench ARGS` in a fresh interpreter (what a user's shell runs), in `cwd`."""
    env = {**clean_env(), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "resnext_bench.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def run_main(*args: str, cwd: Path) -> Outcome:
    """`resnext-bench ARGS` through `cli.main` in this process, in `cwd` (cheap: no interpreter start).

    An exception main lets out (a traceback in a shell) is returned as exit 1 with its traceback on
    stderr, so a check that a refusal has no traceback sees it.
    """
    import traceback

    from resnext_bench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except Exception:
            traceback.print_exc()
            code = 1
    return Outcome(code, out.getvalue(), err.getvalue())


def refusal_line(outcome: Outcome) -> str:
    """The one stderr line of a refusal; fails unless the command exited 2 with exactly one non-empty
    stderr line and no traceback."""
    lines = [line for line in outcome.err.splitlines() if line.strip()]
    assert "Traceback" not in outcome.err, outcome.err[-3000:]
    assert outcome.code == 2, f"exit {outcome.code}, expected 2; stderr: {outcome.err[-2000:]}"
    assert len(lines) == 1, f"{len(lines)} stderr lines, expected 1:\n{outcome.err[-2000:]}"
    return lines[0]


def assert_refused(outcome: Outcome, *phrases: str) -> str:
    """A refusal (see refusal_line) whose line holds every phrase; the line."""
    line = refusal_line(outcome)
    for phrase in phrases:
        assert phrase in line, f"{phrase!r} not in {line!r}"
    return line


def tree(root: Path) -> dict[str, tuple]:
    """Every entry under `root` (links not followed): relative path -> (kind, size, mtime_ns)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            info = path.lstat()
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            found[str(path.relative_to(root))] = (kind, info.st_size if kind == "file" else 0, info.st_mtime_ns)
    return found


def changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    """The entries added, removed or modified between two snapshots of `tree`."""
    return sorted([f"added {p}" for p in after.keys() - before.keys()]
                  + [f"removed {p}" for p in before.keys() - after.keys()]
                  + [f"changed {p}" for p in before.keys() & after.keys() if before[p] != after[p]])
