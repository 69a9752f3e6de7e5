"""What a job runs on its node: `TrainJob` trains its runs in turn, records each attempt in job.json,
checkpoints and ends on SIGTERM, checkpoints and requeues on USR2, and (inside a job) trains in a
child its process watches, so an end the child cannot record is recorded by its parent."""
from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Optional

from ..record import runfolder, runwrite, schema
from ..record.locks import RunLocked
from ..units import plural

class TrainJob:
    """What a Slurm job runs: train its runs in turn; on SIGTERM checkpoint at a step boundary and
    end, on USR2 checkpoint at a step boundary and requeue. Each run's attempt (start, end, how it
    ended) goes to its job.json. Inside a job, training runs in a child that the job's process
    watches (supervisor.py): an end the child cannot record (SIGKILL, the OOM killer) is recorded
    by its parent."""

    def __init__(self, run_dirs: list[str]):
        self.run_dirs = [str(d) for d in run_dirs]
        self.stop_end = schema.CANCELLED  # how an attempt stopped by a signal ended (set by the handler)
        self.current: Optional[tuple[Path, str]] = None  # (run folder, job id) of the open attempt

    def end_current(self, end: str, reason: Optional[str]) -> None:
        """Record how the open attempt ended (once)."""
        if self.current is not None:
            runwrite.end_attempt(*self.current, end, reason)
            self.current = None

    def __call__(self) -> list[dict]:
        import submitit

        try:
            env = submitit.JobEnvironment()
        except RuntimeError:  # called in-process (the debug executor), not inside a job
            return self._run(restore=True)
        return self._supervise(env.job_id, env.global_rank)

    def _supervise(self, job_id: str, rank: int) -> list[dict]:
        """Train in a child process; record the end of each attempt it opened and left open."""
        from .supervisor import run_in_child

        def opened(run_dir: str) -> int:
            job = runfolder.read_job(Path(run_dir))
            return sum(a.job_id == job_id for a in job.attempt_log) if job else 0

        before = {d: opened(d) for d in self.run_dirs} if rank == 0 else {}
        outcome = run_in_child(lambda: self._run(restore=False), restore=False)
        how = outcome.describe()
        for run_dir, count in before.items():
            job = runfolder.read_job(Path(run_dir))
            mine = [a for a in job.attempt_log if a.job_id == job_id] if job else []
            if len(mine) > count and mine[-1].end is None:
                runwrite.end_attempt(Path(run_dir), job_id, schema.KILLED if outcome.signal else schema.FAILED,
                                   schema.first_line(how))
        if outcome.signal is not None or not outcome.said:
            print(f"job {job_id}: training {how}", file=sys.stderr, flush=True)
            raise RuntimeError(f"training {how}")
        if outcome.error is not None:
            raise RuntimeError(outcome.error)
        if outcome.exit_code is not None:
            raise SystemExit(outcome.exit_code)
        return outcome.value

    def _run(self, restore: bool) -> list[dict]:
        """Train the runs in this process, with the stop handlers installed (restored after: `restore`)."""
        from ..engine.stopping import StopFlag

        # Handlers first, before the slow imports of training: a signal that arrives while torch
        # loads must not be lost. SIGTERM (scancel, PreemptMode=CANCEL, a node going down; SIGKILL
        # follows after KillWait): checkpoint at the next step boundary and end. USR2 (preemption
        # or the time limit, `signal_delay_s` early): the same, then submitit's handler requeues.
        stop = StopFlag()
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGUSR2)}
        requeue = saved[signal.SIGUSR2] if callable(saved[signal.SIGUSR2]) else None

        def on_term(_s, _f):
            self.stop_end = schema.CANCELLED
            stop.request("SIGTERM: cancelled, preempted or the node is going away")

        def on_usr2(_s, _f):
            # submitit's handler tells a time limit from a preemption by the time the job has run.
            timed_out = near_time_limit(requeue)
            self.stop_end = schema.TIMEOUT if timed_out else schema.PREEMPTED
            stop.request(f"USR2: {'near the time limit' if timed_out else 'preempted'}; checkpointed and requeued")
            if requeue is not None:
                def after():  # the requeue ends this process (SystemExit): record the end first
                    self.end_current(self.stop_end, stop.reason)
                    requeue(signal.SIGUSR2, None)
                stop.after = after

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGUSR2, on_usr2)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, saved)  # a supervised child starts with them blocked
        try:
            return self._train_all(stop)
        finally:  # in-process (the debug executor): give the caller its own handlers back
            for sig, handler in saved.items() if restore else ():
                signal.signal(sig, handler)

    def _train_all(self, stop) -> list[dict]:
        import submitit

        from ..engine.stopping import Stopped
        from ..engine.train import train_run

        try:
            env = submitit.JobEnvironment()
            tasks, job_id, rank = env.num_tasks, env.job_id, env.global_rank
        except RuntimeError:  # called in-process (the debug executor), not inside a job
            tasks, job_id, rank = 1, None, 0
        if tasks > 1:  # rank, world size, master address and port from the allocation, for every node
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        results = []
        for run_dir in self.run_dirs:
            if stop.requested:  # stopped before this run began: no attempt (cancel records it never started)
                if rank:
                    raise SystemExit(0)
                if stop.after is not None:
                    stop.after()  # USR2: requeue the job
                raise Stopped(stop.reason)
            # In-process, the job is the one the launcher just recorded for the run.
            attempt_of = job_id or getattr(runfolder.read_job(Path(run_dir)), "job_id", None)
            if rank == 0 and attempt_of is not None and runwrite.start_attempt(Path(run_dir), attempt_of):
                self.current = (Path(run_dir), attempt_of)
            try:
                result = train_run(Path(run_dir), stop=stop)
            except Stopped as e:
                if rank:  # every rank stopped at the same step; rank 0 checkpointed and requeues the job
                    print(f"rank {rank}: stopped with rank 0 ({e}); rank 0 holds the checkpoint and the requeue",
                          file=sys.stderr, flush=True)
                    raise SystemExit(0) from None  # not a failure of this task: no error result, no traceback
                self.end_current(self.stop_end, stop.reason)
                raise
            except RunLocked as e:  # another live process trains it: not this job's failure, nor the run's
                self.end_current(schema.CANCELLED, f"not trained by this job: {schema.first_line(e)}")
                continue
            except Exception as e:  # recorded in the run's result; the chain goes on
                result = {"status": schema.FAILED, "reason": f"{type(e).__name__}: {e}"}
            ok = result.get("status") == schema.COMPLETED
            self.end_current(schema.COMPLETED if ok else schema.FAILED,
                             None if ok else schema.first_line(result.get("reason") or "no reason recorded"))
            results.append(result)
        failed = [r for r in results if r.get("status") != schema.COMPLETED]
        if failed:
            raise RuntimeError(f"{plural(len(failed), 'run')} failed: {failed[0].get('reason')}")
        return results

    def checkpoint(self, *args, **kwargs):
        import submitit

        # Training state is already on disk (its checkpoint); the job only needs to run again.
        return submitit.helpers.DelayedSubmission(TrainJob(self.run_dirs))


def near_time_limit(handler) -> bool:
    """Whether submitit's USR2 handler (SignalHandler.checkpoint_and_try_requeue) judges the job near its
    time limit, by its SignalHandler.has_timed_out: submitit's undocumented internals, read only here
    (tests/test_endings.py fails loudly when submitit changes them). False for any other handler."""
    check = getattr(getattr(handler, "__self__", None), "has_timed_out", None)
    return bool(check()) if callable(check) else False

