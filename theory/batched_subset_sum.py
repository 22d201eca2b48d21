"""Exact best subset sums for many independent instances at once: one array computation, no per-instance loop.

Instance ``p`` has its own samples ``x[p]``, of shape ``(m,)`` (model A, one draw per slot) or ``(m, R)``
(model B, none or one of ``R`` draws per slot), and its own target ``z[p]``; the instances of one call share
``m`` and ``R``. This is what the network construction needs: every target weight is two instances with
samples of its own (the products ``b * |a|`` of its output-side weights), thousands per layer.

For every instance the result is exactly what :func:`theory.subset_sum.best_choice` returns for it alone:
the same meet-in-the-middle split, the same float sums added in the same order, the same neighbour search
and the same tie-breaking (smallest enumeration index, see :mod:`theory.subset_sum`). Only the search for
the neighbours of ``z - a`` among the sorted right-half sums is organised differently, as one stable sort
per instance of the two sorted lists (queries placed first, so an equal right sum counts as "above",
as ``searchsorted(side="left")`` does); a stable sort of two sorted runs is a linear-time merge.

:func:`iterand_choices` runs model C (:func:`theory.resampling.iterand_process`) on many instances with
draws of their own, which is how the network construction re-samples each output-side weight.
"""

from __future__ import annotations

import numpy as np

from bookkeeping import validation
from bookkeeping.errors import InvalidInput
from theory import subset_sum

# Sums (and sort keys) held at once per chunk of instances: a few arrays of this many entries, ~10 MB each.
_MAX_ENTRIES_PER_CHUNK = 2**20


