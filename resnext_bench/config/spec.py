"""Frozen specs (model, data, recipe, runtime, ablation) and strict YAML loading.

Specs are plain data. Loading validates every key and type, and any mistake becomes one
`UserError` line that names the file and the key.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from ..errors import UserError


# ---------------------------------------------------------------- invariant helpers

def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    """A finite int or float (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _require_int(key: str, value, minimum: int, optional: bool = False) -> None:
    """`key` holds an integer >= minimum (or None when optional), else a one-line UserError."""
    if optional and value is None:
        return
    if not _is_int(value) or value < minimum:
        none = " (or null)" if optional else ""
        raise UserError(f"{key}: expected an integer >= {minimum}{none}, got {value!r}")


def _require_number(key: str, value, low: float, low_open: bool, high: Optional[float] = None,
                    high_open: bool = True) -> None:
    """`key` holds a finite number in the given range, else a one-line UserError."""
    ok = _is_number(value) and (value > low if low_open else value >= low)
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if ok:
        return
    if high is None:
        expected = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        expected = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    raise UserError(f"{key}: expected {expected}, got {value!r}")


@dataclass(frozen=True)
class Template:
    """A network layout: which stem, how many bottleneck blocks per stage."""

    name: str
    kind: str  # "imagenet" (7x7/2 stem + max pool) or "cifar" (3x3 stem)
    stage_blocks: tuple[int, ...]
    image_size: int

    @property
    def depth(self) -> int:
        return 3 * sum(self.stage_blocks) + 2


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template("imagenet-50", "imagenet", (3, 4, 6, 3), 224),
        Template("imagenet-101", "imagenet", (3, 4, 23, 3), 224),
        Template("imagenet-152", "imagenet", (3, 8, 36, 3), 224),
        Template("imagenet-200", "imagenet", (3, 24, 36, 3), 224),
        Template("cifar-29", "cifar", (3, 3, 3), 32),
    )
}

BLOCK_FORMS = ("a", "b", "c")
EXPANSION = 4  # a bottleneck block's output is 4 x its planes


