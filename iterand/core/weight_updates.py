"""Periodic changes of the frozen weights of a subnetwork model.

One interface, ``WeightUpdate``: ``period`` and ``unit`` ("step" or "epoch") say when, ``due(counter)`` is
true when ``(counter + 1) % period == 0`` for the 0-based GLOBAL counter of that unit (steps do not reset
per epoch), so the first update happens before step (or epoch) ``period - 1``. The training loop calls
``apply(model)`` when ``due(counter)`` is true, BEFORE the first forward pass of step (or epoch)
``counter``. ``state_dict()`` / ``load_state_dict()`` carry whatever an exact resume needs (IteRand's
update count and re-draw record).

- ``EdgePopup`` ("edgepopup", or its synonym "none"): the weights never change.
- ``IteRand``: every period, each PRUNED weight is re-drawn with probability ``r`` (Chijiwa et al. 2021);
  ``redraw_selection`` and ``redrawn_values`` compute its draws from their coordinates alone.
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
from iterand.core import counter_random
from iterand.core.init import STANDARD_LAW, from_standard
from iterand.core.layers import SubnetLayer, SubnetSpec, kept_masks, named_subnet_layers
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
    "redraw_counters",
    "redraw_selection",
    "redrawn_values",
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


# Where a re-draw's random numbers sit in the counter of ``counter_random.splitmix64``: bits 44-63 the
# event (1-based), 34-43 the layer's position among the model's subnetwork layers (named_modules order),
# 32-33 the purpose, 0-31 the weight's flat index in the layer. Every (event, layer, purpose, weight) has
# its own counter, so no two draws share a number.
_EVENT_SHIFT, _LAYER_SHIFT, _PURPOSE_SHIFT = 44, 34, 32
MAX_EVENTS = (1 << (64 - _EVENT_SHIFT)) - 1
MAX_LAYERS = 1 << (_EVENT_SHIFT - _LAYER_SHIFT)
MAX_LAYER_WEIGHTS = 1 << _PURPOSE_SHIFT
_SELECT, _VALUE, _VALUE_B = 0, 1, 2


def redraw_counters(event: int | torch.Tensor, layer: int, purpose: int, index: torch.Tensor) -> torch.Tensor:
    """The SplitMix64 counters of one purpose's draws: ``event`` (int, or int tensor like ``index``),
    ``layer`` (position among the subnetwork layers), ``index`` (int64 flat indices in the layer)."""
    low = (layer << _LAYER_SHIFT) | (purpose << _PURPOSE_SHIFT)
    if isinstance(event, torch.Tensor):
        return (event.to(torch.int64) << _EVENT_SHIFT) | index | low
    return index | counter_random.int64_word((event << _EVENT_SHIFT) | low)


def redraw_selection(seed: int, event: int, layer: int, index: torch.Tensor, r: float) -> torch.Tensor:
    """Which weights (``index``) re-draw ``event`` selects in layer ``layer``, each with probability ``r``
    (before the restriction to the pruned ones)."""
    return counter_random.bernoulli(
        counter_random.splitmix64(seed, redraw_counters(event, layer, _SELECT, index)), r
    )


def redrawn_values(
    seed: int,
    event: int | torch.Tensor,
    layer: int,
    index: torch.Tensor,
    spec: SubnetSpec,
    fan: int,
    dtype: torch.dtype,
) -> torch.Tensor:
    """The fresh values re-draw ``event`` gives the weights ``index`` of layer ``layer`` (whose fan-in is
    ``fan``): a draw from ``spec.weight_init`` times ``spec.weight_scale`` in ``dtype``, by the formula of
    the initial draw (``iterand.core.init.from_standard``). ``event`` may be a tensor like ``index``
    (one event per weight): what rebuilding a model from its re-draw record needs."""
    bits = counter_random.splitmix64(seed, redraw_counters(event, layer, _VALUE, index))
    if STANDARD_LAW[spec.weight_init] == "normal":
        other = counter_random.splitmix64(seed, redraw_counters(event, layer, _VALUE_B, index))
        standard = counter_random.normal(bits, other).to(dtype)
    else:
        standard = counter_random.uniform(bits, dtype)
    return from_standard(standard, spec.weight_init, fan, spec.weight_scale)


@register("iterand")
class IteRand(WeightUpdate):
    """Iterative randomisation: re-draw pruned weights every ``period`` steps (or epochs).

    ``r`` and ``period`` are the paper's r and K_per (the official code's ``rerand_lambda`` and
    ``rerand_freq``), ``rate`` and ``mode`` its ``rerand_rate`` and ``rerand_mode``.

    At each update, in every subnetwork layer, a weight is *eligible* if it is pruned by the current
    scores (mask 0 at that moment) and, when ``rate`` < 1, also among the lowest-ranked ``p * rate``
    fraction of the layer (the mask at pruned fraction ``p * rate``, same count rule, ranking, ties and
    scope as the layer's own mask). Then, as the official code's two modes:

    - ``mode="resample"`` (the paper's; the official ``bernoulli``): each eligible weight is selected
      independently with probability ``r`` and replaced by a fresh draw ``w_new`` from the layer's
      distribution (``spec.weight_init``, ``spec.weight_scale``, the layer's fan-in). ``r = 0`` changes
      nothing, ``r = 1`` is the paper's "naive" variant, ``r = 0.1`` its default.
    - ``mode="manual"``: EVERY eligible weight becomes ``lam * w + mu * w_new``; ``r`` is not used (the
      official code draws no Bernoulli mask in this mode, and its ``rerand_lambda`` is ``lam`` there).

    Kept weights, unselected weights and every score stay bit for bit.

    Randomness: counter-based (``iterand.core.counter_random``, SplitMix64 seeded with ``seed``), never
    the global RNG, so switching re-randomisation on does not change the data order, and DDP ranks with
    the same seed draw the same values. Update number ``e`` (1-based, counted by ``events``) draws, for
    the weight at flat index ``i`` of the subnetwork layer at position ``l`` (``named_modules()`` order),
    its selection and ``w_new`` from counters that depend on ``(e, l, i)`` only (``redraw_selection``,
    ``redrawn_values``): not on the device, the masks, or any earlier draw. By construction (integer
    arithmetic, IEEE-754 basic operations: ``counter_random``) the values have the same bits on CPU and
    GPU for every distribution.

    In resample mode ``last_redraw`` maps each layer to an int32 tensor of its weight's shape (on the
    weights' device: 4 bytes per weight): the update (1-based) that last replaced each weight, 0 for none.
    With the seed it fixes every weight's value (the initial draw, or ``redrawn_values`` of that update),
    which is what a compact file stores instead of the weights. ``state_dict()`` holds ``seed``,
    ``events`` and ``last_redraw``; resuming may change the device type.
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
        self.events = 0
        self.last_redraw: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def apply(self, model: nn.Module) -> None:
        layers = _subnet_layers(model)
        if len(layers) > MAX_LAYERS:
            raise ValueError(
                f"IteRand handles at most {MAX_LAYERS} subnetwork layers, the model has {len(layers)}"
            )
        event = self.events + 1
        if event > MAX_EVENTS:
            raise ValueError(f"IteRand handles at most {MAX_EVENTS} updates per run: raise period")
        pruned = {name: ~kept for name, kept in kept_masks(model).items()}
        if self.rate < 1.0:
            lowest = kept_masks(model, self.rate)
            pruned = {name: mask & ~lowest[name] for name, mask in pruned.items()}
        for position, (name, layer) in enumerate(layers.items()):
            weight = layer.weight
            if weight.numel() > MAX_LAYER_WEIGHTS:
                raise ValueError(f"{name}: IteRand handles at most {MAX_LAYER_WEIGHTS} weights per layer")
            index = torch.arange(weight.numel(), device=weight.device)
            fresh = redrawn_values(self.seed, event, position, index, layer.spec, layer.fan_in, weight.dtype)
            fresh = fresh.view(weight.shape)
            if self.mode == "manual":
                weight.copy_(torch.where(pruned[name], self.lam * weight + self.mu * fresh, weight))
                continue
            selected = pruned[name] & redraw_selection(self.seed, event, position, index, self.r).view(
                weight.shape
            )
            weight.copy_(torch.where(selected, fresh, weight))
            self._record(name, weight, selected, event)
        self.events = event

    def _record(self, name: str, weight: torch.Tensor, selected: torch.Tensor, event: int) -> None:
        last = self.last_redraw.get(name)
        if last is None:
            last = torch.zeros(weight.shape, dtype=torch.int32, device=weight.device)
        elif last.shape != weight.shape:
            raise ValueError(
                f"last_redraw[{name!r}] has shape {tuple(last.shape)}, the weight {tuple(weight.shape)}"
            )
        self.last_redraw[name] = torch.where(selected, event, last.to(weight.device))

    def state_dict(self) -> dict[str, Any]:
        """``seed``, ``events`` (updates so far) and ``last_redraw`` (empty in manual mode and before the
        first update)."""
        return {"seed": self.seed, "events": self.events, "last_redraw": dict(self.last_redraw)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume exactly: the next update draws what it would have drawn without the interruption."""
        if "events" not in state:
            raise ValueError(
                "this IteRand state was saved by an earlier version, whose re-draws came from a "
                "torch.Generator; the counter-based re-draws cannot continue it: start a new run directory"
            )
        if state.get("seed") != self.seed:
            raise ValueError(f"seed must match the saved one ({state.get('seed')!r}), got {self.seed!r}")
        self.events = integer_at_least("events", state["events"], 0)
        self.last_redraw = {name: tensor.to(torch.int32) for name, tensor in state["last_redraw"].items()}


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
