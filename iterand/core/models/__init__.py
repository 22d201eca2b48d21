"""The paper's architectures, built as subnetwork models (edge-popup / IteRand) or as dense SGD baselines.

`build` is the one entry point::

    build("conv6")                            # subnetwork model, default SubnetSpec (p = 0.5, SC weights)
    build("resnet18", width=2, pruned_fraction=0.6, init="ku")
    build("resnet50", num_classes=1000, stem="imagenet", pruned_fraction=0.7)
    build("resnet18", dense=True)             # SGD baseline: same architecture, trainable weights

The networks and their layouts are the entries of `iterand.core.names.ARCHITECTURES`; `build` turns an
entry into a network with the builder of its family (`FAMILIES`).

Width rule: every width-scaled channel (or hidden-feature) count is `max(1, round(c * width))` with
Python's round (half to even), `iterand.core.names.scaled_channels`. The ResNet stem stays at 64 channels
at every width (the official IteRand code's setting); with it the code reproduces the reference parameter
counts of the width sweeps (Conv6 0.142M at width 0.25 to 9.036M at width 2, ResNet-18 11.16M, ResNet-50
25.50M, ...; all pinned in tests/iterand/core/test_models.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn

from bookkeeping.validation import integer_at_least, positive
from iterand.core.layers import LayerFactory, SubnetSpec, attach_global_scope, layer_factory
from iterand.core.models.conv import HIDDEN_FEATURES, PAIR_CHANNELS, conv_net
from iterand.core.models.resnet import BLOCKS, STAGE_CHANNELS, STEM_CHANNELS, ResNet
from iterand.core.names import ARCHITECTURES, MODEL_NAMES, STEMS, Architecture, scaled_channels

DEFAULT_SUBNET = SubnetSpec()

__all__ = [
    "DEFAULT_SUBNET",
    "FAMILIES",
    "MODEL_NAMES",
    "RESNET_LAYOUTS",
    "STEMS",
    "build",
    "classifier_outputs",
]


def _conv(arch: Architecture, width: float, num_classes: int, stem: str, factory: LayerFactory) -> nn.Module:
    pairs = PAIR_CHANNELS[: arch.layout]
    return conv_net(
        [scaled_channels(c, width) for c in pairs],
        scaled_channels(HIDDEN_FEATURES, width),
        num_classes,
        factory,
    )


def _resnet(
    arch: Architecture, width: float, num_classes: int, stem: str, factory: LayerFactory
) -> nn.Module:
    block, blocks_per_stage = arch.layout
    stage_channels = [scaled_channels(c, width) for c in STAGE_CHANNELS]
    return ResNet(BLOCKS[block], blocks_per_stage, stage_channels, STEM_CHANNELS, num_classes, stem, factory)


# (block class, blocks per stage) of each ResNet, as torchvision's models are laid out.
RESNET_LAYOUTS = {
    name: (BLOCKS[arch.layout[0]], arch.layout[1])
    for name, arch in ARCHITECTURES.items()
    if arch.family == "resnet"
}
# (architecture, width, num_classes, stem, layer factory) -> network, per `Architecture.family`.
FAMILIES: dict[str, Callable[[Architecture, float, int, str, LayerFactory], nn.Module]] = {
    "conv": _conv,
    "resnet": _resnet,
}


def build(
    name: str,
    width: float = 1.0,
    num_classes: int = 10,
    *,
    stem: str | None = None,
    subnet: SubnetSpec | None = DEFAULT_SUBNET,
    seed: int = 0,
    dense: bool = False,
    init: str | None = None,
    pruned_fraction: float | None = None,
    ranking: str | None = None,
) -> nn.Module:
    """Build model `name` (one of `MODEL_NAMES`, case-insensitive) with freshly drawn weights.

    `subnet` describes the subnetwork layers; `None` (or `dense=True`) builds the dense SGD baseline
    from the same code. The shortcuts `init`, `pruned_fraction` and `ranking` replace those fields of
    `subnet` (`init` is `SubnetSpec.weight_init`), so `build("conv6", pruned_fraction=0.6)` needs no
    SubnetSpec; they cannot be combined with a dense model. `stem` is "cifar" (default) or "imagenet";
    the Conv networks have only the CIFAR form (32x32 inputs). `seed` seeds a dedicated generator from
    which every weight and score is drawn, so equal arguments give identical models. A model with
    `subnet.scope == "global"` recomputes its global threshold before every forward pass
    (`iterand.core.layers.attach_global_scope`).
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in MODEL_NAMES:
        raise ValueError(f"name must be one of {MODEL_NAMES}, got {name!r}")
    width = positive("width", width)
    num_classes = integer_at_least("num_classes", num_classes, 1)
    arch = ARCHITECTURES[key]
    stem = "cifar" if stem is None else stem
    if stem not in arch.stems:
        raise ValueError(f"stem must be one of {arch.stems} for {key}, got {stem!r}")

    spec = _resolve_spec(subnet, dense, init, pruned_fraction, ranking)
    factory = layer_factory(spec, torch.Generator().manual_seed(seed))
    model = FAMILIES[arch.family](arch, width, num_classes, stem, factory)
    if spec is not None and spec.scope == "global":
        attach_global_scope(model)
    return model


def classifier_outputs(state_dict: dict[str, torch.Tensor]) -> int:
    """The number of classes of a model built by `build`, read from its state dict.

    Every model here ends with its linear classifier, registered last, so the last two-dimensional
    tensor of the state dict (its weight, or its scores) has one row per class.
    """
    matrices = [tensor for tensor in state_dict.values() if tensor.dim() == 2]
    if not matrices:
        raise ValueError("the state dict holds no linear layer, so no classifier to count classes from")
    return matrices[-1].shape[0]


def _resolve_spec(
    subnet: SubnetSpec | None,
    dense: bool,
    init: str | None,
    pruned_fraction: float | None,
    ranking: str | None,
) -> SubnetSpec | None:
    overrides = {
        field: value
        for field, value in (
            ("weight_init", init),
            ("pruned_fraction", pruned_fraction),
            ("ranking", ranking),
        )
        if value is not None
    }
    if subnet is not None and not isinstance(subnet, SubnetSpec):
        raise ValueError(f"subnet must be a SubnetSpec or None, got {type(subnet).__name__}")
    if dense and subnet is not None and subnet is not DEFAULT_SUBNET:
        raise ValueError("dense=True builds the dense baseline: pass either dense=True or subnet, not both")
    if dense or subnet is None:
        if overrides:
            shortcuts = ", ".join({"weight_init": "init"}.get(field, field) for field in overrides)
            raise ValueError(f"{shortcuts} only apply to subnetwork models, not to the dense baseline")
        return None
    return dataclasses.replace(subnet, **overrides)
