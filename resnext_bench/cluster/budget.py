"""`launch --max-gpu-hours N`: refuse a launch whose estimate of what would train exceeds N, and say what fits."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import UserError
from ..units import plural
from .dryrun import run_cpus
from .estimate import estimate_gpu_hours
from .plan import LaunchPlan
from .profile import Profile

MAX_NAMED = 6  # runs named in the refusal; the dry run lists them all


@dataclass(frozen=True)
class HoursCap:
    """A cap on the device-hours one launch may start, and the estimate's basis (as the dry run's)."""

    hours: float
    tflops: float
    throughput: Optional[float] = None


def hours_unit(profile: Profile) -> str:
    """GPU-hours on a GPU profile; CPU-hours (cores x hours) on a profile without GPUs."""
    return "GPU-hours" if profile.gpus_per_node else "CPU-hours"


def run_hours(plan: LaunchPlan, profile: Profile, cap: HoursCap) -> tuple[list[tuple[str, Optional[float]]], str]:
    """(run id, estimated hours in `hours_unit`) of each run the plan would submit, in the dry run's order, and
    the rate they were estimated at (stated, measured rows, or FLOPs: as the dry run's `rate:` lines say).

    The dry run's estimate (estimate.py) is GPU-hours at a per-GPU rate; on a CPU profile the same
    rate is per run, and each hour costs the run's CPUs (all its nodes' tasks' cores), as the dry run counts.
    """
    todo = [r for r in plan.runs if r.run_id in plan.to_submit]
    estimates = {e["run_id"]: e for e in estimate_gpu_hours(todo, cap.tflops, cap.throughput,
                                                           gpu_model=profile.gpu_model)}
    out = []
    for r in todo:
        hours = estimates[r.run_id]["gpu_hours"] if r.run_id in estimates else None
        if hours is not None and not profile.gpus_per_node:
            hours *= run_cpus(profile.for_configuration(r.configuration))
        out.append((r.run_id, hours))
    return out, _basis({e["basis"] for e in estimates.values() if e["gpu_hours"] is not None}, profile, cap)


def _basis(bases: set, profile: Profile, cap: HoursCap) -> str:
    if "stated" in bases:
        return f"at {cap.throughput:g} images/s per {'GPU' if profile.gpus_per_node else 'process'} (stated)"
    flops = f"at {cap.tflops:g} effective TFLOP/s"
    if "measured" not in bases:
        return flops
    measured = f"at the rates measured on {profile.gpu_model} (reference/throughput.csv)"
    return measured if "flops" not in bases else f"{measured} where a row fits, else {flops}"


def check_cap(plan: LaunchPlan, profile: Profile, cap: HoursCap, flag: str = "--max-gpu-hours") -> float:
    """The estimated hours of what the plan would train; UserError (one line) when they exceed the cap,
    naming how many runs, and which, fit within it (the first ones in the dry run's order)."""
    unit = hours_unit(profile)
    what = f"{flag} {cap.hours:g}" + ("" if profile.gpus_per_node else " (a CPU profile: the cap is in CPU-hours, "
                                                                        "cores x hours)")
    hours, basis = run_hours(plan, profile, cap)
    missing = [rid for rid, h in hours if h is None]
    if missing:
        raise UserError(f"{what}: no estimate for {plural(len(missing), 'run')} of the {len(hours)} to train "
                        f"(data set size unknown here, e.g. {missing[0]}), so the cap cannot be checked; "
                        "nothing submitted")
    total = sum(h for _, h in hours)
    if total <= cap.hours:
        return total
    fit, used = [], 0.0
    for rid, h in hours:
        if used + h > cap.hours:
            break
        fit.append(rid)
        used += h
    if fit:
        named = ", ".join(fit[:MAX_NAMED]) + (", ..." if len(fit) > MAX_NAMED else "")
        fits = (f"{len(fit)} of them fit within {cap.hours:g} ({used:.2f} {unit}, the first {len(fit)} the dry run "
                f"lists: {named})")
    else:
        fits = f"not one of them fits (the first needs {hours[0][1]:.2f} {unit})"
    raise UserError(f"{what}: this launch would train {plural(len(hours), 'run')} for an estimated {total:.2f} {unit} "
                    f"{basis}; {fits}; nothing submitted")
