"""Small ablations written to disk, and reduced-width specs: whole runs train in seconds on one core."""
from pathlib import Path

from resnext_bench.config.specs import ModelSpec


def small_spec(template: str, cardinality: int, width: int, **overrides) -> ModelSpec:
    """A reduced-width spec: whole networks run (and trace through fvcore) in milliseconds."""
    fields = dict(base_planes=8, stem_width=8, num_classes=10)
    fields.update(overrides)
    return ModelSpec(template, cardinality, width, **fields)


# A two-configuration Table 3 of 1/8-width ResNeXt-29s on digits: the smallest valid ablation file.
SMALL_TABLE3 = """\
name: t
study: table3
template: cifar-29
model: {base_planes: 8, stem_width: 8}
reference: {cardinality: 1, bottleneck_width: 8}
cardinalities: [1, 2]
data: {name: digits}
recipe: {name: short, epochs: 2}
"""


# One ResNeXt-29 at 1/8 width on a slice of digits: a whole run trains in seconds on one core.
TINY_ABLATION = """
name: tiny
template: cifar-29
model: {{base_planes: 8, stem_width: 8}}
configurations:
  - {{cardinality: 2, bottleneck_width: 4}}
data: {{name: digits, train_limit: {train_limit}, val_limit: 120}}
recipe: {{name: short, epochs: {epochs}, batch_size: 32, lr: 0.05, warmup_epochs: 1}}
seeds: [0]
runtime: {{threads: 1, precision: {precision}, checkpoint_minutes: {ckpt}}}
"""


# An equal-complexity grid of small ResNeXt-29s on digits, for the launcher's tests (Slurm and local).
LAUNCH_GRID = """
name: {name}
template: cifar-29
model: {{base_planes: 8, stem_width: 8}}
reference: {{cardinality: 1, bottleneck_width: 8}}
match: {{target: block_params, tolerance_pct: 10}}
cardinalities: {cardinalities}
data: {{name: digits, train_limit: {train_limit}, val_limit: 64}}
recipe: {{name: short, epochs: {epochs}, batch_size: 32, lr: 0.05}}
seeds: [0]
runtime: {{threads: 1, checkpoint_minutes: 10}}
"""


def write_launch_grid(tmp_path: Path, name: str, cardinalities: str, epochs: int = 1, train_limit: int = 128) -> Path:
    """Write LAUNCH_GRID as tmp_path/grid.yaml and return its path."""
    path = Path(tmp_path) / "grid.yaml"
    path.write_text(LAUNCH_GRID.format(name=name, cardinalities=cardinalities, epochs=epochs, train_limit=train_limit))
    return path


def tiny_ablation(folder: Path, name: str = "tiny", epochs: int = 2, train_limit: int = 192, ckpt: float = 10.0,
                  precision: str = "fp32") -> Path:
    """Write the tiny ablation (train_limit / 32 steps an epoch) and return its path."""
    path = Path(folder) / f"{name}.yaml"
    path.write_text(TINY_ABLATION.format(epochs=epochs, train_limit=train_limit, ckpt=ckpt, precision=precision))
    return path
