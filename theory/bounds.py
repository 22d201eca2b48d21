"""The bounds of the subset-sum and network statements as numbers, one function per statement.

Conventions. ``log`` is the natural logarithm. Required sizes are returned as real numbers: any integer
at least as large satisfies the statement, so the smallest admissible integer is ``ceil`` of the value.
The statement functions of sections 2.1-2.3 and :func:`wilson_interval` broadcast over array arguments;
the network-level ones take scalar ``eps``, ``delta`` and broadcast over ``R`` and ``C``. Results are a
``float`` when all arguments are scalars.
:mod:`theory.symbolic` states the same bounds as ``sympy`` expressions; the two must agree numerically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import numpy as np
from numpy.typing import ArrayLike

from bookkeeping import validation
from bookkeeping.errors import InvalidInput
from theory import network

SINGLE_DRAW_BOUND_FORMS = ("exponential", "geometric")

#: A ``float`` for scalar arguments, else the broadcast ``float64`` array.
Real = float | np.ndarray


# --- 2.1 counting lower bound ---------------------------------------------------------------------------


def counting_lower_bound(t: ArrayLike, eps: ArrayLike, R: ArrayLike = 1) -> Real:
    """``log(t/eps) / log(R + 1)``: the smallest ``n`` for which ``E*(X) <= eps`` is possible
    (counting: ``(R + 1)^n`` sums, each covering ``2 eps`` of the ``2 t`` to cover).

    ``(R + 1)^n`` subset sums (``R = 1``: model A, 2 choices per slot; ``R`` draws per slot: model B,
    ``R + 1`` choices) whose ``eps``-neighbourhoods cover ``[-t, t]`` need ``(R + 1)^n * 2 eps >= 2 t``.
    Deterministic: no sample of any distribution can violate it. A value ``<= 0`` (``eps >= t``) means no
    constraint: the empty sum alone is within ``t`` of every target.
    """
    t = _positive("t", t)
    eps = _positive("eps", eps)
    R = _integer("R", R, 1)
    return _out(np.log(t / eps) / np.log(R + 1.0))


# --- 2.2 Lueker / Pensia et al. -------------------------------------------------------------------------


def lueker_success_bound(n: ArrayLike, eps: ArrayLike, C: ArrayLike) -> Real:
    """Lueker's lower bound on ``p(n, eps)`` (Lueker 1998, Cor. 2.5, as quoted by Pensia et al. 2020):
    ``1 - exp(-(n/2 - C log(1/eps))^2 / (2 n))`` where ``eps >= exp(-n/(2C))``, and ``0`` elsewhere.

    The statement only holds where ``n/2 - C log(1/eps) >= 0``, where the formula runs from 0 up; outside
    it the squared formula would grow again, so we return the trivial bound 0 instead (continuous at the
    boundary, and still a true lower bound on any probability). Lueker's targets are ``[-1/2, 1/2]``; the
    constant ``C`` is not published, :mod:`theory.lueker_fit` estimates it.
    """
    n = _positive("n", n)
    eps = _positive("eps", eps)
    C = _positive("C", C)
    margin = n / 2.0 - C * np.log(1.0 / eps)
    bound = -np.expm1(-(margin**2) / (2.0 * n))
    return _out(np.where(margin >= 0, bound, 0.0))


def lueker_required_n(eps: ArrayLike, delta: ArrayLike, C: ArrayLike) -> Real:
    """The ``n`` at which :func:`lueker_success_bound` reaches ``1 - delta``:
    ``2 C l + 4 L + 4 sqrt(L (C l + L))`` with ``l = log(1/eps)``, ``L = log(1/delta)``.

    It is the root of ``(n/2 - C l)^2 = 2 n L`` on the branch ``n/2 >= C l`` where the bound is valid; the
    bound increases with ``n`` there, so every larger ``n`` also gives success probability ``>= 1 - delta``.
    Requires ``eps < 1`` (``l > 0``).
    """
    eps = _probability("eps", eps, low_open=True, high_open=True)
    delta = _probability("delta", delta, low_open=True, high_open=True)
    C = _positive("C", C)
    log_eps, log_delta = np.log(1.0 / eps), np.log(1.0 / delta)
    return _out(2.0 * C * log_eps + 4.0 * log_delta + 4.0 * np.sqrt(log_delta * (C * log_eps + log_delta)))


def pensia_required_n(eps: ArrayLike, delta: ArrayLike, C: ArrayLike) -> Real:
    """``C log(2 / min(eps, delta))``: Pensia et al.'s (2020) consequence of Lueker's bound:
    ``n`` at least this makes every target in ``[-1, 1]`` ``eps``-close to a subset sum with probability
    ``>= 1 - delta``. Its ``C`` is a different constant from Lueker's (compare the slopes ``C`` and ``2C``
    in ``log(1/eps)``)."""
    eps = _positive("eps", eps)
    delta = _probability("delta", delta, low_open=True, high_open=True)
    C = _positive("C", C)
    return _out(C * np.log(2.0 / np.minimum(eps, delta)))


# --- 2.3 IteRand's single-draw lemma --------------------------------------------------------------------


def single_draw_hit_probability(alpha: ArrayLike, eps: ArrayLike) -> Real:
    """``q = |[alpha - eps, alpha + eps] ∩ [-1, 1]| / 2``: the probability that one U[-1, 1] draw is within
    ``eps`` of ``alpha``. ``q >= eps/2`` for ``eps <= 1`` (one side of the window always fits)."""
    alpha = _unit_interval("alpha", alpha)
    eps = _positive("eps", eps)
    return _out((np.minimum(alpha + eps, 1.0) - np.maximum(alpha - eps, -1.0)) / 2.0)


def single_draw_failure_exact(alpha: ArrayLike, eps: ArrayLike, m: ArrayLike) -> Real:
    """``P(min_i |alpha - X_i| > eps) = (1 - q)^m`` for ``m`` i.i.d. U[-1, 1] draws (single-draw lemma)."""
    q = single_draw_hit_probability(alpha, eps)
    m = _integer("m", m, 0)
    return _out(np.power(1.0 - q, m))


def single_draw_failure_bound(eps: ArrayLike, m: ArrayLike, form: str = "exponential") -> Real:
    """Upper bound on :func:`single_draw_failure_exact`, uniform in ``alpha``, for ``eps <= 1``.

    The chain is ``(1 - q)^m <= (1 - eps/2)^m <= exp(-m eps/2)`` (``q >= eps/2``, ``1 - x <= e^-x``).
    ``form="exponential"`` (default) is *the* bound: the one solved for the required number of draws in
    :func:`single_draw_required_draws`. ``form="geometric"`` is the tighter middle term.
    """
    eps = _probability("eps", eps, low_open=True)
    m = _integer("m", m, 0)
    form = validation.choice("form", form, SINGLE_DRAW_BOUND_FORMS)
    if form == "geometric":
        return _out(np.power(1.0 - eps / 2.0, m))
    return _out(np.exp(-m * eps / 2.0))


def single_draw_required_draws(eps: ArrayLike, delta: ArrayLike) -> Real:
    """``m = (2/eps) log(1/delta)``: this many U[-1, 1] draws put one within ``eps`` of any
    ``alpha in [-1, 1]`` with probability ``>= 1 - delta`` (``exp(-m eps/2) <= delta``)."""
    eps = _probability("eps", eps, low_open=True)
    delta = _probability("delta", delta, low_open=True, high_open=True)
    return _out(2.0 / eps * np.log(1.0 / delta))


def single_draw_required_slots(eps: ArrayLike, delta: ArrayLike, R: ArrayLike) -> Real:
    """``(2 / (eps R)) log(1/delta)``: slots needed when each slot has ``R`` draws (``m = n R``).

    The required ``n`` drops by the factor ``R``; ``R >= (2/eps) log(1/delta)`` makes one slot enough.
    """
    draws = single_draw_required_draws(eps, delta)
    R = _integer("R", R, 1)
    return _out(draws / R)


# --- 2.4 network level ----------------------------------------------------------------------------------


def subset_sum_instances(dims: Sequence[int]) -> int:
    """``N = sum_i 2 d_{i-1} d_i``: the subset-sum problems of the construction of :mod:`theory.network`
    (each target weight has a positive and a negative part); the union bound runs over them."""
    dims = network.validate_dims(dims)
    return sum(2 * d_in * d_out for d_in, d_out in pairwise(dims))


def per_weight_confidence(delta: float, dims: Sequence[int]) -> float:
    """``delta' = delta / N`` (:func:`subset_sum_instances`): if each of the ``N`` instances fails with
    probability ``<= delta'``, all succeed together with probability ``>= 1 - delta`` (union bound)."""
    delta = validation.fraction("delta", delta, low_open=True, high_open=True)
    return delta / subset_sum_instances(dims)


