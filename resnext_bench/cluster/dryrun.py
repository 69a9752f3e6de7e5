"""`launch --dry-run`: what a launch would submit, with resources and a GPU-hour (or CPU-hour) estimate."""
from __future__ import annotations

import math

from ..engine.data.layout import imagenet_backend
from ..units import plural
from .estimate import estimate_gpu_hours
from .plan import LaunchPlan
from .profile import DEFAULT_MAX_ARRAY_SIZE, Profile, max_array_size, slurm_available
from .submit import plan_arrays


# Training crops per second per CPU core of each ImageNet decoding backend, measured by `loader-bench` on the
# CPU of an H200 machine (results/bench/gpu-h200/loader.md); `launch --dry-run --loader-rate N` states yours.
LOADER_RATES = {"pil": 261, "turbo": 379, "nvjpeg": 3058}
LOADER_RATES_SOURCE = "loader-bench on an H200 machine's Xeon, results/bench/gpu-h200/loader.md"


def input_lines(runs, estimates: list[dict], profile: Profile, loader_rate: float | None) -> list[str]:
    """Will the input keep up? The CPU cores per GPU the ImageNet runs' decoding backend needs at the
    estimated training rate, against the profile's cpus_per_gpu (a warning when it is below)."""
    imagenet = {r.run_id: r for r in runs if r.data.name == "imagenet"}
    speeds = [e["images_per_sec"] for e in estimates if e["run_id"] in imagenet and e["images_per_sec"]]
    if not imagenet or not speeds or profile.gpus_per_node == 0:
        return []
    loader = next(iter(imagenet.values())).data.loader
    backend = imagenet_backend(loader, gpu_decoding=True)  # a GPU profile: auto decodes on the GPU
    rate = loader_rate or LOADER_RATES[backend]
    source = "stated" if loader_rate else LOADER_RATES_SOURCE
    speed = max(speeds)
    need = math.ceil(speed / rate)
    line = (f"input: data.loader {loader}{f' ({backend} on a GPU)' if loader != backend else ''} at "
            f"{speed:,.0f} images/s per GPU needs {plural(need, 'CPU core')} per GPU at {rate:,.0f} images/s "
            f"per core ({source}); the profile gives cpus_per_gpu {profile.cpus_per_gpu}")
    if profile.cpus_per_gpu >= need:
        return [line + ": enough"]
    return [line, f"warning: cpus_per_gpu {profile.cpus_per_gpu} is below the {need} cores per GPU that {backend} "
                  f"needs: the runs will wait for data (use data.loader nvjpeg, a pack at a bounded size, or more "
                  f"cores; measure yours with `resnext-bench loader-bench --train-ips {speed:.0f}`)"]


def basis_lines(estimates: list[dict], profile: Profile, tflops: float) -> list[str]:
    """Which rate each estimate used: stated, a measured row (and its record), or the FLOP fallback."""
    per = "GPU" if profile.gpus_per_node > 0 else "run"  # without GPUs a rate is a run's (its CPUs)
    lines = []
    for basis in ("stated", "measured", "flops"):
        used = [e for e in estimates if e["basis"] == basis and e["gpu_hours"] is not None]
        if not used:
            continue
        names = ", ".join(sorted({e["configuration"] for e in used}))
        if basis == "stated":
            lines.append(f"  rate: {used[0]['images_per_sec']:g} images/s per {per} (stated) for {names}")
        elif basis == "measured":
            for source in sorted({e["source"] for e in used}):
                these = [e for e in used if e["source"] == source]
                lines.append(f"  rate: measured on {profile.gpu_model} ({source}), scaled by multiply-adds: "
                             + ", ".join(f"{e['configuration']} {e['images_per_sec']:,.0f} img/s" for e in these))
        else:
            why = (f"no measured row for {profile.gpu_model} fits" if profile.gpu_model else
                   "the profile names no gpu_model" if per == "GPU" else "no GPU: measured rows are GPU rates")
            lines.append(f"  rate: fallback, {tflops:g} effective TFLOP/s per {per}, training = 3 x 2 x forward "
                         f"multiply-adds per image ({why}) for {names}")
    return lines


def dry_run_report(plan: LaunchPlan, profile: Profile, tflops: float, throughput: float | None,
                   loader_rate: float | None = None) -> str:
    """What a launch would submit, with resources and a GPU-hour estimate; submits nothing."""
    todo = [r for r in plan.runs if r.run_id in plan.to_submit]
    lines = [f"dry run: {len(plan.runs)} runs, {len(todo)} to submit, {len(plan.skipped)} skipped (nothing is submitted)"]
    for r in plan.runs:
        action = "submit" if r.run_id in plan.to_submit else f"skip ({plan.skipped[r.run_id]})"
        lines.append(f"  {r.run_id:<48} {action}")
    slurm = profile.executor == "slurm"
    answers = slurm and slurm_available()
    unread = ": Slurm's default, the cluster's unknown"
    limit = max_array_size() if answers else DEFAULT_MAX_ARRAY_SIZE
    arrays = plan_arrays(plan.runs, plan.to_submit, profile, limit)
    if slurm:
        lines.append(f"arrays: {len(arrays)} (MaxArraySize {limit}{'' if answers else unread}) of sizes {[len(jobs) for _, jobs in arrays]}, "
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
    estimates = estimate_gpu_hours(todo, tflops, throughput, gpu_model=profile.gpu_model)
    est = {e["run_id"]: e["gpu_hours"] for e in estimates}
    known = [h for h in est.values() if h is not None]
    gpus = profile.gpus_per_node > 0
    # On GPUs the rate is per GPU and an hour of it a GPU-hour; without, the rate is a run's and each of
    # its hours costs its CPUs.
    per_set = []  # (resources, hours of each run), one a set of resources
    for resources, ids in sets.values():
        hours = [est[i] for i in ids if est.get(i) is not None]
        if hours:
            per_set.append((resources, hours))
    if known:
        total = sum(sum(hours) * (1 if gpus else run_cpus(res)) for res, hours in per_set)
        lines.append(f"estimate: {total:.2f} {'GPU' if gpus else 'CPU'}-hours for {plural(len(known), 'run')}")
        lines += basis_lines(estimates, profile, tflops)
    for resources, hours in per_set:
        if gpus:
            n = max(resources.gpus_per_run, 1)
            lines.append(f"  {resources.nodes} x {plural(resources.gpus_per_node, 'GPU')}: {sum(hours):.2f} "
                         f"GPU-hours, wall time per run on {plural(n, 'GPU')}: up to {max(hours) / n:.2f} h")
        else:
            n = run_cpus(resources)
            lines.append(f"  {resources.nodes} x {plural(resources.tasks_per_node, 'CPU task')}: "
                         f"{sum(hours) * n:.2f} CPU-hours, wall time per run on {plural(n, 'CPU')}: "
                         f"up to {max(hours):.2f} h")
    if len(known) < len(est):
        lines.append(f"estimate: unavailable for {plural(len(est) - len(known), 'run')} (data set size unknown: data root missing?)")
    lines += input_lines(todo, estimates, profile, loader_rate)
    return "\n".join(lines)


def run_cpus(profile: Profile) -> int:
    """The CPUs one run of a profile without GPUs holds, over all its nodes."""
    return profile.nodes * profile.tasks_per_node * profile.cpus_per_task
