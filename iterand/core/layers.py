"""Subnetwork layers (edge-popup, Ramanujan et al. 2020) and the factory the models are built with.

A subnetwork layer holds frozen random weights ``weight`` (``requires_grad=False``, no bias) and a learnable
score ``scores`` of the same shape. The forward pass uses the effective weight ``weight * m`` (or biprop's
``alpha * sign(weight) * m``), where the mask ``m`` is 1 for KEPT weights and 0 for PRUNED ones and keeps
all but the ``pruned_count`` lowest-ranked scores (rules and ties: ``iterand.core.masks``). Gradients reach
the scores straight through: ``d loss / d ranked = d loss / d(effective weight) * weight``.

Scope:

- ``"layer"`` (the paper's setting): each layer prunes ``round(p * (numel - 1))`` of its own weights.
- ``"global"``: one threshold over the scores of all global-scope layers of a model, pruning exactly
  ``round(p * (N - 1))`` of their ``N`` weights in total. The layers cannot see each other, so the
  threshold is computed for the whole model by ``update_global_thresholds(model)`` and stored in each
  layer's (non-persistent) buffers; ``attach_global_scope(model)`` installs a forward pre-hook that does
  this before every forward pass of the model. A global-scope layer whose threshold was never computed
  raises instead of guessing.

Initialisation order in every subnetwork layer: first the scores (KU), then the weights
(``spec.weight_init`` times ``spec.weight_scale``), both from the given generator (the global RNG when
none), as in the IteRand code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.utils import skip_init
from torch.utils.hooks import RemovableHandle

from bookkeeping.validation import choice, fraction, positive
from iterand.core import masks
from iterand.core.init import fan_in, fill_weights_
from iterand.core.names import SCOPES, canonical_init

EFFECTIVE_WEIGHTS = ("masked", "biprop")
SCORE_INIT = "kaiming_uniform"

__all__ = [
    "EFFECTIVE_WEIGHTS",
    "SCOPES",
    "LayerFactory",
    "SubnetConv2d",
    "SubnetLayer",
    "SubnetLinear",
    "SubnetSpec",
    "attach_global_scope",
    "is_subnet_layer",
    "kept_masks",
    "layer_factory",
    "named_subnet_layers",
    "update_global_thresholds",
]


@dataclasses.dataclass(frozen=True)
class SubnetSpec:
    """How every subnetwork layer of a model prunes and initialises.

    - ``pruned_fraction`` (p, in [0, 1)): fraction of the weights PRUNED (set to zero); kept = 1 - p.
    - ``ranking``: ``"score"`` (raw scores, IteRand) or ``"abs_score"`` (``|score|``, edge-popup).
    - ``weight_init``: one of ``iterand.core.names.WEIGHT_INITS`` or an alias ("sc", "ku", "kn", "u"); stored
      under its full name. ``weight_scale`` (> 0) multiplies the weight init.
    - ``effective_weight``: ``"masked"`` (``w * m``) or ``"biprop"`` (``alpha * sign(w) * m`` with
      ``alpha = ||m * w||_1 / number kept``, Diffenderfer & Kailkhura). Biprop selects the top-k by
      ``|s|``, so it requires ``ranking="abs_score"`` (rejected otherwise rather than silently changed).
    - ``scope``: ``"layer"`` (per-layer top-k, the paper's) or ``"global"`` (one threshold per model).

    Invalid values raise ``ValueError`` naming the field and the allowed values.
    """

    pruned_fraction: float = 0.5
    ranking: str = "score"
    weight_init: str = "signed_constant"
    weight_scale: float = 1.0
    effective_weight: str = "masked"
    scope: str = "layer"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "pruned_fraction", fraction("pruned_fraction", self.pruned_fraction, high_open=True)
        )
        choice("ranking", self.ranking, masks.RANKINGS)
        object.__setattr__(self, "weight_init", canonical_init(self.weight_init))
        object.__setattr__(self, "weight_scale", positive("weight_scale", self.weight_scale))
        choice("effective_weight", self.effective_weight, EFFECTIVE_WEIGHTS)
        choice("scope", self.scope, SCOPES)
        if self.effective_weight == "biprop" and self.ranking != "abs_score":
            raise ValueError(
                f"ranking must be 'abs_score' when effective_weight is 'biprop' (biprop keeps the top-k by "
                f"|score|), got {self.ranking!r}"
            )


class SubnetLayer:
    """What ``SubnetConv2d`` and ``SubnetLinear`` share (a mixin over the torch layer they extend).

    Attributes: ``weight`` (frozen), ``scores`` (trained), ``spec``, ``fan_in`` and ``pruned_count`` (the
    per-layer count of pruned weights; the global scope ignores it).
    """

    spec: SubnetSpec
    weight: nn.Parameter
    scores: nn.Parameter

    def _setup_subnet(self, spec: SubnetSpec, generator: torch.Generator | None) -> None:
        if not isinstance(spec, SubnetSpec):
            raise ValueError(f"spec must be a SubnetSpec, got {type(spec).__name__}")
        self.spec = spec
        self.weight.requires_grad_(False)
        self.scores = nn.Parameter(torch.empty_like(self.weight))
        self.fan_in = fan_in(self.weight.shape)
        self.pruned_count = masks.pruned_count(self.weight.numel(), spec.pruned_fraction)
        if spec.scope == "global":
            self.register_buffer(
                "global_threshold", torch.zeros((), dtype=self.weight.dtype), persistent=False
            )
            self.register_buffer("global_tie_quota", torch.zeros((), dtype=torch.long), persistent=False)
        self._global_threshold_set = False
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw the scores (KU), then the weights (``spec.weight_init`` times ``spec.weight_scale``)."""
        if "scores" not in self._parameters:
            return  # the torch base class calls this before the subnetwork state exists
        fill_weights_(self.scores, SCORE_INIT, 1.0, generator)
        fill_weights_(self.weight, self.spec.weight_init, self.spec.weight_scale, generator)

    def ranked_scores(self) -> torch.Tensor:
        """The values the mask ranks (scores or |scores|), attached to autograd."""
        return masks.ranked_values(self.scores, self.spec.ranking)

    def _kept(self, ranked: torch.Tensor) -> torch.Tensor:
        if self.spec.scope == "layer":
            return masks.kept_mask(ranked, self.pruned_count)
        if not self._global_threshold_set:
            raise RuntimeError(
                "this layer has scope 'global': call iterand.core.layers.update_global_thresholds(model) (or "
                "attach_global_scope(model) once) before using it"
            )
        return masks.kept_mask_from_threshold(ranked, self.global_threshold, self.global_tie_quota)

    def kept_mask(self) -> torch.Tensor:
        """Boolean mask of ``weight``'s shape: True = kept, False = pruned.

        Per-layer scope: from the current scores. Global scope: with the threshold stored by the last
        ``update_global_thresholds`` (``kept_masks(model)`` recomputes it from the current scores).
        """
        return self._kept(self.ranked_scores().detach())

    def mask(self) -> torch.Tensor:
        """``kept_mask()`` as 0/1 in ``weight``'s dtype (1 = kept), without gradient."""
        return self.kept_mask().to(self.weight.dtype)

    def effective_weight(self) -> torch.Tensor:
        """The weight the forward pass uses, with the straight-through gradient to the scores."""
        ranked = self.ranked_scores()
        kept = self._kept(ranked.detach())
        return masks.subnet_weight(ranked, self.weight, kept, self.spec.effective_weight == "biprop")

    def extra_repr(self) -> str:
        spec = self.spec
        return (
            f"{super().extra_repr()}, pruned_fraction={spec.pruned_fraction}, ranking={spec.ranking!r}, "
            f"weight_init={spec.weight_init!r}, effective_weight={spec.effective_weight!r}, "
            f"scope={spec.scope!r}"
        )


class SubnetConv2d(SubnetLayer, nn.Conv2d):
    """A 2-d convolution without bias whose weight is ``SubnetLayer.effective_weight()``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        *,
        spec: SubnetSpec,
        groups: int = 1,
        dilation: int | tuple[int, int] = 1,
        generator: torch.Generator | None = None,
    ) -> None:
        nn.Conv2d.__init__(
            self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=False
        )
        self._setup_subnet(spec, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.effective_weight(), None)


class SubnetLinear(SubnetLayer, nn.Linear):
    """A linear layer without bias whose weight is ``SubnetLayer.effective_weight()``."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        spec: SubnetSpec,
        generator: torch.Generator | None = None,
    ) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias=False)
        self._setup_subnet(spec, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.effective_weight())


