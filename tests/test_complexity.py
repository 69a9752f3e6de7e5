"""Analytic complexity: it agrees with the built models, with fvcore, and with the published figures."""
from __future__ import annotations

import itertools
import time

import pytest
import torch
from torch import nn

from resnext_bench.config.complexity import block_params, complexity
from resnext_bench.models import NAMED, ResNeXt, build_model, measured_complexity
from resnext_bench.config.templates import TEMPLATES
from resnext_bench.config.specs import ModelSpec

from support.ablations import small_spec


def spec_id(spec: ModelSpec) -> str:
    keys = ("shortcut", "block_form", "in_chans", "num_classes", "base_planes", "stem_width")
    extras = [f"{k}={getattr(spec, k)}" for k in keys
              if getattr(spec, k) != getattr(ModelSpec, k)]
    return "-".join([spec.template, spec.label, *extras])


def built_params(spec: ModelSpec) -> int:
    """sum(numel) of the built model; built on the meta device, where shapes exist without storage."""
    with torch.device("meta"):
        model = ResNeXt(spec)
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- parameters

PARAM_SPECS = [
    *(ModelSpec(t, c, d) for t in TEMPLATES for c, d in [(1, 64), (2, 40), (32, 4), (64, 4), (1, 128)]),
    *(small_spec(t, c, d) for t in TEMPLATES for c, d in [(1, 1), (3, 5), (8, 3), (16, 2)]),
    ModelSpec("imagenet-50", 32, 4, shortcut=False),
    ModelSpec("cifar-29", 8, 64, shortcut=False, num_classes=10),
    ModelSpec("imagenet-101", 4, 24, in_chans=1, num_classes=10),
    ModelSpec("cifar-29", 16, 8, in_chans=1, num_classes=100, stem_width=16),
    small_spec("imagenet-200", 64, 1, stem_width=5, base_planes=3),
    ModelSpec("imagenet-152", 7, 9, block_form="b"),
    small_spec("cifar-29", 4, 3, block_form="a"),
]


@pytest.mark.parametrize("spec", PARAM_SPECS, ids=spec_id)
def test_analytic_parameters_equal_the_built_models(spec):
    assert complexity(spec).params == built_params(spec)


@pytest.mark.parametrize("spec", [ModelSpec("imagenet-50", 4, 24), small_spec("cifar-29", 2, 3)], ids=spec_id)
def test_params_conv_fc_leaves_out_exactly_the_batch_norm_affine_parameters(spec):
    with torch.device("meta"):
        model = ResNeXt(spec)
    norm_params = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    counted = complexity(spec)
    assert counted.params - counted.params_conv_fc == norm_params > 0


# ---------------------------------------------------------------- multiply-adds

FLOP_CASES = [
    (small_spec("imagenet-50", 1, 4), 64),
    (small_spec("imagenet-50", 4, 2), 33),
    (small_spec("imagenet-50", 3, 5), 65),
    (small_spec("imagenet-50", 2, 3, shortcut=False), 65),
    (small_spec("imagenet-50", 2, 2, in_chans=1, num_classes=7), 47),
    (small_spec("imagenet-101", 2, 2), 33),
    (small_spec("imagenet-152", 4, 1), 65),
    (small_spec("imagenet-200", 2, 1, base_planes=4, stem_width=4), 33),
    (small_spec("cifar-29", 1, 4), 32),
    (small_spec("cifar-29", 4, 2), 8),
    (small_spec("cifar-29", 8, 1), 9),
    (small_spec("cifar-29", 2, 3, shortcut=False), 17),
    (small_spec("cifar-29", 2, 2, in_chans=1, num_classes=100), 28),
    (small_spec("cifar-29", 4, 2, block_form="a"), 9),
    (small_spec("imagenet-50", 2, 2, block_form="b"), 33),
]


@pytest.mark.parametrize("spec, size", FLOP_CASES, ids=[f"{spec_id(s)}@{n}" for s, n in FLOP_CASES])
def test_analytic_multiply_adds_equal_fvcores_conv_and_linear_count(spec, size):
    measured = measured_complexity(ResNeXt(spec), size, spec.in_chans)
    counted = complexity(spec, size)
    assert counted.flops == measured["flops"]
    assert counted.params == measured["params"]


def test_a_full_size_resnext50_at_224_matches_fvcore():
    measured = measured_complexity(build_model("resnext50_32x4d"), 224)
    assert measured["flops"] == complexity(NAMED["resnext50_32x4d"]).flops == 4_230_479_872


