"""Weight counts of a model: how many conv/linear weights it has and how many its masks keep; and how many
bytes the dense model of the same architecture takes in float32, the size a compact file compares with.

The paper plots accuracy against these counts. Only the weights of convolution and linear layers are
counted: no biases, no BatchNorm parameters, no scores. A dense layer keeps all its weights; a
subnetwork layer keeps what its current mask keeps (read exactly from the mask, so the count follows
the masks' rounding rule rather than an estimate p * numel, and follows the current scores).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import nn

from iterand.core.export import effective_state_dict
from iterand.core.layers import is_subnet_layer, update_global_thresholds

COUNTED_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@dataclass(frozen=True)
class WeightCount:
    """`total` and `kept` weights over the whole model; `per_layer` maps module name -> (total, kept)."""

    total: int
    kept: int
    per_layer: Mapping[str, tuple[int, int]]

    @property
    def kept_fraction(self) -> float:
        return self.kept / self.total

    @property
    def pruned(self) -> int:
        return self.total - self.kept


def count_weights(model: nn.Module) -> WeightCount:
    """Count the conv and linear weights of `model` (each module once, even if registered twice)."""
    per_layer: dict[str, tuple[int, int]] = {}
    # Global-scope masks depend on every layer's scores: refresh the threshold so the count is current.
    update_global_thresholds(model)
    with torch.no_grad():
        for name, module in model.named_modules():
            if not isinstance(module, COUNTED_LAYERS):
                continue
            total = module.weight.numel()
            kept = int(module.mask().count_nonzero()) if is_subnet_layer(module) else total
            per_layer[name] = (total, kept)
    if not per_layer:
        raise ValueError("model must contain at least one Conv or Linear layer to count, found none")
    return WeightCount(
        total=sum(total for total, _ in per_layer.values()),
        kept=sum(kept for _, kept in per_layer.values()),
        per_layer=MappingProxyType(per_layer),
    )


def dense_float32_bytes(model: nn.Module) -> int:
    """Bytes of the dense model of ``model``'s architecture with every floating-point tensor of its state
    in float32: conv and linear weights, BatchNorm weight, bias, running mean and variance (not the
    integer batch counters). For a subnetwork model, its dense twin (``iterand.core.export``), i.e. the
    dense SGD baseline of the same architecture."""
    subnet = any(is_subnet_layer(module) for module in model.modules())
    state = effective_state_dict(model) if subnet else model.state_dict()
    return 4 * sum(tensor.numel() for tensor in state.values() if tensor.is_floating_point())
