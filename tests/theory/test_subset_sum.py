"""Fast subset-sum algorithms against brute force, hand-computed values and the counting bound.

Fast and brute-force code add the same samples in different orders, so their float sums differ by at most
``n * 2^-53 * (sum |x|)`` each; ``_tolerance`` is several hundred times that, far below any gap that matters.
Tie-breaking and exact equality are tested on dyadic samples and targets, where every sum is exact.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bookkeeping.errors import InvalidInput
from theory import distributions, subset_sum
from theory.subset_sum import (
    best_choice,
    best_choice_brute,
    best_subset,
    worst_case_error,
    worst_case_error_brute,
)


def _tolerance(x: np.ndarray, t: float) -> float:
    return 1e-12 * (t + float(np.sum(np.abs(x))))


def _random_case(rng: np.random.Generator, case: int) -> tuple[np.ndarray, float]:
    """Model A (``draws == 0``) or B samples small enough for brute force, with the awkward variants."""
    draws = int(rng.integers(0, 4))
    n = int(rng.integers(1, (15, 15, 10, 8)[draws]))
    shape = (n,) if draws == 0 else (n, draws)
    x = distributions.sample(str(rng.choice(distributions.DISTRIBUTIONS)), shape, rng)
    variant = case % 6
    if variant == 1:
        x = np.round(x * 4) / 4  # ties and zeros
    elif variant == 2:
        x = np.abs(x)  # all positive: no sum below 0
    elif variant == 3:
        x = x * 10.0 ** float(rng.integers(-6, 4))  # tiny and large magnitudes
    elif variant == 4:
        x.flat[rng.integers(0, x.size)] = 0.0
    return x, float(rng.choice([0.5, 1.0, 2.0]))


def _grid_sup_distance(x: np.ndarray, t: float, points: int) -> float:
    """``max_z min_s |z - s|`` over an even grid of ``[-t, t]``, with all sums listed by definition."""
    sums = np.array([sum(x[i] for i in range(x.size) if mask >> i & 1) for mask in range(2**x.size)], float)
    z = np.linspace(-t, t, points)
    return float(np.max(np.min(np.abs(z[:, None] - sums[None, :]), axis=1)))


def test_hand_computed_worst_case():
    # Sums: -0.25, 0, 0.05, 0.25, 0.3, 0.5, 0.55, 0.8.
    x = np.array([0.5, -0.25, 0.3])
    assert worst_case_error_brute(x, 1.0) == pytest.approx(0.75)  # z = -1, nearest sum -0.25
    assert worst_case_error(x, 1.0) == pytest.approx(0.75)
    assert worst_case_error(x, 0.5) == pytest.approx(0.25)  # z = -0.5
    assert worst_case_error(x, 0.3) == pytest.approx(0.125)  # z = -0.125, midpoint of (-0.25, 0)
    assert worst_case_error([0.0], 2.0) == 2.0


def test_brute_force_matches_the_definition_on_a_dense_grid():
    rng = np.random.default_rng(0)
    points = 40_001
    for _ in range(20):
        n = int(rng.integers(1, 7))
        t = float(rng.choice([0.5, 1.0, 2.0]))
        x = rng.uniform(-1.5, 1.5, n)
        exact = worst_case_error_brute(x, t)
        grid = _grid_sup_distance(x, t, points)
        # The grid misses the sup by at most half a grid step.
        assert grid - 1e-12 <= exact <= grid + t / (points - 1) + 1e-12


@pytest.mark.parametrize("seed", range(6))
def test_exact_value_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    for case in range(120):
        x, t = _random_case(rng, case)
        assert worst_case_error(x, t) == pytest.approx(worst_case_error_brute(x, t), abs=_tolerance(x, t))


def test_exact_value_matches_brute_force_at_n_20():
    # Many passes of the exact loop before one resolves E*.
    x = np.random.default_rng(7).uniform(-1.0, 1.0, 20)
    assert worst_case_error(x) == pytest.approx(worst_case_error_brute(x), abs=_tolerance(x, 1.0))


@pytest.mark.parametrize("seed", range(6))
def test_eps_decisions_match_brute_force_for_every_e_at_least_eps(seed):
    rng = np.random.default_rng(100 + seed)
    for case in range(80):
        x, t = _random_case(rng, case)
        exact = worst_case_error_brute(x, t)
        for eps in (exact * (1 - 1e-6), exact * (1 + 1e-6), exact / 3, exact * 3):
            value = worst_case_error(x, t, eps=eps)
            tol = _tolerance(x, t)
            assert value <= exact + tol
            assert exact <= max(value, eps) + tol
            for e in (eps, eps * (1 + 1e-6), exact * (1 - 1e-6), exact * (1 + 1e-6), 2 * eps):
                if e >= eps:
                    assert (value <= e) == (exact <= e)


def test_eps_value_is_exact_when_not_below_eps():
    rng = np.random.default_rng(3)
    for n in (4, 8, 12):
        x = rng.uniform(-1.0, 1.0, n)
        exact = worst_case_error_brute(x)
        assert worst_case_error(x, eps=exact / 10) == pytest.approx(exact, abs=1e-12)


def test_dense_sums_cover_the_window():
    # 1/8 steps with 0.0625 resolution: every z is within eps, and the covering interval stops the pass.
    x = np.full(16, 0.125)
    x[::2] *= -1
    assert worst_case_error_brute(x, 1.0) == pytest.approx(0.0625)
    assert worst_case_error(x, 1.0, eps=0.0625) < 0.0625
    assert worst_case_error(x, 1.0, eps=0.06) == pytest.approx(0.0625)


def test_counting_bound_is_never_violated():
    # 2^n (or (R+1)^n) points with eps-neighbourhoods covering [-t, t] need eps >= t / (R+1)^n.
    rng = np.random.default_rng(11)
    for case in range(300):
        x, t = _random_case(rng, case)
        choices = 2 if x.ndim == 1 else x.shape[1] + 1
        assert worst_case_error(x, t) >= t / choices ** x.shape[0]
    for n, draws in ((8, 1), (12, 1), (16, 1), (6, 3), (8, 2)):
        for _ in range(5):
            x = rng.uniform(-1.0, 1.0, (n, draws))
            eps = 0.9 / (draws + 1) ** n
            assert worst_case_error(x, eps=eps) > eps


def test_binary_fraction_samples_come_within_a_factor_2_of_the_counting_bound():
    # Sums of -1, 1/2, ..., 2^-(n-1) are the grid -1, -1 + 2^-(n-1), ..., 1 - 2^-(n-1): over
    # t = 1 - 2^-(n-1) the worst points are the midpoints, at 2^-n.
    n = 12
    x = np.concatenate(([-1.0], 2.0 ** -np.arange(1, n)))
    t = 1 - 2.0 ** -(n - 1)
    assert worst_case_error(x, t) == 2.0**-n
    assert worst_case_error(x, 1.0) == 2.0 ** -(n - 1)  # z = 1 is beyond the last sum
    assert worst_case_error(x, t, eps=2.0**-n) <= 2.0**-n
    assert worst_case_error(x, t, eps=2.0**-n * (1 - 1e-9)) == 2.0**-n


def test_oracle_is_never_worse_than_one_draw():
    rng = np.random.default_rng(12)
    for _ in range(60):
        n, draws = int(rng.integers(1, 9)), int(rng.integers(2, 5))
        x = rng.uniform(-1.0, 1.0, (n, draws))
        assert worst_case_error(x) <= worst_case_error(x[:, 0]) + _tolerance(x, 1.0)


def test_model_b_with_one_draw_is_model_a():
    x = np.random.default_rng(13).normal(size=10)
    assert worst_case_error(x[:, None]) == worst_case_error(x)


@pytest.mark.parametrize("seed", range(4))
def test_best_choice_matches_brute_force_exactly_on_dyadic_values(seed):
    rng = np.random.default_rng(200 + seed)
    for _ in range(100):
        draws = int(rng.integers(0, 4))
        n = int(rng.integers(1, (15, 15, 9, 7)[draws]))
        x = rng.integers(-4, 5, (n,) if draws == 0 else (n, draws)) / 4.0
        z = rng.integers(-12, 13, 9) / 8.0
        errors, choice = best_choice(x, z)
        brute_errors, brute_choice = best_choice_brute(x, z)
        np.testing.assert_array_equal(errors, brute_errors)
        np.testing.assert_array_equal(choice, brute_choice)
        if draws == 0:
            subset_errors, masks = best_subset(x, z)
            np.testing.assert_array_equal(subset_errors, brute_errors)
            np.testing.assert_array_equal(masks, brute_choice >= 0)


def test_ties_go_to_the_smallest_enumeration_index():
    # Target 0.5 is reached by {0}, {1} and {2, 3}; bit masks 1, 2, 12.
    errors, masks = best_subset([0.5, 0.5, 0.25, 0.25], 0.5)
    assert errors == 0.0
    np.testing.assert_array_equal(masks, [True, False, False, False])
    # Slot 1 draw 0 and draw 1 are both 0.5: index (0+1)*3 = 3 beats (1+1)*3 = 6; slot 0 stays unused.
    errors, choice = best_choice([[0.25, 1.0], [0.5, 0.5]], 0.5)
    np.testing.assert_array_equal(choice, [-1, 0])
    # Equal distance below and above: 0.25 (mask 1) beats 0.75 (mask 2) at z = 0.5.
    _, masks = best_subset([0.25, 0.75], 0.5)
    np.testing.assert_array_equal(masks, [True, False])


@pytest.mark.parametrize("seed", range(3))
def test_best_choice_matches_brute_force_on_random_values(seed):
    rng = np.random.default_rng(300 + seed)
    for case in range(60):
        x, t = _random_case(rng, case)
        z = rng.uniform(-2 * t, 2 * t, 7)
        errors, choice = best_choice(x, z)
        brute_errors, _ = best_choice_brute(x, z)
        np.testing.assert_allclose(errors, brute_errors, rtol=0, atol=_tolerance(x, t))
        # The returned choice achieves the returned error.
        options = np.concatenate([np.zeros((x.shape[0], 1)), x.reshape(x.shape[0], -1)], axis=1)
        sums = options[np.arange(x.shape[0]), choice + 1].sum(axis=1)
        np.testing.assert_allclose(np.abs(z - sums), errors, rtol=0, atol=_tolerance(x, t))


def test_best_subset_at_n_40_is_a_valid_optimum():
    rng = np.random.default_rng(14)
    x = rng.uniform(-1.0, 1.0, 40)
    z = rng.uniform(-1.0, 1.0, 2)
    errors, masks = best_subset(x, z)
    np.testing.assert_allclose(np.abs(z - (masks * x).sum(axis=1)), errors, atol=1e-12)
    # 2^40 sums cover [-1, 1] with gaps near 1e-11: the optimum is that fine.
    assert np.all(errors < 1e-8)


def test_shapes_of_scalar_and_vector_targets():
    x = np.array([0.5, -0.25, 0.3])
    error, mask = best_subset(x, 0.2)
    assert error.shape == () and mask.shape == (3,)
    errors, choice = best_choice(np.ones((3, 2)), [0.1, 0.9, 2.2])
    assert errors.shape == (3,) and choice.shape == (3, 3) and choice.dtype == np.int16
    error, mask = best_subset([0.7], [0.6])
    assert error[0] == pytest.approx(0.1) and mask.tolist() == [[True]]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: worst_case_error([0.5], t=0.0), "t must be"),
        (lambda: worst_case_error([0.5], t=-1.0), "t must be"),
        (lambda: worst_case_error([0.5], eps=0.0), "eps must be"),
        (lambda: worst_case_error([0.5], eps=float("nan")), "eps must be"),
        (lambda: worst_case_error([0.5, float("nan")]), "^samples must contain only finite"),
        (lambda: worst_case_error(np.zeros((2, 2, 2))), "^samples must have shape"),
        (lambda: worst_case_error([]), "^samples must have shape"),
        (lambda: worst_case_error_brute(np.zeros(23)), "^samples is too large"),
        (lambda: worst_case_error_brute([0.5], t=0), "t must be"),
        (lambda: best_subset(np.zeros((3, 2)), 0.0), "^samples must have shape"),
        (lambda: best_subset([0.5], [[0.1]]), "z must be"),
        (lambda: best_subset([0.5], [float("inf")]), "z must contain only finite"),
        (lambda: best_subset([0.5], "a"), "z must be"),
        (lambda: best_subset(np.zeros(46), 0.0), "^samples is too large"),
        (lambda: best_choice(np.zeros((4, 1)), np.zeros((2, 2))), "z must be"),
        (lambda: best_choice_brute(np.zeros((12, 3)), 0.0), "^samples is too large"),
    ],
)
def test_invalid_input_names_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_samples_near_the_float64_limit_give_e_star_without_a_warning():
    # Hostile-use review: `worst-case 1e308 1e308` printed numpy's overflow RuntimeWarning beside E* = 1.
    # Sums past the float64 range are +-inf, far from every target: E* is that of the ordinary samples.
    huge = [1e308, 1e308, -1e308, 0.3, -0.2]
    drawn = [[1e308, 0.3], [1e308, -1e308], [-0.2, 1e308]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert worst_case_error([1e308, 1e308]) == worst_case_error_brute([1e308, 1e308]) == 1.0
        expected = worst_case_error([0.3, -0.2], t=0.25)  # 0.1
        assert worst_case_error(huge, t=0.25) == worst_case_error_brute(huge, t=0.25) == expected
        assert worst_case_error(drawn, t=0.25) == worst_case_error_brute(drawn, t=0.25) == expected
        assert worst_case_error(huge, t=0.25, eps=0.01) == expected


def test_max_intervals_beyond_any_machine_is_refused_naming_it():
    # Hostile-use review: --max-intervals 100000000000 ran into a MemoryError traceback.
    limit = subset_sum.MAX_INTERVALS_LIMIT
    with pytest.raises(
        InvalidInput, match=f"^max_intervals must be at most {limit:,} .* got 100,000,000,000"
    ):
        worst_case_error([0.5, 0.25], max_intervals=100_000_000_000)
    assert worst_case_error([0.5, -0.5], max_intervals=limit) == 0.5


@pytest.mark.parametrize(("eps", "advice"), [(None, "use --eps EPS"), (1e-6, "use a larger --eps")])
def test_running_out_of_memory_is_an_error_suggesting_eps(monkeypatch, eps, advice):
    # Under memory pressure a cap the machine cannot hold ended in a MemoryError traceback.
    def no_memory(*args):
        raise MemoryError

    monkeypatch.setattr(subset_sum, "_interval_sup_distance", no_memory)
    with pytest.raises(subset_sum.ResolutionTooFine, match="ran out of memory") as error:
        worst_case_error(np.linspace(-1, 1, 60), eps=eps, max_intervals=10**8)
    assert "100,000,000 intervals (--max-intervals)" in str(error.value) and advice in str(error.value)