def network_width_without_resampling(eps: float, delta: float, dims: Sequence[int], C: ArrayLike) -> Real:
    """Units per input coordinate that make the pruned network ``eps``-close to every target network
    (``||F_i||_Frob <= 1``, ``||x|| <= 1``) with probability ``>= 1 - delta``, one draw per weight:

        ``n = C log(2 / min(eps', delta'))``  (:func:`pensia_required_n` at the per-instance tolerances)

    - ``eps'`` = :func:`theory.network.required_per_weight_tolerance` ``(eps, dims)``: the common
      per-weight error at which the propagated bound ``prod_i (1 + eps' sqrt(d_{i-1} d_i)) - 1`` equals
      ``eps`` (:func:`theory.network.error_bound`);
    - ``delta'`` = :func:`per_weight_confidence`: ``delta`` split by the union bound over the
      ``2 d_{i-1} d_i`` instances of every layer.

    Modelling: every instance must reach all targets of ``[-1, 1]`` (``|F_i[j, k]| <= 1``) from the
    products ``b s(+-a)`` of the ``n`` units of its input coordinate (units of the other sign of ``a``
    contribute 0), so ``C`` is the Pensia constant of that instance distribution, not of U[-1, 1].
    """
    tolerance = network.required_per_weight_tolerance(_network_eps(eps), dims)
    return pensia_required_n(tolerance, per_weight_confidence(delta, dims), C)