def test_rectangular_inputs_are_counted_per_side():
    from fvcore.nn import FlopCountAnalysis

    spec = small_spec("imagenet-50", 2, 2)
    analysis = FlopCountAnalysis(ResNeXt(spec).eval(), torch.zeros(1, 3, 33, 70))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_op = analysis.by_operator()
    assert complexity(spec, (33, 70)).flops == by_op["conv"] + by_op["linear"]


@pytest.mark.parametrize("spec, size", [
    (small_spec("imagenet-50", 4, 2), 33), (small_spec("cifar-29", 2, 3), 9),
    (small_spec("cifar-29", 4, 2, block_form="a"), 9), (small_spec("cifar-29", 4, 2, block_form="b"), 9),
])
def test_activations_are_the_conv_and_fc_output_elements(spec, size):
    model = ResNeXt(spec).eval()
    outputs = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(lambda _m, _i, out: outputs.append(out.numel()))
    with torch.no_grad():
        model(torch.zeros(1, spec.in_chans, size, size))
    assert complexity(spec, size).acts == sum(outputs)


def test_the_default_input_size_is_the_templates():
    spec = ModelSpec("cifar-29", 8, 64, num_classes=10)
    assert complexity(spec) == complexity(spec, 32)
    assert complexity(NAMED["resnet50"]) == complexity(NAMED["resnet50"], (224, 224))


# ---------------------------------------------------------------- published figures

@pytest.mark.parametrize(
    "name, params_m, gflops",
    [("resnet50", 25.5, 4.1), ("resnext50_32x4d", 25.0, 4.2)],
)
def test_table_1_comes_out_at_the_papers_rounding(name, params_m, gflops):
    counted = complexity(NAMED[name])
    # The paper's parameter counts leave out batch-norm affine parameters (params_conv_fc).
    assert round(counted.params_conv_fc / 1e6, 1) == params_m
    assert round(counted.flops / 1e9, 1) == gflops


@pytest.mark.parametrize(
    "name, params, gflops",
    [
        ("resnet50", 25_557_032, 4.089),
        ("resnext50_32x4d", 25_028_904, 4.23),
        ("resnext101_32x8d", 88_791_336, 16.414),
        ("resnext101_64x4d", 83_455_272, 15.46),
        ("wide_resnet50_2", 68_883_240, 11.398),
    ],
)
def test_torchvisions_published_figures_come_out_exactly(name, params, gflops):
    counted = complexity(NAMED[name])
    assert counted.params == params  # torchvision counts every parameter, BN included
    assert round(counted.flops / 1e9, 3) == gflops


@pytest.mark.parametrize("name, params_m", [("resnext29_8x64d", 34.4), ("resnext29_16x64d", 68.1)])
def test_table_7_sizes_come_out_in_the_papers_convention(name, params_m):
    spec = NAMED[name]
    assert spec.num_classes == 10
    assert round(complexity(spec).params_conv_fc / 1e6, 1) == params_m


@pytest.mark.parametrize("cardinality, width", [(1, 64), (2, 40), (4, 24), (8, 14), (32, 4), (3, 7), (64, 1)])
def test_eqn_4_block_params(cardinality, width):
    spec = ModelSpec("imagenet-50", cardinality, width)
    c, d = cardinality, width
    assert block_params(spec) == c * (256 * d + 9 * d * d + d * 256)
    assert complexity(spec).block_params == block_params(spec)
    # And it is the conv weight count of a non-first block of the built conv2 stage.
    with torch.device("meta"):
        block = ResNeXt(spec).layer1[1]
    convs = sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))
    assert block_params(spec) == convs


def test_table_2_settings_all_have_about_70k_block_params():
    for c, d in [(1, 64), (2, 40), (4, 24), (8, 14), (32, 4)]:
        assert abs(block_params(ModelSpec("imagenet-50", c, d)) - 70_000) < 0.03 * 70_000, (c, d)


# ---------------------------------------------------------------- speed

def test_10000_configurations_are_counted_without_building_a_model():
    combos = list(itertools.product(TEMPLATES, range(1, 51), range(1, 41)))
    assert len(combos) == 10_000
    start = time.process_time()
    results = [complexity(ModelSpec(t, c, d)) for t, c, d in combos]
    cpu = time.process_time() - start
    assert len(results) == 10_000 and all(r.flops > 0 for r in results)
    # A sanity bound on this process's CPU time (~0.15 s here); the figure itself comes from
    # `python -m resnext_bench.bench.counting`, a benchmark, not a timed test.
    assert cpu < 5.0, f"{cpu:.2f} s of CPU for 10,000 analytic counts: something builds models"
