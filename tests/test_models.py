"""The ResNeXt family: equivalent block forms, ecosystem state_dicts, template structure."""
from __future__ import annotations

import dataclasses
import gc

import pytest
import torch
from torch import nn

from resnext_bench.errors import UserError
from resnext_bench.models import NAMED, ResNeXt, build_model, copy_grouped_weights, named_spec
from resnext_bench.config.templates import TEMPLATES
from resnext_bench.config.specs import ModelSpec

from support.ablations import small_spec

# The five models torchvision and timm publish under the same names as ours.
ECOSYSTEM_NAMES = ["resnet50", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2"]


@torch.no_grad()
def perturb_norms(model: nn.Module, seed: int = 0) -> None:
    """Give every BN layer random affine params and running stats, so equal outputs mean something."""
    gen = torch.Generator().manual_seed(seed)

    def uniform(t: torch.Tensor, low: float, high: float) -> None:
        t.copy_(torch.rand(t.shape, generator=gen) * (high - low) + low)

    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            uniform(m.weight, 0.5, 1.0)
            uniform(m.bias, -0.2, 0.2)
            uniform(m.running_mean, -0.2, 0.2)
            uniform(m.running_var, 0.8, 1.6)


def assert_same_outputs(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5) -> None:
    """Tight float32 comparison, with the absolute floor scaled to the output's magnitude."""
    scale = expected.abs().max().item()
    assert torch.isfinite(expected).all()
    assert scale > 0
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * scale)


def run(model: nn.Module, x: torch.Tensor, train: bool) -> torch.Tensor:
    model.train(train)
    with torch.no_grad():
        return model(x)


# ---------------------------------------------------------------- forms a, b, c

FORM_SPECS = [
    small_spec("cifar-29", 1, 4),
    small_spec("cifar-29", 2, 4),
    small_spec("cifar-29", 4, 2),
    small_spec("imagenet-50", 1, 4),
    small_spec("imagenet-50", 2, 2),
    small_spec("imagenet-50", 4, 2),
    small_spec("cifar-29", 4, 2, shortcut=False),
    small_spec("imagenet-50", 2, 3, shortcut=False),
]


@pytest.mark.parametrize("spec", FORM_SPECS, ids=lambda s: f"{s.template}-{s.label}-sc{int(s.shortcut)}")
def test_forms_a_b_c_are_the_same_function(spec):
    torch.manual_seed(0)
    form_c = ResNeXt(spec)
    perturb_norms(form_c)
    size = 32 if spec.template.startswith("cifar") else 64
    x = torch.randn(2, 3, size, size)
    for form in ("a", "b"):
        other = ResNeXt(dataclasses.replace(spec, block_form=form))
        copy_grouped_weights(form_c, other)
        # float32, eval mode: only summation order differs between the forms.
        assert_same_outputs(run(other, x, False), run(form_c, x, False))
        # Batch statistics over a 2x2 map of two images amplify float32 rounding through 16
        # blocks (up to ~1e-3 without shortcuts), so train mode is checked in float64, where a
        # real difference between the forms would still show far above 1e-9.
        other64, form_c64 = other.double(), form_c.double()
        for train in (False, True):
            assert_same_outputs(run(other64, x.double(), train), run(form_c64, x.double(), train), rtol=1e-9)
        form_c.float()


def test_forms_a_and_b_really_have_separate_branches():
    spec = small_spec("imagenet-50", 4, 2)
    a = ResNeXt(dataclasses.replace(spec, block_form="a"))
    b = ResNeXt(dataclasses.replace(spec, block_form="b"))
    assert len(a.layer1[0].branches) == len(a.layer1[0].projections) == 4
    assert len(b.layer1[0].branches) == 4
    # No grouped convolution anywhere: the paths are explicit modules.
    for model in (a, b):
        assert all(m.groups == 1 for m in model.modules() if isinstance(m, nn.Conv2d))


# ---------------------------------------------------------------- ecosystem state_dicts

def _compare_with_loaded(theirs: nn.Module, name: str) -> None:
    """Load `theirs` into our named spec strictly and compare eval-mode outputs."""
    perturb_norms(theirs, seed=1)
    ours = build_model(name)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    assert_same_outputs(run(ours, x, False), run(theirs, x, False))


