"""Monte Carlo estimates of p(n, eps) and n_delta (theory/montecarlo.py), and the fit of C
(theory/lueker_fit.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theory import bounds, distributions, lueker_fit, montecarlo
from theory.subset_sum import worst_case_error

EPS = [0.03, 0.1, 0.25, 0.5]


def _estimate(n_values, eps_values=EPS, **kwargs):
    kwargs.setdefault("trials", 60)
    kwargs.setdefault("seed", 3)
    return montecarlo.success_probabilities(
        kwargs.pop("distribution", "uniform"), n_values, eps_values, **kwargs
    )


def _by_cell(records):
    return {(r["n"], r["eps"]): r for r in records}


def test_records_are_plain_and_complete():
    records = _estimate([2, 5], model="oracle", R=2)
    assert len(records) == 2 * len(EPS)
    assert [(r["n"], r["eps"]) for r in records] == [(n, e) for n in (2, 5) for e in EPS]
    for r in records:
        assert tuple(r) == montecarlo.RECORD_KEYS
        assert (r["distribution"], r["model"], r["R"], r["t"], r["trials"], r["seed"]) == (
            "uniform",
            "oracle",
            2,
            1.0,
            60,
            3,
        )
        assert r["p"] == r["successes"] / r["trials"]
        assert (r["ci_low"], r["ci_high"]) == bounds.wilson_interval(r["successes"], r["trials"])
        assert all(isinstance(r[k], (int, float, str)) for k in r)


@pytest.mark.parametrize(("model", "R"), [("none", 1), ("oracle", 3)])
def test_a_cell_is_its_seeded_samples_decided_exactly(model, R):
    # Recompute one cell by hand: its own seed, one array of all trials, exact E*(X) per trial.
    n, t, trials = 4, 0.8, 40
    records = _estimate([3, n], t=t, trials=trials, model=model, R=R, distribution="product")
    rng = np.random.default_rng(montecarlo.cell_seed(3, "product", model, R, n))
    samples = distributions.sample("product", (trials, n) if model == "none" else (trials, n, R), rng)
    errors = np.array([worst_case_error(x, t) for x in samples])
    cells = _by_cell(records)
    for eps in EPS:
        assert cells[(n, eps)]["successes"] == int(np.sum(errors <= eps))


def test_deterministic_and_independent_of_grid_composition():
    full = _by_cell(_estimate([2, 4, 6, 8], trials=80))
    assert _by_cell(_estimate([2, 4, 6, 8], trials=80)) == full
    alone = _by_cell(_estimate([6], eps_values=[0.1], trials=80))
    assert alone[(6, 0.1)] == full[(6, 0.1)]
    reordered = _by_cell(_estimate([8, 4], eps_values=[0.5, 0.25, 0.1], trials=80))
    assert all(reordered[key] == full[key] for key in reordered)
    # Cells of other models, R or distributions are seeded apart.
    seeds = {
        tuple(np.random.default_rng(montecarlo.cell_seed(3, *cell, 6)).integers(0, 2**63, 2))
        for cell in [
            ("uniform", "none", 1),
            ("uniform", "oracle", 1),
            ("normal", "none", 1),
            ("uniform", "oracle", 2),
        ]
    }
    assert len(seeds) == 4


def test_workers_and_progress_do_not_change_the_numbers(capsys):
    serial = _estimate([3, 5, 7], model="oracle", R=2, trials=30)
    assert _estimate([3, 5, 7], model="oracle", R=2, trials=30, workers=2) == serial
    assert _estimate([3, 5, 7], model="oracle", R=2, trials=30, progress=True) == serial
    assert "R=2" in capsys.readouterr().err


def test_success_cannot_decrease_with_eps_within_a_cell():
    records = _estimate([3, 6, 9], eps_values=[0.5, 0.01, 0.1, 0.03, 0.25], trials=100)
    for n in (3, 6, 9):
        counts = [r["successes"] for r in sorted((r for r in records if r["n"] == n), key=lambda r: r["eps"])]
        assert counts == sorted(counts)


@pytest.mark.parametrize("distribution", distributions.DISTRIBUTIONS)
@pytest.mark.parametrize(("model", "R"), [("none", 1), ("oracle", 2), ("oracle", 4)])
def test_counting_bound_never_violated(distribution, model, R):
    # Any sample with E*(X) <= eps has n >= log(t/eps)/log(R+1); cells below the bound have no success.
    t = 0.7
    records = _estimate(
        range(1, 8),
        eps_values=[0.01, 0.02, 0.05, 0.1, 0.2],
        t=t,
        model=model,
        R=R,
        distribution=distribution,
        trials=40,
    )
    for r in records:
        if r["successes"]:
            assert r["n"] >= bounds.counting_lower_bound(t, r["eps"], R)
    # Not vacuous: successes occur within 3 slots of the bound.
    assert any(r["successes"] and r["n"] < bounds.counting_lower_bound(t, r["eps"], R) + 3 for r in records)


def test_more_samples_help_where_the_difference_is_large():
    # p(n, eps) is non-decreasing in n; with independent cells only a large gap is safe to assert.
    cells = _by_cell(_estimate([4, 12], eps_values=[0.05], trials=200))
    assert cells[(4, 0.05)]["ci_high"] < cells[(12, 0.05)]["ci_low"]


# --- required_n ------------------------------------------------------------------------------------------


def _record(n, eps, successes, trials, **group):
    low, high = bounds.wilson_interval(successes, trials)
    record = {
        "distribution": "uniform",
        "model": "none",
        "R": 1,
        "n": n,
        "eps": eps,
        "t": 1.0,
        "trials": trials,
        "successes": successes,
        "p": successes / trials,
        "ci_low": low,
        "ci_high": high,
        "confidence": 0.95,
        "seed": 0,
    }
    record.update(group)
    return record


def test_required_n_three_readings():
    records = [
        _record(8, 0.1, 940, 1000),
        _record(10, 0.1, 950, 1000),  # p = 0.95 exactly: reaches 1 - delta = 0.95
        _record(12, 0.1, 990, 1000),
        _record(14, 0.1, 1000, 1000),
        _record(14, 0.01, 100, 1000),
    ]
    rows = {row["eps"]: row for row in montecarlo.required_n(records[::-1], delta=0.05)}
    assert rows[0.1]["n_delta"] == 10
    assert rows[0.1]["n_delta_optimistic"] == 8  # ci_high of 940/1000 is above 0.95
    assert rows[0.1]["n_delta_conservative"] == 12
    assert rows[0.1]["n_max"] == 14
    assert (
        rows[0.01]["n_delta"]
        is rows[0.01]["n_delta_conservative"]
        is rows[0.01]["n_delta_optimistic"]
        is None
    )


def test_required_n_groups_and_rejects_repeats():
    records = [_record(5, 0.1, 10, 10), _record(5, 0.1, 0, 10, model="oracle", R=2)]
    rows = montecarlo.required_n(records, delta=0.1)
    assert {(row["model"], row["R"], row["n_delta"]) for row in rows} == {("none", 1, 5), ("oracle", 2, None)}
    with pytest.raises(ValueError, match=r"one record per \(n, eps\)"):
        montecarlo.required_n([_record(5, 0.1, 10, 10), _record(5, 0.1, 9, 10)], delta=0.1)
    with pytest.raises(ValueError, match="records must be dicts with the keys"):
        montecarlo.required_n([{"n": 5}], delta=0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"distribution": "cauchy"}, "distribution must be one of"),
        ({"model": "iterand"}, "model must be one of"),
        ({"R": 3}, "R must be 1 for model 'none'"),
        ({"model": "oracle", "R": 0}, "R must be an integer >= 1"),
        ({"n_values": []}, "n_values must have at least 1 entry"),
        ({"n_values": [3, 3]}, "n_values must not repeat"),
        ({"n_values": [3, 0]}, r"n_values\[1\] must be an integer >= 1"),
        ({"n_values": 3}, "n_values must be a list"),
        ({"eps_values": "0.1"}, "eps_values must be a list, got '0.1'"),  # was read as "0", ".", "1"
        ({"eps_values": [0.1, -0.1]}, r"eps_values\[1\] must be a finite number > 0"),
        ({"trials": 0}, "trials must be an integer >= 1"),
        ({"t": 0}, "t must be a finite number > 0"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"workers": 0}, "workers must be an integer >= 1"),
        ({"confidence": 1.0}, r"confidence must be a number in \(0, 1\)"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, message):
    arguments = {"distribution": "uniform", "n_values": [3], "eps_values": [0.1], **kwargs}
    with pytest.raises(ValueError, match=message):
        montecarlo.success_probabilities(
            arguments.pop("distribution"), arguments.pop("n_values"), arguments.pop("eps_values"), **arguments
        )
    with pytest.raises(ValueError, match=r"delta must be a number in \(0, 1\)"):
        montecarlo.required_n([], delta=0.0)


# --- lueker_fit ------------------------------------------------------------------------------------------


def _synthetic(probability, n_values, eps_values, trials=10**9):
    """Records whose success counts follow ``probability(n, eps)``, rounded up (p is never below it)."""
    return [
        _record(n, eps, math.ceil(probability(n, eps) * trials), trials)
        for n in n_values
        for eps in eps_values
    ]


def test_lueker_fit_recovers_a_known_constant():
    C0, eps_values = 2.5, [0.2, 0.05, 0.01, 1e-3]
    records = _synthetic(lambda n, eps: bounds.lueker_success_bound(n, eps, C0), range(5, 200, 5), eps_values)
    estimate = lueker_fit.lueker_constant(records)
    assert estimate.C == pytest.approx(C0, rel=1e-3)
    assert estimate.C_low <= estimate.C <= estimate.C_high
    assert [eps for eps, _ in estimate.per_eps] == sorted(eps_values, reverse=True)
    assert all(c == pytest.approx(C0, rel=1e-3) for _, c in estimate.per_eps)  # stable as eps shrinks
    assert estimate.binding_eps in eps_values and estimate.binding_n in range(5, 200, 5)


def test_lueker_cell_constant_inverts_the_bound():
    n, eps = 120, 0.01
    for p in (0.0, 0.3, 0.9, 0.999):
        C = lueker_fit.lueker_cell_constant(n, eps, p)
        assert bounds.lueker_success_bound(n, eps, C) == pytest.approx(p, abs=1e-12)
        assert bounds.lueker_success_bound(n, eps, C * 0.999) > p
    assert lueker_fit.lueker_cell_constant(n, eps, 1.0) == 0.0
    assert lueker_fit.lueker_cell_constant(n, eps, 1 - math.exp(-n / 8)) == 0.0


def test_certain_success_needs_no_constant():
    estimate = lueker_fit.lueker_constant(_synthetic(lambda n, eps: 1.0, [10, 20], [0.1]))
    assert (estimate.C, estimate.binding_n, estimate.binding_eps) == (0.0, None, None)


def test_pensia_fit_and_affine_law_on_a_step_function():
    # p = 1 exactly when n >= C0 log(2 / min(eps, delta)), else 0; integer n on a dense grid.
    C0, delta = 3.0, 0.05
    eps_values = [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5, 1e-6]
    n_values = range(1, 60)
    records = _synthetic(lambda n, eps: float(n >= C0 * math.log(2 / min(eps, delta))), n_values, eps_values)
    result = lueker_fit.fit(records, [delta])
    estimate = result.pensia
    worst = max(1 / math.log(2 / min(eps, delta)) for eps in eps_values)
    assert C0 - worst < estimate.C <= C0
    assert estimate.C_low == estimate.C_high == estimate.C  # 10^9 trials: the intervals decide nothing
    (affine,) = result.affine
    assert affine.n_delta == tuple(math.ceil(C0 * math.log(2 / e)) for e in sorted(eps_values, reverse=True))
    assert affine.slope == pytest.approx(C0, abs=0.1)
    assert affine.intercept == pytest.approx(C0 * math.log(2) + 0.5, abs=0.6)
    assert max(abs(r) for r in affine.residuals) < 1
    assert affine.counting_slope == pytest.approx(1 / math.log(2))


def test_fit_interval_widens_with_fewer_trials():
    # The same probabilities at 200 trials: the readings at ci_low / ci_high bracket the point estimate.
    C0 = 2.0
    records = _synthetic(
        lambda n, eps: bounds.lueker_success_bound(n, eps, C0), range(20, 200, 20), [0.1, 0.01], 200
    )
    estimate = lueker_fit.lueker_constant(records)
    assert estimate.C_low < estimate.C < estimate.C_high


def test_fit_on_simulated_records_is_above_the_counting_slope():
    records = _estimate(range(2, 15), eps_values=[0.2, 0.1, 0.05, 0.02, 0.01], trials=100, seed=5)
    result = lueker_fit.fit(records, [0.1])
    (affine,) = result.affine
    # No method beats counting; the estimated n_delta lies above log2(1/eps) at every eps.
    assert all(n >= math.log2(1 / e) for e, n in zip(affine.eps, affine.n_delta, strict=True))
    assert result.pensia.C_low <= result.pensia.C <= result.pensia.C_high
    assert result.lueker.C_low <= result.lueker.C <= result.lueker.C_high


def test_fit_rejects_mixed_or_thin_records():
    mixed = [_record(5, 0.1, 10, 10), _record(5, 0.1, 0, 10, distribution="normal")]
    with pytest.raises(ValueError, match=r"exactly one \(distribution, model, R, t\)"):
        lueker_fit.lueker_constant(mixed)
    thin = [_record(5, 0.1, 10, 10), _record(5, 0.01, 0, 10)]
    with pytest.raises(lueker_fit.FitNotComputable, match="at 2 or more eps values") as error:
        lueker_fit.affine_required_n(thin, 0.1)
    # What each eps reached and how to widen the grid, not only that the fit failed.
    assert "n_delta=5 at eps=0.1; no n up to 5 reaches it at eps=0.01; widen the grid: add n above 5" in str(
        error.value
    )
    with pytest.raises(lueker_fit.FitNotComputable, match="eps < 1"):
        lueker_fit.lueker_constant([_record(5, 1.5, 10, 10)])
    with pytest.raises(ValueError, match=r"deltas\[0\] must be a number in \(0, 1\)"):
        lueker_fit.pensia_constant(thin, [1.0])
