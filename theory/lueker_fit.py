"""The constant ``C`` of the Lueker and Pensia bounds, estimated from simulated success probabilities
(Lueker 1998; Pensia et al. 2020), and the affine law ``n_delta(eps) ~ slope * log(1/eps) + intercept``.

No value of ``C`` is published. Both statements only claim that *some* ``C`` works, so simulations can only
show how large ``C`` must at least be: the estimate is the smallest ``C`` under which the bound holds on
every simulated cell. Input: the records of :func:`theory.montecarlo.success_probabilities` for one
``(distribution, model, R, t)``; the ``C`` found belongs to that distribution and interval.

Uncertainty. Each cell's Wilson interval ``[ci_low, ci_high]`` gives a range of ``C``: ``C_high`` is the
estimate with every ``p`` at its ``ci_low`` (the most demanding reading of the data), ``C_low`` with every
``p`` at its ``ci_high``. Deterministic given the records; the per-cell intervals are not simultaneous, so
over many cells the coverage of ``[C_low, C_high]`` is below the cells' confidence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from bookkeeping import validation
from bookkeeping.errors import InvalidInput
from theory import montecarlo


class FitNotComputable(InvalidInput):
    """The records are valid but cannot give this estimate (the grid is too small); the message says why
    and how to widen the grid."""


@dataclass(frozen=True)
class ConstantEstimate:
    """The smallest ``C`` under which a bound holds on every cell, and where it is decided.

    ``C`` uses the estimated ``p``; ``C_low`` / ``C_high`` the upper / lower Wilson bounds (module
    docstring). ``binding_n`` / ``binding_eps``: the cell that sets ``C`` (``None`` when no cell constrains
    it and ``C = 0``). ``per_eps``: ``(eps, C)`` from the cells of each ``eps`` alone, ``eps`` decreasing:
    constant values mean that ``C`` is stable as ``eps`` shrinks.
    """

    C: float
    C_low: float
    C_high: float
    binding_n: int | None
    binding_eps: float | None
    per_eps: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class AffineFit:
    """Least-squares line ``n_delta = slope * log(1/eps) + intercept`` over the ``eps`` with a finite
    ``n_delta`` (:func:`theory.montecarlo.required_n`, point reading), next to the counting slope
    ``1 / log(R + 1)`` (``1/log 2`` for model A) of :func:`theory.bounds.counting_lower_bound`.
    ``residuals = n_delta - line``, in the order of ``eps``."""

    delta: float
    eps: tuple[float, ...]
    n_delta: tuple[int, ...]
    slope: float
    intercept: float
    residuals: tuple[float, ...]
    counting_slope: float


@dataclass(frozen=True)
class LuekerFit:
    """:func:`fit`'s result: the Lueker constant, the Pensia constant over all ``deltas``, one affine fit per
    ``delta``; a part the records cannot give is None (or missing from ``affine``) and ``not_computable``
    says why, part by part."""

    lueker: ConstantEstimate | None
    pensia: ConstantEstimate | None
    affine: tuple[AffineFit, ...]
    not_computable: dict[str, str]


def lueker_cell_constant(n: int, eps: float, p: float) -> float:
    """The smallest ``C >= 0`` with :func:`theory.bounds.lueker_success_bound` ``(n, eps, C) <= p``.

    The bound decreases in ``C`` (for ``eps < 1``) until it reaches 0 at ``C = n / (2 log(1/eps))``; solving
    ``1 - exp(-(n/2 - C l)^2 / (2n)) = p`` on that branch gives ``C = (n/2 - sqrt(2 n log(1/(1-p)))) / l``,
    ``l = log(1/eps)``, clipped at 0 (``p`` above the bound at ``C = 0``, ``1 - exp(-n/8)``, needs no ``C``).
    """
    n = validation.integer_at_least("n", n, 1)
    eps = validation.fraction("eps", eps, low_open=True, high_open=True)
    p = validation.fraction("p", p)
    if p == 1:
        return 0.0
    margin = n / 2 - math.sqrt(-2 * n * math.log1p(-p))
    return max(0.0, margin / math.log(1 / eps))


def lueker_constant(records: Sequence[dict]) -> ConstantEstimate:
    """The smallest ``C`` with ``p(n, eps) >= lueker_success_bound(n, eps, C)`` on every cell with
    ``eps < 1`` (for ``eps >= 1`` the bound does not decrease in ``C``, so those cells cannot set it)."""
    cells = [(eps, r) for (_, eps), rs in _one_group(records).items() if eps < 1 for r in rs]
    if not cells:
        raise FitNotComputable("records must hold at least one cell with eps < 1")

    def estimate(p_of: Callable[[dict], float]) -> list[tuple[float, float, int]]:
        return [(lueker_cell_constant(r["n"], eps, p_of(r)), eps, r["n"]) for eps, r in cells]

    return _constant_estimate(
        {eps for eps, _ in cells},
        estimate(lambda r: r["successes"] / r["trials"]),
        estimate(lambda r: r["ci_high"]),
        estimate(lambda r: r["ci_low"]),
    )


def pensia_constant(records: Sequence[dict], deltas: Sequence[float]) -> ConstantEstimate:
    """The smallest ``C`` such that ``n >= C log(2 / min(eps, delta))`` implies ``p(n, eps) >= 1 - delta`` on
    every simulated ``(n, eps, delta)`` cell (``delta`` from ``deltas``).

    A cell with ``p < 1 - delta`` needs ``C > n / log(2 / min(eps, delta))``; ``C`` is the largest such
    value (a supremum: every larger ``C`` works). Failing cells are decided by the estimated ``p``; for
    ``C_low`` only cells failing even at ``ci_high``, for ``C_high`` all cells failing at ``ci_low``.
    """
    deltas = [
        validation.fraction(f"deltas[{i}]", d, low_open=True, high_open=True) for i, d in enumerate(deltas)
    ]
    if not deltas:
        raise InvalidInput("deltas must have at least 1 entry")
    groups = _one_group(records)

    def estimate(fails: Callable[[dict, Fraction], bool]) -> list[tuple[float, float, int]]:
        return [
            (r["n"] / math.log(2 / min(eps, delta)), eps, r["n"])
            for delta in deltas
            for (_, eps), rs in groups.items()
            for r in rs
            if fails(r, 1 - Fraction(delta))
        ]

    return _constant_estimate(
        {eps for _, eps in groups},
        estimate(lambda r, goal: Fraction(r["successes"], r["trials"]) < goal),
        estimate(lambda r, goal: r["ci_high"] < goal),
        estimate(lambda r, goal: r["ci_low"] < goal),
    )


def affine_required_n(records: Sequence[dict], delta: float) -> AffineFit:
    """Fit ``n_delta(eps)`` against ``log(1/eps)`` by least squares (needs 2 ``eps`` with a finite
    ``n_delta``). Lueker's and Pensia's bounds both predict a line; its slope is compared with the counting
    slope, the least any method can need."""
    ((_, _, R, _), _) = next(iter(_one_group(records)))
    rows = montecarlo.required_n(records, delta)
    points = sorted(
        ((row["eps"], row["n_delta"]) for row in rows if row["n_delta"] is not None), reverse=True
    )
    if len({eps for eps, _ in points}) < 2:
        raise FitNotComputable(_too_few_n_delta(rows, delta))
    eps, n_delta = zip(*points, strict=True)
    x = np.log(1 / np.asarray(eps))
    y = np.asarray(n_delta, dtype=np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    return AffineFit(
        delta=validation.fraction("delta", delta, low_open=True, high_open=True),
        eps=tuple(float(e) for e in eps),
        n_delta=tuple(int(k) for k in n_delta),
        slope=float(slope),
        intercept=float(intercept),
        residuals=tuple(float(v) for v in y - (slope * x + intercept)),
        counting_slope=1 / math.log(R + 1),
    )


def fit(records: Sequence[dict], deltas: Sequence[float]) -> LuekerFit:
    """The Lueker constant, the Pensia constant over ``deltas``, and the affine fit at each ``delta``. A
    part that a grid too small cannot give (:class:`FitNotComputable`) is left out with its reason, so
    that the rest of the fit, and the Monte Carlo work behind it, is kept."""
    reasons: dict[str, str] = {}

    def attempt(part: str, compute: Callable[[], Any]) -> Any:
        try:
            return compute()
        except FitNotComputable as error:
            reasons[part] = str(error)
            return None

    lueker = attempt("lueker", lambda: lueker_constant(records))
    pensia = attempt("pensia", lambda: pensia_constant(records, deltas))
    affine = [
        attempt(f"affine at delta={delta:g}", lambda d=delta: affine_required_n(records, d))
        for delta in deltas
    ]
    return LuekerFit(lueker, pensia, tuple(a for a in affine if a is not None), reasons)


def _too_few_n_delta(rows: list[dict], delta: float) -> str:
    """Why the affine law cannot be fitted: what each eps reached, and which way to widen the grid."""
    n_max = max(row["n_max"] for row in rows)
    found = [f"n_delta={row['n_delta']} at eps={row['eps']:g}" for row in rows if row["n_delta"] is not None]
    missed = [f"{row['eps']:g}" for row in rows if row["n_delta"] is None]
    advice = []
    if missed:
        found.append(f"no n up to {n_max} reaches it at eps={', '.join(missed)}")
        advice.append(f"add n above {n_max}")
    if len(rows) < 2:
        advice.append("add eps values")
    return (
        f"the affine law n_delta ~ slope * log(1/eps) + intercept needs n_delta, the smallest n with "
        f"p >= {1 - delta:g} (delta={delta:g}), at 2 or more eps values: {'; '.join(found)}; widen the grid: "
        f"{', or '.join(advice)}"
    )


def _one_group(records: Sequence[dict]) -> dict:
    """:func:`theory.montecarlo.group_cells`, checked to hold exactly one ``(distribution, model, R, t)``."""
    groups = montecarlo.group_cells(records)
    names = {group for group, _ in groups}
    if not names:
        raise FitNotComputable("records must hold at least one cell")
    if len(names) != 1:
        raise InvalidInput(
            f"records must come from exactly one (distribution, model, R, t), got {sorted(names)}"
        )
    return groups


def _constant_estimate(eps_values, point, optimistic, conservative) -> ConstantEstimate:
    """Assemble a :class:`ConstantEstimate` from the ``(C, eps, n)`` each constraining cell requires under
    the three readings; ``eps_values`` are all the grid's ``eps`` (0 for those that constrain nothing)."""
    binding = max(point, default=(0.0, None, None))
    per_eps = dict.fromkeys(eps_values, 0.0)
    for value, eps, _ in point:
        per_eps[eps] = max(per_eps[eps], value)
    return ConstantEstimate(
        C=float(binding[0]),
        C_low=float(max(optimistic, default=(0.0,))[0]),
        C_high=float(max(conservative, default=(0.0,))[0]),
        binding_n=binding[2] if binding[0] > 0 else None,
        binding_eps=binding[1] if binding[0] > 0 else None,
        per_eps=tuple(sorted(per_eps.items(), reverse=True)),
    )