@pytest.mark.parametrize("name", ECOSYSTEM_NAMES)
def test_torchvision_state_dicts_load_strictly_and_give_the_same_outputs(name):
    import torchvision

    torch.manual_seed(0)
    theirs = torchvision.models.get_model(name, weights=None)
    _compare_with_loaded(theirs, name)
    del theirs
    gc.collect()


@pytest.mark.parametrize("name", ECOSYSTEM_NAMES)
def test_timm_state_dicts_load_strictly_and_give_the_same_outputs(name):
    import timm

    assert timm.is_model(name)
    torch.manual_seed(0)
    theirs = timm.create_model(name, pretrained=False)
    _compare_with_loaded(theirs, name)
    del theirs
    gc.collect()


def test_our_state_dict_loads_strictly_into_torchvision():
    import torchvision

    torch.manual_seed(0)
    ours = build_model("resnext50_32x4d")
    perturb_norms(ours, seed=3)
    theirs = torchvision.models.get_model("resnext50_32x4d", weights=None)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    assert_same_outputs(run(theirs, x, False), run(ours, x, False))


# ---------------------------------------------------------------- template structure

def main_path_depth(model: ResNeXt) -> int:
    """Weighted layers on the main path: stem conv, three convs a block, fc (projections excluded)."""
    convs = sum(
        isinstance(m, nn.Conv2d) and ".downsample." not in f".{name}."
        for name, m in model.named_modules()
    )
    return convs + sum(isinstance(m, nn.Linear) for m in model.modules())


@pytest.mark.parametrize(
    "template, blocks, depth",
    [
        ("imagenet-50", (3, 4, 6, 3), 50),
        ("imagenet-101", (3, 4, 23, 3), 101),
        ("imagenet-152", (3, 8, 36, 3), 152),
        ("imagenet-200", (3, 24, 36, 3), 200),
        ("cifar-29", (3, 3, 3), 29),
    ],
)
def test_templates_have_the_papers_stage_blocks_and_depth(template, blocks, depth):
    assert TEMPLATES[template].stage_blocks == blocks
    assert TEMPLATES[template].depth == depth
    model = ResNeXt(small_spec(template, 2, 2))
    assert tuple(len(getattr(model, name)) for name in model.stage_names) == blocks
    assert main_path_depth(model) == depth


def test_stride_two_sits_on_the_3x3_conv_of_the_first_block_of_stages_2_to_4():
    model = ResNeXt(small_spec("imagenet-50", 4, 2))
    assert model.conv1.stride == (2, 2)
    for i, name in enumerate(model.stage_names):
        for j, block in enumerate(getattr(model, name)):
            expected = (2, 2) if (i > 0 and j == 0) else (1, 1)
            assert block.conv2.stride == expected, f"{name}[{j}].conv2"
            assert block.conv2.kernel_size == (3, 3)
            assert block.conv1.stride == block.conv3.stride == (1, 1), f"{name}[{j}]"
            if block.downsample is not None:
                assert block.downsample[0].stride == expected


@pytest.mark.parametrize("template", ["imagenet-50", "cifar-29"])
def test_projection_shortcuts_exist_only_where_the_shape_changes(template):
    model = ResNeXt(small_spec(template, 2, 2))
    for name in model.stage_names:
        stage = getattr(model, name)
        # Exactly one projection a stage, on its first block (stage 1 widens 8 -> 32 channels).
        assert [block.downsample is not None for block in stage] == [True] + [False] * (len(stage) - 1)
        first = stage[0]
        assert first.downsample[0].in_channels == first.conv1.in_channels
        assert first.downsample[0].out_channels == first.conv3.out_channels


def test_a_stage_that_keeps_its_shape_has_an_identity_shortcut():
    # stem_width == 4 * base_planes: the first block of stage 1 changes nothing, so no projection.
    model = ResNeXt(small_spec("cifar-29", 2, 2, stem_width=32))
    assert model.layer1[0].downsample is None
    assert model.layer2[0].downsample is not None


