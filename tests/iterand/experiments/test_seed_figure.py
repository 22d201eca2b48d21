"""A figure's rows per seed and per epoch (``figures.seed_rows``) and the seed-by-seed figure drawn from them
(``plots.seeds``): the tables written beside the aggregated one, the same choices as the figure's rows, and
drawn numbers that are the table's."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import matplotlib
import pytest

from bookkeeping.paths import RunFiles
from iterand.experiments import figures, plots, presets, results
from tests.iterand.experiments.test_results import _write_run

matplotlib.use("Agg")

EPOCHS = 3
# (width, method, seed) -> last-epoch test accuracy; IteRand is ahead by 1, 2 and 3 points at x0.25.
ACCURACY = {
    (width, method, seed): 40.0 + 100 * width + seed + (seed if method == "iterand" else 0)
    for width in (0.125, 0.25)
    for method in ("edgepopup", "iterand")
    for seed in (1, 2, 3)
}


def _runs(out: Path, init: str = "sc", offset: float = 0.0) -> None:
    """The runs of ``ACCURACY`` from random weights ``init``, each ``offset`` points more accurate."""
    for (width, method, seed), accuracy in ACCURACY.items():
        config = presets.get(f"fig2-conv6-{init}-{method}").replace(width=width, seed=seed, epochs=EPOCHS)
        accuracy += offset
        root = _write_run(out, config, accuracy)
        records = [{"epoch": e, "lr": 0.1, "val_acc": accuracy - (EPOCHS - 1 - e)} for e in range(EPOCHS)]
        RunFiles(root).metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    # another budget and a seed outside the chosen ones: in the runs folder, never in the figure's rows
    iterand = presets.get(f"fig2-conv6-{init}-iterand").replace(width=0.25)
    _write_run(out, iterand.replace(seed=1, epochs=1), 11.0)
    _write_run(out, iterand.replace(seed=4, epochs=EPOCHS), 99.0)


def _parameters(tmp_path: Path, **changes) -> dict:
    return {
        "mode": "read",
        "out_dir": str(tmp_path / "out"),
        "runs_dir": str(tmp_path / "runs"),
        "results_table": None,
        "models": ["conv6"],
        "widths": [0.125, 0.25],
        "methods": ["edgepopup", "iterand"],
        "inits": ["sc"],
        "seeds": [1, 2, 3],
        "epochs": EPOCHS,
        "steps_per_epoch": None,
        "overrides": {},
        "data_root": None,
        **changes,
    }


@pytest.fixture
def seed_rows(tmp_path):
    _runs(tmp_path / "runs")
    parameters = _parameters(tmp_path)
    figures.rows("fig2", parameters)  # writes results.csv and the tables beside it
    return parameters, figures.seed_rows("fig2", parameters)


def test_seed_rows_are_the_figures_runs_and_their_epochs(seed_rows):
    parameters, (runs, epochs) = seed_rows
    assert {(r["width"], r["method"], r["seed"]): r["test_acc_last"] for r in runs} == ACCURACY
    assert len(epochs) == EPOCHS * len(ACCURACY)
    assert {r["epoch"] for r in epochs} == {1, 2, 3}
    out = Path(parameters["out_dir"])
    assert results.companion_table(out / "results.csv", "epochs") == out / "results-epochs.csv"


def test_seed_rows_read_a_committed_table_without_its_runs(seed_rows, tmp_path):
    parameters, expected = seed_rows
    committed = tmp_path / "committed"
    out = Path(parameters["out_dir"])
    for kind in ("", "-runs", "-epochs"):
        (committed / f"results{kind}.csv").parent.mkdir(exist_ok=True)
        (committed / f"results{kind}.csv").write_bytes((out / f"results{kind}.csv").read_bytes())
    reading = {
        **parameters,
        "runs_dir": str(tmp_path / "nowhere"),
        "results_table": str(committed / "results.csv"),
    }
    figures.rows("fig2", reading)
    assert figures.seed_rows("fig2", reading) == expected


@pytest.mark.parametrize("kept", [("",), ("", "-runs")])
def test_a_table_given_without_its_companions_warns_and_leaves_their_rows_out(seed_rows, tmp_path, kept):
    # The figure notebook stopped on FileNotFoundError for results-runs.csv, though an aggregated table
    # alone is documented to redraw the figure.
    parameters, (runs, _) = seed_rows
    shared = tmp_path / "shared"
    shared.mkdir()
    for kind in kept:
        (shared / f"fig2{kind}.csv").write_bytes(
            (Path(parameters["out_dir"]) / f"results{kind}.csv").read_bytes()
        )
    reading = {**parameters, "runs_dir": None, "results_table": str(shared / "fig2.csv")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # alone, the table's means are over every seed it holds
        figures.rows("fig2", reading)
    missing = "runs" if kept == ("",) else "epochs"
    with pytest.warns(UserWarning, match=f"no {shared / f'fig2-{missing}.csv'} beside {shared / 'fig2.csv'}"):
        given = figures.seed_rows("fig2", reading)
    assert given == (([], []) if missing == "runs" else (runs, []))


def test_the_seed_figure_draws_the_tables_numbers_and_the_paired_interval(seed_rows):
    _, (runs, epochs) = seed_rows
    fig, plotted = plots.seeds(runs, epochs, "edgepopup", "iterand")
    seeds = [p for p in plotted if p["series"] == "seed"]
    assert {(p["width"], p["method"], p["seed"]): p["test_acc_last"] for p in seeds} == ACCURACY
    paired = {p["width"]: p for p in plotted if p["series"] == "paired"}
    assert paired[0.25]["differences"] == "+1.00 +2.00 +3.00"
    assert paired[0.25]["mean"] == pytest.approx(2.0)
    # t(0.975, 2) = 4.303, std 1, n 3: half width 2.484
    assert (paired[0.25]["low"], paired[0.25]["high"]) == pytest.approx((2 - 2.4843, 2 + 2.4843), abs=1e-3)
    bands = [p for p in plotted if p["series"] == "band"]
    last = {(b["width"], b["method"]): b for b in bands if b["epoch"] == EPOCHS}
    assert last[(0.25, "iterand")]["mean"] == pytest.approx(
        sum(ACCURACY[(0.25, "iterand", s)] for s in (1, 2, 3)) / 3
    )
    assert [ax.get_title() for ax in fig.axes[:2]] == ["conv6 x0.125 (SC)", "conv6 x0.25 (SC)"]
    # Below x0.25: each seed's two runs joined by a line from edge-popup (x = 0) to IteRand (x = 1).
    joins = [tuple(line.get_ydata()) for line in fig.axes[3].get_lines() if list(line.get_xdata()) == [0, 1]]
    assert sorted(joins) == sorted(
        (ACCURACY[(0.25, "edgepopup", s)], ACCURACY[(0.25, "iterand", s)]) for s in (1, 2, 3)
    )


def test_seed_rows_need_the_figures_own_choices(seed_rows):
    parameters, _ = seed_rows
    runs, _ = figures.seed_rows("fig2", {**parameters, "seeds": [1], "widths": [0.25]})
    assert {(r["width"], r["seed"]) for r in runs} == {(0.25, 1)}
    assert results.matching(runs, epochs=1, steps_per_epoch=None) == []


def test_a_missing_results_table_is_named(tmp_path):
    parameters = _parameters(tmp_path, results_table=str(tmp_path / "results" / "results.csv"))
    with pytest.raises(ValueError, match="no results table .*results.csv"):
        figures.rows("fig2", parameters)


def test_the_figures_means_are_over_the_chosen_seeds_only(seed_rows):
    parameters, _ = seed_rows
    # The runs folder also holds seed 4 of x0.25 IteRand (99 %): never in a mean of seeds 1-3.
    shown = {(r["width"], r["method"]): r for r in figures.rows("fig2", parameters)}
    point = shown[(0.25, "iterand")]
    assert (point["count"], point["seeds"]) == (3, "1 2 3")
    assert point["test_acc_last_mean"] == pytest.approx(
        sum(ACCURACY[(0.25, "iterand", s)] for s in (1, 2, 3)) / 3
    )
    one = {(r["width"], r["method"]): r for r in figures.rows("fig2", {**parameters, "seeds": [1]})}
    assert one[(0.25, "iterand")]["test_acc_last_mean"] == ACCURACY[(0.25, "iterand", 1)]


def test_chosen_widths_and_seeds_without_runs_are_named(seed_rows):
    parameters, _ = seed_rows
    with pytest.warns(UserWarning) as caught:
        shown = figures.rows("fig2", {**parameters, "widths": [0.125, 0.25, 0.5], "seeds": [1, 2, 3, 5]})
    lines = [str(w.message) for w in caught]
    assert any("width 0.5" in line for line in lines)
    assert (
        sum("over seeds [1, 2, 3], not the chosen [1, 2, 3, 5]" in line for line in lines) == len(shown) == 4
    )


def test_an_aggregated_table_alone_is_read_as_it_is_and_other_seeds_are_named(seed_rows, tmp_path):
    parameters, _ = seed_rows
    with pytest.warns(UserWarning, match="not the chosen"):  # seed 4 has a run only at width 0.25
        figures.rows("fig2", {**parameters, "seeds": [1, 2, 3, 4]})
    alone = tmp_path / "alone" / "results.csv"
    alone.parent.mkdir()
    alone.write_bytes((Path(parameters["out_dir"]) / "results.csv").read_bytes())
    with pytest.warns(UserWarning, match=r"over seeds \[1, 2, 3, 4\], not the chosen \[1, 2, 3\]"):
        shown = figures.rows("fig2", {**parameters, "results_table": str(alone)})
    assert {(r["width"], r["method"]): r["count"] for r in shown}[(0.25, "iterand")] == 4


@pytest.mark.parametrize(("cell", "read"), [("nan", "nan"), ("", "None"), ("n/a", "n/a")])
def test_a_mean_that_is_not_a_number_is_named_and_left_out(seed_rows, tmp_path, cell, read):
    # A hand-edited table's NaN mean was drawn as no point without a word; an empty or text one stopped the
    # plot on a TypeError.
    parameters, _ = seed_rows
    rows = results.read_table(Path(parameters["out_dir"]) / "results.csv")
    rows[0]["test_acc_last_mean"] = cell
    edited = results.write_table(rows, tmp_path / "edited" / "results.csv")
    point = ", ".join(f"{field} {rows[0][field]}" for field in ("model", "width", "method", "init"))
    with pytest.warns(UserWarning) as caught:
        shown = figures.rows("fig2", {**parameters, "results_table": str(edited)})
    assert [str(w.message) for w in caught] == [
        f"{point}: test_acc_last_mean is {read}, not a number: the figure has no point here"
    ]
    assert len(shown) == len(rows) - 1 and all(isinstance(r["test_acc_last_mean"], float) for r in shown)
    plots.width_sweep(shown, ["conv6"], ["edgepopup", "iterand"], ["sc"])
    for item in rows:
        item["test_acc_last_mean"] = cell
    results.write_table(rows, edited)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no row of .* has a number"):
        figures.rows("fig2", {**parameters, "results_table": str(edited)})


def test_ku_and_sc_runs_and_a_copied_run_each_count_once(tmp_path):
    # `iterand sweep fig2-conv6` trains both inits: the seed figure failed with "seed 1 of edgepopup ...
    # appears twice" and its bands averaged KU with SC. A run copied into a second folder did the same.
    runs = tmp_path / "runs"
    _runs(runs)
    _runs(runs, init="ku", offset=-20.0)
    copied = next(runs.glob("conv6-w0.25-edgepopup-sc-*-s1-*"))
    shutil.copytree(copied, runs / "copy" / copied.name)
    parameters = _parameters(tmp_path, inits=["ku", "sc"], widths=[0.25])
    with pytest.warns(UserWarning, match="counted once"):
        figures.rows("fig2", parameters)
    runs_rows, epochs = figures.seed_rows("fig2", parameters)
    assert len(runs_rows) == 2 * 2 * 3 and len(epochs) == EPOCHS * len(runs_rows)
    fig, plotted = plots.seeds(runs_rows, epochs, "edgepopup", "iterand")
    assert [ax.get_title() for ax in fig.axes[:2]] == ["conv6 x0.25 (KU)", "conv6 x0.25 (SC)"]
    paired = {p["init"]: p for p in plotted if p["series"] == "paired"}
    assert {init: p["differences"] for init, p in paired.items()} == dict.fromkeys(
        ("ku", "sc"), "+1.00 +2.00 +3.00"
    )
    last = {(b["init"], b["method"]): b for b in plotted if b["series"] == "band" and b["epoch"] == EPOCHS}
    assert last[("ku", "iterand")]["mean"] == pytest.approx(last[("sc", "iterand")]["mean"] - 20)
    assert {b["count"] for b in last.values()} == {3}


def test_a_table_written_by_the_results_command_redraws_the_seed_figure(tmp_path):
    # `python -m iterand results` wrote no per-epoch table, which the notebook needs beside results_table.
    _runs(tmp_path / "runs")
    table = tmp_path / "collected" / "results.csv"
    results.write_results(results.collect(tmp_path / "runs"), table)
    parameters = _parameters(tmp_path, runs_dir=str(tmp_path / "nowhere"), results_table=str(table))
    figures.rows("fig2", parameters)
    runs, epochs = figures.seed_rows("fig2", parameters)
    assert len(runs) == len(ACCURACY) and len(epochs) == EPOCHS * len(ACCURACY)
