"""The results store on hand-made summaries: rows of finished runs only, exact mean/std over seeds, groups
that never mix settings, CSV round trip, and the published numbers each aggregated row is compared with."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bookkeeping.files import read_json, write_json
from bookkeeping.paths import RunFiles
from iterand.engine.config import TrainConfig, run_name
from iterand.experiments import presets, results
from iterand.experiments.cli import main


def _write_run(
    out: Path,
    config: TrainConfig,
    test_acc: float,
    *,
    val_acc: float | None = 50.0,
    lossy: bool = True,
    compact_bytes: int | None = None,
) -> Path:
    """A run directory with a summary shaped like the ones ``iterand.engine.train`` writes (the size fields
    only with ``compact_bytes``, as in summaries written before compact files existed otherwise)."""
    root = out / run_name(config)
    data = {"dataset": config.dataset, "augmentation": config.augmentation}
    if config.dataset == "cifar10":
        data["lossy_jpeg"] = lossy
    summary = {
        "parameters": config.to_dict(),
        "seed": config.seed,
        "git": {"commit": "4b96fb0848d28cdedebe2e6732011fafa3a00c74", "dirty": False},
        "run_name": root.name,
        "results": {
            "epochs": config.epochs,
            "test_acc_last": test_acc,
            "test_acc_best": test_acc - 1,
            "val_acc_last": val_acc,
            "val_acc_best": val_acc,
            "weights_total": 1000,
            "weights_kept": 1000 if config.method == "sgd" else 500,
            "images_per_second": 123.0,
        },
        "data": data,
    }
    if compact_bytes is not None:
        summary["results"]["compact_bytes"] = None if config.method == "sgd" else compact_bytes
        summary["results"]["compact_bits_per_weight"] = (
            None if config.method == "sgd" else compact_bytes / 125
        )
        summary["results"]["dense_float32_bytes"] = 4100
    write_json(RunFiles(root).summary, summary)
    return root


CONV6_SC = presets.get("fig2-conv6-sc-iterand")


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    out = tmp_path / "runs"
    for seed, acc in [(1, 80.0), (2, 82.0), (3, 84.0)]:
        _write_run(out, CONV6_SC.replace(seed=seed), acc, compact_bytes=200)
    _write_run(
        out / "nested" / "deeper", presets.get("fig2-conv6-ku-sgd"), 70.0, val_acc=None, compact_bytes=0
    )
    unfinished = out / run_name(CONV6_SC.replace(seed=4))
    unfinished.mkdir(parents=True)
    (unfinished / "checkpoint.pt").write_bytes(b"")
    return out


def test_collect_reads_finished_runs_only_into_flat_rows(runs_dir):
    rows = results.collect(runs_dir)
    assert len(rows) == 4
    iterand_rows = [r for r in rows if r["method"] == "iterand"]
    assert sorted(r["seed"] for r in iterand_rows) == [1, 2, 3]
    first = min(iterand_rows, key=lambda r: r["seed"])
    assert first == {
        "run_name": run_name(CONV6_SC),
        "model": "conv6", "width": 1.0, "method": "iterand", "init": "sc", "pruned_fraction": 0.5, "r": 0.1,
        "period": 300, "seed": 1, "epochs": 100, "steps_per_epoch": None, "dataset": "cifar10",
        "augmentation": "iterand", "lossy_jpeg": True, "weights_total": 1000, "weights_kept": 500,
        "test_acc_last": 80.0, "test_acc_best": 79.0, "val_acc_last": 50.0, "val_acc_best": 50.0,
        "compact_bytes": 200, "compact_bits_per_weight": 1.6, "dense_float32_bytes": 4100,
        "images_per_second": 123.0, "git_commit": "4b96fb0848d28cdedebe2e6732011fafa3a00c74",
        "git_dirty": False,
        "setting": first["setting"], "run_dir": str(runs_dir / run_name(CONV6_SC)),
    }  # fmt: skip
    (sgd,) = [r for r in rows if r["method"] == "sgd"]
    # the fields the dense baseline ignores are empty, whatever the preset carries
    assert (sgd["init"], sgd["pruned_fraction"], sgd["r"], sgd["period"]) == ("ku", None, None, None)
    assert sgd["run_dir"].startswith(str(runs_dir / "nested" / "deeper"))


def test_edgepopup_rows_leave_r_and_period_empty(tmp_path):
    _write_run(tmp_path, presets.get("fig2-resnet18-ku-edgepopup"), 90.0)
    (row,) = results.collect(tmp_path)
    assert (row["method"], row["init"], row["r"], row["period"], row["pruned_fraction"]) == (
        "edgepopup", "ku", None, None, 0.6,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("method", "empty", "kept"),
    [("biprop", ("r", "period"), ("pruned_fraction",)), ("recycling", ("r",), ("period", "pruned_fraction"))],
)
def test_rows_leave_empty_what_the_method_ignores(tmp_path, method, empty, kept):
    config = presets.get("fig2-conv6-sc-iterand").replace(method=method, ranking="abs_score", rate=0.2)
    _write_run(tmp_path, config, 80.0)
    (row,) = results.collect(tmp_path)
    assert all(row[field] is None for field in empty)
    assert all(row[field] == getattr(config, field) for field in kept)


def test_a_recycling_run_saved_at_rate_1_is_still_read(tmp_path):
    # Saved before training refused recycling at rate 1 (iterand.engine.config.check_trainable).
    config = presets.get("fig2-conv6-sc-iterand").replace(method="recycling", ranking="abs_score", rate=1.0)
    _write_run(tmp_path, config, 80.0)
    (row,) = results.collect(tmp_path)
    assert (row["method"], row["test_acc_last"]) == ("recycling", 80.0)


@pytest.mark.parametrize("damage", ['{"run_name": ', "{}"])
def test_collect_names_a_damaged_summary(runs_dir, damage):
    summary = runs_dir / run_name(CONV6_SC.replace(seed=2)) / "summary.json"
    summary.write_text(damage)
    with pytest.raises(ValueError, match=f"{summary} is not a readable run summary"):
        results.collect(runs_dir)


def test_collect_of_named_runs_reads_only_their_summaries(runs_dir):
    # A figure's runs folder is shared by every parameter set of its notebook: a damaged summary of a run
    # another set trained must not stop a figure that does not draw it.
    damaged = run_name(CONV6_SC.replace(seed=2))
    (runs_dir / damaged / "summary.json").write_text("{}")
    wanted = {run_name(CONV6_SC.replace(seed=1)), run_name(CONV6_SC.replace(seed=3))}
    assert {row["run_name"] for row in results.collect(runs_dir, wanted)} == wanted
    with pytest.raises(ValueError, match="not a readable run summary"):
        results.collect(runs_dir, {damaged})


@pytest.mark.parametrize("damage", [lambda results: results.update(test_acc_last=None), dict.clear])
def test_a_summary_without_its_test_accuracy_is_damaged_not_left_out_of_the_mean(runs_dir, damage):
    # The mean was over the other seeds while count and seeds still named all three.
    summary = runs_dir / run_name(CONV6_SC.replace(seed=2)) / "summary.json"
    content = json.loads(summary.read_text())
    damage(content["results"])
    summary.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=f"{summary} is not a readable run summary .*test_acc_last"):
        results.collect(runs_dir)


def test_collect_needs_an_existing_folder(tmp_path):
    with pytest.raises(ValueError, match="--out: no folder"):
        results.collect(tmp_path / "missing")


def test_aggregate_gives_exact_mean_and_sample_std_over_seeds(runs_dir):
    aggregated = results.aggregate(results.collect(runs_dir))
    assert [(a["method"], a["count"], a["seeds"]) for a in aggregated] == [
        ("iterand", 3, "1 2 3"),
        ("sgd", 1, "1"),
    ]
    pruned, dense = aggregated
    assert pruned["test_acc_last_mean"] == 82.0 and pruned["test_acc_last_std"] == 2.0  # ddof = 1
    assert pruned["test_acc_best_mean"] == 81.0 and pruned["test_acc_best_std"] == 2.0
    assert pruned["val_acc_last_mean"] == 50.0 and pruned["val_acc_last_std"] == 0.0
    assert (pruned["weights_total"], pruned["weights_kept"]) == (1000, 500)
    assert dense["test_acc_last_mean"] == 70.0 and dense["test_acc_last_std"] == 0.0  # one seed
    assert dense["val_acc_last_mean"] is None and dense["val_acc_last_std"] is None  # no validation
    assert dense["weights_kept"] == 1000


def test_sizes_are_averaged_over_seeds_and_the_dense_size_carried(tmp_path):
    for seed, size in [(1, 200), (2, 204)]:
        _write_run(tmp_path, CONV6_SC.replace(seed=seed), 80.0, compact_bytes=size)
    _write_run(tmp_path, presets.get("fig2-conv6-ku-sgd"), 70.0, compact_bytes=0)
    _write_run(tmp_path, CONV6_SC.replace(seed=3, width=0.5), 75.0)  # summary of an earlier version
    rows = {(row["method"], row["seed"], row["width"]): row for row in results.collect(tmp_path)}
    assert (
        rows["iterand", 1, 1.0]["compact_bytes"] == 200
        and rows["iterand", 1, 1.0]["compact_bits_per_weight"] == 1.6
    )
    assert rows["sgd", 1, 1.0]["compact_bytes"] is None and rows["sgd", 1, 1.0]["dense_float32_bytes"] == 4100
    assert (
        rows["iterand", 3, 0.5]["compact_bytes"] is None
        and rows["iterand", 3, 0.5]["dense_float32_bytes"] is None
    )
    by_width = {(a["method"], a["width"]): a for a in results.aggregate(rows.values())}
    pruned = by_width["iterand", 1.0]
    assert (pruned["compact_bytes_mean"], pruned["compact_bytes_std"]) == (202.0, math.sqrt(8))
    assert pruned["compact_bits_per_weight_mean"] == 1.616 and pruned["dense_float32_bytes"] == 4100
    assert (
        by_width["sgd", 1.0]["compact_bytes_mean"] is None
        and by_width["sgd", 1.0]["dense_float32_bytes"] == 4100
    )
    assert by_width["iterand", 0.5]["compact_bytes_mean"] is None


def test_aggregate_never_mixes_settings_that_share_the_shown_columns(tmp_path):
    for seed, acc in [(1, 60.0), (2, 62.0)]:
        _write_run(tmp_path, CONV6_SC.replace(seed=seed), acc)
        _write_run(tmp_path, CONV6_SC.replace(seed=seed, lr=0.1), acc + 10)
    aggregated = results.aggregate(results.collect(tmp_path))
    assert sorted(a["test_acc_last_mean"] for a in aggregated) == [61.0, 71.0]
    assert all(a["count"] == 2 and a["test_acc_last_std"] == pytest.approx(math.sqrt(2)) for a in aggregated)
    # a coarser grouping asked for explicitly does merge them
    (merged,) = results.aggregate(results.collect(tmp_path), by=("model", "method"))
    assert merged["count"] == 4 and merged["test_acc_last_mean"] == 66.0 and merged["seeds"] == "1 1 2 2"


def test_the_data_location_is_not_part_of_the_setting(tmp_path):
    _write_run(tmp_path, CONV6_SC.replace(seed=1, data_root="/a/cifar"), 80.0)
    _write_run(tmp_path, CONV6_SC.replace(seed=2, data_root="/b/cifar"), 82.0)
    (group,) = results.aggregate(results.collect(tmp_path))
    assert group["count"] == 2


def test_one_seed_is_never_counted_twice(tmp_path, capsys):
    # Issue 10, item 1: the same run trained into two directories (say, before run names stopped
    # depending on how data_root was spelled, or copied into a subfolder) is one seed, reported.
    first = _write_run(tmp_path, CONV6_SC.replace(seed=1, data_root="/data/cifar10.tar.gz"), 80.0)
    copy = first.parent / "copied" / first.name
    write_json(RunFiles(copy).summary, {**read_json(RunFiles(first).summary), "run_name": "old-name"})
    _write_run(tmp_path, CONV6_SC.replace(seed=2), 84.0)
    rows = results.collect(tmp_path)
    (group,) = results.aggregate(rows)
    assert (group["count"], group["seeds"], group["duplicates"]) == (2, "1 2", 1)
    assert group["test_acc_last_mean"] == 82.0 and group["test_acc_last_std"] == pytest.approx(2.8284271)
    (same,) = results.duplicates(rows)
    assert sorted(item["run_dir"] for item in same) == sorted([str(first), str(copy)])

    assert main(["results", "--out", str(tmp_path), "--table", str(tmp_path / "t.csv")]) == 0
    (warning,) = capsys.readouterr().err.splitlines()
    assert warning == (
        f"warning: 2 run directories hold one run ({first.name}, seed 1): counted once, from {first}; "
        f"not counted: {copy}"
    )


def test_tables_round_trip_through_csv(runs_dir, tmp_path):
    rows = results.collect(runs_dir)
    aggregated = results.aggregate(rows)
    path = results.write_table(aggregated, tmp_path / "t" / "results.csv")
    assert results.read_table(path) == aggregated
    written = results.write_results(rows, tmp_path / "out" / "table.csv")
    assert {name: p.name for name, p in written.items()} == {
        "aggregated": "table.csv", "runs": "table-runs.csv", "reference": "table-reference.csv",
        "epochs": "table-epochs.csv",
    }  # fmt: skip
    assert results.read_table(written["aggregated"]) == aggregated
    assert results.read_table(written["runs"]) == rows
    assert results.read_table(written["reference"]) == results.compare(aggregated)


def test_per_run_rows_say_whether_the_run_was_trained_on_a_dirty_tree(tmp_path):
    # A figure's provenance said dirty: false while its runs were trained on a modified tree: the rows
    # carried the runs' commit but not their dirty flag.
    for seed, dirty in ((1, True), (2, False)):
        summary_path = RunFiles(_write_run(tmp_path / "runs", CONV6_SC.replace(seed=seed), 80.0)).summary
        summary = read_json(summary_path)
        summary["git"]["dirty"] = dirty
        write_json(summary_path, summary)
    rows = results.collect(tmp_path / "runs")
    assert [(row["seed"], row["git_dirty"]) for row in rows] == [(1, True), (2, False)]
    written = results.write_results(rows, tmp_path / "table.csv")["runs"]
    assert [row["git_dirty"] for row in results.read_table(written)] == [True, False]


def test_a_per_run_table_without_the_dirty_column_still_reads(runs_dir, tmp_path):
    # Tables written before the rows carried git_dirty, such as the committed CPU Fig. 2 one.
    rows = results.collect(runs_dir)
    older = tmp_path / "older.csv"
    results.write_table([{k: v for k, v in row.items() if k != "git_dirty"} for row in rows], older)
    again = results.read_table(older)
    assert again and all("git_dirty" not in row and row["git_commit"] for row in again)
    assert results.aggregate(again)


def test_default_table_is_below_the_runs_root(monkeypatch, tmp_path):
    monkeypatch.setenv("ITERAND_RUNS", str(tmp_path))
    assert results.default_table() == tmp_path / "results" / "results.csv"


def _aggregated(**fields) -> dict:
    base = {
        "model": "conv6", "width": 1.0, "method": "iterand", "init": "sc", "r": 0.1, "pruned_fraction": 0.5,
        "dataset": "cifar10", "epochs": 100, "steps_per_epoch": None, "lossy_jpeg": False, "count": 3,
        "test_acc_last_mean": 90.0, "test_acc_last_std": 0.5,
    }  # fmt: skip
    return {**base, **fields}


IMAGENET_EP = {"dataset": "imagenet", "method": "edgepopup", "r": None, "pruned_fraction": 0.7}


@pytest.mark.parametrize(
    "ours, published",
    [
        ({}, [88.8, 90.74, 90.7]),  # IteRand paper; weight-recycling table and width sweep
        ({"init": "ku"}, [88.8, 90.74, 90.7]),  # the references do not name the init
        ({"method": "edgepopup", "r": None}, [89.53, 89.5]),
        ({"method": "edgepopup", "r": None, "width": 0.25}, [78.5]),
        ({"width": 0.5}, [88.2]),
        ({"width": 2.0}, []),
        ({"pruned_fraction": 0.9}, [81.22]),
        ({"model": "conv4", "method": "edgepopup", "r": None, "pruned_fraction": 0.9}, [74.42]),
        ({"model": "resnet18", "pruned_fraction": 0.6}, [92.55]),
        ({"model": "resnet18", "pruned_fraction": 0.6, "r": 0.01}, []),  # Fig. 1's other r values
        ({"r": 0.0}, []),
        ({"dataset": "synthetic"}, []),
        ({"method": "sgd", "init": "ku", "r": None, "pruned_fraction": None}, []),
        ({**IMAGENET_EP, "model": "resnet50"}, [68.6]),
        ({**IMAGENET_EP, "model": "resnet101", "init": "kn"}, [66.15]),
    ],
)  # fmt: skip
def test_compare_matches_the_right_reference_rows(ours, published):
    compared = results.compare([_aggregated(**ours)])
    assert [c["published"] for c in compared] == published
    for row in compared:
        assert row["difference"] == pytest.approx(90.0 - row["published"])
        assert (row["ours_mean"], row["ours_std"], row["ours_count"]) == (90.0, 0.5, 3)
        assert row["source"] and row["note"]


def test_compare_notes_the_jpeg_copy_only_when_used():
    (clean,) = [c for c in results.compare([_aggregated(width=0.25)])]
    (lossy,) = [c for c in results.compare([_aggregated(width=0.25, lossy_jpeg=True)])]
    assert "JPEG" not in clean["note"] and "JPEG" in lossy["note"] and lossy["lossy_jpeg"] is True
    assert clean["source"] == "weight-recycling paper (Gorbett & Whitley)"


def test_every_reference_row_states_its_source_setting_and_number():
    assert len(results.REFERENCE) == 22
    for reference in results.REFERENCE:
        assert reference["source"] and reference["note"]
        assert reference["dataset"] in ("cifar10", "imagenet") and 0 < reference["test_acc"] < 100
        assert reference["method"] in ("edgepopup", "iterand")


def test_format_table_aligns_columns_and_marks_empty_cells():
    text = results.format_table([{"a": 1.23456, "b": None}, {"a": 12345.6, "b": "x"}], ["a", "b"])
    assert text.splitlines() == ["a      b", "1.235  -", "12346  x"]
    assert results.format_table([], ["a", "b"]) == "a  b"


def _grid_table() -> list[dict]:
    """Aggregated rows of a small Fig. 2 grid, then rows that the grid must leave out."""
    methods = [("sgd", "ku", None, None), ("edgepopup", "sc", None, 0.5), ("iterand", "sc", 0.1, 0.5)]
    rows = [
        _aggregated(width=width, method=method, init=init, r=r, pruned_fraction=pruned)
        for width in (0.25, 0.5)
        for method, init, r, pruned in [*methods, ("iterand", "ku", 0.1, 0.5)]
    ]
    return [
        *rows,
        _aggregated(width=1.0),
        _aggregated(model="resnet18"),
        _aggregated(width=0.25, epochs=1),
        _aggregated(width=0.25, steps_per_epoch=2),  # the same epochs, a few steps each
        _aggregated(width=0.25, r=0.01),
        _aggregated(width=0.25, dataset="synthetic"),
    ]


def _select(table: list[dict], key: tuple[str, ...], **grid: Any) -> list[dict]:
    return results.select(table, key, **{"epochs": 100, "steps_per_epoch": None, **grid})


def _points(rows: list[dict], *fields: str) -> list[tuple]:
    return [tuple(row[field] for field in fields) for row in rows]


FIG2_KEY = ("model", "width", "method", "init")


def test_select_keeps_exactly_the_rows_of_the_grid_in_table_order():
    shown = _select(
        _grid_table(),
        FIG2_KEY,
        models=["conv6"],
        widths=[0.25, 0.5],
        methods=["sgd", "edgepopup", "iterand"],
        inits=["sc"],
        r_values=[0.1, None],
        datasets=["cifar10"],
    )
    # the dense baseline (KU) stays although inits names SC only; IteRand under KU goes
    assert _points(shown, "width", "method", "init") == [
        (w, m, i) for w in (0.25, 0.5) for m, i in [("sgd", "ku"), ("edgepopup", "sc"), ("iterand", "sc")]
    ]
    assert all(row["epochs"] == 100 and row["steps_per_epoch"] is None for row in shown)
    # a field not restricted keeps every value
    every_init = _select(_grid_table(), FIG2_KEY, widths=[0.5])
    assert _points(every_init, "method", "init") == [
        ("sgd", "ku"), ("edgepopup", "sc"), ("iterand", "sc"), ("iterand", "ku"),
    ]  # fmt: skip


def test_select_keeps_only_the_training_budget_asked_for():
    assert _points(_select(_grid_table(), FIG2_KEY, steps_per_epoch=2), "width", "steps_per_epoch") == [
        (0.25, 2)
    ]
    assert _points(_select(_grid_table(), FIG2_KEY, epochs=1), "width", "epochs") == [(0.25, 1)]


def test_select_keeps_the_r_values_and_datasets_asked_for():
    table = [_aggregated(r=r) for r in (0.0, 0.01, 0.1)] + [_aggregated(r=0.1, dataset="synthetic")]
    shown = _select(table, ("r",), r_values=[0.0, 0.1], datasets=["cifar10"])
    assert _points(shown, "r", "dataset") == [(0.0, "cifar10"), (0.1, "cifar10")]


def test_select_refuses_two_settings_of_one_point():
    table = [*_grid_table(), _aggregated(width=0.5, method="edgepopup", r=None, setting="hlr")]
    grid = {"inits": ["sc"], "r_values": [0.1, None], "datasets": ["cifar10"]}
    duplicated = r"several settings for \[\('conv6', 0.5, 'edgepopup', 'sc'\)\] in t.csv"
    with pytest.raises(ValueError, match=duplicated):
        _select(table, FIG2_KEY, source="t.csv", **grid)
    # the other width alone is fine, and so is a key that tells the two settings apart
    assert len(_select(table, FIG2_KEY, widths=[0.25], **grid)) == 3
    assert len(_select(table, (*FIG2_KEY, "setting"), widths=[0.5], **grid)) == 4


def test_select_names_duplicates_whose_key_has_empty_values():
    table = [_aggregated(method="edgepopup", r=None), _aggregated(method="edgepopup", r=None, period=9)]
    with pytest.raises(ValueError, match=r"several settings for \[\('edgepopup', None\)\]"):
        _select(table, ("method", "r"))


def test_select_refuses_an_empty_selection_naming_the_table():
    with pytest.raises(ValueError, match="no finished run of this grid in runs/x.csv"):
        _select(_grid_table(), FIG2_KEY, widths=[2.0], source="runs/x.csv")
    with pytest.raises(ValueError, match="no finished run"):
        _select([], FIG2_KEY)


def test_select_refuses_rows_of_different_datasets():
    table = [
        _aggregated(model="resnet34", dataset="imagenet"),
        _aggregated(model="resnet50", dataset="synthetic"),
    ]
    with pytest.raises(ValueError, match=r"mix datasets \['imagenet', 'synthetic'\]"):
        _select(table, ("model",))
    assert _points(_select(table, ("model",), datasets=["synthetic"]), "model") == [("resnet50",)]


def test_training_budget_names_each_budget_once():
    assert results.training_budget([_aggregated(), _aggregated(width=0.5)]) == "100 epoch(s)"
    mixed = [_aggregated(epochs=1, steps_per_epoch=60), _aggregated()]
    assert results.training_budget(mixed) == "1 epoch(s) of 60 steps; 100 epoch(s)"
