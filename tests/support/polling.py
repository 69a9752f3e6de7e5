"""Waiting on something another process does: poll, and fail (never hang) past a deadline."""
import subprocess
import time
from typing import Callable, Optional

import pytest


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 120.0, interval: float = 0.05,
               proc: Optional[subprocess.Popen] = None, context: Callable[[], str] = lambda: "") -> None:
    """Poll until predicate() holds; fail (never hang) past `timeout`, or when `proc` ends first."""
    end = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read()[-2000:] if proc.stderr else ""
            pytest.fail(f"process ended (exit {proc.returncode}) before {what}: {err}")
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{context()}")
        time.sleep(interval)
