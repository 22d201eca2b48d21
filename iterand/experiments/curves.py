"""Per-epoch learning curves of finished runs as a table, and their mean and band over seeds.

``results.collect`` keeps one row per run (the final accuracies); a figure of accuracy against epoch
needs every epoch. ``epoch_rows`` reads the ``metrics.jsonl`` of each run of such rows into one row per run
and epoch, carrying the run's identity (model, width, method, init, seed, setting), so that curves can be
drawn from a committed table without the run folders (``results.write_results`` writes it beside the
aggregated table).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bookkeeping.files import read_metrics
from bookkeeping.paths import RunFiles

IDENTITY = ("run_name", "model", "width", "method", "init", "seed", "setting")
EPOCH_FIELDS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc")

__all__ = ["EPOCH_FIELDS", "IDENTITY", "bands", "epoch_rows"]


def epoch_rows(runs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per epoch of every run of ``runs`` (per-run rows of ``results.collect``, whose ``run_dir``
    holds the run), epochs counted from 1, as the console."""
    rows = []
    for run in runs:
        for record in read_metrics(RunFiles(Path(run["run_dir"])).metrics):
            epoch = {field: record.get(field) for field in EPOCH_FIELDS}
            epoch["epoch"] = record["epoch"] + 1
            rows.append({**{field: run[field] for field in IDENTITY}, **epoch})
    return rows


def bands(
    rows: Iterable[Mapping[str, Any]],
    metric: str = "val_acc",
    by: Sequence[str] = ("model", "width", "method", "init"),
) -> list[dict[str, Any]]:
    """Per group of equal ``by`` values and epoch: ``mean``, ``low`` and ``high`` (the smallest and largest
    seed) of ``metric``, and ``count`` (seeds that reached that epoch). ``rows`` hold each run once
    (``epoch_rows`` of ``results.counted`` runs)."""
    groups: dict[tuple, list[float]] = {}
    for item in rows:
        if item.get(metric) is not None:
            key = (*(item.get(field) for field in by), item["epoch"])
            groups.setdefault(key, []).append(float(item[metric]))
    return [
        {
            **dict(zip((*by, "epoch"), key, strict=True)),
            "mean": statistics.fmean(values),
            "low": min(values),
            "high": max(values),
            "count": len(values),
        }
        for key, values in sorted(groups.items())
    ]