def get_template(name: str) -> Template:
    """The template called `name`, or a UserError listing the known ones."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UserError(f"unknown template {name!r}; known: {', '.join(TEMPLATES)}") from None


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
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"{key}: expected an integer >= 1, got {value!r}")
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
        _require_int("data.num_workers", self.num_workers, 0)
        _require_int("data.image_size", self.image_size, 8, optional=True)
        _require_int("data.train_limit", self.train_limit, 1, optional=True)
        _require_int("data.val_limit", self.val_limit, 1, optional=True)


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
    nesterov: bool = False
    schedule: str = "cosine"  # cosine | step
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_epochs: int = 0
    label_smoothing: float = 0.0

    def __post_init__(self):
        if self.schedule not in ("cosine", "step"):
            raise UserError(f"recipe.schedule: expected cosine or step, got {self.schedule!r}")
        for key in ("epochs", "batch_size", "lr_batch"):
            _require_int(f"recipe.{key}", getattr(self, key), 1)
        _require_number("recipe.lr", self.lr, 0, low_open=True)
        _require_number("recipe.momentum", self.momentum, 0, low_open=False, high=1)
        _require_number("recipe.weight_decay", self.weight_decay, 0, low_open=False)
        _require_number("recipe.gamma", self.gamma, 0, low_open=True)
        _require_number("recipe.label_smoothing", self.label_smoothing, 0, low_open=False, high=1)
        _require_int("recipe.warmup_epochs", self.warmup_epochs, 0)
        if self.warmup_epochs > self.epochs:
            # == epochs is allowed: a 1-epoch smoke run of a recipe with 1 warmup epoch (demo, tests).
            raise UserError(f"recipe.warmup_epochs: expected at most recipe.epochs ({self.epochs}), "
                            f"got {self.warmup_epochs}")
        if not isinstance(self.milestones, tuple):
            raise UserError(f"recipe.milestones: expected a list of epochs, got {self.milestones!r}")
        for i, m in enumerate(self.milestones):
            key = f"recipe.milestones[{i}]"
            _require_int(key, m, 1)
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


@dataclass(frozen=True)
class RuntimeSpec:
    """How to run (not what): device, precision, memory layout, compile, checkpoint cadence."""

    device: str = "auto"  # auto | cpu | cuda
    precision: str = "fp32"  # fp32 | bf16 | fp16
    channels_last: bool = False
    compile: bool = False
    cudnn_benchmark: bool = True
    checkpoint_minutes: float = 10.0  # also at every epoch end and on a stop signal; 0 = at every step
    threads: Optional[int] = None
    tensorboard: bool = False  # also write TensorBoard events to RUN/events/ (rank 0; metrics.jsonl stays the record)

    def __post_init__(self):
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise UserError(f"runtime.precision: expected fp32, bf16 or fp16, got {self.precision!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UserError(f"runtime.device: expected auto, cpu or cuda, got {self.device!r}")
        _require_number("runtime.checkpoint_minutes", self.checkpoint_minutes, 0, low_open=False)  # 0: at every step
        _require_int("runtime.threads", self.threads, 1, optional=True)


@dataclass(frozen=True)
class MatchSpec:
    """What equal complexity means: the quantity to match and the allowed deviation in %."""

    target: str = "block_params"  # block_params (paper Eqn. 4) | params | flops
    tolerance_pct: float = 5.0

    def __post_init__(self):
        if self.target not in ("block_params", "params", "flops"):
            raise UserError(f"match.target: expected block_params, params or flops, got {self.target!r}")
        _require_number("match.tolerance_pct", self.tolerance_pct, 0, low_open=True)


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
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)
    source: str = ""  # the file it was read from


# ---------------------------------------------------------------- strict loading

# A decimal number, optionally with an exponent: 1e-4, 5E-4, 1e+6, -2.5e-3, .5, 3. (not nan, inf, 0x10, 1_000).
_NUMBER_LITERAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value, tp, where: str):
    """Check `value` against the annotation `tp` and convert lists to tuples / mappings to specs."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a mapping, got {value!r}")
        return build(tp, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where}: expected a list, got {value!r}")
        item_tp = typing.get_args(tp)[0]
        return tuple(_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a mapping, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _NUMBER_LITERAL.fullmatch(value):
            value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string; it is a number here
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where}: expected a number, got {value!r}")
        if not _is_number(value):
            raise UserError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise UserError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} at {where}")


