"""Design spaces: models drawn at random from declared distributions, inside a complexity band.

An ablation's `sample:` section names spaces (ResNet-like: C = 1, d free; ResNeXt-like: C and d
free; ...). Each space draws `count` distinct models whose analytic complexity (flops, params or
acts) lies in the band, by rejection, as pycls's sweep samplers do. Sampling is deterministic: a
space draws from its own stream, derived from (seed, space name), so adding or removing a space
changes no other space's models.

Two small registries say what a file may declare: DISTRIBUTIONS (how a value is drawn from a
`random.Random`) and FREE_PARAMS (which ModelSpec fields a space may leave free). Everything is
validated when the ablation is loaded; only an unreachable band is found while sampling.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..errors import UserError
from ..units import si
from .complexity import Complexity, complexity
from .templates import TEMPLATES
from .specs import LIMITS, BandSpec, DistSpec, ModelSpec, SampleSpec, SpaceSpec
from .load import build, coerce
from .validate import require_int, require_number, shown


# ---------------------------------------------------------------- distributions

def _powers_of_two(lo: int, hi: int) -> list[int]:
    """The powers of two in [lo, hi]."""
    out, p = [], 1
    while p <= hi:
        if p >= lo:
            out.append(p)
        p *= 2
    return out


def _uniform_int(rng: random.Random, d: DistSpec) -> int:
    """Every integer in [lo, hi] equally likely."""
    return rng.randint(d.lo, d.hi)


def _log_uniform_int(rng: random.Random, d: DistSpec) -> int:
    """An integer in [lo, hi] with log-uniform density: k is drawn with probability log((k+1)/k) / log((hi+1)/lo)."""
    x = math.exp(rng.uniform(math.log(d.lo), math.log(d.hi + 1)))
    return min(max(int(x), d.lo), d.hi)  # the clamps only guard float rounding at the ends


def _power_of_two(rng: random.Random, d: DistSpec) -> int:
    """A power of two in [lo, hi], each equally likely (uniform in the exponent)."""
    return rng.choice(_powers_of_two(d.lo, d.hi))


def _choice(rng: random.Random, d: DistSpec) -> Any:
    """One of `values`, each equally likely."""
    return rng.choice(d.values)


@dataclass(frozen=True)
class Distribution:
    draw: Callable[[random.Random, DistSpec], Any]
    ranged: bool  # takes integers lo and hi (else a list of values)
    support: Callable[[DistSpec], int]  # how many distinct values it can draw


DISTRIBUTIONS: dict[str, Distribution] = {
    "uniform_int": Distribution(_uniform_int, True, lambda d: d.hi - d.lo + 1),
    "log_uniform_int": Distribution(_log_uniform_int, True, lambda d: d.hi - d.lo + 1),
    "power_of_two": Distribution(_power_of_two, True, lambda d: len(_powers_of_two(d.lo, d.hi))),
    "values": Distribution(_choice, False, lambda d: len(d.values)),
}


# ---------------------------------------------------------------- free parameters

def _positive_int(limit: int) -> Callable[[str, Any], None]:
    """The check of an integer parameter: >= 1 and within its bound (specs.LIMITS)."""
    return lambda key, value: require_int(key, value, 1, limit=limit)


def _check_template(key: str, value) -> None:
    if not isinstance(value, str) or value not in TEMPLATES:
        raise UserError(f"{key}: expected a template name ({', '.join(TEMPLATES)}), got {value!r}")


def _set(field_name: str):
    def apply(fields: dict, value, base: ModelSpec) -> bool:
        fields[field_name] = value
        return True
    return apply


def _set_group_width(fields: dict, value: int, base: ModelSpec) -> bool:
    """d = group_width // C; a group width C does not divide is no model (the draw is rejected)."""
    cardinality = fields.get("cardinality", base.cardinality)
    if value % cardinality:
        return False
    fields["bottleneck_width"] = value // cardinality
    return True


@dataclass(frozen=True)
class FreeParam:
    check: Callable[[str, Any], None]  # validates one value, naming the key
    ranged: bool  # may take an integer distribution over [lo, hi] (else `values` only)
    apply: Callable[[dict, Any, ModelSpec], bool]  # sets ModelSpec fields; False rejects the draw
    tag: Optional[Callable[[ModelSpec], str]] = None  # its part of a sample's name (None: the C x d label says it)


# Registry order is draw order (group_width reads the cardinality drawn before it).
FREE_PARAMS: dict[str, FreeParam] = {
    "template": FreeParam(_check_template, False, _set("template"), lambda m: m.template),
    "cardinality": FreeParam(_positive_int(LIMITS["model.cardinality"]), True, _set("cardinality")),
    "bottleneck_width": FreeParam(_positive_int(LIMITS["model.bottleneck_width"]), True, _set("bottleneck_width")),
    "group_width": FreeParam(_positive_int(LIMITS["model.cardinality"] * LIMITS["model.bottleneck_width"]), True,
                             _set_group_width),
    "base_planes": FreeParam(_positive_int(LIMITS["model.base_planes"]), True, _set("base_planes"),
                             lambda m: f"bp{m.base_planes}"),
}

