"""What the throughput benchmark measures: models, settings (precision, memory format, compiled or
eager) and the device, from what the caller or the command line names.

Models are named as `build_model` names them (a NAMED configuration, `timm:NAME`,
`torchvision:NAME`), as a ModelSpec, or as a spec string TEMPLATE:CxDd (e.g. `cifar-29:2x4d`,
`imagenet-50:32x4d`) for configurations without a name.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import torch

from ..config.registries import PRECISIONS
from ..config.specs import BaselineSpec, ModelSpec
from ..config.templates import TEMPLATES, get_template
from ..errors import UserError, printable
from ..models import NAMED

SPEC_STRING = re.compile(r"^(?P<template>[a-z0-9-]+):(?P<c>\d+)x(?P<d>\d+)d?$")


@dataclass(frozen=True)
class Setting:
    """How a model runs: precision, memory format, compiled or eager."""

    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise UserError(f"precision: expected one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    @property
    def label(self) -> str:
        layout = "channels_last" if self.channels_last else "nchw"
        return f"{self.precision}-{layout}-{'compile' if self.compile else 'eager'}"


def setting_from_dict(raw: dict | Setting) -> Setting:
    """A Setting from a mapping with keys precision / channels_last / compile."""
    if isinstance(raw, Setting):
        return raw
    known = {f.name for f in dataclasses.fields(Setting)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UserError(f"setting key {unknown[0]!r} unknown (known: {', '.join(sorted(known))})")
    return Setting(**raw)


def parse_setting(token: str) -> Setting:
    """A Setting from a '+'-joined token such as 'eager', 'cl', 'cl+compile', 'bf16+cl+compile'."""
    values: dict = {}
    words = {"nchw": ("channels_last", False), "cl": ("channels_last", True),
             "channels_last": ("channels_last", True), "nhwc": ("channels_last", True),
             "eager": ("compile", False), "compile": ("compile", True)}
    for word in token.lower().split("+"):
        if word in PRECISIONS:
            values["precision"] = word
        elif word in words:
            key, value = words[word]
            values[key] = value
        else:
            raise UserError(f"setting {token!r}: unknown word {word!r} "
                            f"(use {', '.join(PRECISIONS)}, nchw, cl, eager, compile joined by '+')")
    return Setting(**values)


def resolve_model(model: str | ModelSpec, num_classes: int) -> tuple[str, ModelSpec | BaselineSpec]:
    """(label, spec) of a model given by name, 'timm:'/'torchvision:' name, ModelSpec or TEMPLATE:CxDd."""
    if isinstance(model, ModelSpec):
        spec = dataclasses.replace(model, num_classes=num_classes)
        form = "" if spec.block_form == "c" else f"-{spec.block_form}"
        return f"{spec.template}:{spec.label}{form}", spec
    if not isinstance(model, str):
        raise UserError(f"model {model!r}: expected a name or a ModelSpec")
    if model.startswith(("timm:", "torchvision:")):
        return model, BaselineSpec(model, num_classes=num_classes)
    match = SPEC_STRING.match(model)
    if match and match["template"] in TEMPLATES:
        return model, ModelSpec(match["template"], int(match["c"]), int(match["d"]), num_classes=num_classes)
    if model in NAMED:
        return model, dataclasses.replace(NAMED[model], num_classes=num_classes)
    raise UserError(f"unknown model {model!r}: use a named configuration ({', '.join(NAMED)}), "
                    "timm:NAME, torchvision:NAME or TEMPLATE:CxDd (e.g. cifar-29:2x4d)")


def resolve_device(device: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is a UserError."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):  # torch's words for a device it does not know: a traceback
        raise UserError(f"device {printable(device)}: expected auto, cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("device cuda requested but torch sees no GPU")
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"device {device!r}: expected auto, cpu or cuda")
    return dev


def total_stride(spec) -> int:
    """How much a model shrinks its input before its last stage: the smallest image it can take whole."""
    if isinstance(spec, ModelSpec):
        template = get_template(spec.template)
        return (4 if template.kind == "imagenet" else 1) * 2 ** (len(template.stage_blocks) - 1)
    return 32  # timm's and torchvision's ImageNet networks


def check_setting(setting: Setting, device: torch.device) -> None:
    """Refuse settings the device cannot run."""
    if setting.precision == "fp16" and device.type == "cpu":
        raise UserError("fp16 autocast is not supported on CPU here: use bf16 or fp32")
