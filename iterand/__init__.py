"""Training subnetworks of randomly initialised networks: edge-popup, IteRand and relatives.

A subnetwork layer keeps frozen random weights and learns only a score per weight; the forward pass
uses the weights whose scores are in the layer's top fraction (edge-popup, Ramanujan et al. 2020).
IteRand (Chijiwa et al. 2021) periodically re-draws the pruned weights.

Three layers, each importing only the ones below it (``tests/test_architecture.py`` checks):

- `iterand.core`: the method. `names` (the torch-free registries of methods and networks the
  configuration validates against), `init` (weight distributions), `masks` (top-k masks), `layers`
  (subnetwork layers and the layer factory), `weight_updates` (re-randomisation and relatives),
  `counter_random` (the counter-based generator of the re-draws), `models` (the paper's architectures),
  `convert` (any torchvision CNN to a subnetwork model), `accounting` (weight counts), `export` (masks
  and sparse weights).
- `iterand.engine`: training. `config` (the run's typed, documented `TrainConfig`, torch-free),
  `datasets` (the torch-free dataset registry), `factories` (what a config builds), `data`, `optim`,
  `train` (the loop), `posthoc` (a finished run's model and accuracies), `compact` (a trained model as
  seed, masks and re-draw record, rebuilt exactly: `load_compact`), `checkpoint`, `distributed`.
- `iterand.experiments`: the paper's experiments. `presets`, `sweeps` (definitions), `planning`
  (expansion and sharding), `launcher` (running a sweep), `figures` (a figure's runs and rows), `plots`
  (Fig. 1-3 from those rows), `results`, `cli` (``python -m iterand``).

Below all three, `bookkeeping` owns file names, output locations, JSON files, provenance and argument
checks.

The names re-exported here are loaded on first use, so `import iterand` stays cheap (no torch import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iterand.core import models
    from iterand.core.accounting import WeightCount, count_weights
    from iterand.core.convert import to_subnet
    from iterand.engine.compact import load_compact

_EXPORTS = {
    "models": ("iterand.core.models", None),
    "count_weights": ("iterand.core.accounting", "count_weights"),
    "WeightCount": ("iterand.core.accounting", "WeightCount"),
    "to_subnet": ("iterand.core.convert", "to_subnet"),
    "load_compact": ("iterand.engine.compact", "load_compact"),
}

__all__ = ["WeightCount", "count_weights", "load_compact", "models", "to_subnet"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'iterand' has no attribute {name!r}")
    module_name, attribute = _EXPORTS[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value