BAND_TARGETS = ("flops", "params", "acts")  # Complexity fields a band can bound
_SPACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.]*")


def max_draws(count: int) -> int:
    """Draws a space may make before its band is declared unreachable (acceptance under ~0.5%)."""
    return 10_000 + 200 * count


# ---------------------------------------------------------------- loading (one-line errors naming the key)

def _mapping(raw, where: str, example: str) -> dict:
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a mapping like {example}, got {raw!r}")
    return raw


def _refuse_unknown(raw: dict, known, where: str) -> None:
    unknown = sorted(set(raw) - set(known), key=str)
    if unknown:
        raise UserError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")


def _dist_from_dict(raw, param: str, where: str) -> DistSpec:
    raw = dict(_mapping(raw, where, "{dist: log_uniform_int, lo: 1, hi: 64} or {values: [1, 2]}"))
    if "dist" not in raw:
        if "values" not in raw:
            raise UserError(f"{where}.dist: required key is missing (one of {', '.join(DISTRIBUTIONS)})")
        raw["dist"] = "values"
    spec = build(DistSpec, raw, where)
    if spec.dist not in DISTRIBUTIONS:
        raise UserError(f"{where}.dist: unknown distribution {spec.dist!r}; known: {', '.join(DISTRIBUTIONS)}")
    dist, free = DISTRIBUTIONS[spec.dist], FREE_PARAMS[param]
    if dist.ranged:
        if not free.ranged:
            raise UserError(f"{where}.dist: {param} is a choice: give {{values: [...]}}, not {spec.dist}")
        if spec.values is not None:
            raise UserError(f"{where}.values: {spec.dist} takes lo and hi, not values")
        for key in ("lo", "hi"):
            if getattr(spec, key) is None:
                raise UserError(f"{where}.{key}: required key is missing ({spec.dist} draws from [lo, hi])")
            free.check(f"{where}.{key}", getattr(spec, key))
        if spec.lo > spec.hi:
            raise UserError(f"{where}.lo: expected lo <= hi, got lo = {spec.lo} > hi = {spec.hi}")
        if dist.support(spec) < 1:
            raise UserError(f"{where}: no power of two lies in [{spec.lo}, {spec.hi}]")
    else:
        for key in ("lo", "hi"):
            if getattr(spec, key) is not None:
                raise UserError(f"{where}.{key}: {spec.dist} takes a list of values, not lo and hi")
        if not spec.values:
            raise UserError(f"{where}.values: expected a non-empty list, got {spec.values!r}")
        for j, value in enumerate(spec.values):
            free.check(f"{where}.values[{j}]", value)
            if value in spec.values[:j]:
                raise UserError(f"{where}.values[{j}]: {value!r} is listed twice")
    return spec


def _space_from_dict(raw, count: int, where: str) -> SpaceSpec:
    raw = _mapping(raw, where, "{name: resnext, cardinality: {dist: power_of_two, lo: 1, hi: 32}}")
    _refuse_unknown(raw, ("name", *FREE_PARAMS), where)
    name = raw.get("name")
    if name is None:
        raise UserError(f"{where}.name: required key is missing")
    if not isinstance(name, str) or not _SPACE_NAME.fullmatch(name) or len(name) > 64:
        # (it starts every sampled configuration's name, which must stay a safe name: validate.require_name)
        raise UserError(f"{where}.name: expected a name of letters, digits, '_' and '.' (at most 64), "
                        f"got {shown(name)}")
    if raw.get("bottleneck_width") is not None and raw.get("group_width") is not None:
        raise UserError(f"{where}.group_width: give bottleneck_width or group_width (d = group_width / C), not both")
    params = tuple((p, _dist_from_dict(raw[p], p, f"{where}.{p}")) for p in FREE_PARAMS if raw.get(p) is not None)
    sizes = [DISTRIBUTIONS[d.dist].support(d) for _, d in params]
    if not any(size > 1 for size in sizes):
        raise UserError(f"{where}: no free parameter: give one of {', '.join(FREE_PARAMS)} a distribution "
                        "with more than one value")
    if math.prod(sizes) < count:
        raise UserError(f"{where}: the space holds at most {math.prod(sizes)} distinct models, fewer than "
                        f"sample.count = {count}")
    return SpaceSpec(name, params)


def _band_from_dict(raw, where: str) -> BandSpec:
    raw = _mapping(raw, where, "{target: flops, lo: 0.9e6, hi: 1.1e6}")
    _refuse_unknown(raw, ("target", "lo", "hi"), where)
    target = raw.get("target", "flops")
    if target not in BAND_TARGETS:
        raise UserError(f"{where}.target: expected one of {', '.join(BAND_TARGETS)}, got {target!r}")
    bounds = {}
    for key in ("lo", "hi"):
        if key not in raw:
            raise UserError(f"{where}.{key}: required key is missing")
        bounds[key] = coerce(raw[key], float, f"{where}.{key}")  # 0.9e6 (a string to YAML 1.1) is a number
        require_number(f"{where}.{key}", bounds[key], 0, low_open=False, limit=LIMITS["sample.band"])
    if bounds["lo"] > bounds["hi"]:
        raise UserError(f"{where}.lo: expected lo <= hi, got lo = {bounds['lo']:g} > hi = {bounds['hi']:g}")
    return BandSpec(lo=bounds["lo"], hi=bounds["hi"], target=target)


