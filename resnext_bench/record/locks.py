"""OS locks (flock) that die with their process and say who holds them."""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Optional


def holder_of(path: Path) -> str:
    """"host H, pid P, since T" as the holder wrote it, or a placeholder while it has not yet."""
    try:
        data = json.loads(Path(path).read_text())
        return f"host {data['host']}, pid {data['pid']}, since {data['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not recorded itself yet"


class HeldLock:
    """An exclusive flock on `path` that records its holder; released on exit or when the process dies.

    `wait_s` 0 fails at once with BlockingIOError; otherwise it waits that long (polling) first.
    """

    def __init__(self, path: Path, wait_s: float = 0.0):
        self.path = Path(path)
        self.wait_s = wait_s
        self.fd: Optional[int] = None

    def __enter__(self) -> "HeldLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
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
