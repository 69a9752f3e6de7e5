"""Analytic complexity of a ModelSpec, without building the model (as pycls does); counts measured
on a built model (fvcore) are models.measured_complexity.

"FLOPs" follow the paper (Sec. 3.1), torchvision and timm: multiply-adds of conv and fc layers.
`params` counts every learnable parameter (== sum(p.numel()) of the built model);
`params_conv_fc` leaves out batch-norm affine parameters, the convention of the paper's Table 1.
`block_params` is Eqn. 4: conv parameters of a conv2-stage block, C * (256d + 9d^2 + 256d).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Optional

from .specs import BaselineSpec, ModelSpec, stage_widths
from .templates import get_template


@dataclass(frozen=True)
class Complexity:
    params: int
    params_conv_fc: int
    flops: int  # multiply-adds of conv + fc
    acts: int  # output elements of conv + fc layers
    block_params: int

    def as_dict(self) -> dict:
        return asdict(self)


def _conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


class _Tally:
    """Running sums over layers; `times` counts identical repeated blocks once."""

    def __init__(self):
        self.conv_fc = self.bn = self.flops = self.acts = 0

    def conv(self, cin, cout, k, h_out, w_out, groups=1, times=1, outputs=1):
        """`outputs`: how many separate tensors of cout channels the layer's weights produce."""
        weights = cout * (cin // groups) * k * k
        self.conv_fc += times * weights
        self.flops += times * weights * h_out * w_out
        self.acts += times * outputs * cout * h_out * w_out

    def norm(self, channels, times=1):
        self.bn += times * 2 * channels

    def block(self, cin, width, cout, groups, stride, h, w, shortcut, form="c", times=1):
        ho, wo = _conv_out(h, 3, stride, 1), _conv_out(w, 3, stride, 1)
        self.conv(cin, width, 1, h, w, times=times)
        self.conv(width, width, 3, ho, wo, groups=groups, times=times)
        # Form (a) ends each of its C branches in its own 1x1 to cout and sums them: the same
        # weights and multiply-adds as one dense 1x1, but C output tensors instead of one.
        self.conv(width, cout, 1, ho, wo, times=times, outputs=groups if form == "a" else 1)
        self.norm(2 * width + cout, times=times)
        if shortcut and (stride != 1 or cin != cout):
            self.conv(cin, cout, 1, ho, wo, times=times)
            self.norm(cout, times=times)
        return ho, wo


def complexity(spec: ModelSpec, input_size: int | tuple[int, int] | None = None) -> Complexity:
    """Params, multiply-adds and activations of `spec` at `input_size` (template default if None)."""
    template = get_template(spec.template)
    if input_size is None:
        input_size = template.image_size
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    t = _Tally()
    if template.kind == "imagenet":
        h, w = _conv_out(h, 7, 2, 3), _conv_out(w, 7, 2, 3)
        t.conv(spec.in_chans, spec.stem_width, 7, h, w)
        h, w = _conv_out(h, 3, 2, 1), _conv_out(w, 3, 2, 1)
    else:
        t.conv(spec.in_chans, spec.stem_width, 3, h, w)
    t.norm(spec.stem_width)
    cin = spec.stem_width
    for i, n_blocks in enumerate(template.stage_blocks):
        width, cout = stage_widths(spec, i)
        # The first block may stride and project; the other n-1 are identical, counted at once.
        h, w = t.block(cin, width, cout, spec.cardinality, 2 if i > 0 else 1, h, w, spec.shortcut, spec.block_form)
        if n_blocks > 1:
            t.block(cout, width, cout, spec.cardinality, 1, h, w, spec.shortcut, spec.block_form, times=n_blocks - 1)
        cin = cout
    t.conv_fc += cin * spec.num_classes + spec.num_classes
    t.flops += cin * spec.num_classes
    t.acts += spec.num_classes
    return Complexity(
        params=t.conv_fc + t.bn,
        params_conv_fc=t.conv_fc,
        flops=t.flops,
        acts=t.acts,
        block_params=block_params(spec),
    )


def block_params(spec: ModelSpec) -> int:
    """Eqn. 4: conv parameters of a (non-first) block of the first stage."""
    width, cout = stage_widths(spec, 0)
    return cout * width + width * (width // spec.cardinality) * 9 + width * cout


# A baseline (timm:/torchvision:) is measured by building it, which only `models` can do, and models
# sits above config. So config never imports models: the package root (resnext_bench/__init__.py)
# registers models.baseline_complexity here, behind a lazy import, so planning never loads torch.
_baseline_measure: Optional[Callable[[BaselineSpec, int], Complexity]] = None


def register_baseline_measure(measure: Callable[[BaselineSpec, int], Complexity]) -> None:
    """Set how a baseline's complexity is measured (models.baseline_complexity, or a test's stand-in)."""
    global _baseline_measure
    _baseline_measure = measure


def baseline_complexity(spec: BaselineSpec, image_size: int) -> Complexity:
    """A timm/torchvision baseline's params and FLOPs, measured by the registered measure."""
    if _baseline_measure is None:
        raise RuntimeError("no baseline measure registered (resnext_bench/__init__.py registers models')")
    return _baseline_measure(spec, image_size)
