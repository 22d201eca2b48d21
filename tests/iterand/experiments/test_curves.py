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
