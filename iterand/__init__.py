"""Training subnetworks of randomly initialised networks: edge-popup, IteRand and relatives.

A subnetwork layer keeps frozen random weights and learns only a score per weight; the forward pass
uses the weights whose scores are in the layer's top fraction (edge-popup, Ramanujan et al. 2020).
IteRand (Chijiwa et al. 2021) periodically re-draws the pruned weights.

Modules: `iterand.init` (weight distributions), `iterand.masks` (top-k masks), `iterand.layers`
(subnetwork layers and the layer factory), `iterand.weight_updates` (re-randomisation and relatives),
`iterand.models` (the paper's architectures), `iterand.convert` (any torchvision CNN to a
subnetwork model), `iterand.accounting` (weight counts), `iterand.export` (masks and sparse weights).

The names re-exported here are loaded on first use, so `import iterand` stays cheap (no torch import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iterand import models
    from iterand.accounting import WeightCount, count_weights
    from iterand.convert import to_subnet

_EXPORTS = {
    "models": ("iterand.models", None),
    "count_weights": ("iterand.accounting", "count_weights"),
    "WeightCount": ("iterand.accounting", "WeightCount"),
    "to_subnet": ("iterand.convert", "to_subnet"),
}

__all__ = ["WeightCount", "count_weights", "models", "to_subnet"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'iterand' has no attribute {name!r}")
    module_name, attribute = _EXPORTS[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value
