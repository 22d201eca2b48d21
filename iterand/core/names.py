"""The names the package accepts and what the configuration needs to know about each, without torch.

Two registries, each the one place its kind is listed:

- ``METHOD_REGISTRY``: the training methods. Each ``Method`` says whether it learns a subnetwork (scores
  over frozen random weights) or trains the weights densely, the effective weight and ranking its layers
  use, and which weight update (``iterand.core.weight_updates.UPDATES``) it runs, with the configuration
  field behind each of the update's arguments. Which fields a method ignores follows from that
  (``ignored_fields``).
- ``ARCHITECTURES``: the paper's networks. Each ``Architecture`` gives its family ("conv" or "resnet")
  and its layout; ``iterand.core.models`` builds a network from these entries alone.

Adding a method is one ``Method`` line here and one weight-update class registered under its ``update``
name; adding a network of an existing family is one ``Architecture`` line. ``iterand.engine.config``
validates a configuration against these names without importing torch; the modules that implement each
name import it from here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from bookkeeping.errors import InvalidInput

STEMS = ("cifar", "imagenet")
WEIGHT_INITS = ("signed_constant", "kaiming_uniform", "kaiming_normal", "uniform")
INIT_ALIASES = {"sc": "signed_constant", "ku": "kaiming_uniform", "kn": "kaiming_normal", "u": "uniform"}

# The narrowest width-scaled layer of every model has 64 channels at width 1 (ConvN's first conv pair, the
# ResNets' first stage); `iterand.core.models` scales each count c to `scaled_channels(c, width)`.
NARROWEST_CHANNELS = 64
MIN_CHANNELS = 2  # a layer of one channel (or one hidden feature) is no network worth training

RANKINGS = ("score", "abs_score")
SCOPES = ("layer", "global")
UNITS = ("step", "epoch")
ITERAND_MODES = ("resample", "manual")
# The configuration fields that only a subnetwork method reads (dense SGD trains Kaiming-uniform weights).
SUBNETWORK_FIELDS = ("init", "pruned_fraction", "ranking", "scope", "weight_scale")

__all__ = [
    "ARCHITECTURES",
    "CONV_MODELS",
    "INIT_ALIASES",
    "ITERAND_MODES",
    "METHODS",
    "METHOD_REGISTRY",
    "MIN_CHANNELS",
    "MODEL_NAMES",
    "NARROWEST_CHANNELS",
    "RANKINGS",
    "RESNET_MODELS",
    "SCOPES",
    "STEMS",
    "SUBNETWORK_FIELDS",
    "UNITS",
    "WEIGHT_INITS",
    "Architecture",
    "Method",
    "canonical_init",
    "ignored_fields",
    "init_alias",
    "scaled_channels",
]


@dataclasses.dataclass(frozen=True)
class Method:
    """A training method as the configuration, the factories and the results table see it.

    ``subnetwork``: the method learns scores over frozen random weights (edge-popup, Ramanujan et al.
    2020); False for dense SGD, which trains the weights and ignores ``SUBNETWORK_FIELDS``.
    ``effective_weight`` and ``ranking`` (None: either ranking) are those of its layers
    (``iterand.core.layers.SubnetSpec``). ``update`` names its weight update in
    ``iterand.core.weight_updates.UPDATES`` (None: none, the weights are trained), and ``update_fields``
    maps each of that update's arguments to the configuration field it is read from.
    """

    name: str
    title: str
    summary: str
    subnetwork: bool = True
    effective_weight: str = "masked"
    ranking: str | None = None
    update: str | None = "edgepopup"
    update_fields: Mapping[str, str] = dataclasses.field(default_factory=dict)


_PERIOD = {"period": "period", "unit": "period_unit"}
METHOD_REGISTRY: dict[str, Method] = {
    method.name: method
    for method in (
        Method("sgd", "dense SGD", "the dense baseline: trains the weights", subnetwork=False, update=None),
        Method("edgepopup", "edge-popup", "learns scores, the weights stay as drawn (Ramanujan et al. 2020)"),
        Method(
            "iterand",
            "IteRand",
            "edge-popup that re-draws pruned weights every period (Chijiwa et al. 2021)",
            update="iterand",
            update_fields={
                "r": "r",
                **_PERIOD,
                "rate": "rate",
                "mode": "rerandomize_mode",
                "lam": "rerandomize_lambda",
                "mu": "rerandomize_mu",
            },
        ),
        Method(
            "recycling",
            "weight recycling",
            "copies strong weights over weak ones every period (Gorbett & Whitley)",
            update="recycling",
            update_fields={"rate": "rate", **_PERIOD},
        ),
        Method(
            "biprop",
            "biprop",
            "scaled signs of the kept weights, ranked by |score| (Diffenderfer & Kailkhura 2021)",
            effective_weight="biprop",
            ranking="abs_score",
        ),
    )
}
METHODS = tuple(METHOD_REGISTRY)


def ignored_fields(method: str) -> tuple[str, ...]:
    """The configuration fields that ``method`` does not read: the weight-update fields of the other
    methods and, for a dense method, ``SUBNETWORK_FIELDS``."""
    info = METHOD_REGISTRY[method]
    update_fields = dict.fromkeys(f for m in METHOD_REGISTRY.values() for f in m.update_fields.values())
    unused = tuple(f for f in update_fields if f not in info.update_fields.values())
    return unused if info.subnetwork else (*SUBNETWORK_FIELDS, *unused)


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One of the paper's networks: ``family`` "conv" (``layout`` = number of 3x3 conv pairs, the
    edge-popup paper's ConvN has N/2) or "resnet" (``layout`` = (block, blocks per stage)), and the input
    stems it has (the Conv networks read 32x32 images only)."""

    name: str
    title: str
    family: str
    layout: int | tuple[str, tuple[int, ...]]
    stems: tuple[str, ...] = STEMS


ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture("conv2", "Conv2", "conv", 1, stems=("cifar",)),
        Architecture("conv4", "Conv4", "conv", 2, stems=("cifar",)),
        Architecture("conv6", "Conv6", "conv", 3, stems=("cifar",)),
        Architecture("conv8", "Conv8", "conv", 4, stems=("cifar",)),
        Architecture("resnet18", "ResNet-18", "resnet", ("basic", (2, 2, 2, 2))),
        Architecture("resnet34", "ResNet-34", "resnet", ("basic", (3, 4, 6, 3))),
        Architecture("resnet50", "ResNet-50", "resnet", ("bottleneck", (3, 4, 6, 3))),
        Architecture("resnet101", "ResNet-101", "resnet", ("bottleneck", (3, 4, 23, 3))),
    )
}
MODEL_NAMES = tuple(ARCHITECTURES)
CONV_MODELS = tuple(name for name, arch in ARCHITECTURES.items() if arch.family == "conv")
RESNET_MODELS = tuple(name for name, arch in ARCHITECTURES.items() if arch.family == "resnet")


def scaled_channels(channels: int, width: float) -> int:
    """``channels`` at ``width``: ``max(1, round(channels * width))``, Python's round (half to even)."""
    return max(1, round(channels * width))


def canonical_init(name: str, field: str = "weight_init") -> str:
    """The full name of a weight init given its full name or its alias ("sc", "ku", "kn", "u")."""
    if name in WEIGHT_INITS:
        return name
    if isinstance(name, str) and name in INIT_ALIASES:
        return INIT_ALIASES[name]
    allowed = ", ".join(repr(n) for n in (*WEIGHT_INITS, *INIT_ALIASES))
    raise InvalidInput(f"{field} must be one of {allowed}, got {name!r}")


def init_alias(init: str) -> str:
    """The short name ("sc", "ku", "kn", "u") of a weight init given by its full name or alias."""
    full = canonical_init(init)
    return next(alias for alias, name in INIT_ALIASES.items() if name == full)
