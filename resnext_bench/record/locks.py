"""OS locks (flock) that die with their process and say who holds them."""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Optional

from ..errors import UserError


def holder_of(path: Path) -> str:
    """"host H, pid P, since T" as the holder wrote it, or a placeholder while it has not yet."""
    try:
        data = json.loads(Path(path).read_text())
        return f"host {data['host']}, pid {data['pid']}, since {data['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not recorded itself yet"


class HeldLock:
    """An exclusive flock on `path` that records its holder; released on exit or when the process dies.

    `wait_s` 0 fails at once with BlockingIOError; a number waits that long (polling) first; None
    waits as long as it takes.
    """

    def __init__(self, path: Path, wait_s: Optional[float] = 0.0):
        self.path = Path(path)
        self.wait_s = wait_s
        self.fd: Optional[int] = None

    def __enter__(self) -> "HeldLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + (self.wait_s or 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.wait_s is None else fcntl.LOCK_NB))
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise
                time.sleep(0.05)
        since = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": since}).encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


class RunLocked(UserError):
    """Another live process trains this run."""


LOCK = ".lock"  # in a run folder: held by the process training the run


def lock_holder(run_dir: Path) -> Optional[str]:
    """Who trains the run now ("host H, pid P, since T"), or None when no live process holds its lock."""
    return live_holder(Path(run_dir) / LOCK)


def live_holder(path: Path) -> Optional[str]:
    """Who holds the lock file `path` now, or None when no live process does (nothing is written)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return holder_of(path)
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class RunLock(HeldLock):
    """The lock on run_dir/.lock a trainer holds; a second trainer gets RunLocked naming the first.

    The lock dies with its process, so a trainer killed by SIGKILL or a node failure never blocks
    a later one. (flock works across nodes on NFSv4, GPFS and Lustre mounted with `flock`.)
    """

    def __init__(self, run_dir: Path):
        super().__init__(Path(run_dir) / LOCK)

    def acquire(self) -> "RunLock":
        try:
            super().__enter__()
        except BlockingIOError:
            raise RunLocked(f"{self.path.parent}: already being trained by {holder_of(self.path)}") from None
        return self

    def release(self) -> None:
        super().__exit__()

    def __enter__(self) -> "RunLock":
        return self.acquire()
