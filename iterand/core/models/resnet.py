"""ResNet-18/34 (basic blocks) and ResNet-50/101 (bottleneck blocks, expansion 4).

Two stems: "cifar" (3x3 conv, stride 1, no max-pool) and "imagenet" (7x7 conv, stride 2, then a 3x3
max-pool with stride 2). Each block is conv-BN(-ReLU) layers plus a shortcut; the shortcut is a
1x1 conv + BN projection wherever the block changes the shape (stride or channel count), identity
otherwise. Bottleneck blocks put their stride on the 3x3 conv (the "v1.5" placement). Global average
pooling, then a linear classifier. No biases anywhere.

The stem's channel count is passed separately from the stages' because the IteRand width sweeps keep
the stem at 64 channels while scaling the stages: the first stage then reads 64 channels, so at
widths other than 1 its first block needs a projection shortcut even though its stride is 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from iterand.core.layers import LayerFactory
from iterand.core.names import STEMS

STAGE_CHANNELS = (64, 128, 256, 512)
STEM_CHANNELS = 64


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, factory: LayerFactory, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = factory.conv(in_channels, channels, 3, stride=stride, padding=1)
        self.bn1 = factory.batchnorm(channels)
        self.conv2 = factory.conv(channels, channels, 3, stride=1, padding=1)
        self.bn2 = factory.batchnorm(channels)
        self.shortcut = _shortcut(factory, in_channels, channels, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, factory: LayerFactory, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = factory.conv(in_channels, channels, 1)
        self.bn1 = factory.batchnorm(channels)
        self.conv2 = factory.conv(channels, channels, 3, stride=stride, padding=1)
        self.bn2 = factory.batchnorm(channels)
        self.conv3 = factory.conv(channels, out_channels, 1)
        self.bn3 = factory.batchnorm(out_channels)
        self.shortcut = _shortcut(factory, in_channels, out_channels, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}  # the block names of ARCHITECTURES' layouts


def _shortcut(factory: LayerFactory, in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(
        factory.conv(in_channels, out_channels, 1, stride=stride), factory.batchnorm(out_channels)
    )


class ResNet(nn.Module):
    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        blocks_per_stage: Sequence[int],
        stage_channels: Sequence[int],
        stem_channels: int,
        num_classes: int,
        stem: str,
        factory: LayerFactory,
    ) -> None:
        """`stage_channels`: each stage's (width-scaled) inner channels; it outputs `expansion` times that."""
        super().__init__()
        if stem == "cifar":
            stem_layers = [factory.conv(3, stem_channels, 3, stride=1, padding=1)]
        elif stem == "imagenet":
            stem_layers = [factory.conv(3, stem_channels, 7, stride=2, padding=3)]
        else:
            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
        stem_layers += [factory.batchnorm(stem_channels), nn.ReLU(inplace=True)]
        if stem == "imagenet":
            stem_layers.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem_layers)

        stages = []
        in_channels = stem_channels
        for index, (count, channels) in enumerate(zip(blocks_per_stage, stage_channels, strict=True)):
            first_stride = 1 if index == 0 else 2
            stage = []
            for position in range(count):
                stage.append(block(factory, in_channels, channels, first_stride if position == 0 else 1))
                in_channels = channels * block.expansion
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = factory.linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stages(self.stem(x))))
