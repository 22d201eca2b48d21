"""Three models of re-sampling (none, an oracle, and IteRand's process), on shared draws.

``draws`` has shape ``(n, R)``: slot ``i`` owns the draws ``draws[i, 0..R-1]``.

- ``"none"`` (model A): one draw per slot, column 0: :func:`theory.subset_sum.best_subset` on ``draws[:, 0]``.
- ``"oracle"`` (model B): a sum uses, per slot, nothing or exactly one of its ``R`` draws:
  :func:`theory.subset_sum.best_choice` on ``draws``.
- ``"iterand"`` (model C): :func:`iterand_process`, the algorithmic process that IteRand's training mirrors
  (it re-samples only the pruned weights).

On the same draws and target, per-target errors satisfy ``B <= C <= A``, exactly in floating point:
model C's values after any round are one draw per slot, so each of its subsets is a model-B choice, and its
round 0 is model A. The three use the same meet-in-the-middle split and add the same numbers in the same
order, so equal real sums are equal floats.
"""

from __future__ import annotations

import numpy as np

from bookkeeping import validation
from bookkeeping.errors import InvalidInput
from theory import batched_subset_sum

RESAMPLING_MODELS = ("none", "oracle", "iterand")


def iterand_process(draws, z, r: float = 1.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """Model C: per-round best error of the re-drawing process for each target ``z``.

    Round 0 uses ``draws[:, 0]``. In re-draw round ``k = 1..R-1``, with ``S`` the best subset of the current
    values for ``z`` (:func:`theory.subset_sum.best_subset`, ties to the smallest bit mask), every slot not
    in ``S`` is replaced by ``draws[i, k]`` independently with probability ``r``; slots in ``S`` keep their
    values. Entry ``k`` of the result is the best error of the values after round ``k``; the last entry is
    the model-C error.

    The error never increases from round to round: ``S`` keeps its values, so its sum stays available. With
    ``r = 0`` nothing is replaced and every entry equals the model-A error.

    ``z`` is a number (result shape ``(R,)``) or an array of shape ``(m,)`` (result ``(m, R)``); each target
    runs its own process on the same draws (:func:`theory.batched_subset_sum.iterand_choices`, all targets
    at once). ``rng`` (a ``numpy.random.Generator``) is required when
    ``r < 1``; each re-draw round then consumes ``rng.random((m, n))``, rounds in order. With ``r = 1``
    the process is deterministic and ``rng`` is not used.
    """
    draws = validation.samples(draws, "draws")
    if draws.ndim != 2:
        raise InvalidInput(f"draws must have shape (n, R), got shape {draws.shape}")
    targets = validation.targets(z)
    # Each target runs its own process on the same draws: one instance per target.
    shared = np.broadcast_to(draws, (targets.size, *draws.shape))
    errors, _ = batched_subset_sum.iterand_choices(shared, targets.reshape(-1), r=r, rng=rng)
    return errors.reshape(targets.shape + (draws.shape[1],))
