"""The ImageNet-stem ResNets of ``iterand.core.models`` under torchvision's names.

At width 1 with the "imagenet" stem, ``build("resnet50", stem="imagenet")`` and
``torchvision.models.resnet50()`` are the same network: a 7x7 stride-2 stem conv, BatchNorm, ReLU and a
3x3 stride-2 max-pool; bottleneck blocks with their stride on the 3x3 conv (torchvision's "v1.5");
1x1 conv + BatchNorm projection shortcuts exactly where a block changes the shape; global average
pooling and a linear classifier. Only the names differ::

    stem.0 -> conv1    stem.1 -> bn1    stages.S.B.<conv|bn>K -> layer{S+1}.B.<conv|bn>K
    stages.S.B.shortcut.K -> layer{S+1}.B.downsample.K    fc -> fc

and torchvision's classifier has a bias (ours has none: it is zero). The CIFAR-stem ResNets (3x3 stem
conv, no max-pool), other widths (the stages' channels scale, the stem's do not) and the Conv networks
have no torchvision counterpart.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from bookkeeping.errors import InvalidInput
from iterand.core.models import RESNET_LAYOUTS
from iterand.core.models.resnet import STAGE_CHANNELS, ResNet

_RENAMES = (
    (re.compile(r"stem\.0"), lambda m: "conv1"),
    (re.compile(r"stem\.1"), lambda m: "bn1"),
    (
        re.compile(r"stages\.(\d+)\.(\d+)\.shortcut\.(\d+)"),
        lambda m: f"layer{int(m[1]) + 1}.{m[2]}.downsample.{m[3]}",
    ),
    (re.compile(r"stages\.(\d+)\.(\d+)\.((?:conv|bn)\d)"), lambda m: f"layer{int(m[1]) + 1}.{m[2]}.{m[3]}"),
    (re.compile(r"fc"), lambda m: "fc"),
)
CLASSIFIER_BIAS = "fc.bias"

__all__ = ["from_torchvision", "to_torchvision", "torchvision_architecture", "torchvision_key"]


def torchvision_architecture(model: nn.Module) -> str:
    """The name of the torchvision model (``torchvision.models.<name>``) that ``model`` is, or ValueError."""
    if isinstance(model, ResNet) and getattr(model.stem[0], "kernel_size", None) == (7, 7):
        block = type(model.stages[0][0])
        blocks = tuple(len(stage) for stage in model.stages)
        channels = tuple(stage[0].conv1.out_channels for stage in model.stages)
        for name, layout in RESNET_LAYOUTS.items():
            if layout == (block, blocks) and channels == STAGE_CHANNELS:
                return name
    raise InvalidInput(
        "only the ImageNet-stem ResNets at width 1 (resnet18, resnet34, resnet50, resnet101 with "
        "stem='imagenet', width=1) have a torchvision counterpart; export this model in the dense format"
    )


def torchvision_key(key: str) -> str:
    """torchvision's name of one of our ResNets' state-dict keys (e.g. ``stages.0.1.conv2.weight`` ->
    ``layer1.1.conv2.weight``)."""
    module, _, tensor = key.rpartition(".")
    for pattern, rename in _RENAMES:
        if match := pattern.fullmatch(module):
            return f"{rename(match)}.{tensor}"
    raise InvalidInput(f"no torchvision name for the state-dict key {key!r}")


def to_torchvision(model: nn.Module, dense_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``dense_state`` (the state dict of ``model``'s dense twin: ``iterand.core.export``'s
    ``effective_state_dict``) under torchvision's key names, with the classifier's zero bias:
    torchvision's model of the same name loads it with ``strict=True``."""
    torchvision_architecture(model)
    renamed = {torchvision_key(key): tensor for key, tensor in dense_state.items()}
    classifier = renamed["fc.weight"]
    renamed[CLASSIFIER_BIAS] = torch.zeros(
        classifier.shape[0], dtype=classifier.dtype, device=classifier.device
    )
    return renamed


def from_torchvision(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A torchvision state dict under the key names of ``model`` (the dense ResNet of the same shape),
    which loads it strictly; the classifier's bias must be zero, since ours has none."""
    torchvision_architecture(model)
    bias = state.get(CLASSIFIER_BIAS)
    if bias is not None and bool(bias.any()):
        raise InvalidInput(
            f"{CLASSIFIER_BIAS} is not zero: this state dict has a classifier bias, which iterand's models "
            "lack"
        )
    ours = {torchvision_key(key): key for key in model.state_dict()}
    unknown = sorted(set(state) - set(ours) - {CLASSIFIER_BIAS})
    if unknown:
        raise InvalidInput(f"keys that {type(model).__name__} does not have: {', '.join(unknown[:5])}")
    return {ours[key]: tensor for key, tensor in state.items() if key != CLASSIFIER_BIAS}