def best_choices(x, z) -> tuple[np.ndarray, np.ndarray]:
    """Model A or B for ``P`` independent instances: per instance, the best choice and its error, exactly.

    ``x``: shape ``(P, m)`` (model A) or ``(P, m, R)`` (model B); ``z``: shape ``(P,)``. Returns
    ``(errors, choice)`` of shapes ``(P,)`` and ``(P, m)``; ``choice`` is int16, ``-1`` for an unused slot and
    ``k`` for draw ``k`` (model A: always draw 0). Row ``p`` equals
    ``theory.subset_sum.best_choice(x[p], z[p])`` bit for bit. Each half of an instance enumerates at most
    :data:`theory.subset_sum.MAX_ENUMERATED_SUMS` sums.
    """
    options = _options(_instances(x, "x"))
    targets = _targets(z, options.shape[0])
    count, m, k = options.shape
    h = m // 2
    sizes = (k**h, k ** (m - h))
    for size, slots in zip(sizes, (h, m - h), strict=True):
        if size > subset_sum.MAX_ENUMERATED_SUMS:
            raise InvalidInput(
                f"x is too large to enumerate: {k}^{slots} sums per half exceed the limit of "
                f"{subset_sum.MAX_ENUMERATED_SUMS}"
            )
    errors = np.empty(count)
    best_index = np.empty(count, dtype=np.int64)
    chunk = max(1, _MAX_ENTRIES_PER_CHUNK // (sizes[0] + sizes[1]))
    for start in range(0, count, chunk):
        part = slice(start, min(start + chunk, count))
        errors[part], best_index[part] = _search(options[part, :h], options[part, h:], targets[part])
    return errors, subset_sum._decode(best_index, m, k)


def iterand_choices(
    draws, z, r: float = 1.0, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Model C (the IteRand process of :func:`theory.resampling.iterand_process`) for ``P`` instances.

    ``draws``: shape ``(P, m, R)``, instance ``p`` owning ``draws[p]``; ``z``: shape ``(P,)``. Round 0 uses
    ``draws[:, :, 0]``; in round ``k = 1..R-1`` every slot outside the instance's current best subset is
    replaced by its draw ``k`` with probability ``r`` (``rng.random((P, m))`` per round, rounds in order;
    ``rng`` unused when ``r = 1``). Returns ``(errors, choice)``: the best error after each round, shape
    ``(P, R)``, and the final best subset as the draw each used slot holds (``-1``: unused), shape ``(P, m)``
    int16, so that ``draws[p, i, choice[p, i]]`` are the kept values.
    """
    draws = _instances(draws, "draws")
    if draws.ndim != 3:
        raise InvalidInput(f"draws must have shape (P, m, R), got shape {draws.shape}")
    r = validation.fraction("r", r)
    if r < 1.0 and not isinstance(rng, np.random.Generator):
        raise InvalidInput(f"rng must be a numpy.random.Generator when r < 1, got {rng!r}")
    targets = _targets(z, draws.shape[0])
    count, m, rounds = draws.shape
    errors = np.empty((count, rounds))
    values = draws[:, :, 0]
    held = np.zeros((count, m), dtype=np.int16)  # which draw each slot holds now
    errors[:, 0], choice = best_choices(values, targets)
    for k in range(1, rounds):
        redraw = choice < 0
        if r < 1.0:
            redraw &= rng.random((count, m)) < r
        values = np.where(redraw, draws[:, :, k], values)
        held = np.where(redraw, np.int16(k), held)
        errors[:, k], choice = best_choices(values, targets)
    return errors, np.where(choice >= 0, held, np.int16(-1))


def _instances(x, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be an array of real numbers") from None
    if arr.ndim not in (2, 3) or 0 in arr.shape[1:]:
        raise InvalidInput(
            f"{name} must have shape (P, m) or (P, m, R) with P >= 0 and m, R >= 1, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidInput(f"{name} must contain only finite values (no NaN or inf)")
    return arr


def _targets(z, count: int) -> np.ndarray:
    targets = validation.targets(z)
    if targets.shape != (count,):
        raise InvalidInput(f"z must have shape ({count},), one target per instance, got {targets.shape}")
    return targets


def _options(x: np.ndarray) -> np.ndarray:
    """Per instance and slot the options ``(P, m, R + 1)``: column 0 is the unused slot (0), ``k + 1`` draw
    ``k`` (:func:`theory.subset_sum._options` for one instance)."""
    draws = x if x.ndim == 3 else x[:, :, None]
    return np.concatenate([np.zeros(draws.shape[:2] + (1,)), draws], axis=2)


def _enumerate(options: np.ndarray) -> np.ndarray:
    """Per instance all sums, position ``i`` holding enumeration index ``i``: the same float additions, in
    the same order, as :func:`theory.subset_sum._enumerate_sums`."""
    sums = np.zeros((options.shape[0], 1))
    for slot in range(options.shape[1]):
        sums = (options[:, slot, :, None] + sums[:, None, :]).reshape(options.shape[0], -1)
    return sums


def _sorted_with_first_index(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise :func:`theory.subset_sum._sorted_with_first_index`: sorted sums and, per position, the
    smallest enumeration index among the sums equal to it."""
    order = np.argsort(sums, axis=1)  # equal sums in any order: their smallest index is taken below
    ordered = np.take_along_axis(sums, order, axis=1)
    is_run_start = np.ones(ordered.shape, dtype=bool)
    is_run_start[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    if is_run_start.all():  # no equal sums (the rule for continuous draws): nothing to choose between
        return ordered, order.astype(np.int64)
    flat_starts = np.flatnonzero(is_run_start)  # every row starts a run, so no run spans two rows
    smallest = np.minimum.reduceat(order.ravel(), flat_starts)
    run = np.cumsum(is_run_start.ravel()) - 1
    return ordered, smallest[run].reshape(order.shape).astype(np.int64)


def _count_below(ascending_queries: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """Row-wise ``searchsorted(ordered[p], ascending_queries[p], side="left")``, both rows sorted."""
    count, width = ascending_queries.shape
    order = np.argsort(np.concatenate([ascending_queries, ordered], axis=1), axis=1, kind="stable")
    # Stable: the queries keep their order and each precedes the right sums equal to it, so query i sits
    # at merged position i + (number of right sums below it).
    _, position = np.nonzero(order < width)  # row-major: per row, the queries' positions in order
    return position.reshape(count, width) - np.arange(width)


def _search(left_options: np.ndarray, right_options: np.ndarray, targets: np.ndarray):
    """Best error and enumeration index per instance: :func:`theory.subset_sum.best_choice` for all
    instances of a chunk together.

    ``best_choice`` keeps, per left sum, the better neighbour (ties: smaller right index) and then, among
    the left sums reaching the smallest error, the smallest combined index. That is the smallest combined
    index over all (left sum, neighbour) pairs that reach the smallest error, which is computed here: only
    the few pairs at the minimum need their indices.
    """
    count = targets.size
    left, left_index = _sorted_with_first_index(_enumerate(left_options))
    right, right_index = _sorted_with_first_index(_enumerate(right_options))
    q = targets[:, None] - left  # non-increasing along each row, since left is sorted
    above = _count_below(q[:, ::-1], right)[:, ::-1] + 1  # +1: the -inf sentinel below
    # Sentinels make "no neighbour on this side" an infinite error, so it never wins.
    infinity = np.full((count, 1), np.inf)
    right = np.concatenate([-infinity, right, infinity], axis=1)
    no_index = np.zeros((count, 1), np.int64)
    right_index = np.concatenate([no_index, right_index, no_index], axis=1)
    err_above = np.abs(q - np.take_along_axis(right, above, axis=1))
    err_below = np.abs(q - np.take_along_axis(right, above - 1, axis=1))
    errors = np.minimum(err_above.min(axis=1), err_below.min(axis=1))
    best_index = np.full(count, np.iinfo(np.int64).max)
    for side, err in ((0, err_above), (1, err_below)):
        rows, cols = np.nonzero(err == errors[:, None])
        combined = right_index[rows, above[rows, cols] - side] * left.shape[1] + left_index[rows, cols]
        np.minimum.at(best_index, rows, combined)
    return errors, best_index
