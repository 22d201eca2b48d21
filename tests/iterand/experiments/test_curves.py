"""Per-epoch rows of finished runs and their bands over seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bookkeeping.paths import RunFiles
from iterand.engine.config import run_name
from iterand.experiments import presets, results
from iterand.experiments.curves import bands, epoch_rows
from tests.iterand.experiments.test_results import _write_run

CONV6_SC = presets.get("fig2-conv6-sc-iterand").replace(epochs=3)


def _metrics(root: Path, accuracies: list[float]) -> None:
    lines = [
        json.dumps({"epoch": i, "lr": 0.1, "train_loss": 1.0, "val_acc": a}) for i, a in enumerate(accuracies)
    ]
    RunFiles(root).metrics.write_text("\n".join(lines) + "\n")


def test_epoch_rows_carry_the_run_identity_and_count_epochs_from_one(tmp_path):
    for seed, accs in [(1, [10.0, 20.0, 30.0]), (2, [12.0, 24.0, 36.0])]:
        _metrics(_write_run(tmp_path, CONV6_SC.replace(seed=seed), 30.0), accs)
    unfinished = tmp_path / run_name(CONV6_SC.replace(seed=3))
    unfinished.mkdir()
    _metrics(unfinished, [99.0])  # no summary: not finished, not read
    rows = epoch_rows(results.collect(tmp_path))
    assert [(r["seed"], r["epoch"], r["val_acc"]) for r in rows] == [
        (seed, epoch, acc)
        for seed, accs in [(1, [10.0, 20.0, 30.0]), (2, [12.0, 24.0, 36.0])]
        for epoch, acc in enumerate(accs, start=1)
    ]
    assert {(r["model"], r["width"], r["method"], r["init"]) for r in rows} == {
        ("conv6", 1.0, "iterand", "sc")
    }
    assert rows[0]["train_acc"] is None  # a field the record lacks stays empty


def test_a_repeated_or_missing_epoch_record_is_named_and_each_epoch_counts_once(tmp_path):
    # Lines written twice made the epochs table list epochs 1, 2, 3, 1, 2, 3; a lost line went unsaid.
    doubled = _write_run(tmp_path, CONV6_SC.replace(seed=1), 30.0)
    _metrics(doubled, [10.0, 20.0, 30.0])
    RunFiles(doubled).metrics.write_text(RunFiles(doubled).metrics.read_text() * 2)
    gap = _write_run(tmp_path, CONV6_SC.replace(seed=2), 30.0)
    _metrics(gap, [12.0, 24.0, 36.0])
    lines = RunFiles(gap).metrics.read_text().splitlines()
    RunFiles(gap).metrics.write_text(lines[0] + "\n" + lines[2] + "\n")
    lost = _write_run(tmp_path, CONV6_SC.replace(seed=3), 30.0)  # no metrics.jsonl at all
    with pytest.warns(UserWarning) as warned:
        rows = epoch_rows(results.collect(tmp_path))
    assert [(r["seed"], r["epoch"]) for r in rows] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 3)]
    messages = sorted(str(w.message) for w in warned)
    assert messages == [
        f"{RunFiles(doubled).metrics}: 3 repeated records (the last of each epoch kept): its learning "
        "curve is incomplete",
        f"{RunFiles(gap).metrics}: no record of epoch 2 of 3: its learning curve is incomplete",
        f"{RunFiles(lost).metrics}: no record of epochs 1-3 of 3: its learning curve is incomplete",
    ]


def test_bands_give_mean_and_range_over_seeds_per_epoch():
    rows = [
        {"model": "conv6", "width": 0.25, "method": "iterand", "init": "sc", "epoch": epoch, "val_acc": acc}
        for epoch, acc in [(1, 10.0), (1, 14.0), (2, 20.0), (2, 30.0), (2, 25.0), (3, None)]
    ]
    assert bands(rows) == [
        {
            "model": "conv6",
            "width": 0.25,
            "method": "iterand",
            "init": "sc",
            "epoch": 1,
            "mean": pytest.approx(12.0),
            "low": 10.0,
            "high": 14.0,
            "count": 2,
        },
        {
            "model": "conv6",
            "width": 0.25,
            "method": "iterand",
            "init": "sc",
            "epoch": 2,
            "mean": pytest.approx(25.0),
            "low": 20.0,
            "high": 30.0,
            "count": 3,
        },
    ]


def test_bands_keep_the_inits_of_one_method_apart():
    # Fig. 2 trains edge-popup and IteRand from KU and from SC: one band each, never their average.
    rows = [
        {"model": "conv6", "width": 0.25, "method": "iterand", "init": init, "epoch": 1, "val_acc": acc}
        for init, acc in [("ku", 10.0), ("sc", 30.0)]
    ]
    assert [(b["init"], b["mean"], b["count"]) for b in bands(rows)] == [("ku", 10.0, 1), ("sc", 30.0, 1)]
