"""The bounds of :mod:`theory.bounds` as ``sympy`` expressions, solved for the required sizes.

Each function returns an expression in the module's symbols (``n, eps, delta, t, R, C, m, d, l, alpha`` and
the per-instance tolerances ``eps_w = eps'``, ``delta_w = delta'`` of the network statement);
where a statement is an equation in the required size, ``sympy.solve`` derives the size. The network-level
expressions take equal widths ``d_0 = ... = d_l = d`` and depth ``l``. :func:`evaluate` substitutes numbers
at 50 significant digits; the results must equal the numpy functions of :mod:`theory.bounds` of the same
names, and :func:`per_weight_tolerance` :func:`theory.network.required_per_weight_tolerance` (a test
checks this on random points).
"""

from __future__ import annotations

import math
import numbers

import sympy as sp

from bookkeeping import validation
from bookkeeping.errors import InvalidInput
from theory.bounds import SINGLE_DRAW_BOUND_FORMS

n = sp.Symbol("n", positive=True)
eps = sp.Symbol("epsilon", positive=True)
delta = sp.Symbol("delta", positive=True)
t = sp.Symbol("t", positive=True)
R = sp.Symbol("R", positive=True, integer=True)
C = sp.Symbol("C", positive=True)
m = sp.Symbol("m", nonnegative=True, integer=True)
d = sp.Symbol("d", positive=True, integer=True)
l = sp.Symbol("l", positive=True, integer=True)  # noqa: E741 (the paper's name for the depth)
alpha = sp.Symbol("alpha", real=True)
eps_w = sp.Symbol("epsilon'", positive=True)  # per-weight tolerance eps' of the network statement
delta_w = sp.Symbol("delta'", positive=True)  # per-instance failure probability delta'

#: Keyword names accepted by :func:`evaluate`.
SYMBOLS = {
    "n": n,
    "eps": eps,
    "delta": delta,
    "t": t,
    "R": R,
    "C": C,
    "m": m,
    "d": d,
    "l": l,
    "alpha": alpha,
    "eps_w": eps_w,
    "delta_w": delta_w,
}

_DIGITS = 50


def _solve_for(equation: sp.Eq, unknown: sp.Symbol) -> sp.Expr:
    (solution,) = sp.solve(equation, unknown)
    return solution


# --- 2.1 ------------------------------------------------------------------------------------------------


def counting_lower_bound() -> sp.Expr:
    """``n`` solving ``(R + 1)^n * 2 eps = 2 t``: ``log(t/eps) / log(R + 1)`` (counting)."""
    return _solve_for(sp.Eq((R + 1) ** n * 2 * eps, 2 * t), n)


# --- 2.2 ------------------------------------------------------------------------------------------------


def lueker_success_bound() -> sp.Expr:
    """``1 - exp(-(n/2 - C log(1/eps))^2 / (2n))`` where ``n/2 >= C log(1/eps)``, else 0 (Lueker 1998)."""
    margin = n / 2 - C * sp.log(1 / eps)
    return sp.Piecewise((1 - sp.exp(-(margin**2) / (2 * n)), margin >= 0), (0, True))


def lueker_required_n() -> sp.Expr:
    """``n`` solving ``lueker_success_bound = 1 - delta`` on the valid branch ``n/2 >= C log(1/eps)``.

    Solved with ``log(1/eps)`` and ``log(1/delta)`` as positive unknowns (``eps, delta < 1``); of the two
    roots of the quadratic the larger is the one on the valid branch.
    """
    log_eps, log_delta = sp.symbols("ell_epsilon ell_delta", positive=True)
    roots = sp.solve(sp.Eq((n / 2 - C * log_eps) ** 2, 2 * n * log_delta), n)
    larger = max(roots, key=lambda r: r.subs({C: 1, log_eps: 1, log_delta: 1}))
    return larger.subs({log_eps: sp.log(1 / eps), log_delta: sp.log(1 / delta)})