def build(cls, mapping: dict, where: str = ""):
    """Build dataclass `cls` from `mapping`, refusing unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    prefix = f"{where}." if where else ""
    unknown = sorted(set(mapping) - names, key=str)
    if unknown:
        raise UserError(f"{prefix}{unknown[0]}: unknown key (known: {', '.join(sorted(names))})")
    kwargs = {k: _coerce(v, hints[k], f"{prefix}{k}") for k, v in mapping.items()}
    try:
        return cls(**kwargs)
    except UserError as e:
        msg = str(e)
        raise UserError(msg if msg.startswith(prefix) or not prefix else f"{prefix}{msg}") from None
    except TypeError as e:  # a required field is missing
        raise UserError(f"{where or cls.__name__}: {e}") from None


def resolve_recipe(value) -> RecipeSpec:
    """A recipe given as a preset name or as {name: PRESET, FIELD: override, ...}."""
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        raise UserError(f"recipe: expected a preset name or a mapping, got {value!r}")
    name = value.get("name", "short")
    if not isinstance(name, str) or name not in RECIPES:
        raise UserError(f"recipe.name: unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    base = dataclasses.asdict(RECIPES[name])
    base.update(value)
    return build(RecipeSpec, base, "recipe")


def ablation_from_dict(raw: dict, source: str = "") -> AblationSpec:
    """Validate a parsed ablation mapping; errors name the key."""
    if not isinstance(raw, dict):
        raise UserError(f"expected a mapping at the top level, got {raw!r}")
    raw = dict(raw)
    if "name" not in raw:
        raise UserError("name: required key is missing")
    template = raw.get("template", "imagenet-50")
    if not isinstance(template, str):
        raise UserError(f"template: expected a string, got {template!r}")
    try:
        get_template(template)
    except UserError as e:
        raise UserError(f"template: {e}") from None
    model = raw.pop("model", None)
    if model is None:
        model = {}
    if not isinstance(model, dict):
        raise UserError(f"model: expected a mapping, got {model!r}")
    model = dict(model)
    model.setdefault("template", template)
    raw["model"] = model
    recipe = raw.pop("recipe", "short")
    sample = raw.pop("sample", None)  # its own loader: the registries live in config/samplers.py
    spec = build(AblationSpec, {**raw, "source": source}, "")
    spec = dataclasses.replace(spec, recipe=resolve_recipe(recipe))
    if sample is not None:
        from .samplers import sample_from_dict

        spec = dataclasses.replace(spec, sample=sample_from_dict(sample, "sample"))
    if not spec.cardinalities and not spec.configurations and spec.sample is None:
        raise UserError("cardinalities / configurations / sample: the ablation lists no configuration")
    if spec.cardinalities and spec.reference is None:
        raise UserError("reference: required when cardinalities are given (the configuration to match)")
    for i, c in enumerate(spec.cardinalities):
        if c < 1:
            raise UserError(f"cardinalities[{i}]: expected an integer >= 1, got {c}")
    for key in ("cardinality", "bottleneck_width"):
        if spec.reference is not None and getattr(spec.reference, key) < 1:
            raise UserError(f"reference.{key}: expected an integer >= 1, got {getattr(spec.reference, key)}")
    for i, entry in enumerate(spec.configurations):
        for key in ("cardinality", "bottleneck_width", "base_planes", "stem_width"):
            value = getattr(entry, key)
            if value is not None and value < 1:
                raise UserError(f"configurations[{i}].{key}: expected an integer >= 1, got {value}")
        if entry.template is not None:
            try:
                get_template(entry.template)
            except UserError as e:
                raise UserError(f"configurations[{i}].template: {e}") from None
        if entry.baseline is None and entry.kwargs is not None:
            raise UserError(f"configurations[{i}].kwargs: only a baseline takes kwargs")
        if entry.baseline is not None:
            try:
                BaselineSpec(entry.baseline)
            except UserError as e:
                raise UserError(f"configurations[{i}].baseline: {e}") from None
    if not spec.seeds:
        raise UserError("seeds: expected at least one seed")
    for i, seed in enumerate(spec.seeds):
        if seed < 0:
            raise UserError(f"seeds[{i}]: expected an integer >= 0, got {seed}")
        if seed in spec.seeds[:i]:
            raise UserError(f"seeds[{i}]: seed {seed} is listed twice")
    if spec.study is not None and spec.study not in STUDIES:
        raise UserError(f"study: expected one of {', '.join(STUDIES)} (or leave it out), got {spec.study!r}")
    return spec


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing or unparsable file is a one-line UserError."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{path}: not valid YAML{line}") from None


def apply_overrides(raw: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """Apply `dotted.key=value` overrides (values parsed as YAML) to a raw ablation mapping."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UserError(f"override {item!r}: expected KEY=VALUE, e.g. recipe.epochs=3")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise UserError(f"override {item!r}: value is not valid YAML") from None
        parts = key.split(".")
        node = raw
        for part in parts[:-1]:
            child = node.get(part)
            if part == "recipe" and isinstance(child, str):
                child = {"name": child}  # a preset name grows into a mapping to take the override
            if child is None:
                child = {}
            if not isinstance(child, dict):
                raise UserError(f"override {item!r}: {part} is not a mapping")
            node[part] = child
            node = child
        node[parts[-1]] = value
    return raw


def load_ablation(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> AblationSpec:
    """Read and strictly validate an ablation file, after applying `key=value` overrides."""
    raw = load_yaml(path)
    if overrides:
        if not isinstance(raw, dict):
            raise UserError(f"{path}: expected a mapping at the top level")
        raw = apply_overrides(raw, overrides)
    try:
        return ablation_from_dict(raw, str(path))
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def to_dict(spec) -> Any:
    """A spec as plain YAML-able data (tuples become lists)."""
    def plain(v):
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(dataclasses.asdict(spec))