def sample_from_dict(raw, where: str = "sample") -> SampleSpec:
    """Validate an ablation's `sample:` mapping; every mistake is one UserError line naming the key."""
    raw = _mapping(raw, where, "{seed: 0, count: 32, band: {...}, spaces: [...]}")
    _refuse_unknown(raw, ("seed", "count", "band", "spaces"), where)
    seed = raw.get("seed", 0)
    require_int(f"{where}.seed", seed, 0, limit=LIMITS["seeds"])
    if "count" not in raw:
        raise UserError(f"{where}.count: required key is missing (models drawn per space)")
    count = raw["count"]
    require_int(f"{where}.count", count, 1, limit=LIMITS["sample.count"])
    band = None if raw.get("band") is None else _band_from_dict(raw["band"], f"{where}.band")
    spaces = raw.get("spaces")
    if not isinstance(spaces, list) or not spaces:
        raise UserError(f"{where}.spaces: expected a non-empty list of spaces, got {spaces!r}")
    parsed: list[SpaceSpec] = []
    for i, item in enumerate(spaces):
        space = _space_from_dict(item, count, f"{where}.spaces[{i}]")
        if any(s.name == space.name for s in parsed):
            raise UserError(f"{where}.spaces[{i}].name: space {space.name!r} is listed twice")
        parsed.append(space)
    return SampleSpec(count=count, spaces=tuple(parsed), seed=seed, band=band)


# ---------------------------------------------------------------- sampling

@dataclass(frozen=True)
class Sample:
    """One sampled model: its space, its index there (draw order), the model and its complexity."""

    space: str
    index: int
    model: ModelSpec
    complexity: Complexity
    tags: tuple[str, ...] = ()  # the other fields the space samples, as name parts ("bp18")

    @property
    def name(self) -> str:
        """`resnet-000-1x11d`, and `-bp18` when the space samples base planes (its models differ in them)."""
        return "-".join([self.space, f"{self.index:03d}", self.model.label, *self.tags])


def space_rng(seed: int, space: str) -> random.Random:
    """The stream of one space: a function of (seed, space name) only, the same on every machine."""
    digest = hashlib.sha256(f"resnext-bench/sample/{seed}/{space}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def sample_space(space: SpaceSpec, count: int, band: Optional[BandSpec], seed: int, base: ModelSpec,
                 image_size: int, where: str = "sample") -> list[Sample]:
    """`count` distinct models of `space` in `band`, by rejection (a duplicate or out-of-band draw is drawn again)."""
    rng = space_rng(seed, space.name)
    steps = [(DISTRIBUTIONS[d.dist].draw, d, FREE_PARAMS[p].apply) for p, d in space.params]
    tags = [FREE_PARAMS[p].tag for p, d in space.params  # a field the space draws from more than one value
            if FREE_PARAMS[p].tag is not None and DISTRIBUTIONS[d.dist].support(d) > 1]
    seen: set = set()  # every model tried, kept or not: a repeat costs no complexity count
    out: list[Sample] = []
    low = high = None  # the target's range over the models tried
    cap = max_draws(count)
    for _ in range(cap):
        fields: dict = {}
        ok = True
        for draw, dist, apply in steps:
            ok = apply(fields, draw(rng, dist), base) and ok
        key = tuple(sorted(fields.items()))
        if not ok or key in seen:
            continue
        seen.add(key)
        model = dataclasses.replace(base, **fields)
        c = complexity(model, image_size)
        if band is not None:
            value = getattr(c, band.target)
            low = value if low is None else min(low, value)
            high = value if high is None else max(high, value)
            if not band.lo <= value <= band.hi:
                continue
        out.append(Sample(space.name, len(out), model, c, tuple(tag(model) for tag in tags)))
        if len(out) == count:
            return out
    if band is None:
        raise UserError(f"{where}: space {space.name!r} gave only {len(out)} distinct models of sample.count = "
                        f"{count} in {cap} draws")
    seen_range = "no valid model was drawn" if low is None else f"its models' {band.target} spanned {si(low)}..{si(high)}"
    raise UserError(f"{where}: band unreachable for space {space.name!r}: {len(out)} of {count} distinct models "
                    f"had {band.target} in [{si(band.lo)}, {si(band.hi)}] after {cap} draws; {seen_range}")


def sample_models(sample: SampleSpec, base: ModelSpec, image_size: int) -> list[Sample]:
    """Every space's models, space by space in file order."""
    out: list[Sample] = []
    for i, space in enumerate(sample.spaces):
        out.extend(sample_space(space, sample.count, sample.band, sample.seed, base, image_size,
                                f"sample.spaces[{i}]"))
    return out
