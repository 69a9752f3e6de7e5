"""Equal-complexity solver and ablation expansion.

For each cardinality C the solver picks the integer bottleneck width d whose complexity is
nearest the reference configuration's (the paper matches Eqn. 4, the conv2-stage block's
parameters, and rounds d to an integer), and refuses a C that cannot stay within the band.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from .complexity import Complexity, baseline_complexity, block_params, complexity
from ..errors import UserError
from ..units import si
from .specs import LIMITS, AblationSpec, BaselineSpec, ConfigEntry, ModelSpec

MAX_WIDTH = int(LIMITS["model.bottleneck_width"])  # the widest d the solver tries


@dataclass(frozen=True)
class Configuration:
    """One model of an ablation with its complexity and deviation from the reference."""

    name: str
    model: ModelSpec | BaselineSpec
    complexity: Complexity
    params_dev_pct: float
    flops_dev_pct: float
    block_params_dev_pct: Optional[float]
    space: Optional[str] = None  # the design space it was sampled from (None: listed or solved)
    sampled: bool = False  # its ablation samples design spaces: its row carries a space column

    def row(self) -> dict:
        """A flat record (the CSV/JSON row); a "space" column only when the ablation samples."""
        m = self.model
        ours = isinstance(m, ModelSpec)
        return {
            "name": self.name,
            **({"space": self.space} if self.sampled else {}),
            "template": m.template if ours else m.name,
            "cardinality": m.cardinality if ours else None,
            "bottleneck_width": m.bottleneck_width if ours else None,
            "group_width": m.group_width if ours else None,
            "shortcut": m.shortcut if ours else True,
            "params": self.complexity.params,
            "params_conv_fc": self.complexity.params_conv_fc,
            "flops": self.complexity.flops,
            "block_params": self.complexity.block_params if ours else None,
            "params_dev_pct": round(self.params_dev_pct, 2),
            "flops_dev_pct": round(self.flops_dev_pct, 2),
            "block_params_dev_pct": None if self.block_params_dev_pct is None else round(self.block_params_dev_pct, 2),
        }


def _dev(value: float, ref: float) -> float:
    return 100.0 * (value - ref) / ref


def _metric(spec: ModelSpec, target: str, image_size: int) -> int:
    if target == "block_params":
        return block_params(spec)  # closed form, no need for the whole model
    c = complexity(spec, image_size)
    return c.params if target == "params" else c.flops


def solve_width(base: ModelSpec, cardinality: int, target: str, goal: int, tolerance_pct: float,
                image_size: int, ref_label: str) -> int:
    """The integer d for `cardinality` whose `target` complexity is nearest `goal` (within the band)."""
    def at(d: int) -> int:
        return _metric(dataclasses.replace(base, cardinality=cardinality, bottleneck_width=d), target, image_size)

    # Complexity grows with d: find the first d at or above the goal by bisection, then pick the
    # nearer of it and its predecessor.
    lo, hi = 1, MAX_WIDTH
    while lo < hi:
        mid = (lo + hi) // 2
        if at(mid) >= goal:
            hi = mid
        else:
            lo = mid + 1
    candidates = [d for d in (lo - 1, lo) if d >= 1]
    best = min(candidates, key=lambda d: (abs(at(d) - goal), d))
    deviation = _dev(at(best), goal)
    if abs(deviation) > tolerance_pct:
        raise UserError(
            f"C={cardinality}: no integer d keeps {target} within ±{tolerance_pct:g}% of {ref_label} "
            f"(nearest is d={best}, {deviation:+.1f}%)"
        )
    return best


def _entry_model(defaults: ModelSpec, entry: ConfigEntry, classes: int, chans: int) -> ModelSpec | BaselineSpec:
    if entry.baseline is not None:
        kwargs = tuple(sorted((entry.kwargs or {}).items()))
        return BaselineSpec(entry.baseline, kwargs, num_classes=classes, in_chans=chans)
    overrides = {
        f.name: getattr(entry, f.name)
        for f in dataclasses.fields(ConfigEntry)
        if f.name in {g.name for g in dataclasses.fields(ModelSpec)} and getattr(entry, f.name) is not None
    }
    return dataclasses.replace(defaults, **overrides)


def _complexity_of(model: ModelSpec | BaselineSpec, image_size: int) -> Complexity:
    if isinstance(model, ModelSpec):
        return complexity(model, image_size)
    return baseline_complexity(model, image_size)


def default_name(model: ModelSpec) -> str:
    return model.label + ("" if model.shortcut else "-noshortcut")


def expand(ablation: AblationSpec) -> list[Configuration]:
    """Every configuration of an ablation: the solved C sweep, the explicit entries, then the sampled models."""
    classes, chans, image_size = ablation.data.shape
    base = dataclasses.replace(ablation.model, num_classes=classes, in_chans=chans)
    where = ablation.source or ablation.name
    models: list[tuple[str, ModelSpec | BaselineSpec]] = []
    ref_spec = None
    if ablation.reference is not None:
        ref_spec = dataclasses.replace(
            base, cardinality=ablation.reference.cardinality, bottleneck_width=ablation.reference.bottleneck_width
        )
    if ablation.cardinalities:
        target = ablation.match.target
        goal = _metric(ref_spec, target, image_size)
        for c in ablation.cardinalities:
            try:
                d = solve_width(base, c, target, goal, ablation.match.tolerance_pct, image_size, ref_spec.label)
            except UserError as e:
                raise UserError(f"{where}: cardinalities: {e}") from None
            spec = dataclasses.replace(base, cardinality=c, bottleneck_width=d)
            models.append((default_name(spec), spec))
    for i, entry in enumerate(ablation.configurations):
        try:
            model = _entry_model(base, entry, classes, chans)
        except UserError as e:
            raise UserError(f"{where}: configurations[{i}]: {e}") from None
        name = entry.name or (model.name if isinstance(model, BaselineSpec) else default_name(model))
        models.append((name, model))
    spaces: dict[str, str] = {}
    sampled: dict[str, Complexity] = {}
    if ablation.sample is not None:
        from .samplers import sample_models

        try:
            samples = sample_models(ablation.sample, base, image_size)
        except UserError as e:
            raise UserError(f"{where}: {e}") from None
        for s in samples:
            models.append((s.name, s.model))
            spaces[s.name], sampled[s.name] = s.space, s.complexity
    seen = set()
    for name, _ in models:
        if name in seen:
            raise UserError(f"{where}: configuration name {name!r} appears twice; give each a distinct name")
        seen.add(name)
    complexities = [sampled.get(name) or _complexity_of(m, image_size) for name, m in models]
    if ref_spec is not None:
        ref = complexity(ref_spec, image_size)
    else:  # without a reference, deviations are against the first configuration
        ref = complexities[0]
    out = []
    for (name, model), c in zip(models, complexities):
        ours = isinstance(model, ModelSpec)
        out.append(Configuration(
            name=name,
            model=model,
            complexity=c,
            params_dev_pct=_dev(c.params, ref.params),
            flops_dev_pct=_dev(c.flops, ref.flops),
            block_params_dev_pct=_dev(c.block_params, ref.block_params) if ours and ref.block_params else None,
            space=spaces.get(name),
            sampled=ablation.sample is not None,
        ))
    return out


def select(configs: list[Configuration], key: str | int) -> Configuration:
    """A configuration by name or 0-based index."""
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        i = int(key)
        if not 0 <= i < len(configs):
            raise UserError(f"configuration index {i} out of range (0..{len(configs) - 1})")
        return configs[i]
    for c in configs:
        if c.name == key:
            return c
    raise UserError(f"no configuration named {key!r}; known: {', '.join(c.name for c in configs)}")


def format_table(configs: list[Configuration]) -> str:
    """A readable fixed-width table of the grid: params and FLOPs to 3 significant figures ("25.6M",
    "4.09G"; the CSV and JSON rows keep them exact), deviations in percent."""
    rows = [c.row() for c in configs]
    wn = max([22] + [len(r["name"]) for r in rows])  # long baseline names widen the column, not shift the rest
    wt = max([18] + [len(r["template"]) for r in rows])
    with_space = any("space" in r for r in rows)  # the ablation samples design spaces
    ws = max([5] + [len(r.get("space") or "") for r in rows])
    space_head = f"{'space':<{ws}} " if with_space else ""
    header = (f"{'name':<{wn}} {space_head}{'template':<{wt}} {'C':>4} {'d':>5} {'C*d':>6} {'params':>10} "
              f"{'FLOPs':>10} {'dParams':>8} {'dFLOPs':>8} {'dBlock':>8}")
    lines = [header, "-" * len(header)]
    for r in rows:
        block = "" if r["block_params_dev_pct"] is None else f"{r['block_params_dev_pct']:+.1f}%"
        space = f"{r.get('space') or '':<{ws}} " if with_space else ""
        lines.append(
            f"{r['name']:<{wn}} {space}{r['template']:<{wt}} {r['cardinality'] or '':>4} {r['bottleneck_width'] or '':>5} "
            f"{r['group_width'] or '':>6} {si(r['params']):>10} {si(r['flops']):>10} "
            f"{r['params_dev_pct']:>+7.1f}% {r['flops_dev_pct']:>+7.1f}% {block:>8}".rstrip()
        )
    lines.append("FLOPs = multiply-adds of conv and fc layers (the paper's convention); deviations are from the reference.")
    return "\n".join(lines)
