"""When the pruned network must predict the same class as its target: a guarantee from the target's logits.

Let ``c`` be the target's predicted class at input ``x`` and ``margin(x) = f_c(x) - max_{j != c} f_j(x)``.
If ``||g(x) - f(x)||_2 < margin(x) / sqrt(2)``, then ``g`` predicts ``c`` too: for ``g_j`` to reach ``g_c``
the two logits must move by ``|delta_c| + |delta_j| >= margin(x)`` together, and
``|delta_c| + |delta_j| <= sqrt(2) ||delta||_2``. :func:`theory.network.error_bound` bounds
``||g(x) - f(x)||_2`` by ``||x|| * B`` with ``B = error_bound(per-weight errors, dims, 1)`` (the network is
positively homogeneous), so ``||x|| * B < margin(x) / sqrt(2)`` guarantees agreement at ``x``.

The bound holds in exact arithmetic; ``f`` and ``g`` are computed in float64, whose rounding moves a logit
by far less than ``1e-9 ||x||`` at these sizes, so the guarantee asks for that much room on top
(:data:`ROUNDING`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from bookkeeping.errors import InvalidInput
from theory import network

ROUNDING = 1e-9


def logit_margins(logits: np.ndarray) -> np.ndarray:
    """``f_c - max_{j != c} f_j`` per row, ``c`` the row's largest logit (0 when two logits tie)."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise InvalidInput(f"logits must have shape (N, classes) with classes >= 2, got {logits.shape}")
    top_two = -np.partition(-logits, 1, axis=1)[:, :2]
    return top_two[:, 0] - top_two[:, 1]


def guaranteed_agreement(
    target: network.Target, inputs: np.ndarray, per_weight_errors: Sequence
) -> np.ndarray:
    """Per input (rows of ``inputs``): True where every pruned network whose per-weight errors are at most
    ``per_weight_errors`` (as for :func:`theory.network.error_bound`) predicts the target's class."""
    norms, room = _room(target, inputs)
    return norms * (network.error_bound(per_weight_errors, target.dims) + ROUNDING) < room


def agreement_tolerance(target: network.Target, inputs: np.ndarray) -> float:
    """The per-weight tolerance ``eps'`` (one for all layers) that guarantees agreement on every input:
    a pruned network whose per-weight errors are all below it predicts the target's class at each row of
    ``inputs``. 0 when some input has no room at all (a tie, or a margin within rounding)."""
    norms, room = _room(target, inputs)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(norms > 0, room / norms, 0.0)
    smallest = float(relative.min()) - ROUNDING
    if not smallest > 0:
        return 0.0
    return network.required_per_weight_tolerance(smallest, target.dims)


def _room(target: network.Target, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(||x||, margin(x) / sqrt(2))`` per input."""
    logits = target.forward(inputs)
    return np.linalg.norm(inputs, axis=1), logit_margins(logits) / math.sqrt(2.0)
