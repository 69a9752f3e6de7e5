"""Frozen specs (model, data, recipe, runtime, ablation): plain data that checks its own invariants.

Loading them from YAML is config/load.py; the checks they run are config/validate.py.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import UserError
from .registries import LOSSES, OPTIMIZERS, PRECISIONS, SCHEDULES
from .templates import BLOCK_FORMS, EXPANSION, get_template
from .validate import require_choice, require_int, require_number, shown

# Upper bounds no real experiment exceeds. A value past one is a typo (a few extra zeros) or a
# hostile file: it is refused when the spec is built (from a file, an override or code), before a
# model of 1e20 parameters is counted or a run of 1e20 epochs is queued. Lower bounds are in the
# checks themselves.
#   field                        bound          what real experiments use
LIMITS: dict[str, float] = {
    "model.cardinality": 1024,  # the paper's largest C is 64; past 1,024 groups a conv is per-channel
    "model.bottleneck_width": 4096,  # d: the paper's 1x64d .. 64x4d; 4096 is a 1x4096d bottleneck
    "model.base_planes": 4096,  # resnet50: 64, wide_resnet50_2: 128
    "model.stem_width": 4096,  # 64 in every template
    "model.num_classes": 100_000,  # ImageNet-21k has 21,841
    "model.in_chans": 64,  # RGB: 3; multispectral stacks a few dozen
    "data.image_size": 4096,  # ImageNet trains at 224, evaluates up to ~600
    "data.num_workers": 256,  # DataLoader processes of one rank
    "data.train_limit": 10**9,  # the largest labelled sets hold ~10^8 images
    "data.val_limit": 10**9,
    "recipe.epochs": 10_000,  # the paper: 100 (ImageNet), 300 (CIFAR)
    "recipe.batch_size": 65_536,  # the largest published ImageNet batches are 64k
    "recipe.lr_batch": 65_536,
    "recipe.lr": 100.0,  # LARS-style large-batch runs peak near 30
    "recipe.weight_decay": 1.0,  # 1e-4 .. 0.1 (AdamW); 1 already erases the weights
    "recipe.gamma": 10.0,  # the step schedule's factor: 0.1 in the paper
    "runtime.threads": 1024,  # CPU threads of one process
    "runtime.checkpoint_minutes": 10_080.0,  # a week
    "match.tolerance_pct": 100.0,  # the paper matches within a few %
    "seeds": 2**32 - 1,  # numpy's seed range (torch's is wider)
    "sample.count": 100_000,  # models drawn per design space (pycls draws 500)
    "sample.band": 1e18,  # FLOPs / params / activations of a band (ResNeXt-101 64x4d: 1.6e10 FLOPs)
}


# A field added after run ids were first hashed carries this metadata: `to_dict` leaves it out
# while it holds its default, so the runs that predate it keep their ids (config/runs.py).
OMIT_DEFAULT = {"omit_default": True}


@dataclass(frozen=True)
class ModelSpec:
    """One ResNeXt: template, cardinality C, bottleneck width d (per group, first stage)."""

    template: str = "imagenet-50"
    cardinality: int = 1
    bottleneck_width: int = 64
    shortcut: bool = True
    block_form: str = "c"
    num_classes: int = 1000
    in_chans: int = 3
    stem_width: int = 64
    base_planes: int = 64  # first-stage planes; block output = 4 x planes, doubling per stage
    zero_init_residual: bool = False

    def __post_init__(self):
        get_template(self.template)
        for key in ("cardinality", "bottleneck_width", "num_classes", "in_chans", "stem_width", "base_planes"):
            require_int(key, getattr(self, key), 1, limit=LIMITS[f"model.{key}"])
        if self.block_form not in BLOCK_FORMS:
            raise UserError(f"block_form: expected one of {BLOCK_FORMS}, got {self.block_form!r}")

    @property
    def group_width(self) -> int:
        """Width of the grouped 3x3 conv in the first stage (C x d)."""
        return self.cardinality * self.bottleneck_width

    @property
    def label(self) -> str:
        return f"{self.cardinality}x{self.bottleneck_width}d"


def stage_widths(spec: ModelSpec, stage: int) -> tuple[int, int]:
    """(grouped-conv width C*d*2^i, block output width 4*planes*2^i) of stage i (0-based)."""
    scale = 2**stage
    return spec.group_width * scale, EXPANSION * spec.base_planes * scale


@dataclass(frozen=True)
class BaselineSpec:
    """A model from another library, e.g. `timm:resnext50_32x4d` or `torchvision:resnet50`."""

    name: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    num_classes: int = 1000
    in_chans: int = 3

    def __post_init__(self):
        library, _, arch = self.name.partition(":")
        if library not in ("timm", "torchvision") or not arch:
            raise UserError(f"baseline {self.name!r}: expected 'timm:MODEL' or 'torchvision:MODEL'")

    @property
    def library(self) -> str:
        return self.name.partition(":")[0]

    @property
    def arch(self) -> str:
        return self.name.partition(":")[2]


# classes, channels, training image size of each data set (known without reading it).
DATASET_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits": (10, 1, 8),
    "cifar10": (10, 3, 32),
    "cifar100": (100, 3, 32),
    "imagenet": (1000, 3, 224),
    "synthetic": (10, 3, 32),
}
DATASETS = tuple(DATASET_SHAPES)
IMAGENET_LOADERS = ("auto", "workers", "pil", "turbo", "nvjpeg")


@dataclass(frozen=True)
class DataSpec:
    """Which data set and how to load it."""

    name: str = "digits"
    root: Optional[str] = None
    download: bool = False
    # auto | device (whole set as a tensor on the device) | workers (DataLoader); ImageNet: auto | pil | turbo |
    # nvjpeg (the decoding backend, engine/data/decode.py; workers = pil)
    loader: str = "auto"
    num_workers: int = 4
    image_size: Optional[int] = None  # training crop; None = the data set's native size
    train_limit: Optional[int] = None  # keep only the first N training images (quick sweeps, tests)
    val_limit: Optional[int] = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """(classes, channels, training image size)."""
        classes, chans, size = DATASET_SHAPES[self.name]
        return classes, chans, self.image_size or size

    def __post_init__(self):
        if self.name not in DATASETS:
            raise UserError(f"data.name: expected one of {DATASETS}, got {self.name!r}")
        loaders = IMAGENET_LOADERS if self.name == "imagenet" else ("auto", "device", "workers")
        if self.loader not in loaders:
            raise UserError(f"data.loader: expected one of {', '.join(loaders)} for {self.name}, got {self.loader!r}")
        if self.root is not None and (not self.root or "\0" in self.root or len(self.root) > 4096):
            raise UserError(f"data.root: expected a folder's path (no NUL, at most 4,096 characters), "
                            f"got {shown(self.root)}")
        require_int("data.num_workers", self.num_workers, 0, limit=LIMITS["data.num_workers"])
        require_int("data.image_size", self.image_size, 8, optional=True, limit=LIMITS["data.image_size"])
        require_int("data.train_limit", self.train_limit, 1, optional=True, limit=LIMITS["data.train_limit"])
        require_int("data.val_limit", self.val_limit, 1, optional=True, limit=LIMITS["data.val_limit"])


@dataclass(frozen=True)
class RecipeSpec:
    """Optimisation recipe. lr is for a batch of lr_batch and is scaled linearly with batch_size."""

    name: str = "short"
    epochs: int = 5
    batch_size: int = 64
    lr: float = 0.1
    lr_batch: int = 64
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False  # SGD only; `optimizer: sgd-nesterov` says the same
    schedule: str = "cosine"  # a name of registries.SCHEDULES: cosine | step
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_epochs: int = 0
    label_smoothing: float = 0.0  # for either loss; `loss: label-smoothing` takes 0.1 when it is left at 0
    optimizer: str = field(default="sgd", metadata=OMIT_DEFAULT)  # registries.OPTIMIZERS: sgd | sgd-nesterov | adamw
    loss: str = field(default="cross-entropy", metadata=OMIT_DEFAULT)  # registries.LOSSES: cross-entropy | label-smoothing

    def __post_init__(self):
        require_choice("recipe.schedule", self.schedule, SCHEDULES)
        require_choice("recipe.optimizer", self.optimizer, OPTIMIZERS)
        require_choice("recipe.loss", self.loss, LOSSES)
        for key in ("epochs", "batch_size", "lr_batch"):
            require_int(f"recipe.{key}", getattr(self, key), 1, limit=LIMITS[f"recipe.{key}"])
        require_number("recipe.lr", self.lr, 0, low_open=True, limit=LIMITS["recipe.lr"])
        require_number("recipe.momentum", self.momentum, 0, low_open=False, high=1)
        require_number("recipe.weight_decay", self.weight_decay, 0, low_open=False, limit=LIMITS["recipe.weight_decay"])
        require_number("recipe.gamma", self.gamma, 0, low_open=True, limit=LIMITS["recipe.gamma"])
        require_number("recipe.label_smoothing", self.label_smoothing, 0, low_open=False, high=1)
        require_int("recipe.warmup_epochs", self.warmup_epochs, 0)
        if self.warmup_epochs > self.epochs:
            # == epochs is allowed: a 1-epoch smoke run of a recipe with 1 warmup epoch (demo, tests).
            raise UserError(f"recipe.warmup_epochs: expected at most recipe.epochs ({self.epochs}), "
                            f"got {self.warmup_epochs}")
        if not isinstance(self.milestones, tuple):
            raise UserError(f"recipe.milestones: expected a list of epochs, got {self.milestones!r}")
        for i, m in enumerate(self.milestones):
            key = f"recipe.milestones[{i}]"
            require_int(key, m, 1, limit=LIMITS["recipe.epochs"])
            if i and m <= self.milestones[i - 1]:
                raise UserError(f"{key}: expected milestones strictly increasing, got {m} after "
                                f"{self.milestones[i - 1]}")
            if self.schedule == "step" and m >= self.epochs:
                # (the cosine schedule ignores milestones: a preset's milestones do not bind it)
                raise UserError(f"{key}: milestone {m} is out of range: expected an epoch from 1 to "
                                f"recipe.epochs - 1 = {self.epochs - 1} (recipe.epochs is {self.epochs})")

    @property
    def scaled_lr(self) -> float:
        return self.lr * self.batch_size / self.lr_batch


# Named recipes (paper Sec. 4 and Sec. 5.3 / App. A). An ablation picks one and overrides fields.
RECIPES: dict[str, RecipeSpec] = {
    "paper-imagenet": RecipeSpec(
        name="paper-imagenet", epochs=100, batch_size=256, lr=0.1, lr_batch=256, momentum=0.9,
        weight_decay=1e-4, schedule="step", milestones=(30, 60, 90), gamma=0.1,
    ),
    "paper-cifar": RecipeSpec(
        name="paper-cifar", epochs=300, batch_size=128, lr=0.1, lr_batch=128, momentum=0.9,
        weight_decay=5e-4, schedule="step", milestones=(150, 225), gamma=0.1,
    ),
    "short": RecipeSpec(
        name="short", epochs=5, batch_size=64, lr=0.1, lr_batch=64, momentum=0.9,
        weight_decay=5e-4, schedule="cosine",
    ),
}


# Experiment trackers a run can feed (engine/trackers.py); `runtime.tensorboard: true` is the same as
# listing tensorboard here.
TRACKERS = ("tensorboard", "wandb", "mlflow")


@dataclass(frozen=True)
class RuntimeSpec:
    """How to run (not what): device, precision, memory layout, compile, checkpoint cadence."""

    device: str = "auto"  # auto | cpu | cuda
    precision: str = "fp32"  # a name of registries.PRECISIONS: fp32 | bf16 | fp16
    channels_last: bool = False
    compile: bool = False
    cudnn_benchmark: bool = True
    checkpoint_minutes: float = 10.0  # also at every epoch end and on a stop signal; 0 = at every step
    threads: Optional[int] = None
    tensorboard: bool = False  # also write TensorBoard events to RUN/events/ (rank 0; metrics.jsonl stays the record)
    trackers: tuple[str, ...] = ()  # experiment trackers fed by rank 0 (TRACKERS); views, never the record

    def __post_init__(self):
        require_choice("runtime.precision", self.precision, PRECISIONS)
        if not isinstance(self.trackers, tuple):
            raise UserError(f"runtime.trackers: expected a list of {', '.join(TRACKERS)}, got {self.trackers!r}")
        for i, name in enumerate(self.trackers):
            require_choice(f"runtime.trackers[{i}]", name, TRACKERS)
        if self.device not in ("auto", "cpu", "cuda"):
            raise UserError(f"runtime.device: expected auto, cpu or cuda, got {self.device!r}")
        require_number("runtime.checkpoint_minutes", self.checkpoint_minutes, 0, low_open=False,  # 0: at every step
                       limit=LIMITS["runtime.checkpoint_minutes"])
        require_int("runtime.threads", self.threads, 1, optional=True, limit=LIMITS["runtime.threads"])

    @property
    def active_trackers(self) -> tuple[str, ...]:
        """The trackers this run feeds, each once: `trackers`, and tensorboard when the older switch is on."""
        names = (("tensorboard",) if self.tensorboard else ()) + self.trackers
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class MatchSpec:
    """What equal complexity means: the quantity to match and the allowed deviation in %."""

    target: str = "block_params"  # block_params (paper Eqn. 4) | params | flops
    tolerance_pct: float = 5.0

    def __post_init__(self):
        if self.target not in ("block_params", "params", "flops"):
            raise UserError(f"match.target: expected block_params, params or flops, got {self.target!r}")
        require_number("match.tolerance_pct", self.tolerance_pct, 0, low_open=True, limit=LIMITS["match.tolerance_pct"])


@dataclass(frozen=True)
class ReferenceSpec:
    cardinality: int = 1
    bottleneck_width: int = 64


@dataclass(frozen=True)
class ConfigEntry:
    """One explicit configuration in an ablation file (fields left out take the ablation's defaults)."""

    name: Optional[str] = None
    template: Optional[str] = None
    cardinality: Optional[int] = None
    bottleneck_width: Optional[int] = None
    shortcut: Optional[bool] = None
    block_form: Optional[str] = None
    base_planes: Optional[int] = None
    stem_width: Optional[int] = None
    baseline: Optional[str] = None  # timm:MODEL or torchvision:MODEL
    kwargs: Optional[dict] = None  # baseline model kwargs


# The paper comparisons an ablation can feed: tables and plots dispatch on this, never on names.
STUDIES = ("table3", "table4", "table7", "fig7", "residual")


# ---------------------------------------------------------------- design-space sampling (config/samplers.py)

@dataclass(frozen=True)
class DistSpec:
    """How one free parameter is drawn: a distribution of samplers.DISTRIBUTIONS over [lo, hi] or values."""

    dist: str
    lo: Optional[int] = None
    hi: Optional[int] = None
    values: Optional[tuple[Any, ...]] = None


@dataclass(frozen=True)
class SpaceSpec:
    """A design space: a name and its free parameters (names of samplers.FREE_PARAMS, registry order)."""

    name: str
    params: tuple[tuple[str, DistSpec], ...]


@dataclass(frozen=True)
class BandSpec:
    """The complexity every sampled model must fall in: lo <= target <= hi (enforced by rejection)."""

    lo: float
    hi: float
    target: str = "flops"  # flops | params | acts (samplers.BAND_TARGETS)


@dataclass(frozen=True)
class SampleSpec:
    """`count` distinct models drawn from each space, in the band, deterministically for `seed`."""

    count: int
    spaces: tuple[SpaceSpec, ...]
    seed: int = 0
    band: Optional[BandSpec] = None


@dataclass(frozen=True)
class AblationSpec:
    """One experiment: a grid (reference + cardinalities), explicit configurations and/or sampled design spaces."""

    name: str
    study: Optional[str] = None  # one of STUDIES, or None: the runs feed no paper table
    description: str = ""
    template: str = "imagenet-50"
    model: ModelSpec = field(default_factory=ModelSpec)
    reference: Optional[ReferenceSpec] = None
    match: MatchSpec = field(default_factory=MatchSpec)
    cardinalities: tuple[int, ...] = ()
    configurations: tuple[ConfigEntry, ...] = ()
    sample: Optional[SampleSpec] = None  # design spaces to sample models from (config/samplers.py)
    data: DataSpec = field(default_factory=DataSpec)
    recipe: RecipeSpec = field(default_factory=lambda: RECIPES["short"])
    seeds: tuple[int, ...] = (0,)
    # points of top-1 error: the smallest difference worth detecting, declared before the runs (the
    # report gives the seeds needed to detect it); None: only the paper's difference is declared
    min_effect: Optional[float] = field(default=None, metadata=OMIT_DEFAULT)
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)
    source: str = ""  # the file it was read from



def to_dict(spec) -> Any:
    """A spec as plain YAML-able data (tuples become lists); OMIT_DEFAULT fields at their default are left out."""
    def plain(v):
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)
                    if not (f.metadata.get("omit_default") and getattr(v, f.name) == f.default)}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(spec)
