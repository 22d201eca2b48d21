"""Turn an arbitrary CNN (any torchvision classifier, say) into a subnetwork model.

Beyond the paper's architectures: `to_subnet` swaps every `nn.Conv2d` for a `SubnetConv2d` and every
`nn.Linear` for a `SubnetLinear` of the same geometry (kernel, stride, padding, dilation, groups), and
every BatchNorm for a non-affine one with running statistics (same eps and momentum). Layers that
already are subnetwork layers are redrawn like the others. What it does not keep, and why:

- weights: the new layers draw fresh weights (`spec.weight_init`) and scores, as in a pruning run the
  weights are random by definition;
- biases: subnetwork layers have none, because in the method neither weights nor biases train (a
  conv followed by BatchNorm loses nothing; a classifier simply has no bias);
- trainability of everything else: any other parameter (LayerNorm or GroupNorm affine, a layer-scale
  vector, ...) is frozen at its current value, so that only scores train.

`nn.MultiheadAttention` is rejected: it reads its projection weights directly instead of calling
its linear child, so swapping the child would leave the attention unpruned without any error.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import torch
from torch import nn

from iterand.core.layers import SubnetConv2d, SubnetLinear, SubnetSpec, attach_global_scope, is_subnet_layer

BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def conv_geometry(conv: nn.Conv2d) -> dict[str, Any]:
    """The arguments that give another 2-d convolution the shape and arithmetic of ``conv``: channels,
    kernel, stride, padding, dilation, groups (a ``SubnetConv2d`` or ``nn.Conv2d`` accepts them all)."""
    names = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups")
    return {name: getattr(conv, name) for name in names}


def to_subnet(model: nn.Module, spec: SubnetSpec, generator: torch.Generator | None = None) -> nn.Module:
    """A subnetwork copy of `model` (left unchanged) whose conv and linear layers follow `spec`.

    Draws come from `generator` (a CPU generator; the global RNG when None) in `named_modules()`
    order, so a seeded generator gives a reproducible model. Each new layer is moved to the device and
    dtype of the layer it replaces. With `spec.scope == "global"` the model recomputes its global
    threshold before every forward pass (`iterand.core.layers.attach_global_scope`).
    """
    if not isinstance(spec, SubnetSpec):
        raise ValueError(f"spec must be a SubnetSpec, got {type(spec).__name__}")
    for name, module in model.named_modules():
        if isinstance(module, nn.MultiheadAttention):
            raise ValueError(
                f"model contains nn.MultiheadAttention at {name!r}, which to_subnet does not support: "
                "it uses its projection weights without calling its layers, so they would stay unpruned"
            )
    converted = _convert(copy.deepcopy(model), spec, generator, {})
    scores = {id(m.scores) for m in converted.modules() if is_subnet_layer(m)}
    for parameter in converted.parameters():
        if id(parameter) not in scores:
            parameter.requires_grad_(False)
    if spec.scope == "global":
        attach_global_scope(converted)
    return converted


def _convert(
    module: nn.Module, spec: SubnetSpec, generator: torch.Generator | None, done: dict[int, nn.Module]
) -> nn.Module:
    """The replacement of `module`, or `module` with its children replaced (in named_modules order).

    `done` maps id(original) -> result, so a module registered in several places stays shared.
    """
    if id(module) not in done:
        done[id(module)] = _replacement(module, spec, generator, done)
    return done[id(module)]


def _replacement(
    module: nn.Module, spec: SubnetSpec, generator: torch.Generator | None, done: dict[int, nn.Module]
) -> nn.Module:
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            raise ValueError(f"padding_mode must be 'zeros' for conversion, got {module.padding_mode!r}")
        return _placed_like(SubnetConv2d(**conv_geometry(module), spec=spec, generator=generator), module)
    if isinstance(module, nn.Linear):
        return _placed_like(
            SubnetLinear(module.in_features, module.out_features, spec=spec, generator=generator), module
        )
    if isinstance(module, BATCHNORMS):
        norm = type(module)(
            module.num_features,
            eps=module.eps,
            momentum=module.momentum,
            affine=False,
            track_running_stats=True,
        )
        return _placed_like(norm, module)
    # _modules rather than named_children(), which skips the second registration of a shared child.
    for name, child in list(module._modules.items()):
        if child is None:
            continue
        setattr(module, name, _convert(child, spec, generator, done))
    return module


def _placed_like(new: nn.Module, old: nn.Module) -> nn.Module:
    """`new` on the device and floating dtype of `old`'s own tensors (unchanged if `old` has none)."""
    own = itertools.chain(old.parameters(recurse=False), old.buffers(recurse=False))
    reference = next((tensor for tensor in own if tensor.is_floating_point()), None)
    return new if reference is None else new.to(device=reference.device, dtype=reference.dtype)
