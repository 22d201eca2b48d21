"""Weight distributions of the subnetwork layers (the official IteRand code's ``init_mode`` choices).

With ``fan = fan_in`` of the weight tensor (``C_in / groups * k_h * k_w`` for a convolution, ``in_features``
for a linear layer) and the ReLU gain ``sqrt(2)``:

- ``kaiming_uniform`` (KU): ``U(-sqrt(6 / fan), +sqrt(6 / fan))``;
- ``kaiming_normal`` (KN): ``N(0, 2 / fan)``;
- ``signed_constant`` (SC): ``+sqrt(2 / fan)`` or ``-sqrt(2 / fan)``, each with probability 1/2;
- ``uniform``: ``U(-1, 1)``, independent of the fan (the theory's setting).

``scale`` multiplies every draw (default 1). ``draw_weights`` and ``fill_weights_`` take an optional
``torch.Generator`` on the tensor's device; without one the global RNG is used. ``from_standard`` is the
arithmetic that turns standard draws (uniform in [0, 1), or standard normal for KN, as ``STANDARD_LAW``
says) into weights: ``draw_weights`` feeds it torch's draws, IteRand's re-draws feed it counter-based
ones (``iterand.core.counter_random``), so both follow one formula.
"""

from __future__ import annotations

import math

import torch

from iterand.core.names import INIT_ALIASES, WEIGHT_INITS, canonical_init

__all__ = [
    "INIT_ALIASES",
    "STANDARD_LAW",
    "WEIGHT_INITS",
    "canonical_init",
    "draw_weights",
    "fan_in",
    "fill_weights_",
    "from_standard",
]

# The standard draw each distribution is a function of.
STANDARD_LAW = {
    "kaiming_uniform": "uniform",
    "kaiming_normal": "normal",
    "signed_constant": "uniform",
    "uniform": "uniform",
}


def fan_in(shape: torch.Size | tuple[int, ...]) -> int:
    """``shape[1] * prod(shape[2:])``: the inputs feeding one output unit of a conv or linear weight."""
    if len(shape) < 2:
        raise ValueError(f"shape must have at least 2 dimensions (out, in, ...), got {tuple(shape)}")
    return math.prod(shape[1:])


def draw_weights(
    weight: torch.Tensor, init: str, scale: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A fresh tensor with ``weight``'s shape, dtype and device, drawn i.i.d. from ``init``."""
    init = canonical_init(init)
    options = {"dtype": weight.dtype, "device": weight.device, "generator": generator}
    draw = torch.randn if STANDARD_LAW[init] == "normal" else torch.rand
    return from_standard(draw(weight.shape, **options), init, fan_in(weight.shape), scale)


def from_standard(standard: torch.Tensor, init: str, fan: int, scale: float = 1.0) -> torch.Tensor:
    """Weights of distribution ``init`` for fan-in ``fan`` from standard draws of the same shape and dtype:
    uniforms in [0, 1), or standard normals for "kaiming_normal" (``STANDARD_LAW``)."""
    init = canonical_init(init)
    if init == "kaiming_uniform":
        values = (standard * 2.0 - 1.0) * math.sqrt(6.0 / fan)
    elif init == "kaiming_normal":
        values = standard * math.sqrt(2.0 / fan)
    elif init == "signed_constant":
        # P(u < 1/2) = 1/2 exactly on a grid of multiples of 2^-p.
        positive = standard < 0.5
        values = (positive.to(standard.dtype) * 2.0 - 1.0) * math.sqrt(2.0 / fan)
    else:
        values = standard * 2.0 - 1.0
    return values * scale


def fill_weights_(
    weight: torch.Tensor, init: str, scale: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Overwrite ``weight`` in place with a draw from ``init`` (see ``draw_weights``) and return it."""
    with torch.no_grad():
        return weight.copy_(draw_weights(weight, init, scale, generator))
