"""The names the core accepts (models, stems, weight inits, rankings, scopes, update units and modes), and
the width rule of the models.

Torch-free, so that ``iterand.engine.config`` validates a configuration against them without importing
torch; the modules that implement each name import it from here.
"""

from __future__ import annotations

from bookkeeping.errors import InvalidInput

CONV_MODELS = ("conv2", "conv4", "conv6", "conv8")
RESNET_MODELS = ("resnet18", "resnet34", "resnet50", "resnet101")
MODEL_NAMES = (*CONV_MODELS, *RESNET_MODELS)
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

__all__ = [
    "CONV_MODELS",
    "INIT_ALIASES",
    "ITERAND_MODES",
    "MIN_CHANNELS",
    "MODEL_NAMES",
    "NARROWEST_CHANNELS",
    "RANKINGS",
    "RESNET_MODELS",
    "SCOPES",
    "STEMS",
    "UNITS",
    "WEIGHT_INITS",
    "canonical_init",
    "scaled_channels",
]


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