def network_width_with_resampling(
    eps: float, delta: float, dims: Sequence[int], R: ArrayLike, C: ArrayLike
) -> Real:
    """As :func:`network_width_without_resampling` with ``R`` draws per output-side weight:

        ``min(n_without, max(1, (2 / (eps' R)) log(1/delta')))``

    Two routes, each sufficient on its own, so the smaller requirement is the one that counts:

    - subset sums (model B contains model A: using nothing or the first draw), ``n_without``;
    - IteRand's argument: one unit per instance, chosen among the ``n R`` draws, is within ``eps'`` of the
      target with probability ``>= 1 - delta'`` once ``n >= (2/(eps' R)) log(1/delta')``
      (:func:`single_draw_required_slots`), and at least one unit is always needed. This models each
      draw as U[-1, 1], the single-draw lemma's hypothesis; it is the paper's argument, not a proof for the
      product draws of :mod:`theory.network`.

    For ``R >= (2/eps') log(1/delta')`` the requirement is the constant 1: re-sampling turns the
    logarithmic width factor into a constant one.
    """
    tolerance = network.required_per_weight_tolerance(_network_eps(eps), dims)
    confidence = per_weight_confidence(delta, dims)
    without = pensia_required_n(tolerance, confidence, C)
    lemma = single_draw_required_slots(tolerance, confidence, R)
    return _out(np.minimum(without, np.maximum(1.0, lemma)))


# --- binomial confidence intervals ----------------------------------------------------------------------


def normal_quantile(p: float) -> float:
    """``z`` with ``Phi(z) = p`` for the standard normal ``Phi``, ``p in (0, 1)``.

    Bisection on ``erfc`` (no scipy), to the last representable digit: ``Phi(z) = erfc(-z / sqrt 2) / 2``;
    the upper tail is solved directly so ``p`` near 1 loses no precision.
    """
    p = validation.fraction("p", p, low_open=True, high_open=True)
    if p < 0.5:
        return -normal_quantile(1.0 - p)
    tail = 2.0 * (1.0 - p)  # erfc(z / sqrt 2) must equal this, and erfc decreases
    low, high = 0.0, 40.0
    while True:
        middle = 0.5 * (low + high)
        if not low < middle < high:
            return middle
        if math.erfc(middle / math.sqrt(2.0)) > tail:
            low = middle
        else:
            high = middle


def wilson_interval(successes: ArrayLike, trials: ArrayLike, confidence: float = 0.95) -> tuple[Real, Real]:
    """Wilson score interval ``(low, high)`` for a binomial proportion (Wilson 1927).

    With ``p = successes / trials`` and ``z`` the two-sided normal quantile of ``confidence``:
    ``(p + z^2/(2N) -+ z sqrt(p(1-p)/N + z^2/(4N^2))) / (1 + z^2/N)``. Broadcasts over ``successes`` and
    ``trials``; ``0 <= successes <= trials`` and ``trials >= 1``.
    """
    successes = np.asarray(_integer("successes", successes, 0), dtype=np.float64)
    trials = np.asarray(_integer("trials", trials, 1), dtype=np.float64)
    if np.any(successes > trials):
        raise InvalidInput("successes must be at most trials")
    confidence = validation.fraction("confidence", confidence, low_open=True, high_open=True)
    z = normal_quantile(0.5 + confidence / 2.0)
    p = successes / trials
    z2n = z * z / trials
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * np.sqrt(p * (1.0 - p) / trials + z2n / (4.0 * trials)) / (1.0 + z2n)
    # The end points are exactly 0 at no success and 1 at no failure; rounding would leave ~1e-18.
    low = np.where(successes == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(successes == trials, 1.0, np.clip(centre + half, 0.0, 1.0))
    return _out(low), _out(high)


# --- argument checks over arrays ------------------------------------------------------------------------
# The scalar checks of bookkeeping.validation are applied to every distinct value, so messages stay uniform.


def _checked(name: str, value, check) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number or an array of numbers, got {value!r}") from None
    for v in np.unique(arr):
        check(name, float(v))
    return arr


def _positive(name: str, value) -> np.ndarray:
    return _checked(name, value, validation.positive)


def _probability(name: str, value, **kwargs) -> np.ndarray:
    return _checked(name, value, lambda n, v: validation.fraction(n, v, **kwargs))


def _integer(name: str, value, minimum: int) -> np.ndarray:
    return _checked(name, value, lambda n, v: validation.integer_at_least(n, v, minimum))


def _unit_interval(name: str, value) -> np.ndarray:
    return _checked(name, value, lambda n, v: validation.in_range(n, v, -1.0, 1.0))


def _network_eps(eps) -> float:
    """The network-level tolerance, in ``(0, 1]``: larger ones are trivial, since the fully pruned network
    ``g = 0`` has error ``||f(x)|| <= 1`` on the unit ball. Keeps ``eps' <= eps <= 1``, the lemma's range."""
    return validation.fraction("eps", eps, low_open=True)


def _out(values) -> Real:
    """A float for 0-d results, the array otherwise."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else arr
