"""Paired differences between two methods over seeds, and the t quantile behind their interval."""

from __future__ import annotations

import math

import pytest

from iterand.experiments.comparison import paired_differences, t_quantile


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    # Published two-sided 95 % and 99 % critical values of Student's t.
    [(0.975, 1, 12.7062), (0.975, 2, 4.3027), (0.975, 9, 2.2622), (0.995, 4, 4.6041), (0.975, 10**6, 1.9600)],
)
def test_t_quantile_matches_published_critical_values(p, df, expected):
    assert t_quantile(p, df) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(("p", "df"), [(0.5, 3), (1.0, 3), (0.975, 0)])
def test_t_quantile_rejects_what_it_cannot_compute(p, df):
    with pytest.raises(ValueError, match="t_quantile"):
        t_quantile(p, df)


def _row(method: str, seed: int, acc: float, width: float = 0.25, **fields) -> dict:
    return {"model": "conv6", "width": width, "method": method, "seed": seed, "test_acc_last": acc, **fields}


def test_paired_differences_pair_by_seed_and_give_the_t_interval():
    rows = [
        *(_row("edgepopup", seed, acc) for seed, acc in [(1, 60.0), (2, 62.0), (3, 61.0)]),
        *(_row("iterand", seed, acc) for seed, acc in [(3, 64.0), (1, 61.0), (2, 64.0)]),
        _row("iterand", 4, 90.0),  # no edge-popup run of seed 4: not paired, not counted
        _row("sgd", 1, 70.0),
    ]
    (result,) = paired_differences(rows, "edgepopup", "iterand")
    assert (result["model"], result["width"], result["seeds"], result["count"]) == ("conv6", 0.25, "1 2 3", 3)
    assert result["differences"] == "+1.00 +2.00 +3.00"
    assert result["mean"] == pytest.approx(2.0) and result["std"] == pytest.approx(1.0)
    half = 4.302652729749464 / math.sqrt(3)
    assert (result["low"], result["high"]) == (pytest.approx(2.0 - half), pytest.approx(2.0 + half))


def test_paired_differences_keep_groups_apart_and_leave_the_interval_empty_for_one_seed():
    rows = [_row("edgepopup", 1, 50.0, 0.125), _row("iterand", 1, 49.0, 0.125), _row("edgepopup", 1, 60.0)]
    results = paired_differences(rows, "edgepopup", "iterand")
    assert [(r["width"], r["count"], r["mean"], r["low"]) for r in results] == [
        (0.125, 1, pytest.approx(-1.0), None),
        (0.25, 0, None, None),
    ]


def test_two_settings_of_one_seed_are_an_error_not_an_average():
    rows = [
        _row("edgepopup", 1, 60.0, setting="h1"),
        _row("edgepopup", 1, 61.0, setting="h2"),
        _row("iterand", 1, 62.0),
    ]
    with pytest.raises(ValueError, match="seed 1 of edgepopup .* appears twice"):
        paired_differences(rows, "edgepopup", "iterand")


def test_a_run_found_in_two_directories_counts_once():
    # results.collect gives a copied run directory a row of its own; the means count it once, so must this.
    copy = {**_row("edgepopup", 1, 60.0, setting="h1"), "run_dir": "elsewhere"}
    rows = [_row("edgepopup", 1, 60.0, setting="h1"), copy, _row("iterand", 1, 62.0)]
    (result,) = paired_differences(rows, "edgepopup", "iterand")
    assert (result["count"], result["differences"]) == (1, "+2.00")


def test_the_inits_of_fig2_are_compared_apart():
    # Edge-popup from KU against IteRand from KU, SC against SC: seed 1 of each init is not a duplicate.
    rows = [
        _row(method, 1, acc, init=init)
        for method, init, acc in [
            ("edgepopup", "ku", 60.0), ("iterand", "ku", 61.0),
            ("edgepopup", "sc", 70.0), ("iterand", "sc", 73.0),
        ]
    ]  # fmt: skip
    compared = paired_differences(rows, "edgepopup", "iterand")
    assert [(r["init"], r["mean"]) for r in compared] == [("ku", 1.0), ("sc", 3.0)]
