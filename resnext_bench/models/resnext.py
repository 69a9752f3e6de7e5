"""The ResNeXt family: ImageNet and CIFAR templates, any C x d, block forms (a), (b), (c).

Form (c) keeps torchvision's names (conv1..3, bn1..3, downsample, layer1..4, fc), so
torchvision's and timm's ResNet/ResNeXt state_dicts load into it with strict=True.
"""
from __future__ import annotations

import torch
from torch import nn

from ..config.templates import get_template
from ..config.specs import ModelSpec, stage_widths


class BottleneckC(nn.Module):
    """Form (c): 1x1 reduce -> grouped 3x3 (C groups) -> 1x1 expand; torchvision's layout."""

    def __init__(self, in_ch: int, width: int, out_ch: int, stride: int, groups: int, shortcut: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut
        self.downsample = None
        if shortcut and (stride != 1 or in_ch != out_ch):  # projection only where the shape changes
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual(x)
        if self.shortcut:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class _Branch(nn.Module):
    """One of the C paths of forms (a)/(b): 1x1 to d channels, then 3x3 on d channels."""

    def __init__(self, in_ch: int, d: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, d, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(d)
        self.conv2 = nn.Conv2d(d, d, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(d)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


class BottleneckA(BottleneckC):
    """Form (a): C separate branches, each ending in its own 1x1 to out_ch; outputs summed."""

    def __init__(self, in_ch, width, out_ch, stride, groups, shortcut):
        super().__init__(in_ch, width, out_ch, stride, groups, shortcut)
        d = width // groups
        del self.conv1, self.bn1, self.conv2, self.bn2, self.conv3
        self.branches = nn.ModuleList(_Branch(in_ch, d, stride) for _ in range(groups))
        self.projections = nn.ModuleList(nn.Conv2d(d, out_ch, 1, bias=False) for _ in range(groups))

    def residual(self, x):
        total = sum(proj(branch(x)) for branch, proj in zip(self.branches, self.projections))
        return self.bn3(total)


class BottleneckB(BottleneckC):
    """Form (b): C branches of 1x1 + 3x3, concatenated early, then one dense 1x1."""

    def __init__(self, in_ch, width, out_ch, stride, groups, shortcut):
        super().__init__(in_ch, width, out_ch, stride, groups, shortcut)
        d = width // groups
        del self.conv1, self.bn1, self.conv2, self.bn2
        self.branches = nn.ModuleList(_Branch(in_ch, d, stride) for _ in range(groups))

    def residual(self, x):
        return self.bn3(self.conv3(torch.cat([branch(x) for branch in self.branches], dim=1)))


BLOCKS = {"a": BottleneckA, "b": BottleneckB, "c": BottleneckC}


class ResNeXt(nn.Module):
    """A ResNeXt built from a ModelSpec (the ImageNet or CIFAR template)."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        template = get_template(spec.template)
        if template.kind == "imagenet":
            self.conv1 = nn.Conv2d(spec.in_chans, spec.stem_width, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(spec.in_chans, spec.stem_width, 3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(spec.stem_width)
        self.relu = nn.ReLU(inplace=True)
        block = BLOCKS[spec.block_form]
        in_ch = spec.stem_width
        self.stage_names = []
        for i, n_blocks in enumerate(template.stage_blocks):
            width, out_ch = stage_widths(spec, i)
            blocks = []
            for j in range(n_blocks):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(in_ch, width, out_ch, stride, spec.cardinality, spec.shortcut))
                in_ch = out_ch
            name = f"layer{i + 1}"
            self.add_module(name, nn.Sequential(*blocks))
            self.stage_names.append(name)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, spec.num_classes)
        self.num_features = in_ch
        self._init_weights()

    def _init_weights(self):
        # He et al. initialisation, as the paper (Sec. 4); BN starts at the identity.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.spec.zero_init_residual:
            for m in self.modules():
                if isinstance(m, BottleneckC):
                    nn.init.zeros_(m.bn3.weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.forward_features(x)), 1))


@torch.no_grad()
def copy_grouped_weights(src: ResNeXt, dst: ResNeXt) -> None:
    """Give a form-(a)/(b) model the exact weights of a form-(c) model of the same spec.

    Group g of the grouped conv is branch g: its slice of conv1/bn1 outputs, its block of
    conv2, and (form a) its slice of conv3's input channels as the branch projection.
    """
    assert src.spec.block_form == "c" and dst.spec.block_form in ("a", "b")
    dst_modules = dict(dst.named_modules())
    for name, block in src.named_modules():
        if not isinstance(block, BottleneckC) or isinstance(block, (BottleneckA, BottleneckB)):
            continue
        target = dst_modules[name]
        d = block.conv1.out_channels // src.spec.cardinality
        for g, branch in enumerate(target.branches):
            sl = slice(g * d, (g + 1) * d)
            branch.conv1.weight.copy_(block.conv1.weight[sl])
            branch.conv2.weight.copy_(block.conv2.weight[sl])
            for bn_src, bn_dst in ((block.bn1, branch.bn1), (block.bn2, branch.bn2)):
                for attr in ("weight", "bias", "running_mean", "running_var"):
                    getattr(bn_dst, attr).copy_(getattr(bn_src, attr)[sl])
            if isinstance(target, BottleneckA):
                target.projections[g].weight.copy_(block.conv3.weight[:, sl])
        if isinstance(target, BottleneckB):
            target.conv3.weight.copy_(block.conv3.weight)
        target.bn3.load_state_dict(block.bn3.state_dict())
        if block.downsample is not None:
            target.downsample.load_state_dict(block.downsample.state_dict())
    for name in ("conv1", "bn1", "fc"):
        getattr(dst, name).load_state_dict(getattr(src, name).state_dict())
