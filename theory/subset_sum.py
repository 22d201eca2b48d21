"""Subset sums of random samples: the worst-case error over a target interval, and per-target best subsets.

Samples ``x`` come in two shapes:

- ``(n,)``, model A ("none"): slot ``i`` contributes nothing or ``x[i]``; ``Sigma`` has ``2^n`` sums.
- ``(n, R)``, model B ("oracle"): slot ``i`` contributes nothing or exactly one of its draws ``x[i, k]``, so
  ``R + 1`` choices per slot and ``(R + 1)^n`` sums.

A *choice* is one option per slot, ``c_i = -1`` (slot unused) or ``c_i = k`` (draw ``k`` used); its
*enumeration index* is ``sum_i (c_i + 1) (R + 1)^i`` (slot 0 is the least significant digit; for model A
this is the bit mask ``sum_{i in S} 2^i``). The empty choice, index 0, gives the sum 0, so ``0`` is always in
``Sigma``.

Definitions: ``E*(x) = sup_{z in [-t, t]} min_{s in Sigma} |z - s|`` (worst-case error) and
``e(x, z) = min_{s in Sigma} |z - s|`` (per-target error).

Floating point: every function computes its sums with float64 additions, so two functions that add the same
numbers in a different order may disagree in the last few ulps of a sum. "Exact" below means exact for the
float sums the function computed, with no further approximation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bookkeeping import validation
from bookkeeping.errors import InvalidInput

# Enumerations (brute force, and each half of meet-in-the-middle) stop here: 2^22 float64 sums are 32 MiB.
MAX_ENUMERATED_SUMS = 2**22

# Meet-in-the-middle compares every left-half sum with every target of a chunk; this caps the chunk's size.
_MAX_PAIRS_PER_CHUNK = 2**20

# The interval method's list of reachable intervals stops here: 2^23 intervals are 128 MiB of endpoints, and
# a pass holds a few times that (R + 1 shifted copies, the sort order) at once, about 1 GiB for R = 1.
MAX_INTERVALS = 2**23
_BYTES_PER_INTERVAL = 16
_BYTES_IN_USE_PER_INTERVAL = 128  # measured: about 8 times the endpoints, at R = 1
# The largest max_intervals accepted (about 16 GiB in use at R = 1): a cap beyond what a machine holds
# is no cap, and the pass would die of a MemoryError (or the OOM killer) instead of stopping with advice.
MAX_INTERVALS_LIMIT = 2**27

# Messages name the samples as the command line does, not by the argument name ``x``.
SAMPLES = "samples"


class ResolutionTooFine(InvalidInput):
    """``E*`` (or the decision at ``eps``) needs a finer resolution than ``max_intervals`` intervals allow."""


class _TooManyIntervals(Exception):
    """A pass of the interval method outgrew its ``max_intervals``."""


def worst_case_error(
    x,
    t: float = 1.0,
    eps: float | None = None,
    *,
    max_intervals: int = MAX_INTERVALS,
    progress: Callable[[str], None] | None = None,
) -> float:
    """``E*(x)`` over ``[-t, t]`` by the interval method below.

    The reachable sums are kept as a sorted list of disjoint closed intervals ``[lo_j, hi_j]`` and the
    slots are added one at a time in decreasing ``max_k |x[i, k]|`` (the union of the ``R + 1`` shifted
    copies). Intervals whose gap is at most ``tau = 2 * eps`` are merged, and intervals that cannot come back
    to ``[-2t, 2t]`` with the remaining slots' positive and negative totals are dropped; no other sum
    matters because ``0`` is a sum, so the sum nearest to any ``z`` in ``[-t, t]`` is within ``|z| <= t``.

    With ``eps``, the returned ``v`` is the largest distance from a point of ``[-t, t]`` to the final union
    ``U`` and satisfies ``v <= E* <= max(v, eps)``: hence ``v == E*`` whenever ``v >= eps``, and
    ``v <= e  <=>  E* <= e`` for every ``e >= eps``, so one call at the smallest ``eps`` of a grid decides
    the whole grid. Proof: interval endpoints are always true sums (shifts and unions of true sums; merging
    keeps existing endpoints), and every sum in ``[-2t, 2t]`` lies in ``U``, so ``v <= E*``. A point of
    ``U`` is a sum or lies in a merged gap of length ``<= tau`` between two sums: it is within ``eps`` of
    ``Sigma``. A point ``z`` of ``[-t, t]`` outside ``U`` lies in a gap of ``U`` whose ends are sums and
    which holds no sum of ``[-2t, 2t]``, where its nearest sum is: its distance to ``Sigma`` is its
    distance to ``U``. Taking the sup over ``z`` gives ``E* <= max(v, eps)``.
    One pass costs ``O(n * L)`` where ``L`` is the longest interval list, at most about
    ``(window length) / tau``; once the sums are dense the list collapses to one interval covering
    ``[-t, t]`` and the pass stops (every later union keeps that interval, so ``v = 0``).

    Without ``eps`` the value is exact: passes with ``eps = t/2, t/8, t/32, ...`` run until one returns
    ``v >= eps`` (which is then ``E*``). This must happen once ``eps < E*``, and ``E* >= t / (R + 1)^n`` by
    the counting bound; a final pass with ``tau = 0`` (no merging: every distinct sum is kept) covers the
    case that rounding defeats this. The last pass has ``eps`` in ``[E*/4, E*)``, so the cost grows like
    ``n * t / E*``, i.e. roughly doubles with each extra sample of model A: for U[-1, 1] and t = 1 about
    10 ms at ``n = 20`` and of the order of a second at ``n = 26``. Use ``eps`` for larger ``n``.

    Memory is capped: the interval list never exceeds ``max_intervals`` (default ``MAX_INTERVALS``, about
    1 GiB in use for R = 1). A pass that would need more stops with ``ResolutionTooFine``, which says how
    small ``E*`` is known to be and suggests ``eps``; many samples without ``eps`` end so within seconds
    instead of running out of memory. ``progress``, if given, receives a line before each exact pass.
    """
    x = validation.samples(x, SAMPLES)
    t = validation.positive("t", t)
    max_intervals = _max_intervals(max_intervals)
    megabytes = max_intervals * _BYTES_PER_INTERVAL / 2**20
    limit = f"{max_intervals:,} intervals ({megabytes:.3g} MiB of endpoints)"
    if eps is not None:
        eps = validation.positive("eps", eps)
        try:
            return _interval_sup_distance(x, t, 2.0 * eps, max_intervals)
        except _TooManyIntervals:
            raise ResolutionTooFine(
                f"deciding E* <= {eps:g} for these {x.shape[0]} samples needs more than {limit}; "
                "decide at a larger eps"
            ) from None
        except MemoryError:
            raise _out_of_memory(x, max_intervals, f"deciding E* <= {eps:g}", "a larger --eps") from None
    counting_bound = t * float(_choices_per_slot(x)) ** -x.shape[0]  # underflows to 0, never overflows
    eps = t / 2.0
    try:
        while eps >= counting_bound:
            if progress is not None:
                progress(f"resolving E* at {eps:.3g} ...")
            value = _interval_sup_distance(x, t, 2.0 * eps, max_intervals)
            if value >= eps:
                return value
            eps /= 4.0
        return _interval_sup_distance(x, t, 0.0, max_intervals)
    except _TooManyIntervals:
        raise ResolutionTooFine(
            f"the exact E* of these {x.shape[0]} samples is below {4 * eps:.3g} and needs a finer resolution "
            f"than {limit} allow; decide E* <= EPS instead (--eps EPS, exact and fast for EPS >= {eps:.3g})"
        ) from None
    except MemoryError:
        raise _out_of_memory(
            x, max_intervals, f"resolving E* below {4 * eps:.3g}", f"--eps EPS (fast for EPS >= {eps:.3g})"
        ) from None


def worst_case_error_brute(x, t: float = 1.0) -> float:
    """``E*(x)`` by enumerating all ``(R + 1)^n`` sums (reference for tests; at most 2^22 sums)."""
    x = validation.samples(x, SAMPLES)
    t = validation.positive("t", t)
    sums = np.sort(_enumerate_sums(_options(x), SAMPLES))
    return _sup_distance(sums, sums, t)


def best_subset(x, z) -> tuple[np.ndarray, np.ndarray]:
    """Model A: for each target ``z``, the best subset ``S`` minimising ``|z - sum_S x_i|``.

    ``x`` has shape ``(n,)``; ``z`` is a number or an array of shape ``(m,)``. Returns ``(errors, masks)`` of
    shapes ``z.shape`` and ``z.shape + (n,)`` (bool). Same algorithm, error and tie-breaking as
    :func:`best_choice`.
    """
    x = validation.samples(x, SAMPLES)
    if x.ndim != 1:
        raise InvalidInput(
            f"{SAMPLES} must have shape (n,) for model A (use best_choice for (n, R)), got {x.shape}"
        )
    errors, choice = best_choice(x[:, None], z)
    return errors, choice >= 0


def best_choice(x, z) -> tuple[np.ndarray, np.ndarray]:
    """Model B: for each target ``z``, the best choice (one draw or nothing per slot), exactly.

    ``x`` has shape ``(n, R)`` (``(n,)`` is read as ``R = 1``); ``z`` is a number or an array of shape
    ``(m,)``. Returns ``(errors, choice)`` of shapes ``z.shape`` and ``z.shape + (n,)``; ``choice`` is int16
    with ``-1`` for an unused slot and ``k`` for draw ``k``.

    Meet-in-the-middle: slots ``0..h-1`` (``h = n // 2``) form the left half, the rest the right half; each
    half's sums are enumerated (at most 2^22 each, so ``n <= 44`` for model A) and the right ones sorted. A
    choice with half sums ``a`` (left) and ``b`` (right) has error ``|(z - a) - b|`` in float64; for each
    ``a`` the best ``b`` is the neighbour of ``z - a`` below or above it in the sorted list (the error is
    monotone in ``b`` on each side, also in floating point), so the minimum over all choices is exact.
    Ties (equal errors) go to the smallest enumeration index (see the module docstring).
    """
    options = _options(validation.samples(x, SAMPLES))
    targets = validation.targets(z)
    n, k = options.shape
    h = n // 2
    left, left_index = _sorted_with_first_index(_enumerate_sums(options[:h], SAMPLES))
    right, right_index = _sorted_with_first_index(_enumerate_sums(options[h:], SAMPLES))
    # Sentinels make "no neighbour on this side" an infinite error, so it never wins.
    right = np.concatenate(([-np.inf], right, [np.inf]))
    right_index = np.concatenate(([0], right_index, [0]))
    flat = targets.reshape(-1)
    errors = np.empty(flat.size)
    best_index = np.empty(flat.size, dtype=np.int64)
    chunk = max(1, _MAX_PAIRS_PER_CHUNK // left.size)
    for start in range(0, flat.size, chunk):
        stop = min(start + chunk, flat.size)
        # Rows of q are monotone (left is sorted), which searchsorted walks cache-friendly.
        q = flat[start:stop, None] - left[None, :]
        above = np.searchsorted(right, q, side="left")
        below = above - 1
        err_above, err_below = np.abs(q - right[above]), np.abs(q - right[below])
        index_above, index_below = right_index[above], right_index[below]
        take_below = (err_below < err_above) | ((err_below == err_above) & (index_below < index_above))
        err = np.where(take_below, err_below, err_above)
        combined = np.where(take_below, index_below, index_above) * left.size + left_index[None, :]
        errors[start:stop] = err.min(axis=1)
        tied = np.where(err == errors[start:stop, None], combined, np.iinfo(np.int64).max)
        best_index[start:stop] = tied.min(axis=1)
    choice = _decode(best_index, n, k)
    return errors.reshape(targets.shape), choice.reshape(targets.shape + (n,))


def best_choice_brute(x, z) -> tuple[np.ndarray, np.ndarray]:
    """Reference for :func:`best_choice` (and :func:`best_subset`) by enumerating all choices (tests only).

    Same inputs, outputs and tie-breaking (smallest enumeration index); the error is ``|z - s|`` with ``s``
    summed slot by slot, which can differ from :func:`best_choice` in the last ulps unless all sums are
    exact in float64 (e.g. dyadic samples).
    """
    options = _options(validation.samples(x, SAMPLES))
    targets = validation.targets(z)
    sums = _enumerate_sums(options, SAMPLES)
    flat = targets.reshape(-1)
    chunk = max(1, _MAX_PAIRS_PER_CHUNK // sums.size)
    index = np.concatenate(
        [
            np.argmin(np.abs(flat[start : start + chunk, None] - sums[None, :]), axis=1)
            for start in range(0, flat.size, chunk)
        ]
    )
    errors = np.abs(flat - sums[index])
    choice = _decode(index, options.shape[0], options.shape[1])
    return errors.reshape(targets.shape), choice.reshape(targets.shape + (options.shape[0],))


def _max_intervals(value) -> int:
    value = validation.integer_at_least("max_intervals", value, 1)
    if value > MAX_INTERVALS_LIMIT:
        in_use = f"about {MAX_INTERVALS_LIMIT * _BYTES_IN_USE_PER_INTERVAL / 2**30:.0f} GiB of memory in use"
        raise InvalidInput(
            f"max_intervals must be at most {MAX_INTERVALS_LIMIT:,} ({in_use}), got {value:,}; "
            "for many samples decide E* <= EPS instead (--eps EPS)"
        )
    return value


def _out_of_memory(x: np.ndarray, max_intervals: int, doing: str, instead: str) -> ResolutionTooFine:
    # A cap below MAX_INTERVALS_LIMIT can still be more than this machine holds; say which knob helps.
    return ResolutionTooFine(
        f"{doing} for these {x.shape[0]} samples ran out of memory before the cap of {max_intervals:,} "
        f"intervals (--max-intervals) was reached; use {instead}, or a smaller --max-intervals"
    )


def _choices_per_slot(x: np.ndarray) -> int:
    return 2 if x.ndim == 1 else x.shape[1] + 1


def _options(x: np.ndarray) -> np.ndarray:
    """Per-slot options ``(n, R + 1)``: column 0 is the unused slot (0), column ``k + 1`` is draw ``k``."""
    draws = x.reshape(x.shape[0], -1)
    return np.concatenate([np.zeros((draws.shape[0], 1)), draws], axis=1)


# A sum beyond the float64 range (1e308 + 1e308) is +-inf, far from every target, which is the right
# answer: numpy's overflow warning would only alarm (it was printed beside a correct E*).
@np.errstate(over="ignore")
def _enumerate_sums(options: np.ndarray, name: str) -> np.ndarray:
    """All sums, position ``i`` holding the choice with enumeration index ``i`` (slot 0 least significant)."""
    count = options.shape[1] ** options.shape[0]
    if count > MAX_ENUMERATED_SUMS:
        raise InvalidInput(
            f"{name} is too large to enumerate: {options.shape[1]}^{options.shape[0]} sums "
            f"exceed the limit of {MAX_ENUMERATED_SUMS}"
        )
    sums = np.zeros(1)
    for slot in options:
        sums = (slot[:, None] + sums[None, :]).ravel()
    return sums


def _sorted_with_first_index(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``sums`` and, per sorted position, the smallest enumeration index among equal sums."""
    order = np.argsort(sums, kind="stable")  # equal sums stay in index order
    ordered = sums[order]
    is_run_start = np.ones(ordered.size, dtype=bool)
    is_run_start[1:] = ordered[1:] != ordered[:-1]
    run_start = np.maximum.accumulate(np.where(is_run_start, np.arange(ordered.size), 0))
    return ordered, order[run_start].astype(np.int64)


def _decode(index: np.ndarray, n: int, k: int) -> np.ndarray:
    digits = (index[:, None] // (np.int64(k) ** np.arange(n, dtype=np.int64))[None, :]) % k
    return (digits - 1).astype(np.int16)


@np.errstate(over="ignore")
def _sup_distance(lo: np.ndarray, hi: np.ndarray, t: float) -> float:
    """``sup_{z in [-t, t]} dist(z, U)`` for ``U`` the union of sorted disjoint ``[lo_j, hi_j]`` (non-empty).

    Outside ``U`` the distance is a tent over each gap ``(a, b)``; its max over ``[-t, t]`` is at the gap's
    midpoint clipped to ``[-t, t]`` (negative when the gap misses ``[-t, t]``, hence ignored). The two
    unbounded gaps give ``lo_0 + t`` and ``t - hi_last``.
    """
    value = max(0.0, float(lo[0]) + t, t - float(hi[-1]))
    if lo.size > 1:
        a, b = hi[:-1], lo[1:]
        z = np.clip(0.5 * (a + b), -t, t)
        value = max(value, float(np.max(np.minimum(z - a, b - z))))
    return value


# Samples near the float64 limit (1e308) overflow the totals and some sums to +-inf. The answer stays right:
# an infinite sum is never near [-t, t], an infinite window only keeps more sums (always safe), and two
# infinite ends (inf - inf is nan, and nan > tau is false) merge into one interval that stays far away.
@np.errstate(over="ignore", invalid="ignore")
def _interval_sup_distance(x: np.ndarray, t: float, tau: float, max_intervals: int) -> float:
    """One pass of the interval method (see :func:`worst_case_error`) with merge resolution ``tau >= 0``;
    ``_TooManyIntervals`` as soon as the interval list outgrows ``max_intervals``."""
    draws = x.reshape(x.shape[0], -1)
    draws = draws[np.argsort(-np.max(np.abs(draws), axis=1), kind="stable")]
    up = np.maximum(draws.max(axis=1), 0.0)
    down = np.minimum(draws.min(axis=1), 0.0)
    # Totals still to come after slot i: a partial sum s can only end in [s + down_after, s + up_after].
    up_after = np.append(np.cumsum(up[::-1])[::-1][1:], 0.0)
    down_after = np.append(np.cumsum(down[::-1])[::-1][1:], 0.0)
    # Widening the window only keeps more true sums, which is always safe; the margin absorbs the rounding
    # of the totals, so no sum that could end inside [-2t, 2t] is ever dropped.
    reach = 2.0 * t * (1.0 + 1e-9) + 1e-9 * float(np.sum(up) - np.sum(down))
    lo = hi = np.zeros(1)
    for i, shifts in enumerate(draws):
        low_end, high_end = -reach - up_after[i], reach - down_after[i]
        lows, highs = [], []
        for s in (0.0, *shifts):
            # Both lists are increasing, so the copies that stay in the window form one slice.
            first = np.searchsorted(hi, low_end - s, side="left")
            stop = np.searchsorted(lo, high_end - s, side="right")
            lows.append(lo[first:stop] + s)
            highs.append(hi[first:stop] + s)
        lo_all = np.concatenate(lows)
        order = np.argsort(lo_all, kind="stable")  # timsort: merging R + 1 sorted runs is near linear
        lo_all = lo_all[order]
        hi_run = np.maximum.accumulate(np.concatenate(highs)[order])
        breaks = np.flatnonzero((lo_all[1:] - hi_run[:-1]) > tau)
        if breaks.size >= max_intervals:
            raise _TooManyIntervals
        lo = lo_all[np.concatenate(([0], breaks + 1))]
        hi = hi_run[np.concatenate((breaks, [lo_all.size - 1]))]
        covering = np.searchsorted(lo, -t, side="right") - 1
        if covering >= 0 and hi[covering] >= t:
            return 0.0
    return _sup_distance(lo, hi, t)
