"""Strict YAML loading: types coerced from the dataclass annotations, unknown keys refused, overrides applied.

Any mistake becomes one `UserError` line that names the file and the key.
"""
from __future__ import annotations

import copy
import math
import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, Union

from ..errors import UserError
from .yamlfile import YamlRefused, parse_yaml, read_yaml_mapping
from .specs import LIMITS, RECIPES, STUDIES, AblationSpec, BaselineSpec, RecipeSpec
from .templates import get_template
from .validate import is_number, require_int, require_name, shown, shown_key


# A decimal number, optionally with an exponent: 1e-4, 5E-4, 1e+6, -2.5e-3, .5, 3. (not nan, inf, 0x10, 1_000).
_NUMBER_LITERAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def coerce(value, tp, where: str):
    """Check `value` against the annotation `tp` and convert lists to tuples / mappings to specs."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return coerce(value, args[0], where)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a mapping, got {shown(value)}")
        return build(tp, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where}: expected a list, got {shown(value)}")
        item_tp = typing.get_args(tp)[0]
        return tuple(coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a mapping, got {shown(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where}: expected true or false, got {shown(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where}: expected an integer, got {shown(value)}")
        return value
    if tp is float:
        if isinstance(value, str) and _NUMBER_LITERAL.fullmatch(value):
            value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string; it is a number here
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where}: expected a number, got {shown(value)}")
        if not is_number(value):
            raise UserError(f"{where}: expected a finite number, got {shown(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise UserError(f"{where}: expected a string, got {shown(value)}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} at {where}")


def build(cls, mapping: dict, where: str = ""):
    """Build dataclass `cls` from `mapping`, refusing unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    prefix = f"{where}." if where else ""
    unknown = sorted(set(mapping) - names, key=str)
    if unknown:
        raise UserError(f"{prefix}{shown_key(unknown[0])}: unknown key (known: {', '.join(sorted(names))})")
    kwargs = {k: coerce(v, hints[k], f"{prefix}{k}") for k, v in mapping.items()}
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
        raise UserError(f"recipe: expected a preset name or a mapping, got {shown(value)}")
    name = value.get("name", "short")
    if not isinstance(name, str) or name not in RECIPES:
        raise UserError(f"recipe.name: unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    base = dataclasses.asdict(RECIPES[name])
    base.update(value)
    return build(RecipeSpec, base, "recipe")


_SET_BY_THE_SUITE = ("num_classes", "in_chans", "pretrained", "weights")  # a baseline's kwargs may not repeat them


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
    require_name("name", spec.name)  # the sweep folder's name: sweeps/NAME
    spec = dataclasses.replace(spec, recipe=resolve_recipe(recipe))
    if sample is not None:
        from .samplers import sample_from_dict

        spec = dataclasses.replace(spec, sample=sample_from_dict(sample, "sample"))
    if not spec.cardinalities and not spec.configurations and spec.sample is None:
        raise UserError("cardinalities / configurations / sample: the ablation lists no configuration")
    if spec.cardinalities and spec.reference is None:
        raise UserError("reference: required when cardinalities are given (the configuration to match)")
    for i, c in enumerate(spec.cardinalities):
        require_int(f"cardinalities[{i}]", c, 1, limit=LIMITS["model.cardinality"])
    for key in ("cardinality", "bottleneck_width"):
        if spec.reference is not None:
            require_int(f"reference.{key}", getattr(spec.reference, key), 1, limit=LIMITS[f"model.{key}"])
    for i, entry in enumerate(spec.configurations):
        if entry.name is not None:
            require_name(f"configurations[{i}].name", entry.name)
        for key in ("cardinality", "bottleneck_width", "base_planes", "stem_width"):
            require_int(f"configurations[{i}].{key}", getattr(entry, key), 1, optional=True,
                        limit=LIMITS[f"model.{key}"])
        if entry.template is not None:
            try:
                get_template(entry.template)
            except UserError as e:
                raise UserError(f"configurations[{i}].template: {e}") from None
        if entry.baseline is None and entry.kwargs is not None:
            raise UserError(f"configurations[{i}].kwargs: only a baseline takes kwargs")
        for key in entry.kwargs or {}:
            if not isinstance(key, str) or key in _SET_BY_THE_SUITE:
                raise UserError(f"configurations[{i}].kwargs: {shown_key(key)} is not a model keyword the file may "
                                f"set ({', '.join(_SET_BY_THE_SUITE)} come from the data set and the suite)")
        if entry.baseline is not None:
            try:
                BaselineSpec(entry.baseline)
            except UserError as e:
                raise UserError(f"configurations[{i}].baseline: {e}") from None
    if not spec.seeds:
        raise UserError("seeds: expected at least one seed")
    for i, seed in enumerate(spec.seeds):
        require_int(f"seeds[{i}]", seed, 0, limit=LIMITS["seeds"])
        if seed in spec.seeds[:i]:
            raise UserError(f"seeds[{i}]: seed {seed} is listed twice")
    if spec.min_effect is not None and not (math.isfinite(spec.min_effect) and spec.min_effect > 0):
        raise UserError(f"min_effect: expected a number of points > 0, got {spec.min_effect}")
    if spec.study is not None and spec.study not in STUDIES:
        raise UserError(f"study: expected one of {', '.join(STUDIES)} (or leave it out), got {spec.study!r}")
    return spec


_OVERRIDE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def _quoted(text: str, limit: int = 80) -> str:
    """`text` quoted on one line (newlines escaped), cut at `limit` characters."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def apply_overrides(raw: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """Apply `dotted.key=value` overrides (values parsed as YAML) to a raw ablation mapping."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not _OVERRIDE_KEY.fullmatch(key):
            raise UserError(f"override {_quoted(item)}: expected KEY=VALUE with KEY a dotted field name, "
                            "e.g. recipe.epochs=3")
        try:
            value = parse_yaml(text, key)
        except YamlRefused as e:
            raise UserError(f"{key}: {e.why.removeprefix('line 1: ')} (in --set {_quoted(item)})") from None
        parts = key.split(".")
        node = raw
        for part in parts[:-1]:
            child = node.get(part)
            if part == "recipe" and isinstance(child, str):
                child = {"name": child}  # a preset name grows into a mapping to take the override
            if child is None:
                child = {}
            if not isinstance(child, dict):
                raise UserError(f"override {_quoted(item)}: {part} is not a mapping")
            node[part] = child
            node = child
        node[parts[-1]] = value
    return raw


def load_ablation(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> AblationSpec:
    """Read and strictly validate an ablation file, after applying `key=value` overrides."""
    raw = read_yaml_mapping(path)
    if overrides:
        raw = apply_overrides(raw, overrides)
    try:
        return ablation_from_dict(raw, str(path))
    except UserError as e:
        raise UserError(f"{path}: {e}") from None
