"""Fabricated sweeps for the analysis stage: run folders written as training writes them, with known numbers."""
from __future__ import annotations

from pathlib import Path

from resnext_bench.config.runs import Run
from resnext_bench.config.specs import BaselineSpec, DataSpec, ModelSpec, RecipeSpec, RuntimeSpec
from resnext_bench.record import runwrite
from resnext_bench.record.schema import Epoch, Result

BIG = 25_557_032  # ResNet-50's parameter count: a float CSV writes it 25557032.0


def make_run(sweep: Path, run_id: str, *, ablation="table3", study="table3", template="imagenet-50", cardinality=1,
             bottleneck_width=64, shortcut=True, dataset="digits", seed=0, err=None, status="completed",
             epochs=3, params=None, flops=None, baseline=None, device="cpu", num_gpus=0) -> Path:
    """A run folder written through record/runwrite.py, as training writes it: config, epochs, result when ended."""
    run_dir = sweep / "runs" / run_id
    params = params or 1000 * cardinality * bottleneck_width
    flops = flops or 20 * params
    model = (BaselineSpec(baseline) if baseline else
             ModelSpec(template, cardinality, bottleneck_width, shortcut=shortcut, num_classes=10))
    run = Run(ablation=ablation, configuration=baseline or f"{cardinality}x{bottleneck_width}d", model=model,
              data=DataSpec(name=dataset), recipe=RecipeSpec(name="short", epochs=epochs, batch_size=64),
              runtime=RuntimeSpec(device="cpu"), seed=seed,
              complexity={"params": params, "flops": flops, "params_conv_fc": params, "acts": 1, "block_params": 1},
              image_size=32, study=study)
    runwrite.write_config(run_dir, run)
    final = 50.0 if err is None else err
    done = epochs if status == "completed" else max(epochs - 1, 0)
    lines = [Epoch(epoch=e, lr=0.1, train_loss=1.0 / e, train_top1_err=final + 10.0 / e - 1.0, val_loss=1.0 / e,
                   val_top1_err=final if e == done else final + 10.0 / e, val_top5_err=final / 4,
                   epoch_seconds=1.0, images_per_sec=500.0) for e in range(1, done + 1)]
    runwrite.write_epochs(run_dir, lines)
    if status in ("completed", "failed"):
        runwrite.write_result(run_dir, Result(
            status=status, reason=None if status == "completed" else "CUDA out of memory",
            failed_epoch=None if status == "completed" else done + 1,
            final_val_top1_err=final if status == "completed" else None,
            final_val_top5_err=final / 4 if status == "completed" else None,
            best_val_top1_err=final, best_val_top5_err=final / 4, params=params, flops=flops,
            epochs=done, wall_seconds=7200.0, images_per_sec=500.0, device=device,
            num_gpus=num_gpus, seed=seed, versions={"torch": "2.14.1", "torchvision": "0.29.1"}))
    return run_dir


# Known Table 3 numbers: per depth, C -> (d, errors of three seeds); C=8 at 101 layers never completes.
TABLE3_RUNS = {
    50: {1: (16, [30.0, 31.0, 32.0]), 2: (10, [29.0, 30.0, 31.0]), 4: (6, [26.0, 26.5, 27.0]),
         8: (4, [30.0, 31.0, 32.0])},
    101: {1: (16, [28.0, 28.0, 28.0]), 2: (10, [27.0, 27.5, 28.0]), 4: (6, [26.0, 26.2, 26.4]),
          8: (4, [None, None, None])},
}


def make_table3_sweep(sweep: Path, dataset="digits") -> Path:
    """The TABLE3_RUNS sweep: three seeds a configuration, C=8 at 101 layers failed."""
    for depth, configs in TABLE3_RUNS.items():
        for c, (d, errs) in configs.items():
            for seed, err in enumerate(errs):
                make_run(sweep, f"table3_{depth}-{c}x{d}d-s{seed}", template=f"imagenet-{depth}", cardinality=c,
                         bottleneck_width=d, seed=seed, err=err, dataset=dataset,
                         status="completed" if err is not None else "failed")
    return sweep


def make_every_table_sweep(sweep: Path, dataset: str = "digits") -> Path:
    """Runs for all five tables: the Table 3 sweep (and so Table 2), Table 4 on imagenet and on
    `dataset`, the residual study with and without the shortcut, Table 7 on cifar10 and cifar100."""
    make_table3_sweep(sweep, dataset=dataset)
    for data in sorted({"imagenet", dataset}):
        for name, template, c, d, err in [("r101", "imagenet-101", 1, 64, 22.5), ("x64", "imagenet-101", 64, 4, 20.9),
                                          ("r200", "imagenet-200", 1, 64, 22.0)]:
            make_run(sweep, f"t4-{data}-{name}", ablation="table4_2x_complexity", study="table4", template=template,
                     cardinality=c, bottleneck_width=d, dataset=data, err=err, params=BIG, flops=4_089_184_256)
    for seed in range(2):
        for c, d in [(1, 64), (32, 4)]:
            make_run(sweep, f"res-{c}x{d}d-s{seed}", ablation="residual", study="residual", cardinality=c,
                     bottleneck_width=d, dataset=dataset, seed=seed, err=23.0 + seed)
            make_run(sweep, f"res-{c}x{d}d-noshort-s{seed}", ablation="residual", study="residual", cardinality=c,
                     bottleneck_width=d, dataset=dataset, shortcut=False, seed=seed, err=27.0 + seed)
        for data, err in [("cifar10", 4.0), ("cifar100", 18.0)]:
            make_run(sweep, f"t7-{data}-s{seed}", ablation="table7", study="table7", template="cifar-29",
                     cardinality=8, bottleneck_width=64, dataset=data, seed=seed, err=err + seed, params=34_400_000)
    return sweep


def add_evaluations(run_dir: Path, errors: dict) -> Path:
    """Record `evaluate` entries {crop: top-1 error} in a run folder, as the evaluate verb writes them."""
    from resnext_bench.record import evaluations

    for crop, err in errors.items():
        evaluations.record_evaluation(run_dir, evaluations.Evaluation(
            crop=crop, resize=evaluations.default_resize(crop), split="val", top1_err=err, top5_err=err / 4,
            images=100, checkpoint_epoch=3, run_id=run_dir.name))
    return run_dir