def pensia_required_n() -> sp.Expr:
    """``C log(2 / min(eps, delta))`` (Pensia et al. 2020)."""
    return C * sp.log(2 / sp.Min(eps, delta))


# --- 2.3 ------------------------------------------------------------------------------------------------


def single_draw_hit_probability() -> sp.Expr:
    """``q = |[alpha - eps, alpha + eps] ∩ [-1, 1]| / 2``: the chance of one U[-1, 1] draw within ``eps``."""
    return (sp.Min(alpha + eps, 1) - sp.Max(alpha - eps, -1)) / 2


def single_draw_failure_exact() -> sp.Expr:
    """``(1 - q)^m``: no draw of ``m`` lands within ``eps`` (the single-draw lemma)."""
    return (1 - single_draw_hit_probability()) ** m


def single_draw_failure_bound(form: str = "exponential") -> sp.Expr:
    """``exp(-m eps/2)`` (``form="exponential"``, the bound) or ``(1 - eps/2)^m`` (``"geometric"``)."""
    form = validation.choice("form", form, SINGLE_DRAW_BOUND_FORMS)
    if form == "geometric":
        return (1 - eps / 2) ** m
    return sp.exp(-m * eps / 2)


def single_draw_required_draws() -> sp.Expr:
    """``m`` solving ``exp(-m eps/2) = delta``: ``(2/eps) log(1/delta)`` (the single-draw lemma)."""
    return _solve_for(sp.Eq(single_draw_failure_bound(), delta), m)


def single_draw_required_slots() -> sp.Expr:
    """``n`` solving ``exp(-n R eps/2) = delta`` (``m = n R`` draws): ``(2/(eps R)) log(1/delta)``."""
    return _solve_for(sp.Eq(single_draw_failure_bound().subs(m, n * R), delta), n)


# --- 2.4 (equal widths d, depth l) ----------------------------------------------------------------------


def per_weight_tolerance() -> sp.Expr:
    """``eps'`` solving ``(1 + eps' d)^l = 1 + eps``: ``((1 + eps)^(1/l) - 1) / d``.

    The propagated error bound of :func:`theory.network.error_bound` with ``sqrt(d_{i-1} d_i) = d``.
    """
    return _solve_for(sp.Eq((1 + eps_w * d) ** l, 1 + eps), eps_w)


def per_weight_confidence() -> sp.Expr:
    """``delta' = delta / (2 l d^2)``: the union bound over the ``2 d^2`` subset-sum instances per layer."""
    return delta / (2 * l * d**2)


def expand_tolerances(expr: sp.Expr) -> sp.Expr:
    """``expr`` with ``eps'`` and ``delta'`` replaced by :func:`per_weight_tolerance` and
    :func:`per_weight_confidence`, so that it is in ``eps, delta, d, l``."""
    return expr.subs({eps_w: per_weight_tolerance(), delta_w: per_weight_confidence()})


def _per_instance(expr: sp.Expr) -> sp.Expr:
    """A subset-sum statement applied to one instance of the network construction: at ``eps'``, ``delta'``."""
    return expr.subs({eps: eps_w, delta: delta_w}, simultaneous=True)


def network_width_without_resampling(expanded: bool = True) -> sp.Expr:
    """``C log(2 / min(eps', delta'))`` (see :func:`theory.bounds.network_width_without_resampling`);
    in ``eps'``, ``delta'`` when not ``expanded``."""
    width = _per_instance(pensia_required_n())
    return expand_tolerances(width) if expanded else width


def network_width_with_resampling(expanded: bool = True) -> sp.Expr:
    """``min(n_without, max(1, (2/(eps' R)) log(1/delta')))`` (see
    :func:`theory.bounds.network_width_with_resampling`); in ``eps'``, ``delta'`` when not ``expanded``."""
    lemma = _per_instance(single_draw_required_slots())
    width = sp.Min(network_width_without_resampling(expanded=False), sp.Max(1, lemma))
    return expand_tolerances(width) if expanded else width


