"""Parity with torchvision/timm: a matched pair is recognised, every kind of mismatch is reported."""
import csv

import pytest
import torch
import torchvision
from torchvision.models.resnet import Bottleneck, ResNet

from resnext_bench.bench.baselines import (
    PUBLISHED_CSV,
    compare_pair,
    fixed_input,
    format_baselines,
    layout_difference,
    published_for,
)
from resnext_bench.models import build_model
from resnext_bench.config.specs import ModelSpec

# A narrow ResNeXt-50 (2 x 4d): the layout of resnext50_32x4d at a fraction of its cost.
SMALL = ModelSpec("imagenet-50", 2, 4, num_classes=10)


def torchvision_small(**kwargs) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], groups=2, width_per_group=4, num_classes=10, **kwargs)


@pytest.fixture(autouse=True)
def one_thread():
    # Two threads on two busy shared cores stall at every barrier; one thread stays fast.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def x():
    return fixed_input(32)


def test_a_matched_pair_is_interchangeable_and_computes_the_same_function(x):
    result = compare_pair(build_model(SMALL), torchvision_small(), x)
    assert result["interchangeable"] is True
    assert result["interchange_error"] == ""
    assert result["outputs_match"] is True
    assert result["rel_diff"] <= 1e-4


def test_a_different_architecture_is_reported_not_interchangeable(x):
    other = ResNet(Bottleneck, [3, 4, 6, 3], groups=1, width_per_group=8, num_classes=10)  # 1 x 8d
    result = compare_pair(build_model(SMALL), other, x)
    assert result["interchangeable"] is False
    assert "shape mismatch" in result["interchange_error"]
    assert "layer1.0.conv2.weight" in result["interchange_error"]
    assert result["outputs_match"] is False


def test_the_same_layout_computing_another_function_is_reported(x):
    # Dilation instead of stride in the last stage: identical state_dict, different function.
    result = compare_pair(build_model(SMALL), torchvision_small(replace_stride_with_dilation=[False, False, True]),
                          fixed_input(64))
    assert result["interchangeable"] is True
    assert result["outputs_match"] is False
    assert result["max_abs_diff"] > 0


def test_one_perturbed_tensor_is_detected(x):
    torch.manual_seed(0)
    ours, theirs = build_model(SMALL), torchvision_small()
    assert compare_pair(ours, theirs, x)["outputs_match"] is True  # now both hold the same weights
    with torch.no_grad():
        ours.layer3[2].conv2.weight.mul_(1.5)
    result = compare_pair(ours, theirs, x, share_weights=False)
    assert result["interchangeable"] is True
    assert result["outputs_match"] is False
    assert result["rel_diff"] > 1e-4


def test_a_missing_key_is_named_in_the_report():
    ours = build_model(SMALL).state_dict()
    theirs = dict(ours)
    theirs.pop("fc.bias")
    assert layout_difference(theirs, ours) == "1 missing key(s), e.g. fc.bias"
    assert layout_difference(ours, theirs) == "1 unexpected key(s), e.g. fc.bias"
    assert layout_difference(ours, ours) is None


def test_published_numbers_carry_a_source_on_every_row():
    with open(PUBLISHED_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"library", "model", "weights", "top1_acc", "source"} <= set(rows[0])
    assert all(r["source"] and r["top1_acc"] for r in rows)
    tv = published_for(rows, "torchvision", "resnext50_32x4d")
    assert tv["published_top1"] == "77.618 (IMAGENET1K_V1); 81.198 (IMAGENET1K_V2)"
    assert tv["published_params"] == "25028904"
    assert published_for(rows, "timm", "resnet50")["published_top1"] == "76.156 (tv_in1k); 80.382 (a1_in1k)"


def test_the_report_shows_a_mismatch_without_raising(x):
    row = {
        "configuration": "resnext50_32x4d", "library": "timm", "model": "timm:resnet50", "available": True,
        "params": 25_557_032, "macs": 4_089_184_256, "params_equal": False, "macs_equal": False,
        "max_abs_diff": None, "rel_diff": None, "published_top1": "", "published_params": "",
        "published_gmacs": "", "published_source": "",
        **compare_pair(build_model(SMALL), torchvision.models.resnet18(num_classes=10), x),
    }
    text = format_baselines([row])
    assert "**NO**" in text and "timm:resnet50 vs ours" in text and "(differs)" in text