@pytest.mark.parametrize("template", ["imagenet-50", "cifar-29"])
def test_without_shortcuts_there_is_no_projection_and_the_output_shape_holds(template):
    model = ResNeXt(small_spec(template, 2, 2, shortcut=False))
    assert not any(".downsample" in name for name, _ in model.named_modules())
    assert all(getattr(m, "downsample", None) is None for m in model.modules())
    size = 32 if template.startswith("cifar") else 64
    out = run(model, torch.randn(2, 3, size, size), False)
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("size", [8, 9, 17, 32, 40])
def test_resnext29_accepts_any_input_size_from_8(size):
    model = ResNeXt(small_spec("cifar-29", 2, 2))
    out = run(model, torch.randn(2, 3, size, size), False)
    assert out.shape == (2, 10)


def test_resnext29_maps_are_32_16_8_for_a_32x32_input():
    model = ResNeXt(small_spec("cifar-29", 2, 2))
    sizes = {}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: sizes.__setitem__(name, tuple(out.shape[-2:]))
        )
        for name in model.stage_names
    ]
    run(model, torch.randn(1, 3, 32, 32), False)
    for hook in hooks:
        hook.remove()
    assert sizes == {"layer1": (32, 32), "layer2": (16, 16), "layer3": (8, 8)}


# ---------------------------------------------------------------- any C x d, invalid specs

@pytest.mark.parametrize("cardinality, width", [(1, 1), (3, 5), (64, 1)])
@pytest.mark.parametrize("template", ["cifar-29", "imagenet-50"])
def test_any_cardinality_and_width_from_1_builds(template, cardinality, width):
    model = ResNeXt(small_spec(template, cardinality, width, base_planes=4))
    for i, name in enumerate(model.stage_names):
        conv2 = getattr(model, name)[0].conv2
        assert conv2.groups == cardinality
        assert conv2.out_channels == cardinality * width * 2**i
    size = 9 if template.startswith("cifar") else 33
    assert run(model, torch.randn(2, 3, size, size), True).shape == (2, 10)


@pytest.mark.parametrize(
    "overrides",
    [
        {"cardinality": 0},
        {"bottleneck_width": 0},
        {"cardinality": -2},
        {"template": "imagenet-34"},
        {"block_form": "z"},
        {"base_planes": 0},
        {"num_classes": 0},
    ],
    ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()),
)
def test_invalid_specs_raise_user_error(overrides):
    fields = dict(template="imagenet-50", cardinality=2, bottleneck_width=4)
    fields.update(overrides)
    with pytest.raises(UserError):
        build_model(ModelSpec(**fields))


def test_unknown_model_names_raise_user_error():
    with pytest.raises(UserError, match="resnext50_32x4d"):  # the message lists the known names
        named_spec("resnext51_32x4d")
    with pytest.raises(UserError):
        build_model("resnext51_32x4d")
    with pytest.raises(UserError):
        build_model("timm:no_such_model")
    with pytest.raises(UserError):
        build_model("torchvision:no_such_model")


# ---------------------------------------------------------------- named builders

def build_on_meta(name: str) -> nn.Module:
    """Structure without storage: fast enough to build every named model, even the 200-layer one."""
    with torch.device("meta"):
        return build_model(name)


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_builders_build_the_right_group_counts_and_widths(name):
    spec = NAMED[name]
    model = build_on_meta(name)
    assert isinstance(model, ResNeXt) and model.spec == spec
    assert model.fc.out_features == spec.num_classes
    for i, stage in enumerate(model.stage_names):
        for block in getattr(model, stage):
            assert block.conv2.groups == spec.cardinality
            assert block.conv2.out_channels == spec.cardinality * spec.bottleneck_width * 2**i
            assert block.conv3.out_channels == 4 * spec.base_planes * 2**i


@pytest.mark.parametrize(
    "name, groups, width",
    [
        ("resnet50", 1, 64),
        ("resnext50_32x4d", 32, 128),
        ("resnext101_32x8d", 32, 256),
        ("resnext101_64x4d", 64, 256),
        ("wide_resnet50_2", 1, 128),
        ("resnext29_8x64d", 8, 512),
        ("resnext29_16x64d", 16, 1024),
    ],
)
def test_named_builders_match_their_names(name, groups, width):
    conv2 = build_on_meta(name).layer1[0].conv2
    assert (conv2.groups, conv2.out_channels) == (groups, width)
