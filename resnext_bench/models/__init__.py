"""Model construction: our ResNeXt family by spec or name, and timm/torchvision baselines."""
from __future__ import annotations

import contextlib

from torch import nn

from ..errors import UserError
from ..config.complexity import Complexity
from ..config.specs import BaselineSpec, ModelSpec
from .complexity import measured_complexity
from .resnext import ResNeXt, copy_grouped_weights

# Named configurations of the paper and of torchvision/timm (ImageNet heads unless stated).
NAMED: dict[str, ModelSpec] = {
    "resnet50": ModelSpec("imagenet-50", 1, 64),
    "resnet101": ModelSpec("imagenet-101", 1, 64),
    "resnet152": ModelSpec("imagenet-152", 1, 64),
    "resnet200": ModelSpec("imagenet-200", 1, 64),
    "resnext50_32x4d": ModelSpec("imagenet-50", 32, 4),
    "resnext101_32x4d": ModelSpec("imagenet-101", 32, 4),
    "resnext101_32x8d": ModelSpec("imagenet-101", 32, 8),
    "resnext101_64x4d": ModelSpec("imagenet-101", 64, 4),
    "resnext101_2x64d": ModelSpec("imagenet-101", 2, 64),
    "resnet101_1x100d": ModelSpec("imagenet-101", 1, 100),
    "wide_resnet50_2": ModelSpec("imagenet-50", 1, 128),
    "resnext29_8x64d": ModelSpec("cifar-29", 8, 64, num_classes=10),
    "resnext29_16x64d": ModelSpec("cifar-29", 16, 64, num_classes=10),
}


def named_spec(name: str) -> ModelSpec:
    """The ModelSpec of a named configuration such as 'resnext50_32x4d'."""
    try:
        return NAMED[name]
    except KeyError:
        raise UserError(f"unknown model {name!r}; known: {', '.join(NAMED)}") from None


@contextlib.contextmanager
def _kwargs_refused(spec: BaselineSpec):
    """The ablation's kwargs reach the library's model: one its constructor or forward pass refuses is the user's
    error, not a bug."""
    try:
        yield
    except (TypeError, ValueError, AssertionError) as e:
        if not spec.kwargs:
            raise
        text = " ".join(str(e).split())[:160]
        raise UserError(f"{spec.name}: kwargs {dict(spec.kwargs)!r:.120} refused ({type(e).__name__}: {text})") from None


def build_baseline(spec: BaselineSpec) -> nn.Module:
    """A timm or torchvision model with random weights (nothing is downloaded)."""
    kwargs = dict(spec.kwargs)
    if spec.library == "timm":
        import timm

        if not timm.is_model(spec.arch):
            raise UserError(f"timm has no model {spec.arch!r}")
        with _kwargs_refused(spec):
            return timm.create_model(
                spec.arch, pretrained=False, num_classes=spec.num_classes, in_chans=spec.in_chans, **kwargs
            )
    import torchvision

    if spec.arch not in torchvision.models.list_models():
        raise UserError(f"torchvision has no model {spec.arch!r}")
    with _kwargs_refused(spec):
        model = torchvision.models.get_model(spec.arch, weights=None, num_classes=spec.num_classes, **kwargs)
    if spec.in_chans != 3:
        # torchvision's ResNets take 3 channels; swap the stem conv for other inputs.
        old = model.conv1
        model.conv1 = nn.Conv2d(spec.in_chans, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
    return model


def build_model(spec: ModelSpec | BaselineSpec | str) -> nn.Module:
    """Build a model from a spec, a named configuration, or 'timm:NAME' / 'torchvision:NAME'."""
    if isinstance(spec, str):
        spec = BaselineSpec(spec) if ":" in spec else named_spec(spec)
    if isinstance(spec, BaselineSpec):
        return build_baseline(spec)
    return ResNeXt(spec)



def baseline_complexity(spec: BaselineSpec, image_size: int) -> Complexity:
    """A timm/torchvision baseline's params and FLOPs, measured on the built model; no block_params
    or activations (those are our family's analytic counts)."""
    model = build_baseline(spec)
    with _kwargs_refused(spec):  # a kwarg the constructor stores but the forward pass refuses (drop_rate: abc)
        measured = measured_complexity(model, image_size, spec.in_chans)
    return Complexity(measured["params"], measured["params"], measured["flops"], 0, 0)


__all__ = ["NAMED", "ResNeXt", "baseline_complexity", "measured_complexity", "build_model", "build_baseline",
           "named_spec", "copy_grouped_weights"]
