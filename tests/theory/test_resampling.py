"""Model C (the IteRand process) against models A and B on shared draws, and a hand-traced example."""

from __future__ import annotations

import numpy as np
import pytest

from theory import distributions
from theory.resampling import RESAMPLING_MODELS, iterand_process
from theory.subset_sum import best_choice, best_subset


def _random_draws(rng: np.random.Generator) -> np.ndarray:
    n, rounds = int(rng.integers(1, 13)), int(rng.integers(1, 6))
    draws = distributions.sample(str(rng.choice(distributions.DISTRIBUTIONS)), (n, rounds), rng)
    return np.round(draws * 8) / 8 if rng.random() < 0.3 else draws  # ties and zeros too


def test_model_names():
    assert RESAMPLING_MODELS == ("none", "oracle", "iterand")


def test_hand_traced_process():
    # Round 0 values (0.75, 0.5): best sum 0.75 for z = 0.8, S = {0}, error 0.05. Round 1 re-draws only
    # slot 1 (to 0.0625): 0.8125 gives 0.0125. Re-drawing slot 0 instead would leave 0.05 at best.
    draws = np.array([[0.75, 0.25], [0.5, 0.0625]])
    np.testing.assert_allclose(iterand_process(draws, 0.8), [0.05, 0.0125], atol=1e-15)
    assert best_choice(draws, 0.8)[0] == pytest.approx(0.0125)


@pytest.mark.parametrize("r", [1.0, 0.5])
def test_oracle_below_iterand_below_none_exactly(r):
    rng = np.random.default_rng(1)
    for _ in range(80):
        draws = _random_draws(rng)
        z = rng.uniform(-1.5, 1.5, 6)
        per_round = iterand_process(draws, z, r=r, rng=rng)
        oracle, _ = best_choice(draws, z)
        none, _ = best_subset(draws[:, 0], z)
        # Same half-sum split and summation order in all three, so no tolerance is needed.
        assert np.all(oracle <= per_round[:, -1])
        assert np.all(per_round[:, -1] <= none)
        np.testing.assert_array_equal(per_round[:, 0], none)
        assert np.all(np.diff(per_round, axis=1) <= 0)


def test_no_redraw_probability_gives_model_a_in_every_round():
    rng = np.random.default_rng(2)
    draws = rng.uniform(-1.0, 1.0, (10, 4))
    z = rng.uniform(-1.0, 1.0, 5)
    none, _ = best_subset(draws[:, 0], z)
    np.testing.assert_array_equal(iterand_process(draws, z, r=0.0, rng=rng), np.repeat(none[:, None], 4, 1))


def test_redrawing_helps_on_average():
    rng = np.random.default_rng(3)
    draws = rng.uniform(-1.0, 1.0, (6, 8))
    z = rng.uniform(-1.0, 1.0, 200)
    per_round = iterand_process(draws, z)
    assert per_round[:, -1].mean() < 0.5 * per_round[:, 0].mean()


def test_targets_run_independent_processes():
    rng = np.random.default_rng(4)
    draws = rng.uniform(-1.0, 1.0, (7, 3))
    z = np.array([-0.4, 0.1, 0.9])
    together = iterand_process(draws, z)
    assert together.shape == (3, 3)
    for j, target in enumerate(z):
        alone = iterand_process(draws, target)
        assert alone.shape == (3,)
        np.testing.assert_array_equal(alone, together[j])


def test_partial_redraw_is_reproducible_from_the_seed():
    draws = np.random.default_rng(5).uniform(-1.0, 1.0, (8, 6))
    z = np.linspace(-1.0, 1.0, 9)
    first = iterand_process(draws, z, r=0.3, rng=np.random.default_rng(42))
    again = iterand_process(draws, z, r=0.3, rng=np.random.default_rng(42))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, iterand_process(draws, z, r=0.3, rng=np.random.default_rng(43)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"draws": np.zeros(3), "z": 0.0}, "draws must have shape"),
        ({"draws": [[0.1, float("nan")]], "z": 0.0}, "draws must contain only finite"),
        ({"draws": np.zeros((3, 2)), "z": 0.0, "r": 1.5}, "r must be a number in"),
        ({"draws": np.zeros((3, 2)), "z": 0.0, "r": 0.5}, "rng must be"),
        ({"draws": np.zeros((3, 2)), "z": 0.0, "r": 0.5, "rng": 7}, "rng must be"),
        ({"draws": np.zeros((3, 2)), "z": [[0.0]]}, "z must be"),
    ],
)
def test_invalid_input_names_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        iterand_process(**kwargs)
