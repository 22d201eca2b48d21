"""Conv2 / Conv4 / Conv6 / Conv8: the VGG-like CIFAR networks of the edge-popup paper.

Pairs of 3x3 convolutions (64, 128, 256, 512 channels at width 1; ConvN uses the first N/2 pairs),
each pair followed by a 2x2 max-pool, then a classifier hidden - hidden - num_classes (hidden = 256 at
width 1). ReLU after every layer but the last; no BatchNorm and no biases. The classifier is built
from linear layers (the edge-popup code uses 1x1 convolutions on a 1x1 map: the same function with
the same weight count). Inputs must be 32x32, because the first linear layer reads the flattened
final feature map.

The ReLU that follows a pair's second convolution runs after its max-pool, on a quarter of the values.
Max-pooling and ReLU commute exactly (both are monotone, and the gradient reaches the same input entry
or none), so outputs and gradients are bit-identical to ReLU-then-pool (a test pins this); the order
saves about a third of the ReLUs' work, which is memory-bound on a CPU. The module indices of the
layers with weights are unchanged, so are their state-dict names.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from iterand.core.layers import LayerFactory

PAIR_CHANNELS = (64, 128, 256, 512)
HIDDEN_FEATURES = 256
INPUT_SIZE = 32


class ConvNet(nn.Module):
    """`features` (conv pairs and max-pools) followed by `classifier` (three linear layers)."""

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential) -> None:
        super().__init__()
        self.features = features
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def conv_net(
    pair_channels: Sequence[int], hidden_features: int, num_classes: int, factory: LayerFactory
) -> ConvNet:
    """A ConvN network with one conv pair per entry of `pair_channels` (already width-scaled)."""
    layers: list[nn.Module] = []
    in_channels = 3
    for channels in pair_channels:
        layers += [factory.conv(in_channels, channels, 3, stride=1, padding=1), nn.ReLU(inplace=True)]
        layers += [factory.conv(channels, channels, 3, stride=1, padding=1), nn.MaxPool2d(2)]
        layers.append(nn.ReLU(inplace=True))
        in_channels = channels
    side = INPUT_SIZE // 2 ** len(pair_channels)
    classifier = nn.Sequential(
        nn.Flatten(),
        factory.linear(in_channels * side * side, hidden_features),
        nn.ReLU(inplace=True),
        factory.linear(hidden_features, hidden_features),
        nn.ReLU(inplace=True),
        factory.linear(hidden_features, num_classes),
    )
    return ConvNet(nn.Sequential(*layers), classifier)