def is_subnet_layer(module: nn.Module) -> bool:
    """Whether ``module`` is a subnetwork layer (frozen weights, trained scores)."""
    return isinstance(module, SubnetLayer)


def named_subnet_layers(model: nn.Module) -> Iterator[tuple[str, SubnetLayer]]:
    """``(name, layer)`` for every subnetwork layer, in ``model.named_modules()`` order (each once)."""
    for name, module in model.named_modules():
        if is_subnet_layer(module):
            yield name, module


def _global_layers(model: nn.Module) -> list[SubnetLayer]:
    layers = [layer for _, layer in named_subnet_layers(model) if layer.spec.scope == "global"]
    settings = {(layer.spec.pruned_fraction, layer.spec.ranking) for layer in layers}
    if len(settings) > 1:
        raise ValueError(
            f"pruned_fraction and ranking must be the same in all global-scope layers, got {sorted(settings)}"
        )
    return layers


def _global_selection(
    layers: list[SubnetLayer], pruned_fraction_factor: float
) -> tuple[torch.Tensor, torch.Tensor]:
    total = sum(layer.weight.numel() for layer in layers)
    pruned_fraction = layers[0].spec.pruned_fraction * pruned_fraction_factor
    n_pruned = masks.pruned_count(total, pruned_fraction)
    return masks.global_thresholds([layer.ranked_scores() for layer in layers], n_pruned)


