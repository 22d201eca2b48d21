"""Many instances at once: bit for bit what the per-instance search and brute force give (spec section 4)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from theory import batched_subset_sum, distributions, subset_sum
from theory.batched_subset_sum import best_choices, iterand_choices


def _instances(rng: np.random.Generator, count: int, m: int, R: int, grid: bool):
    x = distributions.sample(str(rng.choice(distributions.DISTRIBUTIONS)), (count, m, R), rng)
    z = rng.uniform(-1.5, 1.5, count)
    if grid:  # coarse dyadic values: many equal sums, exact float arithmetic, so ties decide the choice
        x, z = np.round(x * 4) / 4, np.round(z * 8) / 8
    return x, z


@pytest.mark.parametrize("R", [1, 2, 3])
def test_each_instance_equals_the_single_instance_search_and_brute_force(R):
    rng = np.random.default_rng(R)
    for m in (1, 2, 3, 5, 8):
        for grid in (False, True):
            x, z = _instances(rng, 40, m, R, grid)
            errors, choice = best_choices(x if R > 1 else x[:, :, 0], z)
            assert errors.shape == (40,) and choice.shape == (40, m) and choice.dtype == np.int16
            for p in range(40):
                single_error, single_choice = subset_sum.best_choice(x[p], z[p])
                assert errors[p] == single_error
                np.testing.assert_array_equal(choice[p], single_choice)
                brute_error, brute_choice = subset_sum.best_choice_brute(x[p], z[p])
                np.testing.assert_array_equal(choice[p], brute_choice)
                assert errors[p] == pytest.approx(brute_error, abs=1e-12)
                # The error is that of the choice: the kept draws sum to within it of the target.
                kept = [x[p, i, c] for i, c in enumerate(choice[p]) if c >= 0]
                assert abs(z[p] - sum(kept)) == pytest.approx(errors[p], abs=1e-12)


def test_instances_are_split_into_chunks_without_changing_anything(monkeypatch):
    rng = np.random.default_rng(9)
    x, z = _instances(rng, 30, 9, 2, grid=False)
    whole = best_choices(x, z)
    monkeypatch.setattr(batched_subset_sum, "_MAX_ENTRIES_PER_CHUNK", 100)  # a few instances per chunk
    chunked = best_choices(x, z)
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_array_equal(a, b)


def test_models_b_and_c_never_exceed_model_a_on_shared_draws():
    rng = np.random.default_rng(4)
    for r in (1.0, 0.3):
        draws = rng.uniform(-1.0, 1.0, (200, 9, 4)) * rng.uniform(-1.0, 1.0, (200, 9, 1))
        z = rng.uniform(-0.3, 0.3, 200)
        none, _ = best_choices(draws[:, :, 0], z)
        oracle, _ = best_choices(draws, z)
        per_round, choice = iterand_choices(draws, z, r=r, rng=rng)
        np.testing.assert_array_equal(per_round[:, 0], none)
        # Exact, no tolerance: the three add the same floats in the same order.
        assert np.all(oracle <= per_round[:, -1]) and np.all(per_round[:, -1] <= none)
        assert np.all(np.diff(per_round, axis=1) <= 0)
        assert np.any(per_round[:, -1] < none)
        held = np.take_along_axis(draws, np.maximum(choice, 0)[..., None], axis=2)[..., 0]
        kept = np.where(choice >= 0, held, 0.0)
        np.testing.assert_allclose(np.abs(z - kept.sum(axis=1)), per_round[:, -1], atol=1e-12)


def test_iterand_without_redraws_is_model_a_every_round():
    rng = np.random.default_rng(5)
    draws = rng.uniform(-1.0, 1.0, (20, 7, 3))
    z = rng.uniform(-1.0, 1.0, 20)
    none, none_choice = best_choices(draws[:, :, 0], z)
    per_round, choice = iterand_choices(draws, z, r=0.0, rng=rng)
    np.testing.assert_array_equal(per_round, np.repeat(none[:, None], 3, axis=1))
    np.testing.assert_array_equal(choice, none_choice)


def test_no_instances():
    errors, choice = best_choices(np.zeros((0, 4)), np.zeros(0))
    assert errors.shape == (0,) and choice.shape == (0, 4)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: best_choices(np.zeros(3), np.zeros(3)), "x must have shape (P, m) or (P, m, R)"),
        (lambda: best_choices(np.zeros((2, 0)), np.zeros(2)), "x must have shape"),
        (lambda: best_choices([[0.1, np.nan]], [0.0]), "x must contain only finite"),
        (lambda: best_choices(np.zeros((2, 3)), np.zeros(3)), "z must have shape (2,)"),
        (lambda: best_choices(np.zeros((1, 46)), np.zeros(1)), "x is too large to enumerate"),
        (lambda: iterand_choices(np.zeros((2, 3)), np.zeros(2)), "draws must have shape (P, m, R)"),
        (lambda: iterand_choices(np.zeros((2, 3, 2)), np.zeros(2), r=0.5), "rng must be"),
        (lambda: iterand_choices(np.zeros((2, 3, 2)), np.zeros(2), r=2.0), "r must be a number in"),
    ],
)
def test_invalid_input_names_the_parameter(call, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        call()
