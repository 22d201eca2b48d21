"""Periodic changes of the frozen weights of a subnetwork model.

One interface, ``WeightUpdate``: ``period`` and ``unit`` ("step" or "epoch") say when, ``due(counter)`` is
true when ``(counter + 1) % period == 0`` for the 0-based GLOBAL counter of that unit (steps do not reset
per epoch), so the first update happens before step (or epoch) ``period - 1``. The training loop calls
``apply(model)`` when ``due(counter)`` is true, BEFORE the first forward pass of step (or epoch)
``counter``. ``state_dict()`` / ``load_state_dict()`` carry whatever an exact resume needs (the generator
state of IteRand).

- ``EdgePopup`` ("edgepopup", or its synonym "none"): the weights never change.
- ``IteRand``: every period, each PRUNED weight is re-drawn with probability ``r`` (Chijiwa et al. 2021).
- ``WeightRecycling``: every period, the lowest-|score| weights become copies of the highest-|score|
  weights (Gorbett & Whitley).

``UPDATES`` is the registry: each class registers itself under its names with ``@register``, and a
training method (``iterand.core.names.METHOD_REGISTRY``) names the update it runs.
Biprop is not a weight update: it is ``SubnetSpec.effective_weight="biprop"``.
Scores are never touched by any update. Checkpoints must store the weights (they change), not only scores.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bookkeeping.validation import fraction, integer_at_least, number
from iterand.core.init import draw_weights
from iterand.core.layers import SubnetLayer, kept_masks, named_subnet_layers
from iterand.core.names import ITERAND_MODES, UNITS

__all__ = [
    "ITERAND_MODES",
    "UNITS",
    "UPDATES",
    "EdgePopup",
    "IteRand",
    "WeightRecycling",
    "WeightUpdate",
    "make_weight_update",
    "recycled_count",
    "register",
]


def _subnet_layers(model: nn.Module) -> dict[str, SubnetLayer]:
    layers = dict(named_subnet_layers(model))
    if not layers:
        raise ValueError("model must contain subnetwork layers to update, found none")
    return layers


class WeightUpdate:
    """Base class: when an update is due, and the (no-op) defaults of the interface.

    ``seeded``: the update draws random numbers and takes a ``seed`` argument (the training engine gives
    it one derived from the run's seed).
    """

    seeded = False

    def __init__(self, period: int, unit: str) -> None:
        self.period = integer_at_least("period", period, 1)
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(repr(u) for u in UNITS)}, got {unit!r}")
        self.unit = unit

    def due(self, counter: int) -> bool:
        """True when ``(counter + 1) % period == 0``; ``counter`` is the 0-based global step or epoch."""
        return (integer_at_least("counter", counter, 0) + 1) % self.period == 0

    def apply(self, model: nn.Module) -> None:
        """Update the weights of every subnetwork layer of ``model`` in place."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""


UPDATES: dict[str, type[WeightUpdate]] = {}


def register(*names: str) -> Callable[[type[WeightUpdate]], type[WeightUpdate]]:
    """Class decorator: ``make_weight_update(name)`` builds the class for each of ``names``."""

    def add(cls: type[WeightUpdate]) -> type[WeightUpdate]:
        for name in names:
            UPDATES[name] = cls
        return cls

    return add


@register("edgepopup", "none")
class EdgePopup(WeightUpdate):
    """Plain edge-popup: the weights stay as initialised; ``due`` is never true."""

    def __init__(self) -> None:
        super().__init__(period=1, unit="step")

    def due(self, counter: int) -> bool:
        integer_at_least("counter", counter, 0)
        return False


@register("iterand")
class IteRand(WeightUpdate):
    """Iterative randomisation: re-draw pruned weights every ``period`` steps (or epochs).

    ``r`` and ``period`` are the paper's r and K_per (the official code's ``rerand_lambda`` and
    ``rerand_freq``), ``rate`` and ``mode`` its ``rerand_rate`` and ``rerand_mode``.

    At each update, in every subnetwork layer, a weight is *eligible* if it is pruned by the current
    scores (mask 0 at that moment) and, when ``rate`` < 1, also among the lowest-ranked ``p * rate``
    fraction of the layer (the mask at pruned fraction ``p * rate``, same count rule, ranking, ties and
    scope as the layer's own mask). Each eligible weight is selected independently with probability ``r``
    and replaced by

    - ``mode="resample"`` (the paper's): a fresh draw ``w_new`` from the layer's distribution
      (``spec.weight_init``, ``spec.weight_scale``, the layer's fan-in);
    - ``mode="manual"`` (the official code's second mode): ``lam * w + mu * w_new``.

    Kept weights, unselected weights and every score stay bit for bit. ``r = 0`` changes nothing,
    ``r = 1`` is the paper's "naive" variant, ``r = 0.1`` its default.

    Randomness: a dedicated ``torch.Generator`` seeded with ``seed``, created on the weights' device at the
    first update (never the global RNG, so switching re-randomisation on does not change the data order,
    and DDP ranks with the same seed draw the same values). Draw order is fixed: layers in
    ``model.named_modules()`` order; per layer first one float32 uniform per weight for the selection
    (selected where ``u < r``), then one full-shape draw of ``w_new``. Every weight consumes draws
    whether or not it is eligible, so the stream does not depend on the masks.
    ``state_dict()`` holds the generator state; resuming needs the same device type.
    """

    seeded = True

    def __init__(
        self,
        r: float = 0.1,
        period: int = 300,
        unit: str = "step",
        rate: float = 1.0,
        mode: str = "resample",
        lam: float = 0.0,
        mu: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__(period, unit)
        self.r = fraction("r", r)
        self.rate = fraction("rate", rate, low_open=True)
        if mode not in ITERAND_MODES:
            raise ValueError(f"mode must be one of {', '.join(repr(m) for m in ITERAND_MODES)}, got {mode!r}")
        self.mode = mode
        self.lam = number("lam", lam)
        self.mu = number("mu", mu)
        self.seed = integer_at_least("seed", seed, 0)
        self._generator: torch.Generator | None = None
        self._pending_state: tuple[str, torch.Tensor] | None = None

    def _generator_on(self, device: torch.device) -> torch.Generator:
        if self._generator is None:
            generator = torch.Generator(device=device)
            generator.manual_seed(self.seed)
            if self._pending_state is not None:
                device_type, state = self._pending_state
                if device_type != device.type:
                    raise ValueError(
                        f"generator_state was saved on device type {device_type!r} and cannot resume on "
                        f"{device.type!r}: resume on the same device type"
                    )
                generator.set_state(state)
                self._pending_state = None
            self._generator = generator
        elif self._generator.device != device:
            raise ValueError(
                f"all subnetwork weights must stay on one device, got {device} after {self._generator.device}"
            )
        return self._generator

    @torch.no_grad()
    def apply(self, model: nn.Module) -> None:
        layers = _subnet_layers(model)
        pruned = {name: ~kept for name, kept in kept_masks(model).items()}
        if self.rate < 1.0:
            lowest = kept_masks(model, self.rate)
            pruned = {name: mask & ~lowest[name] for name, mask in pruned.items()}
        for name, layer in layers.items():
            weight = layer.weight
            generator = self._generator_on(weight.device)
            uniform = torch.rand(weight.shape, generator=generator, device=weight.device, dtype=torch.float32)
            fresh = draw_weights(weight, layer.spec.weight_init, layer.spec.weight_scale, generator)
            if self.mode == "manual":
                fresh = self.lam * weight + self.mu * fresh
            weight.copy_(torch.where(pruned[name] & (uniform < self.r), fresh, weight))

    def state_dict(self) -> dict[str, Any]:
        """``seed``, and the generator's device type and state (None before the first update)."""
        if self._generator is not None:
            return {
                "seed": self.seed,
                "device_type": self._generator.device.type,
                "generator_state": self._generator.get_state(),
            }
        if self._pending_state is not None:
            device_type, state = self._pending_state
            return {"seed": self.seed, "device_type": device_type, "generator_state": state.clone()}
        return {"seed": self.seed, "device_type": None, "generator_state": None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume exactly: the next update draws what it would have drawn without the interruption."""
        if state.get("seed") != self.seed:
            raise ValueError(f"seed must match the saved one ({state.get('seed')!r}), got {self.seed!r}")
        self._generator = None
        saved = state.get("generator_state")
        self._pending_state = None if saved is None else (state["device_type"], saved.clone())


def recycled_count(numel: int, rate: float) -> int:
    """How many weights of a ``numel``-weight layer ``WeightRecycling`` overwrites: floor(rate * numel)."""
    return math.floor(rate * numel)


@register("recycling")
class WeightRecycling(WeightUpdate):
    """Iterative weight recycling (Gorbett & Whitley): copy strong weights over weak ones.

    At each update, in every subnetwork layer, with ``k = recycled_count(numel, rate)``: order the flat
    positions by ``|score|`` ascending (stable: equal values by flat index). The i-th of the k lowest
    positions receives the weight at the i-th of the k highest positions, both taken in that ascending
    order (the lowest gets the smallest of the top k). Values are read before any is written, so
    ``rate`` > 1/2 (overlapping sets) is well defined. Scores are unchanged. The ranking is ``|score|`` for
    every layer, as specified, even where the layer's own mask ranks raw scores. Deterministic: no state.
    Their Conv-6 setting is the default: every 10 epochs, rate 0.2.
    """

    def __init__(self, rate: float = 0.2, period: int = 10, unit: str = "epoch") -> None:
        super().__init__(period, unit)
        self.rate = fraction("rate", rate, low_open=True)

    @torch.no_grad()
    def apply(self, model: nn.Module) -> None:
        for layer in _subnet_layers(model).values():
            flat = layer.weight.reshape(-1)
            k = recycled_count(flat.numel(), self.rate)
            order = torch.sort(layer.scores.detach().abs().reshape(-1), stable=True).indices
            recycled = flat.clone()
            recycled[order[:k]] = flat[order[flat.numel() - k :]]
            layer.weight.copy_(recycled.view(layer.weight.shape))


def make_weight_update(method: str, **fields: Any) -> WeightUpdate:
    """The update registered as ``method`` ("edgepopup" = "none", "iterand", "recycling") built from
    ``fields``.

    ``fields`` are the constructor arguments of that class; unknown ones raise ``ValueError`` listing
    the allowed ones.
    """
    if method not in UPDATES:
        raise ValueError(f"method must be one of {', '.join(repr(m) for m in UPDATES)}, got {method!r}")
    cls = UPDATES[method]
    allowed = tuple(inspect.signature(cls).parameters)
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)}: not a field of method {method!r}; allowed fields: "
            f"{', '.join(allowed) if allowed else 'none'}"
        )
    return cls(**fields)
