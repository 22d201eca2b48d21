"""The names the core accepts (models, stems, weight inits, rankings, scopes, update units and modes).

Torch-free, so that ``iterand.engine.config`` validates a configuration against them without importing
torch; the modules that implement each name import it from here.
"""

from __future__ import annotations

CONV_MODELS = ("conv2", "conv4", "conv6", "conv8")
RESNET_MODELS = ("resnet18", "resnet34", "resnet50", "resnet101")
MODEL_NAMES = (*CONV_MODELS, *RESNET_MODELS)
STEMS = ("cifar", "imagenet")

WEIGHT_INITS = ("signed_constant", "kaiming_uniform", "kaiming_normal", "uniform")
INIT_ALIASES = {"sc": "signed_constant", "ku": "kaiming_uniform", "kn": "kaiming_normal", "u": "uniform"}

RANKINGS = ("score", "abs_score")
SCOPES = ("layer", "global")
UNITS = ("step", "epoch")
ITERAND_MODES = ("resample", "manual")

__all__ = [
    "CONV_MODELS",
    "INIT_ALIASES",
    "ITERAND_MODES",
    "MODEL_NAMES",
    "RANKINGS",
    "RESNET_MODELS",
    "SCOPES",
    "STEMS",
    "UNITS",
    "WEIGHT_INITS",
    "canonical_init",
]


def canonical_init(name: str, field: str = "weight_init") -> str:
    """The full name of a weight init given its full name or its alias ("sc", "ku", "kn", "u")."""
    if name in WEIGHT_INITS:
        return name
    if isinstance(name, str) and name in INIT_ALIASES:
        return INIT_ALIASES[name]
    allowed = ", ".join(repr(n) for n in (*WEIGHT_INITS, *INIT_ALIASES))
    raise ValueError(f"{field} must be one of {allowed}, got {name!r}")
