"""The sympy statements (theory/symbolic.py) evaluate to the numpy bounds (theory/bounds.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from theory import bounds, network
from theory import symbolic as S

POINTS = 12
RTOL = 1e-12


def _rng(salt: int) -> np.random.Generator:
    return np.random.default_rng([20211206, salt])


def _log_uniform(rng, low, high):
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _assert_equal(symbolic_value, numeric_value):
    assert symbolic_value == pytest.approx(numeric_value, rel=RTOL, abs=1e-300)


def test_counting():
    expr, rng = S.counting_lower_bound(), _rng(1)
    for _ in range(POINTS):
        t, eps, R = rng.uniform(0.3, 3), _log_uniform(rng, 1e-6, 0.1), int(rng.integers(1, 50))
        _assert_equal(S.evaluate(expr, t=t, eps=eps, R=R), bounds.counting_lower_bound(t, eps, R))


def test_lueker_bound_both_branches():
    expr, rng = S.lueker_success_bound(), _rng(2)
    zeros = 0
    for _ in range(2 * POINTS):
        n, eps, C = float(rng.integers(1, 300)), _log_uniform(rng, 1e-5, 0.9), rng.uniform(0.5, 8)
        numeric = bounds.lueker_success_bound(n, eps, C)
        zeros += numeric == 0
        _assert_equal(S.evaluate(expr, n=n, eps=eps, C=C), numeric)
    assert 0 < zeros < 2 * POINTS


def test_lueker_required_n():
    expr, rng = S.lueker_required_n(), _rng(3)
    for _ in range(POINTS):
        eps, delta, C = _log_uniform(rng, 1e-6, 0.9), _log_uniform(rng, 1e-4, 0.5), rng.uniform(0.1, 5)
        _assert_equal(S.evaluate(expr, eps=eps, delta=delta, C=C), bounds.lueker_required_n(eps, delta, C))


def test_pensia_required_n():
    expr, rng = S.pensia_required_n(), _rng(4)
    for _ in range(POINTS):
        eps, delta, C = _log_uniform(rng, 1e-6, 1.0), _log_uniform(rng, 1e-6, 0.5), rng.uniform(0.1, 5)
        _assert_equal(S.evaluate(expr, eps=eps, delta=delta, C=C), bounds.pensia_required_n(eps, delta, C))


def test_single_draw_lemma():
    rng = _rng(5)
    hit, exact = S.single_draw_hit_probability(), S.single_draw_failure_exact()
    exponential, geometric = S.single_draw_failure_bound(), S.single_draw_failure_bound("geometric")
    draws, slots = S.single_draw_required_draws(), S.single_draw_required_slots()
    alphas = [-1.0, 1.0, *rng.uniform(-1, 1, POINTS - 2)]
    for alpha in alphas:
        eps, m, delta = rng.uniform(1e-3, 1), int(rng.integers(0, 300)), _log_uniform(rng, 1e-6, 0.5)
        R = int(rng.integers(1, 1000))
        alpha = float(alpha)
        _assert_equal(S.evaluate(hit, alpha=alpha, eps=eps), bounds.single_draw_hit_probability(alpha, eps))
        _assert_equal(
            S.evaluate(exact, alpha=alpha, eps=eps, m=m), bounds.single_draw_failure_exact(alpha, eps, m)
        )
        _assert_equal(S.evaluate(exponential, eps=eps, m=m), bounds.single_draw_failure_bound(eps, m))
        _assert_equal(
            S.evaluate(geometric, eps=eps, m=m), bounds.single_draw_failure_bound(eps, m, form="geometric")
        )
        _assert_equal(S.evaluate(draws, eps=eps, delta=delta), bounds.single_draw_required_draws(eps, delta))
        _assert_equal(
            S.evaluate(slots, eps=eps, delta=delta, R=R), bounds.single_draw_required_slots(eps, delta, R)
        )


def _network_point(rng):
    return {
        "eps": _log_uniform(rng, 1e-6, 1.0),
        "delta": _log_uniform(rng, 1e-6, 0.5),
        "d": int(rng.integers(1, 65)),
        "l": int(rng.integers(1, 7)),
        "C": rng.uniform(0.2, 5),
    }


def test_network_tolerances():
    tolerance, confidence, rng = S.per_weight_tolerance(), S.per_weight_confidence(), _rng(6)
    for _ in range(POINTS):
        p = _network_point(rng)
        dims = [p["d"]] * (p["l"] + 1)
        _assert_equal(
            S.evaluate(tolerance, eps=p["eps"], d=p["d"], l=p["l"]),
            network.required_per_weight_tolerance(p["eps"], dims),
        )
        _assert_equal(
            S.evaluate(confidence, delta=p["delta"], d=p["d"], l=p["l"]),
            bounds.per_weight_confidence(p["delta"], dims),
        )


def test_network_widths_on_every_branch():
    without, with_ = S.network_width_without_resampling(), S.network_width_with_resampling()
    rng, branches = _rng(7), set()
    for _ in range(3 * POINTS):
        p = _network_point(rng)
        R = int(10 ** rng.uniform(0, 9))
        dims = [p["d"]] * (p["l"] + 1)
        numeric_without = bounds.network_width_without_resampling(p["eps"], p["delta"], dims, p["C"])
        numeric_with = bounds.network_width_with_resampling(p["eps"], p["delta"], dims, R, p["C"])
        branches.add(
            "without" if numeric_with == numeric_without else "one" if numeric_with == 1 else "lemma"
        )
        _assert_equal(S.evaluate(without, **p), numeric_without)
        _assert_equal(S.evaluate(with_, R=R, **p), numeric_with)
    assert branches == {"without", "one", "lemma"}


def test_width_ratio_is_the_quotient_and_its_limit():
    ratio = S.expand_tolerances(S.width_ratio())
    quotient = S.network_width_without_resampling() / S.network_width_with_resampling()
    limit = S.width_ratio_limit()
    assert limit == sp.Max(1, S.C * sp.log(2 / sp.Min(S.eps_w, S.delta_w)))
    rng = _rng(8)
    for _ in range(POINTS):
        p = _network_point(rng)
        R = int(10 ** rng.uniform(0, 9))
        _assert_equal(S.evaluate(ratio, R=R, **p), S.evaluate(quotient, R=R, **p))
        dims = [p["d"]] * (p["l"] + 1)
        huge = 10**12  # beyond (2/eps') log(1/delta') for every point drawn here
        assert bounds.network_width_with_resampling(p["eps"], p["delta"], dims, huge, p["C"]) == 1.0
        _assert_equal(S.evaluate(S.expand_tolerances(limit), **p), S.evaluate(ratio, R=huge, **p))


def test_limit_in_R_passes_through_min_and_max():
    a = sp.Symbol("a", positive=True)
    assert S.limit_in_R(sp.Max(1, a / S.R)) == 1
    assert S.limit_in_R(a / sp.Min(a, sp.Max(1, a / S.R))) == a / sp.Min(1, a)
    assert S.limit_in_R(a * (1 + 1 / S.R) ** S.R) == a * sp.E
    assert S.limit_in_R(a) == a


def test_latex():
    assert S.latex(S.counting_lower_bound()).startswith(r"\frac{")
    statement = S.latex(S.pensia_required_n(), lhs="n", relation=r"\geq")
    assert statement.startswith(r"n \geq C \log")
    assert r"\epsilon'" in S.latex(S.width_ratio_limit()) and r"\delta'" in S.latex(S.width_ratio_limit())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"t": 1.0, "eps": 0.1}, "missing R"),
        ({"t": 1.0, "eps": 0.1, "R": 2, "zeta": 1.0}, "values must be named among"),
        ({"t": 1.0, "eps": -0.1, "R": 2}, "eps must be a finite number > 0"),
        ({"t": 1.0, "eps": 0.1, "R": 0}, "R must be an integer >= 1"),
    ],
)
def test_evaluate_rejects_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        S.evaluate(S.counting_lower_bound(), **values)


def test_evaluate_rejects_non_real_alpha_and_bad_form():
    with pytest.raises(ValueError, match="alpha must be a finite real number"):
        S.evaluate(S.single_draw_hit_probability(), alpha=math.inf, eps=0.1)
    with pytest.raises(ValueError, match="form must be one of"):
        S.single_draw_failure_bound("loose")
