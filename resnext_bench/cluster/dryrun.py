"""`launch --dry-run`: what a launch would submit, with resources and a GPU-hour estimate."""
from __future__ import annotations

from ..units import plural
from .launch import (DEFAULT_MAX_ARRAY_SIZE, LaunchPlan, Profile, estimate_gpu_hours, max_array_size, plan_arrays,
                     slurm_available)


def dry_run_report(plan: LaunchPlan, profile: Profile, tflops: float, throughput: float | None) -> str:
    """What a launch would submit, with resources and a GPU-hour estimate; submits nothing."""
    todo = [r for r in plan.runs if r.run_id in plan.to_submit]
    lines = [f"dry run: {len(plan.runs)} runs, {len(todo)} to submit, {len(plan.skipped)} skipped (nothing is submitted)"]
    for r in plan.runs:
        action = "submit" if r.run_id in plan.to_submit else f"skip ({plan.skipped[r.run_id]})"
        lines.append(f"  {r.run_id:<48} {action}")
    slurm = profile.executor == "slurm"
    limit = max_array_size() if slurm and slurm_available() else DEFAULT_MAX_ARRAY_SIZE
    arrays = plan_arrays(plan.runs, plan.to_submit, profile, limit)
    if slurm:
        lines.append(f"arrays: {len(arrays)} (MaxArraySize {limit}) of sizes {[len(jobs) for _, jobs in arrays]}, "
                     f"at most {profile.array_parallelism} running at once in each")
    else:
        lines.append(f"executor {profile.executor}: {plural(max(sum(len(jobs) for _, jobs in arrays), 1), 'parallel chain')}")
    # One line a set of resources (the profile's, or an override's): nodes x GPUs, then its GPU-hours.
    sets: dict[tuple, tuple[Profile, list[str]]] = {}
    for resources, jobs in arrays:
        sets.setdefault(resources.resources, (resources, []))[1].extend(rid for job in jobs for rid in job)
    if not sets:
        sets[profile.resources] = (profile, [])
    configurations = {r.run_id: r.configuration for r in todo}
    for resources, ids in sets.values():
        who = "each run" if len(sets) == 1 else (
            f"{plural(len(ids), 'run')} of {', '.join(sorted({configurations[i] for i in ids}))}")
        lines.append(f"{who}: {resources.describe()}, partition {profile.partition or '(default)'}")
    est = {e["run_id"]: e["gpu_hours"] for e in estimate_gpu_hours(todo, tflops, throughput)}
    known = [h for h in est.values() if h is not None]
    basis = (f"{throughput:g} images/s per GPU (stated)" if throughput else
             f"{tflops:g} effective TFLOP/s per GPU, training = 3 x 2 x forward multiply-adds per image")
    if known:
        lines.append(f"estimate: {sum(known):.2f} GPU-hours for {plural(len(known), 'run')} at {basis}")
        for resources, ids in sets.values():
            hours = [est[i] for i in ids if est.get(i) is not None]
            if hours:
                gpus = max(resources.gpus_per_run, 1)
                lines.append(f"  {resources.nodes} x {plural(resources.gpus_per_node, 'GPU')}: {sum(hours):.2f} "
                             f"GPU-hours, wall time per run on {plural(gpus, 'GPU')}: up to {max(hours) / gpus:.2f} h")
    if len(known) < len(est):
        lines.append(f"estimate: unavailable for {plural(len(est) - len(known), 'run')} (data set size unknown: data root missing?)")
    return "\n".join(lines)
