"""Per-epoch learning curves of finished runs as a table, and their mean and band over seeds.

``results.collect`` keeps one row per run (the final accuracies); a figure of accuracy against epoch
needs every epoch. ``collect_epochs`` reads each finished run's ``metrics.jsonl`` into one row per run and
epoch, carrying the run's identity (model, width, method, init, seed, setting), so that curves can be
drawn from a committed table without the run folders.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bookkeeping.files import read_json, read_metrics
from bookkeeping.paths import SUMMARY_FILE, RunFiles
from iterand.experiments import results

IDENTITY = ("run_name", "model", "width", "method", "init", "seed", "setting")
EPOCH_FIELDS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc")

__all__ = ["EPOCH_FIELDS", "IDENTITY", "bands", "collect_epochs"]


def collect_epochs(out: str | Path) -> list[dict[str, Any]]:
    """One row per epoch of every finished run below ``out`` (epochs counted from 1, as the console)."""
    rows = []
    for summary in sorted(Path(out).rglob(SUMMARY_FILE)):
        run = results.row(read_json(summary), summary.parent)
        for record in read_metrics(RunFiles(summary.parent).metrics):
            epoch = {field: record.get(field) for field in EPOCH_FIELDS}
            epoch["epoch"] = record["epoch"] + 1
            rows.append({**{field: run[field] for field in IDENTITY}, **epoch})
    return rows


def bands(
    rows: Iterable[Mapping[str, Any]],
    metric: str = "val_acc",
    by: Sequence[str] = ("model", "width", "method"),
) -> list[dict[str, Any]]:
    """Per group of equal ``by`` values and epoch: ``mean``, ``low`` and ``high`` (the smallest and largest
    seed) of ``metric``, and ``count`` (seeds that reached that epoch)."""
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
