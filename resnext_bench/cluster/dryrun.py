"""`launch --dry-run`: what a launch would submit, with resources and a GPU-hour estimate."""
from __future__ import annotations

from ..units import plural
from .launch import LaunchPlan, Profile, _chunks, estimate_gpu_hours, max_array_size, slurm_available


def dry_run_report(plan: LaunchPlan, profile: Profile, tflops: float, throughput: float | None) -> str:
    """What a launch would submit, with resources and a GPU-hour estimate; submits nothing."""
    todo = [r for r in plan.runs if r.run_id in plan.to_submit]
    lines = [f"dry run: {len(plan.runs)} runs, {len(todo)} to submit, {len(plan.skipped)} skipped (nothing is submitted)"]
    for r in plan.runs:
        action = "submit" if r.run_id in plan.to_submit else f"skip ({plan.skipped[r.run_id]})"
        lines.append(f"  {r.run_id:<48} {action}")
    if profile.executor == "slurm":
        limit = max_array_size() if slurm_available() else 1001
        arrays = _chunks(todo, limit)
        lines.append(f"arrays: {len(arrays)} (MaxArraySize {limit}) of sizes {[len(a) for a in arrays]}, "
                     f"at most {profile.array_parallelism} running at once")
    else:
        lines.append(f"executor {profile.executor}: {plural(min(profile.array_parallelism, max(len(todo), 1)), 'parallel chain')}")
    lines.append(f"each run: {plural(profile.gpus_per_run, 'GPU')}, {plural(profile.cpus_per_task * profile.tasks_per_node, 'CPU')}, "
                 f"{profile.mem_gb:g} GB, {profile.timeout_min} min, partition {profile.partition or '(default)'}")
    est = estimate_gpu_hours(todo, tflops, throughput)
    known = [e["gpu_hours"] for e in est if e["gpu_hours"] is not None]
    basis = (f"{throughput:g} images/s per GPU (stated)" if throughput else
             f"{tflops:g} effective TFLOP/s per GPU, training = 3 x 2 x forward multiply-adds per image")
    if known:
        gpus = max(profile.gpus_per_run, 1)
        lines.append(f"estimate: {sum(known):.2f} GPU-hours for {plural(len(known), 'run')} at {basis}"
                     f" (wall time per run on {plural(gpus, 'GPU')}: up to {max(known) / gpus:.2f} h)")
    if len(known) < len(est):
        lines.append(f"estimate: unavailable for {plural(len(est) - len(known), 'run')} (data set size unknown: data root missing?)")
    return "\n".join(lines)
