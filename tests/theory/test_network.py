"""The pruned random network emulates the target within the computed bound."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from theory import network, subset_sum
from theory.network import (
    Target,
    build_pruned_network,
    draw_random_layers,
    error_bound,
    error_vs_width,
    max_width,
    measure_error,
    prune_layer,
    prune_network,
    random_target,
    required_per_weight_tolerance,
    unit_ball_inputs,
)

# Float sums of a few dozen terms of size <= 1 differ from exact ones by far less than this.
ROUNDING = 1e-12


def _inputs(d: int, rng: np.random.Generator) -> np.ndarray:
    """Random unit-ball points plus the signed basis vectors."""
    basis = np.eye(d)
    return np.vstack([unit_ball_inputs(d, 1000, rng), basis, -basis])


@pytest.mark.parametrize(
    ("dims", "n", "R"),
    [((16, 8, 4), 32, 1), ((5, 16, 8, 3), 24, 1), ((4, 8, 3), 14, 3), ((3, 6, 4, 2), 12, 2), ((2, 3), 10, 4)],
)
def test_pruned_network_stays_within_the_bound(dims, n, R):
    rng = np.random.default_rng(2021)
    for _ in range(3):
        target = random_target(dims, rng)
        net = build_pruned_network(target, n, rng, R)
        bound = error_bound(net.per_weight_error_maxima, dims)
        finer = error_bound(net.per_weight_errors, dims)
        measured = measure_error(target, net, _inputs(dims[0], rng))
        assert 0 < measured <= finer + ROUNDING
        assert finer <= bound


def test_bound_is_not_vacuous_at_a_decent_width():
    rng = np.random.default_rng(7)
    dims = (4, 4, 2)
    target = random_target(dims, rng)
    net = build_pruned_network(target, 40, rng)
    bound = error_bound(net.per_weight_error_maxima, dims)
    assert bound < 0.01
    assert measure_error(target, net, _inputs(4, rng)) <= bound + ROUNDING


def test_exact_sums_reproduce_the_target_exactly():
    # a = +1 on the first half of the units, -1 on the second; the b's on each half are +-2^-1..+-2^-4, so
    # both parts can hit any multiple of 1/16 in (-1, 1) exactly, and the dyadic inputs keep every float
    # operation exact.
    powers = 2.0 ** -np.arange(1, 5)
    half = np.concatenate([powers, -powers])
    n = 2 * half.size
    weights = (np.array([[0.5, -0.25], [0.125, 0.5625]]), np.array([[0.75, -0.5]]))
    target = Target(weights)
    random_layers = []
    for w in weights:
        d_out, d_in = w.shape
        first = np.full((d_in * n, d_in), 0.375)  # off-block entries: must be masked out
        for k in range(d_in):
            first[k * n : (k + 1) * n, k] = np.repeat([1.0, -1.0], half.size)
        draws = np.tile(np.concatenate([half, half]), (1, d_out, d_in))
        random_layers.append((first, draws))
    net = prune_network(target, random_layers)
    assert net.per_weight_error_maxima == (0.0, 0.0)
    assert error_bound(net.per_weight_error_maxima, target.dims) == 0.0
    x = np.random.default_rng(0).integers(-8, 9, size=(200, 2)) / 16.0
    np.testing.assert_array_equal(net.forward(x), target.forward(x))


def _small_network(R: int = 1):
    rng = np.random.default_rng(11)
    target = random_target((3, 4, 2), rng)
    return target, build_pruned_network(target, 6, rng, R)


def test_shapes_are_twice_as_deep_with_wide_hidden_layers():
    n, dims = 6, (3, 4, 2)
    _, net = _small_network(R=2)
    assert net.dims == dims
    assert len(net.layers) == len(dims) - 1  # two linear layers each: 2 l layers of g
    for layer, d_in, d_out in zip(net.layers, dims[:-1], dims[1:], strict=True):
        assert layer.first.shape == layer.first_mask.shape == (d_in * n, d_in)
        assert layer.second.shape == layer.second_mask.shape == (d_out, d_in * n)
        assert layer.second_draws.shape == (2, d_out, d_in * n)
    # Per layer: (d_in*n) x d_in first-layer weights plus d_out x (d_in*n) output-side weights.
    assert net.total_weights == (18 * 3 + 4 * 18) + (24 * 4 + 2 * 24)


def test_forward_uses_the_masks():
    target, net = _small_network()
    x = unit_ball_inputs(3, 50, np.random.default_rng(1))
    zeroed = network.PrunedNetwork(
        tuple(
            network.EmulatedLayer(
                layer.first,
                np.zeros_like(layer.first_mask),
                layer.second_draws,
                np.full_like(layer.choice, -1),
                layer.positive_errors,
                layer.negative_errors,
            )
            for layer in net.layers
        )
    )
    assert np.all(zeroed.forward(x) == 0.0)
    assert np.any(net.forward(x) != 0.0)
    unmasked_first = network.PrunedNetwork(
        tuple(
            network.EmulatedLayer(
                layer.first,
                np.ones_like(layer.first_mask),
                layer.second_draws,
                layer.choice,
                layer.positive_errors,
                layer.negative_errors,
            )
            for layer in net.layers
        )
    )
    assert np.max(np.abs(unmasked_first.forward(x) - net.forward(x))) > 1e-3


@pytest.mark.parametrize("R", [1, 3])
def test_masks_realise_the_reported_subset_sums(R):
    target, net = _small_network(R)
    n = 6
    for w, layer in zip(target.weights, net.layers, strict=True):
        d_out, d_in = w.shape
        first = layer.first * layer.first_mask
        second = layer.second * layer.second_mask
        # The first layer keeps only block entries, and exactly the units some output uses.
        block = np.zeros_like(layer.first_mask)
        block[np.arange(d_in * n), np.arange(d_in * n) // n] = True
        assert not np.any(layer.first_mask & ~block)
        np.testing.assert_array_equal(layer.first_mask[block], layer.second_mask.any(axis=0))
        a = layer.first[block].reshape(d_in, n)
        for j in range(d_out):
            for k in range(d_in):
                columns = slice(k * n, (k + 1) * n)
                products = second[j, columns] * first[columns, k]
                positive = products[a[k] > 0].sum()
                negative = products[a[k] < 0].sum()
                assert abs(w[j, k] - positive) == pytest.approx(layer.positive_errors[j, k], abs=ROUNDING)
                assert abs(-w[j, k] + negative) == pytest.approx(layer.negative_errors[j, k], abs=ROUNDING)
                # Optimal: no subset of the positive-part products does better (model A).
                if R == 1:
                    candidates = layer.second[j, columns][a[k] > 0] * a[k][a[k] > 0]
                    best, _ = subset_sum.best_subset(candidates, [w[j, k]])
                    assert layer.positive_errors[j, k] == pytest.approx(best[0], abs=ROUNDING)
    assert net.kept_weights == sum(int(m.first_mask.sum() + m.second_mask.sum()) for m in net.layers)
    assert net.kept_weights < net.total_weights


def test_oracle_per_weight_errors_never_worse_than_plain_on_shared_draws():
    rng = np.random.default_rng(5)
    dims = (4, 6, 3)
    target = random_target(dims, rng)
    state = rng.bit_generator.state
    random_layers = draw_random_layers(dims, 8, rng, R=3)
    rng.bit_generator.state = state
    single = draw_random_layers(dims, 8, rng, R=1)
    for (first, draws), (first_1, draws_1) in zip(random_layers, single, strict=True):
        np.testing.assert_array_equal(first, first_1)
        np.testing.assert_array_equal(draws[:1], draws_1)
    plain = prune_network(target, single)
    oracle = prune_network(target, random_layers)
    improved = 0
    for a_layer, b_layer in zip(plain.layers, oracle.layers, strict=True):
        for part in ("positive_errors", "negative_errors"):
            a_err, b_err = getattr(a_layer, part), getattr(b_layer, part)
            assert np.all(b_err <= a_err + ROUNDING)
            improved += int(np.sum(b_err < a_err - 1e-6))
    assert improved > 0
    assert plain.draws_per_weight == 1 and oracle.draws_per_weight == 3


def test_error_bound_values():
    assert error_bound([0.0, 0.0], (3, 5, 2)) == 0.0
    # (1 + 0.1 * sqrt(4 * 1)) * (1 + 0.05 * sqrt(1 * 9)) - 1
    assert error_bound([0.1, 0.05], (4, 1, 9)) == pytest.approx(0.38, rel=1e-12)
    assert error_bound([0.1, 0.05], (4, 1, 9), x_norm=0.5) == pytest.approx(0.19, rel=1e-12)
    assert error_bound([0.1, 0.05], (4, 1, 9), x_norm=0.0) == 0.0


def test_error_bound_from_per_weight_matrices():
    dims = (4, 1, 9)
    constant = [np.full((1, 4), 0.1), np.full((9, 1), 0.05)]
    assert error_bound(constant, dims) == pytest.approx(error_bound([0.1, 0.05], dims), rel=1e-12)
    # One bad weight per layer: c_i is that error alone, not sqrt(d_{i-1} d_i) times it.
    sparse = [np.zeros((1, 4)), np.zeros((9, 1))]
    sparse[0][0, 2], sparse[1][5, 0] = 0.1, 0.05
    assert error_bound(sparse, dims) == pytest.approx(1.1 * 1.05 - 1, rel=1e-12)
    assert error_bound([sparse[0], 0.05], dims) == pytest.approx(1.1 * 1.15 - 1, rel=1e-12)


def test_error_bound_is_monotone_in_each_layer_error():
    dims = (5, 7, 3, 2)
    rng = np.random.default_rng(3)
    for _ in range(50):
        errors = rng.uniform(0, 0.2, 3)
        bigger = errors.copy()
        bigger[rng.integers(3)] += rng.uniform(1e-6, 0.1)
        assert error_bound(errors, dims) < error_bound(bigger, dims)


@pytest.mark.parametrize("eps", [1e-6, 0.01, 0.5, 3.0])
def test_required_tolerance_inverts_the_bound(eps):
    dims = (6, 16, 3, 9)
    tol = required_per_weight_tolerance(eps, dims)
    assert error_bound([tol] * 3, dims) <= eps
    assert error_bound([tol * (1 + 1e-9)] * 3, dims) > eps
    # Equal widths have a closed form.
    d, depth = 8, 3
    closed = ((1 + eps) ** (1 / depth) - 1) / d
    assert required_per_weight_tolerance(eps, (d,) * (depth + 1)) == pytest.approx(closed, rel=1e-12)
    assert required_per_weight_tolerance(eps, dims, x_norm=2.0) == pytest.approx(
        required_per_weight_tolerance(eps / 2, dims), rel=1e-12
    )


def test_max_width_keeps_the_exact_search_within_its_enumeration_limit():
    assert [max_width(R) for R in (1, 2, 3, 4)] == [44, 26, 22, 18]
    for R in (1, 2, 3, 4, 7):
        half = max_width(R) // 2
        assert (R + 1) ** half <= subset_sum.MAX_ENUMERATED_SUMS < (R + 1) ** (half + 1)


def test_random_target_and_inputs():
    rng = np.random.default_rng(0)
    target = random_target((5, 3, 4), rng)
    assert target.dims == (5, 3, 4)
    for w in target.weights:
        assert np.linalg.norm(w) == pytest.approx(1.0)
    x = unit_ball_inputs(5, 9, rng)
    norms = np.linalg.norm(x, axis=1)
    np.testing.assert_allclose(norms[:5], 1.0)
    assert np.all(norms[5:] < 1.0)
    # f(x) by hand: F_2 relu(F_1 x).
    expected = np.maximum(x @ target.weights[0].T, 0) @ target.weights[1].T
    np.testing.assert_allclose(target.forward(x), expected)


def test_error_vs_width_records():
    kwargs = dict(widths=[4, 10], R_values=[1, 3], trials=2, seed=9, inputs=64)
    records = error_vs_width([(3, 4, 2), (2, 3, 3, 1)], **kwargs)
    assert len(records) == 2 * 2 * 2 * 2
    assert records == error_vs_width([(3, 4, 2), (2, 3, 3, 1)], **kwargs)
    keys = {"dims", "n", "R", "model", "trial", "max_error", "bound", "per_weight_error_max"}
    keys |= {"bound_per_weight", "per_weight_errors", "kept_weights", "total_weights", "seed"}
    for r in records:
        assert keys <= set(r)
        assert r["model"] == ("none" if r["R"] == 1 else "oracle")
        assert r["seed"] == 9
        assert r["max_error"] <= r["bound"] + ROUNDING
        assert r["bound"] == error_bound(r["per_weight_errors"], r["dims"])
        assert r["max_error"] <= r["bound_per_weight"] + ROUNDING
        assert r["bound_per_weight"] <= r["bound"]
        assert r["per_weight_error_max"] == max(r["per_weight_errors"])
        assert 0 < r["kept_weights"] < r["total_weights"]
    by_key = {(tuple(r["dims"]), r["trial"], r["n"], r["R"]): r for r in records}
    for (dims, trial, n, R), r in by_key.items():
        if R == 3:  # nested draws: re-sampling never hurts any weight
            assert r["per_weight_error_max"] <= by_key[(dims, trial, n, 1)]["per_weight_error_max"] + ROUNDING
    single = error_vs_width((3, 4, 2), widths=[4], trials=1, seed=9, inputs=64)
    assert single[0]["max_error"] == by_key[((3, 4, 2), 0, 4, 1)]["max_error"]


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: build_pruned_network(random_target((2, 2), np.random.default_rng(0)), 0, None), "n"),
        (lambda: draw_random_layers((2, 2), 3, np.random.default_rng(0), R=0), "R"),
        (lambda: random_target((3,), np.random.default_rng(0)), "dims"),
        (lambda: random_target((3, 0, 2), np.random.default_rng(0)), "dims[1]"),
        (lambda: random_target((3, -1), np.random.default_rng(0)), "dims[1]"),
        (lambda: error_bound([0.1], (2, 2, 2)), "per_weight_errors"),
        (lambda: error_bound([0.1, -0.1], (2, 2, 2)), "per_weight_errors[1]"),
        (lambda: error_bound([0.1], (2, 2), x_norm=-1), "x_norm"),
        (lambda: error_bound([np.zeros((2, 3))], (2, 2)), "per_weight_errors[0]"),
        (lambda: error_bound([-np.ones((2, 2))], (2, 2)), "per_weight_errors[0]"),
        (lambda: required_per_weight_tolerance(0.0, (2, 2)), "eps"),
        (lambda: required_per_weight_tolerance(0.1, (2,)), "dims"),
        (lambda: Target((np.full((2, 2), 0.6),)), "weights[0]"),
        (lambda: Target((np.eye(2) / 2, np.ones((1, 3)) / 2)), "weights[1]"),
        (lambda: Target(()), "weights"),
        (lambda: unit_ball_inputs(0, 5, np.random.default_rng(0)), "d"),
        (lambda: unit_ball_inputs(2, 0, np.random.default_rng(0)), "count"),
        (lambda: error_vs_width((2, 2), widths=[0]), "widths[0]"),
        (lambda: error_vs_width((2, 2), widths=[2], R_values=[1, 0]), "R_values[1]"),
        (lambda: error_vs_width((2, 2), widths=[2], trials=0), "trials"),
        (lambda: error_vs_width((2, 2), widths=[20], R_values=[1, 4]), "n"),
        (lambda: draw_random_layers((2, 2), 45, np.random.default_rng(0)), "n"),
        (lambda: prune_layer(np.ones((1, 1)) / 2, np.ones((27, 1)), np.ones((2, 1, 27))), "n"),
        (lambda: prune_layer(np.ones((2, 2)), np.ones((5, 2)), np.ones((1, 2, 4))), "first"),
        (lambda: prune_layer(np.ones((2, 2)), np.ones((4, 2)), np.ones((1, 3, 4))), "second_draws"),
    ],
)
def test_bad_inputs_name_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{re.escape(name)} must"):
        call()


def test_forward_rejects_wrong_input_width():
    target, net = _small_network()
    with pytest.raises(ValueError, match="^x must"):
        net.forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match="^network must"):
        measure_error(random_target((3, 2), np.random.default_rng(0)), net, np.ones((1, 3)))
    assert math.isfinite(measure_error(target, net, np.ones((1, 3)) / 2))


@pytest.mark.parametrize("dims", ["abc", "48", 5, [4]])
def test_dims_that_are_not_a_list_of_two_or_more_are_named_whole(dims):
    # A string was iterated: dims "abc" was refused as "got 'a'".
    with pytest.raises(ValueError, match=f"^dims must be a sequence of .*, got {re.escape(repr(dims))}$"):
        network.error_vs_width(dims, [4])
