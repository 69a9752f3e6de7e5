"""A job's training in a child process, watched by the job's own process: how it ended is never lost.

A process killed outright (kill -9, the OOM killer) runs no handler and records nothing; only its
parent learns the signal (its wait status). So a job trains in a forked child and waits for it,
passing the job's signals (SIGTERM, USR2) on, and says how the child ended: what it returned,
raised or exited with, or the signal that killed it, with the OOM killer's count of the job's
cgroup as evidence. The child dies with its parent (PR_SET_PDEATHSIG), so killing the job's
process never leaves training running unwatched. Torch-free: the parent never imports training.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

PASSED_ON = (signal.SIGTERM, signal.SIGUSR2)  # what Slurm and the local controller send a job
CGROUP_ROOT = Path("/sys/fs/cgroup")
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Outcome:
    """How the child ended: one of value (returned), error (raised), exit_code (exited), signal (killed)."""

    value: Any = None
    error: Optional[str] = None  # "Type: message" of the exception it raised
    exit_code: Optional[int] = None  # SystemExit's code, or the exit status of a child that left no word
    signal: Optional[int] = None  # the signal that killed it
    said: bool = True  # False: the child ended without saying how (killed, or exited past Python)
    oom: Optional[str] = None  # evidence that the OOM killer fired while it ran

    def describe(self) -> str:
        """One line: how the child ended, in words a status table can show."""
        if self.signal is not None:
            return f"killed by signal {self.signal} ({signal_name(self.signal)})" + (f": {self.oom}" if self.oom else "")
        if self.error is not None:
            return self.error
        if not self.said:
            return f"the training process exited with status {self.exit_code} and recorded no end"
        return f"exited with status {self.exit_code}" if self.exit_code else "returned"


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def oom_kills() -> Optional[tuple[str, int]]:
    """(file, count) of the OOM killer's kills in this process's memory cgroup, or None when unreadable.

    cgroup v2: memory.events `oom_kill N`; v1: memory.oom_control `oom_kill N`. Inside a container
    the cgroup path may not resolve under the mount: its root there is the container's cgroup.
    """
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    candidates = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        rel = path.lstrip("/")
        if controllers == "":  # v2: the unified hierarchy
            candidates += [CGROUP_ROOT / rel / "memory.events", CGROUP_ROOT / "memory.events"]
        elif "memory" in controllers.split(","):
            candidates += [CGROUP_ROOT / "memory" / rel / "memory.oom_control", CGROUP_ROOT / "memory" / "memory.oom_control"]
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for row in text.splitlines():
            key, _, value = row.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return str(path), int(value)
    return None


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies (Linux); exit now if the parent is already gone."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the child may outlive a killed parent
        pass
    if os.getppid() != parent:
        os._exit(1)


def _child(fn: Callable[[], Any], report, parent: int) -> None:
    """Run fn in the forked child, write how it ended to `report`, and leave (never returns)."""
    code = 1
    try:
        _die_with_parent(parent)
        word: dict = {"value": fn()}
        code = 0
    except SystemExit as e:  # a requeue (submitit exits after it), or a rank stopping with rank 0
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        word = {"exit_code": code}
    except BaseException as e:  # noqa: BLE001 - every end is reported to the parent
        traceback.print_exc()
        word = {"error": f"{type(e).__name__}: {str(e).strip() or type(e).__name__}"}
    try:
        report.write(json.dumps(word, default=str).encode())
        report.flush()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)


def run_in_child(fn: Callable[[], Any], restore: bool = True) -> Outcome:
    """Run fn in a forked child and wait for it, passing SIGTERM and USR2 on; returns how it ended.

    fn starts with those signals blocked: it unblocks them once its own handlers are in place, so
    none is lost or handled by the handlers it inherited. Without `restore`, they stay passed to
    nobody (ignored) once the child has ended: a job about to exit must not act on one twice.
    """
    before = oom_kills()
    sys.stdout.flush()
    sys.stderr.flush()
    report = tempfile.TemporaryFile()
    parent = os.getpid()
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, PASSED_ON)
    try:
        pid = os.fork()
    except OSError:  # no child (out of processes or memory): signals as they were
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        report.close()
        raise
    if pid == 0:
        _child(fn, report, parent)

    def pass_on(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    saved = {sig: signal.signal(sig, pass_on) for sig in PASSED_ON}
    signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask - set(PASSED_ON))
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        for sig in PASSED_ON:
            signal.signal(sig, saved[sig] if restore else signal.SIG_IGN)
        if restore:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
    report.seek(0)
    try:
        word = json.loads(report.read().decode() or "null")
    except ValueError:  # killed while writing it
        word = None
    finally:
        report.close()
    if os.WIFSIGNALED(status):
        after = oom_kills()
        oom = None
        if before and after and after[0] == before[0] and after[1] > before[1]:
            oom = f"out of memory (the OOM killer's count in {after[0]} rose from {before[1]} to {after[1]} while it ran)"
        return Outcome(signal=os.WTERMSIG(status), said=False, oom=oom)
    if not isinstance(word, dict):
        return Outcome(exit_code=os.waitstatus_to_exitcode(status), said=False)
    return Outcome(value=word.get("value"), error=word.get("error"), exit_code=word.get("exit_code"))