@torch.no_grad()
def update_global_thresholds(model: nn.Module) -> None:
    """Compute the common threshold of ``model``'s global-scope layers and store it in each of them.

    Exactly ``round(p * (N - 1))`` of their ``N`` weights end up pruned, ties broken in the layers'
    ``named_modules()`` order, then flat order. No host synchronisation. A model without global-scope
    layers is left alone. The layers must agree on ``pruned_fraction`` and ``ranking``.
    """
    layers = _global_layers(model)
    if not layers:
        return
    threshold, tie_quotas = _global_selection(layers, 1.0)
    for layer, tie_quota in zip(layers, tie_quotas, strict=True):
        layer.global_threshold.copy_(threshold)
        layer.global_tie_quota.copy_(tie_quota)
        layer._global_threshold_set = True


@torch.no_grad()
def kept_masks(model: nn.Module, pruned_fraction_factor: float = 1.0) -> dict[str, torch.Tensor]:
    """Boolean kept masks (True = kept) of all subnetwork layers by name, from the CURRENT scores.

    Each layer selects at its own scope; global-scope layers get a freshly computed threshold (the
    stored one may be stale), and their stored thresholds are left untouched. With
    ``pruned_fraction_factor`` = f < 1 every pruned fraction p is replaced by ``p * f`` (IteRand's
    ``rate``): the masks then prune the lowest-ranked ``p * f`` fraction, a subset of the usual pruned set.
    """
    if not 0.0 < pruned_fraction_factor <= 1.0:
        raise ValueError(f"pruned_fraction_factor must be in (0, 1], got {pruned_fraction_factor!r}")
    global_layers = _global_layers(model)
    if global_layers:
        threshold, tie_quotas = _global_selection(global_layers, pruned_fraction_factor)
        global_quota = dict(zip(map(id, global_layers), tie_quotas, strict=True))
    result = {}
    for name, layer in named_subnet_layers(model):
        ranked = layer.ranked_scores().detach()
        if layer.spec.scope == "global":
            result[name] = masks.kept_mask_from_threshold(ranked, threshold, global_quota[id(layer)])
        else:
            n_pruned = masks.pruned_count(ranked.numel(), layer.spec.pruned_fraction * pruned_fraction_factor)
            result[name] = masks.kept_mask(ranked, n_pruned)
    return result


def _refresh_global_thresholds(model: nn.Module, args: tuple) -> None:  # the forward pre-hook signature
    update_global_thresholds(model)


def attach_global_scope(model: nn.Module) -> RemovableHandle:
    """Recompute the global threshold before every forward pass of ``model`` (a forward pre-hook)."""
    return model.register_forward_pre_hook(_refresh_global_thresholds)


class LayerFactory:
    """Builds the prunable layers and BatchNorm of a model.

    ``spec`` None: the dense SGD baseline, ``nn.Conv2d`` / ``nn.Linear`` without bias, trainable weights
    drawn from the project's KU formula (``iterand.core.init``, not PyTorch's default), affine BatchNorm.
    ``spec`` given: ``SubnetConv2d`` / ``SubnetLinear``, NON-affine BatchNorm (running stats on).
    Every draw comes from ``generator`` (the global RNG when None), in layer construction order; dense
    layers skip PyTorch's default init (``skip_init``), so building a model never moves the global RNG
    (which would shift the data order between dense and subnetwork runs).
    """

    def __init__(self, spec: SubnetSpec | None, generator: torch.Generator | None = None) -> None:
        if spec is not None and not isinstance(spec, SubnetSpec):
            raise ValueError(f"spec must be a SubnetSpec or None, got {type(spec).__name__}")
        self.spec = spec
        self.generator = generator

    def conv(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
    ) -> nn.Module:
        if self.spec is None:
            layer = skip_init(nn.Conv2d, in_channels, out_channels, kernel_size, stride, padding, bias=False)
            fill_weights_(layer.weight, "kaiming_uniform", 1.0, self.generator)
            return layer
        return SubnetConv2d(
            in_channels, out_channels, kernel_size, stride, padding, spec=self.spec, generator=self.generator
        )

    def linear(self, in_features: int, out_features: int) -> nn.Module:
        if self.spec is None:
            layer = skip_init(nn.Linear, in_features, out_features, bias=False)
            fill_weights_(layer.weight, "kaiming_uniform", 1.0, self.generator)
            return layer
        return SubnetLinear(in_features, out_features, spec=self.spec, generator=self.generator)

    def batchnorm(self, num_features: int) -> nn.BatchNorm2d:
        return nn.BatchNorm2d(num_features, affine=self.spec is None)

    def batchnorm1d(self, num_features: int) -> nn.BatchNorm1d:
        return nn.BatchNorm1d(num_features, affine=self.spec is None)


def layer_factory(spec: SubnetSpec | None, generator: torch.Generator | None = None) -> LayerFactory:
    """The ``LayerFactory`` for ``spec`` (None = dense baseline) drawing from ``generator``."""
    return LayerFactory(spec, generator)
