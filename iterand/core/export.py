"""What a trained subnetwork model boils down to: its masks, its effective weights, a plain dense model.

- ``export_masks(model)``: layer name -> boolean mask, True = KEPT (from the current scores).
- ``effective_state_dict(model)``: the state dict of the equivalent dense model. Every subnetwork layer's
  ``weight`` holds its effective weight (``w * m``, or biprop's ``alpha * sign(w) * m``) and its
  ``scores`` are dropped; every NON-affine BatchNorm gets ``weight = 1`` and ``bias = 0`` (the identity
  affine map), so the dict loads STRICTLY into the same architecture built with affine BatchNorm.
- ``to_dense(model)``: a copy of the model in which each subnetwork layer is an ordinary ``nn.Conv2d`` /
  ``nn.Linear`` (no bias) holding the effective weight; BatchNorm and everything else are copied as is.
  In eval mode it computes the same outputs as the subnetwork model.

Loading recipe for a dense model of the same architecture, built with ``layer_factory(None)`` (or
``iterand.core.models.build(..., subnet=None)``), i.e. affine BatchNorm and bias-free conv/linear layers::

    dense.load_state_dict(effective_state_dict(subnet_model))   # strict: the keys match exactly
    dense.eval()                                                 # same outputs as subnet_model.eval()

All masks use the current scores; global-scope layers get a freshly computed threshold.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from iterand.core import masks
from iterand.core.convert import conv_geometry
from iterand.core.layers import SubnetConv2d, SubnetLayer, SubnetLinear, kept_masks, named_subnet_layers

__all__ = ["effective_state_dict", "effective_weights", "export_masks", "to_dense"]


def export_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """Layer name -> boolean mask of the layer's weight shape (True = kept), on the weights' device."""
    result = kept_masks(model)
    if not result:
        raise ValueError("model must contain subnetwork layers to export masks from, found none")
    return result


@torch.no_grad()
def effective_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Layer name -> the weight its forward pass uses (detached), for every subnetwork layer (none in a
    dense model, whose ``effective_state_dict`` is then its own state dict)."""
    layers = dict(named_subnet_layers(model))
    return {
        name: masks.subnet_weight(
            layers[name].ranked_scores(),
            layers[name].weight,
            kept,
            layers[name].spec.effective_weight == "biprop",
        ).detach()
        for name, kept in kept_masks(model).items()
    }


def _key(module_name: str, tensor_name: str) -> str:
    return f"{module_name}.{tensor_name}" if module_name else tensor_name


def effective_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of the equivalent dense model (see the module docstring for the exact mapping)."""
    state = dict(model.state_dict())
    weights = effective_weights(model)
    # remove_duplicate=False so a module registered under two names is rewritten under both.
    for name, module in model.named_modules(remove_duplicate=False):
        if isinstance(module, SubnetLayer):
            state[_key(name, "weight")] = weights[_first_name(model, module)]
            del state[_key(name, "scores")]
        elif isinstance(module, nn.modules.batchnorm._BatchNorm) and not module.affine:
            options = {"dtype": module.running_mean.dtype, "device": module.running_mean.device}
            state[_key(name, "weight")] = torch.ones(module.num_features, **options)
            state[_key(name, "bias")] = torch.zeros(module.num_features, **options)
    return state


def _first_name(model: nn.Module, layer: nn.Module) -> str:
    return next(name for name, module in model.named_modules() if module is layer)


def _dense_twin(layer: SubnetLayer, weight: torch.Tensor) -> nn.Module:
    if isinstance(layer, SubnetConv2d):
        dense = nn.Conv2d(**conv_geometry(layer), bias=False, padding_mode=layer.padding_mode)
    elif isinstance(layer, SubnetLinear):
        dense = nn.Linear(layer.in_features, layer.out_features, bias=False)
    else:
        raise ValueError(f"layer must be a SubnetConv2d or SubnetLinear, got {type(layer).__name__}")
    dense.weight = nn.Parameter(weight.clone())
    return dense


def to_dense(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every subnetwork layer replaced by its plain dense twin.

    The copy keeps the original's training/eval mode and any hooks (a global-scope hook finds no
    subnetwork layer in it and does nothing).
    """
    weights = effective_weights(model)
    dense = copy.deepcopy(model)
    for name, layer in list(named_subnet_layers(dense)):
        twin = _dense_twin(layer, weights[name])
        if not name:
            return twin
        parent_name, _, child_name = name.rpartition(".")
        setattr(dense.get_submodule(parent_name), child_name, twin)
    return dense
