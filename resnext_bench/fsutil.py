"""Atomic file writes: write a temporary name beside the target, fsync, rename.

A reader (or a crash) sees either the old file or the new one, never half of one.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import yaml


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "wb",
                 keep_previous: str | Path | None = None) -> None:
    """Call `write(fileobj)` on a temporary file, then fsync and rename it onto `path`.

    `keep_previous`: move the file being replaced there first (a crash between the two renames
    leaves the previous file, never half of the new one).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the mode a plain open() would
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text), mode="w")


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_yaml(path: str | Path, data: Any) -> None:
    write_text(path, yaml.safe_dump(data, sort_keys=False))


def append_line(path: str | Path, line: str) -> None:
    """Append one line and fsync (a torn last line after a crash is tolerated by readers)."""
    with open(path, "a") as f:
        f.write(line.rstrip("\n") + "\n")
        f.flush()
        os.fsync(f.fileno())


def output_problem(path: str | Path, inputs=(), folder: bool = False) -> str | None:
    """Why `path` cannot be written as an output (a file, or a `folder`), or None when it can.

    Checked before any long work, without leaving anything behind: the output must not be (or lie
    inside) one of `inputs`, and the nearest folder that exists on its way must take a new file.
    """
    target = Path(path).resolve()
    inside = inside_input(target, inputs)
    if inside:
        return inside
    if target.exists() and target.is_dir() != folder:
        return "is a folder" if not folder else "is a file, not a folder"
    existing = target if folder and target.exists() else target.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        return f"cannot write in {existing} ({e.strerror or e})"
    return None


def inside_input(path: str | Path, inputs) -> str | None:
    """Why an output at `path` would write into one of `inputs` (it is one, or lies inside one), or None."""
    target = Path(path).resolve()
    for given in inputs:
        source = Path(given).resolve()
        if target == source or source in target.parents:
            return f"is {'the input' if target == source else 'inside the input'} {given}: it would be written into it"
    return None
