"""The numeric bounds of the subset-sum and network statements (theory/bounds.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theory import bounds, distributions, network
from theory.subset_sum import worst_case_error

Z95 = 1.959963984540054  # Phi^-1(0.975)


# --- counting lower bound --------------------------------------------------------------------------------


def test_counting_bound_values():
    assert bounds.counting_lower_bound(1.0, 0.25) == pytest.approx(2.0, rel=1e-15)
    assert bounds.counting_lower_bound(1.0, 1 / 27, R=2) == pytest.approx(3.0, rel=1e-15)
    assert bounds.counting_lower_bound(0.5, 0.5 / 1024) == pytest.approx(10.0, rel=1e-15)
    # eps >= t: no constraint
    assert bounds.counting_lower_bound(1.0, 2.0) < 0
    grid = bounds.counting_lower_bound(1.0, np.array([0.5, 0.125]), R=np.array([[1], [3]]))
    np.testing.assert_allclose(grid, [[1.0, 3.0], [0.5, 1.5]], rtol=1e-15)


@pytest.mark.parametrize("distribution", distributions.DISTRIBUTIONS)
@pytest.mark.parametrize("R", [1, 2])
def test_counting_bound_never_violated_by_exact_worst_case_errors(distribution, R):
    # E*(X) <= eps is possible only for n >= log(t/eps)/log(R+1); at eps = E*(X) itself this reads
    # (R+1)^n * E*(X) >= t, checked on exact values for every small n.
    rng = np.random.default_rng(11 + R)
    for n in range(1, 9 if R == 1 else 6):
        for _ in range(20):
            x = distributions.sample(distribution, (n,) if R == 1 else (n, R), rng)
            for t in (0.5, 1.0):
                error = worst_case_error(x, t)
                assert error > 0
                assert n >= bounds.counting_lower_bound(t, error, R) - 1e-12


# --- Lueker / Pensia -------------------------------------------------------------------------------------


def test_lueker_bound_value_and_validity():
    # n = 100, eps = e^-1, C = 10: margin 50 - 10 = 40, bound 1 - exp(-1600/200).
    assert bounds.lueker_success_bound(100, math.exp(-1), 10) == pytest.approx(1 - math.exp(-8), rel=1e-14)
    # Outside eps >= exp(-n/(2C)) the bound is 0, and it is continuous at the boundary.
    assert bounds.lueker_success_bound(100, math.exp(-6), 10) == 0.0
    assert bounds.lueker_success_bound(100, math.exp(-5) * (1 + 1e-9), 10) < 1e-15
    ns = np.arange(1, 400)
    values = bounds.lueker_success_bound(ns, 0.01, 5.0)
    assert np.all(values >= 0) and np.all(values <= 1)
    assert np.all(np.diff(values) >= 0)  # more samples never weaken the bound
    assert np.all(values[ns < 2 * 5.0 * math.log(100)] == 0)


def test_lueker_required_n_round_trip():
    for eps, delta, C in [(0.1, 0.05, 1.0), (1e-4, 0.01, 3.0), (0.5, 0.5, 0.2)]:
        n = bounds.lueker_required_n(eps, delta, C)
        assert n / 2 >= C * math.log(1 / eps)
        assert bounds.lueker_success_bound(n, eps, C) == pytest.approx(1 - delta, rel=1e-12)
        assert bounds.lueker_success_bound(n * (1 - 1e-6), eps, C) < 1 - delta


def test_pensia_required_n():
    assert bounds.pensia_required_n(0.01, 0.1, 2.0) == pytest.approx(2 * math.log(200))
    assert bounds.pensia_required_n(0.1, 0.01, 2.0) == pytest.approx(2 * math.log(200))
    np.testing.assert_allclose(
        bounds.pensia_required_n(np.array([0.5, 1e-3]), 0.01, 1.0), [math.log(200), math.log(2000)]
    )


# --- single-draw lemma -----------------------------------------------------------------------------------


def test_hit_probability_values():
    assert bounds.single_draw_hit_probability(0.0, 0.5) == pytest.approx(0.5)
    assert bounds.single_draw_hit_probability(1.0, 0.5) == pytest.approx(0.25)
    assert bounds.single_draw_hit_probability(-0.9, 0.5) == pytest.approx(0.3)
    assert bounds.single_draw_hit_probability(0.3, 5.0) == 1.0


def _dense_lemma_grid():
    alpha = np.concatenate([np.linspace(-1, 1, 81), [-1 + 1e-12, 1 - 1e-12, -0.999, 0.999]])
    eps = np.concatenate([np.linspace(0.01, 1, 100), [1e-6, 1e-3]])
    return alpha[:, None, None], eps[None, :, None], np.array([0, 1, 2, 5, 17, 100, 1000])[None, None, :]


def test_hit_probability_at_least_half_eps():
    alpha, eps, _ = _dense_lemma_grid()
    assert np.all(bounds.single_draw_hit_probability(alpha, eps) >= eps / 2 - 1e-15)


def test_failure_chain_exact_below_geometric_below_exponential():
    alpha, eps, m = _dense_lemma_grid()
    exact = bounds.single_draw_failure_exact(alpha, eps, m)
    geometric = bounds.single_draw_failure_bound(eps, m, form="geometric")
    exponential = bounds.single_draw_failure_bound(eps, m)
    tiny = 1e-15
    assert np.all(exact <= geometric * (1 + tiny) + tiny)
    assert np.all(geometric <= exponential * (1 + tiny) + tiny)
    # The bound is exact at the ends of [-1, 1] in the geometric form (q = eps/2 there).
    edge = bounds.single_draw_failure_exact(1.0, eps, m)
    np.testing.assert_allclose(edge[0], geometric[0], rtol=1e-12)


def test_failure_exact_matches_monte_carlo():
    # A handful of (alpha, eps, m) points, one seed, 99.9% Wilson intervals.
    rng = np.random.default_rng(2021)
    trials = 20_000
    for alpha, eps, m in [
        (0.0, 0.05, 10),
        (0.97, 0.1, 7),
        (-1.0, 0.02, 60),
        (0.5, 0.3, 3),
        (-0.4, 0.01, 150),
    ]:
        draws = rng.uniform(-1.0, 1.0, (trials, m))
        failures = int(np.sum(np.min(np.abs(alpha - draws), axis=1) > eps))
        low, high = bounds.wilson_interval(failures, trials, confidence=0.999)
        exact = bounds.single_draw_failure_exact(alpha, eps, m)
        assert low <= exact <= high, (alpha, eps, m, failures / trials, exact)


def test_required_draws_and_slots():
    eps, delta = 0.1, 0.01
    m = bounds.single_draw_required_draws(eps, delta)
    assert m == pytest.approx(20 * math.log(100))
    assert bounds.single_draw_failure_bound(eps, math.ceil(m)) <= delta
    assert bounds.single_draw_failure_bound(eps, math.floor(m)) > delta
    alpha, _, _ = _dense_lemma_grid()
    assert np.all(bounds.single_draw_failure_exact(alpha, eps, math.ceil(m)) <= delta)
    assert bounds.single_draw_required_slots(eps, delta, 10) == pytest.approx(m / 10)
    np.testing.assert_allclose(bounds.single_draw_required_slots(eps, delta, np.array([1, 4])), [m, m / 4])


# --- network level ---------------------------------------------------------------------------------------


def test_union_bound_counts_two_instances_per_weight():
    assert bounds.subset_sum_instances((3, 4, 2)) == 2 * (3 * 4 + 4 * 2)
    assert bounds.per_weight_confidence(0.1, (3, 4, 2)) == pytest.approx(0.1 / 40)


def test_width_without_resampling_uses_the_propagated_tolerance():
    dims, eps, delta, C = (5, 3, 4), 0.1, 0.05, 2.0
    tolerance = network.required_per_weight_tolerance(eps, dims)
    assert network.error_bound([tolerance] * 2, dims) == pytest.approx(eps, rel=1e-12)
    width = bounds.network_width_without_resampling(eps, delta, dims, C)
    assert width == pytest.approx(C * math.log(2 / min(tolerance, delta / (2 * (15 + 12)))), rel=1e-14)


def test_width_with_resampling_falls_from_log_factor_to_one():
    dims, eps, delta, C = (4, 4, 4), 0.05, 0.1, 1.5
    without = bounds.network_width_without_resampling(eps, delta, dims, C)
    R = np.unique(np.geomspace(1, 1e9, 60).astype(int))
    widths = bounds.network_width_with_resampling(eps, delta, dims, R, C)
    assert widths[0] == pytest.approx(without)  # R = 1: the lemma route is far worse, subset sums win
    assert np.all(widths <= without * (1 + 1e-15))
    assert np.all(np.diff(widths) <= 0)
    assert widths[-1] == 1.0
    tolerance = network.required_per_weight_tolerance(eps, dims)
    threshold = 2 / tolerance * math.log(1 / bounds.per_weight_confidence(delta, dims))
    assert np.all(widths[threshold <= R] == 1.0)
    assert np.all(widths[R < threshold] > 1.0)


# --- Wilson interval -------------------------------------------------------------------------------------


def test_normal_quantile():
    assert bounds.normal_quantile(0.975) == pytest.approx(Z95, rel=1e-14)
    assert bounds.normal_quantile(0.9995) == pytest.approx(3.2905267314919255, rel=1e-13)
    assert bounds.normal_quantile(0.025) == pytest.approx(-Z95, rel=1e-14)
    z = bounds.normal_quantile(1 - 1e-12)
    assert math.erfc(z / math.sqrt(2)) / 2 == pytest.approx(1e-12, rel=1e-9)


def test_wilson_interval_known_values():
    # 5 of 10 at 95%: centre 1/2, half-width z sqrt(1/40 + z^2/400) / (1 + z^2/10).
    z2 = Z95**2
    half = Z95 * math.sqrt(0.25 / 10 + z2 / 400) / (1 + z2 / 10)
    low, high = bounds.wilson_interval(5, 10)
    assert low == pytest.approx(0.5 - half, rel=1e-14) and high == pytest.approx(0.5 + half, rel=1e-14)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    # 0 of 10: [0, z^2 / (10 + z^2)]; 10 of 10 mirrors it.
    assert bounds.wilson_interval(0, 10) == (0.0, pytest.approx(z2 / (10 + z2), rel=1e-14))
    assert bounds.wilson_interval(10, 10) == (pytest.approx(10 / (10 + z2), rel=1e-14), 1.0)
    # 2 of 20 at 95%, by the general formula.
    p, n = 0.1, 20
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    assert bounds.wilson_interval(2, 20) == (pytest.approx(centre - half), pytest.approx(centre + half))


def test_wilson_interval_vectorised_and_nested():
    successes = np.array([0, 3, 50, 99, 100])
    low95, high95 = bounds.wilson_interval(successes, 100)
    low999, high999 = bounds.wilson_interval(successes, 100, confidence=0.999)
    assert low95.shape == (5,)
    assert np.all(low999 <= low95) and np.all(high95 <= high999)
    assert np.all(low95 <= successes / 100) and np.all(successes / 100 <= high95)


# --- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bounds.counting_lower_bound(0.0, 0.1), "t must be a finite number > 0"),
        (lambda: bounds.counting_lower_bound(1.0, [0.1, -1.0]), "eps must be a finite number > 0"),
        (lambda: bounds.counting_lower_bound(1.0, 0.1, R=0), "R must be an integer >= 1"),
        (lambda: bounds.counting_lower_bound(1.0, 0.1, R=1.5), "R must be an integer >= 1"),
        (lambda: bounds.lueker_success_bound(10, 0.1, 0.0), "C must be a finite number > 0"),
        (lambda: bounds.lueker_required_n(1.0, 0.1, 1.0), r"eps must be a number in \(0, 1\)"),
        (lambda: bounds.pensia_required_n(0.1, 1.0, 1.0), r"delta must be a number in \(0, 1\)"),
        (lambda: bounds.single_draw_hit_probability(1.5, 0.1), r"alpha must be a number in \[-1, 1\]"),
        (lambda: bounds.single_draw_failure_exact(0.0, 0.1, -1), "m must be an integer >= 0"),
        (lambda: bounds.single_draw_failure_bound(1.5, 3), r"eps must be a number in \(0, 1\]"),
        (lambda: bounds.single_draw_failure_bound(0.5, 3, form="tight"), "form must be one of"),
        (lambda: bounds.single_draw_required_draws(0.1, 0.0), r"delta must be a number in \(0, 1\)"),
        (lambda: bounds.network_width_without_resampling(0.1, 0.1, (3,), 1.0), "dims must be"),
        (lambda: bounds.network_width_with_resampling(0.1, 0.1, (3, 3), 0, 1.0), "R must be an integer"),
        (
            lambda: bounds.network_width_with_resampling(1.5, 0.1, (3, 3), 2, 1.0),
            r"eps must be a number in \(0, 1\]",
        ),
        (lambda: bounds.wilson_interval(11, 10), "successes must be at most trials"),
        (lambda: bounds.wilson_interval(1, 0), "trials must be an integer >= 1"),
        (lambda: bounds.wilson_interval(1, 10, confidence=1.0), r"confidence must be a number in \(0, 1\)"),
        (lambda: bounds.counting_lower_bound(1.0, "a"), "eps must be a number"),
    ],
)
def test_bad_input_names_the_parameter(call, message):
    with pytest.raises(ValueError, match=message):
        call()