def width_ratio() -> sp.Expr:
    """Required width without re-sampling over required width with ``R`` draws per weight, in ``eps'`` and
    ``delta'`` (:func:`expand_tolerances` turns it into ``eps, delta, d, l``):

        ``max(1, n_without / max(1, (2/(eps' R)) log(1/delta')))``

    simplified by hand from ``n_without / min(n_without, max(1, lemma))`` with ``a / min(a, b) = max(1, a/b)``
    for ``a, b > 0`` (``sympy.simplify`` does not find it); a test checks the two forms agree.
    """
    lemma = _per_instance(single_draw_required_slots())
    return sp.Max(1, network_width_without_resampling(expanded=False) / sp.Max(1, lemma))


def limit_in_R(expr: sp.Expr) -> sp.Expr:
    """``lim_{R -> oo} expr`` by ``sympy.limit``.

    ``sympy``'s limit algorithm cannot expand ``Min``/``Max``; both are continuous, so the limit of each
    ``Min``/``Max`` that contains ``R`` is taken through its arguments and put in its place before the
    limit of the rest. This is exact when the outer expression is continuous at those limit values (as
    for :func:`width_ratio`, whose ``Min``/``Max`` tend to finite positive values).
    """
    if not expr.has(R):
        return expr
    if isinstance(expr, (sp.Min, sp.Max)):
        return expr.func(*(limit_in_R(arg) for arg in expr.args))
    inner = {
        sub: limit_in_R(sub)
        for sub in sp.preorder_traversal(expr)
        if isinstance(sub, (sp.Min, sp.Max)) and sub.has(R)
    }
    return sp.limit(expr.xreplace(inner), R, sp.oo)


def width_ratio_limit() -> sp.Expr:
    """``lim_{R -> oo}`` :func:`width_ratio` ``= max(1, C log(2 / min(eps', delta')))``: the whole
    logarithmic factor of the width without re-sampling is saved."""
    return limit_in_R(width_ratio())


# --- numbers and LaTeX ----------------------------------------------------------------------------------


def evaluate(expr: sp.Expr, **values) -> float:
    """``expr`` at the given values (keywords from :data:`SYMBOLS`), computed at 50 significant digits."""
    unknown = sorted(set(values) - set(SYMBOLS))
    if unknown:
        raise InvalidInput(f"values must be named among {', '.join(SYMBOLS)}, got {', '.join(unknown)}")
    missing = sorted(name for name, sym in SYMBOLS.items() if sym in expr.free_symbols and name not in values)
    if missing:
        raise InvalidInput(f"values must give every symbol of expr, missing {', '.join(missing)}")
    substitution = {SYMBOLS[name]: _number(name, value) for name, value in values.items()}
    result = sp.N(expr.xreplace(substitution), _DIGITS)
    if not result.is_real:
        raise InvalidInput(f"expr must evaluate to a real number at these values, got {result}")
    return float(result)


def latex(expr: sp.Expr, lhs: str | None = None, relation: str = "=") -> str:
    """LaTeX of ``expr``; with ``lhs``, the statement ``lhs relation expr`` (e.g. ``n \\geq ...``)."""
    body = sp.latex(expr, symbol_names={eps_w: r"\epsilon'", delta_w: r"\delta'"})
    return body if lhs is None else f"{lhs} {relation} {body}"


def _number(name: str, value) -> sp.Number:
    """``value`` checked against the assumptions of its symbol, as an exact ``sympy`` number."""
    symbol = SYMBOLS[name]
    if symbol.is_integer:
        return sp.Integer(validation.integer_at_least(name, value, 1 if symbol.is_positive else 0))
    if symbol.is_positive:
        value = validation.positive(name, value)
    elif isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite real number, got {value!r}")
    # A float becomes a Float carrying its exact binary value at full working precision, so that
    # cancellations such as (1 + eps)^(1/l) - 1 at small eps cost no accuracy.
    return sp.Float(float(value), _DIGITS)
