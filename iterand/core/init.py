"""Weight distributions of the subnetwork layers (the official IteRand code's ``init_mode`` choices).

With ``fan = fan_in`` of the weight tensor (``C_in / groups * k_h * k_w`` for a convolution, ``in_features``
for a linear layer) and the ReLU gain ``sqrt(2)``:

- ``kaiming_uniform`` (KU): ``U(-sqrt(6 / fan), +sqrt(6 / fan))``;
- ``kaiming_normal`` (KN): ``N(0, 2 / fan)``;
- ``signed_constant`` (SC): ``+sqrt(2 / fan)`` or ``-sqrt(2 / fan)``, each with probability 1/2;
- ``uniform``: ``U(-1, 1)``, independent of the fan (the theory's setting).

``scale`` multiplies every draw (default 1). Every function takes an optional ``torch.Generator`` on the
tensor's device; without one the global RNG is used.
"""

from __future__ import annotations

import math

import torch

from iterand.core.names import INIT_ALIASES, WEIGHT_INITS, canonical_init

__all__ = ["INIT_ALIASES", "WEIGHT_INITS", "canonical_init", "draw_weights", "fan_in", "fill_weights_"]


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
    shape, options = weight.shape, {"dtype": weight.dtype, "device": weight.device, "generator": generator}
    fan = fan_in(shape)
    if init == "kaiming_uniform":
        bound = math.sqrt(6.0 / fan)
        values = (torch.rand(shape, **options) * 2.0 - 1.0) * bound
    elif init == "kaiming_normal":
        values = torch.randn(shape, **options) * math.sqrt(2.0 / fan)
    elif init == "signed_constant":
        constant = math.sqrt(2.0 / fan)
        # One uniform per element decides the sign: P(rand < 1/2) = 1/2 exactly on torch.rand's grid.
        positive = torch.rand(shape, **options) < 0.5
        values = (positive.to(weight.dtype) * 2.0 - 1.0) * constant
    else:
        values = torch.rand(shape, **options) * 2.0 - 1.0
    return values * scale


def fill_weights_(
    weight: torch.Tensor, init: str, scale: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Overwrite ``weight`` in place with a draw from ``init`` (see ``draw_weights``) and return it."""
    with torch.no_grad():
        return weight.copy_(draw_weights(weight, init, scale, generator))
