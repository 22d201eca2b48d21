"""Per-epoch learning curves of finished runs as a table, and their mean and band over seeds.

``results.collect`` keeps one row per run (the final accuracies); a figure of accuracy against epoch
needs every epoch. ``epoch_rows`` reads the ``metrics.jsonl`` of each run of such rows into one row per run
and epoch, carrying the run's identity (model, width, method, init, seed, setting), so that curves can be
drawn from a committed table without the run folders (``results.write_results`` writes it beside the
aggregated table).
"""

from __future__ import annotations

import statistics
import warnings
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
    holds the run), epochs counted from 1, as the console. A run whose ``metrics.jsonl`` repeats an epoch
    (the last record of it is kept) or lacks one, against its summary's ``epochs``, is named in a warning:
    its curve would otherwise count an epoch twice, or silently miss it."""
    rows = []
    for run in runs:
        metrics = RunFiles(Path(run["run_dir"])).metrics
        written = read_metrics(metrics)
        records = {record["epoch"]: record for record in written}
        _warn_of_gaps(metrics, len(written) - len(records), records, run["epochs"])
        for number in sorted(records):
            epoch = {field: records[number].get(field) for field in EPOCH_FIELDS}
            epoch["epoch"] = number + 1
            rows.append({**{field: run[field] for field in IDENTITY}, **epoch})
    return rows


def _warn_of_gaps(metrics: Path, repeated: int, records: Mapping[int, Any], epochs: int) -> None:
    said = []
    if repeated:
        said.append(f"{repeated} repeated record{'s' if repeated > 1 else ''} (the last of each epoch kept)")
    missing = [epoch + 1 for epoch in range(epochs) if epoch not in records]
    if missing:
        said.append(f"no record of epoch{'s' if len(missing) > 1 else ''} {_spans(missing)} of {epochs}")
    if said:
        warnings.warn(f"{metrics}: {'; '.join(said)}: its learning curve is incomplete", stacklevel=3)


def _spans(numbers: Sequence[int]) -> str:
    """Increasing ``numbers`` as spans: [1, 2, 3, 5] as "1-3, 5"."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


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
