"""The results store: finished runs as flat rows, their mean and spread over seeds, and the published numbers.

``collect(out)`` reads every ``summary.json`` below ``out`` (finished runs only; an interrupted run has
none) into one row per run. ``aggregate(rows)`` groups rows that differ only in their seed and gives the
mean, the sample standard deviation (ddof 1; 0 for a single seed) and the count of each accuracy. A seed
counts once: two rows of the same run (same setting, data and seed: a run directory copied, or trained
again under another name) are ``duplicates``, reported and never averaged.
``compare(aggregated)`` puts our mean beside every published number of the same setting (``REFERENCE``:
the IteRand paper's Conv6 and ResNet-18 numbers, the weight-recycling paper's independent reproduction,
the edge-popup paper's ImageNet numbers). ``select(aggregated, key, ...)`` keeps the rows of a figure's
grid, one per point.
Tables are CSV files written and read by ``bookkeeping.tables``.

Sizes: ``compact_bytes`` (the run's last-epoch model as a compact file, ``iterand.engine.compact``; empty for
"sgd" and for runs trained before compact files existed), ``compact_bits_per_weight`` (its bits over all
conv and linear weights) and ``dense_float32_bytes`` (the dense SGD model of the same architecture in
float32). ``aggregate`` averages the first two over seeds like the accuracies and carries the third.

Row conventions: accuracies in percent; ``init`` is the short alias ("sc", "ku", "kn", "u"); the columns
that a method ignores (``iterand.core.names.ignored_fields``) are empty (None): ``pruned_fraction``, ``r``
and ``period`` for the dense "sgd" baseline (whose ``init`` is always "ku"), ``r`` and ``period`` for
"edgepopup" and "biprop", ``r`` for "recycling". ``setting`` is a hash of every
field that decides what a run computes except the seed and the data location, so that ``aggregate``
never averages runs of different settings (a different learning rate, or 2 steps per epoch instead of
the full epoch) although the columns shown are equal.

CIFAR-10 numbers obtained on the JPEG re-encoding of the data (``lossy_jpeg`` true) are not on the
published test images; ``compare`` says so beside each such number.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bookkeeping import paths, tables
from bookkeeping.errors import InvalidInput
from bookkeeping.files import read_json
from bookkeeping.paths import SUMMARY_FILE, RunFiles, damaged_summary_advice
from iterand.core.names import METHOD_REGISTRY, ignored_fields, init_alias
from iterand.engine.config import TrainConfig, experiment_dict
from iterand.experiments import curves

RESULTS_DIR = "results"
RESULTS_TABLE = "results.csv"
METRICS = ("test_acc_last", "test_acc_best", "val_acc_last", "val_acc_best")
SIZES = ("compact_bytes", "compact_bits_per_weight")
GROUP_BY = (
    "model",
    "width",
    "method",
    "init",
    "r",
    "pruned_fraction",
    "period",
    "dataset",
    "augmentation",
    "lossy_jpeg",
    "epochs",
    "steps_per_epoch",
    "setting",
)
# Constant within a group (they do not depend on the seed); carried into the aggregated rows.
_CARRIED = ("weights_total", "weights_kept", "dense_float32_bytes")
# Emptied in the rows of a method that ignores them (init instead reads "ku" for a dense method).
_BLANKED = ("pruned_fraction", "r", "period")
_MATCH = ("dataset", "model", "width", "method", "init", "pruned_fraction", "r")
JPEG_NOTE = (
    "ours on the JPEG re-encoding of CIFAR-10 (lossy_jpeg): not the published test images, so small "
    "differences are expected"
)

__all__ = [
    "GROUP_BY",
    "METRICS",
    "REFERENCE",
    "SIZES",
    "aggregate",
    "collect",
    "compare",
    "counted",
    "default_table",
    "duplicate_warnings",
    "duplicates",
    "format_table",
    "matching",
    "read_table",
    "result_tables",
    "row",
    "select",
    "training_budget",
    "write_results",
    "write_table",
]


def default_table() -> Path:
    """Where ``python -m iterand results`` writes the aggregated table unless ``--table`` says otherwise."""
    return paths.runs_root() / RESULTS_DIR / RESULTS_TABLE


def row(summary: Mapping[str, Any], run_dir: str | Path = "") -> dict[str, Any]:
    """The flat row of one run's ``summary.json`` content."""
    params, results, data = summary["parameters"], summary["results"], summary.get("data", {})
    config = TrainConfig.from_dict(params)
    accuracy = results["test_acc_last"]
    if isinstance(accuracy, bool) or not isinstance(accuracy, int | float):
        # Every finished run has it: a mean over the others would still be labelled with every seed.
        raise ValueError(f"results.test_acc_last must be a number, got {accuracy!r}")
    setting = {k: v for k, v in experiment_dict(config).items() if k != "seed"}
    values: dict[str, Any] = {
        "run_name": summary["run_name"],
        "model": config.model,
        "width": config.width,
        "method": config.method,
        "init": init_alias(config.init) if METHOD_REGISTRY[config.method].subnetwork else "ku",
        "pruned_fraction": config.pruned_fraction,
        "r": config.r,
        "period": config.period,
        "seed": config.seed,
        "epochs": config.epochs,
        "steps_per_epoch": config.steps_per_epoch,
        "dataset": config.dataset,
        "augmentation": data.get("augmentation", config.augmentation),
        "lossy_jpeg": bool(data.get("lossy_jpeg", False)),
        "weights_total": results["weights_total"],
        "weights_kept": results["weights_kept"],
        **{metric: results.get(metric) for metric in METRICS},
        **{size: results.get(size) for size in (*SIZES, "dense_float32_bytes")},
        "images_per_second": results.get("images_per_second"),
        "git_commit": summary.get("git", {}).get("commit"),
        # A figure drawn at a clean commit from runs trained on a modified tree must say so.
        "git_dirty": summary.get("git", {}).get("dirty"),
        # A letter first: an all-digit hash would come back from the CSV as a number.
        "setting": "h" + hashlib.sha256(json.dumps(setting, sort_keys=True).encode()).hexdigest()[:8],
        "run_dir": str(run_dir),
    }
    for field in _BLANKED:
        if field in ignored_fields(config.method):
            values[field] = None
    return values


def collect(out: str | Path, names: Collection[str] | None = None) -> list[dict[str, Any]]:
    """One row per finished run below ``out`` (any depth), ordered by run directory; with ``names``, only
    of the run directories so named (the summaries of others are not read, so a damaged one of another
    grid in a shared folder stops nothing)."""
    out = Path(out)
    if not out.is_dir():
        raise InvalidInput(f"--out: no folder {out}")
    found = sorted(out.rglob(SUMMARY_FILE))
    return [_summary_row(path) for path in found if names is None or path.parent.name in names]


def _summary_row(path: Path) -> dict[str, Any]:
    try:
        return row(read_json(path), path.parent)
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise InvalidInput(
            f"{path} is not a readable run summary ({type(error).__name__}: {error}): "
            f"{damaged_summary_advice(RunFiles(path.parent))}, then run the same train command again"
        ) from None


def duplicates(rows: Iterable[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """The rows that are one run (equal ``GROUP_BY`` values, setting and data included, and equal seed),
    each list in the order given: ``aggregate`` counts its first row and leaves out the others."""
    runs: dict[tuple, list[Mapping[str, Any]]] = {}
    for item in rows:
        runs.setdefault(_run_identity(item), []).append(item)
    return [same for same in runs.values() if len(same) > 1]


def counted(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows ``aggregate`` counts, in the order given: the first of each run (see ``duplicates``)."""
    first: dict[tuple, Mapping[str, Any]] = {}
    for item in rows:
        first.setdefault(_run_identity(item), item)
    return list(first.values())


def duplicate_warnings(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per run found in several directories: which one ``aggregate`` counts, which it leaves out."""
    lines = []
    for same in duplicates(rows):
        kept, *left_out = (str(item.get("run_dir")) for item in same)
        run = f"{same[0].get('run_name')}, seed {same[0].get('seed')}"
        lines.append(
            f"{len(same)} run directories hold one run ({run}): counted once, from {kept}; "
            f"not counted: {', '.join(left_out)}"
        )
    return lines


def _run_identity(item: Mapping[str, Any]) -> tuple:
    return tuple(item.get(field) for field in (*GROUP_BY, "seed"))


def aggregate(rows: Iterable[Mapping[str, Any]], by: Sequence[str] = GROUP_BY) -> list[dict[str, Any]]:
    """One row per group of equal ``by`` values: those values, ``count``, ``seeds`` (e.g. "1 2 3"), the
    weight counts, the dense float32 size, ``<metric>_mean`` / ``<metric>_std`` of every metric and
    compact size (None where no run has it), and
    ``duplicates``: how many rows of the group repeat a run already counted (see ``duplicates``; their
    numbers are left out, so no seed is counted twice).

    Rows are sorted by the ``by`` values (empty values last).
    """
    rows = list(rows)
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for item in counted(rows):
        groups.setdefault(tuple(item.get(field) for field in by), []).append(item)
    repeated: Counter[tuple] = Counter()
    for same in duplicates(rows):
        repeated[tuple(same[0].get(field) for field in by)] += len(same) - 1
    aggregated = []
    for key in sorted(groups, key=lambda k: tuple(_sort_key(v) for v in k)):
        members = groups[key]
        values: dict[str, Any] = dict(zip(by, key, strict=True))
        values["count"] = len(members)
        values["seeds"] = " ".join(str(s) for s in sorted(m.get("seed") for m in members))
        for field in _CARRIED:
            values[field] = members[0].get(field)
        for metric in (*METRICS, *SIZES):
            numbers = [m[metric] for m in members if m.get(metric) is not None]
            values[f"{metric}_mean"] = statistics.fmean(numbers) if numbers else None
            values[f"{metric}_std"] = (
                statistics.stdev(numbers) if len(numbers) > 1 else 0.0 if numbers else None
            )
        values["duplicates"] = repeated[key]
        aggregated.append(values)
    return aggregated


def _sort_key(value: Any) -> tuple:
    return (1, "") if value is None else (0, value)


def write_table(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    return tables.write_csv(rows, Path(path))


def read_table(path: str | Path) -> list[dict[str, Any]]:
    rows = tables.read_csv(Path(path))
    for item in rows:
        if isinstance(item.get("seeds"), int):
            item["seeds"] = str(item["seeds"])  # one seed: the CSV reader took the text for a number
    return rows


def write_results(rows: Sequence[Mapping[str, Any]], table: str | Path) -> dict[str, Path]:
    """``aggregate(rows)`` to ``table``, and beside it ``<stem>-runs.csv`` (``rows``),
    ``<stem>-reference.csv`` (``compare``) and ``<stem>-epochs.csv`` (every epoch of each counted run,
    ``curves.epoch_rows``: the learning curves of a figure drawn from the table alone); returns the four
    paths by name. ``rows`` are those of ``collect``, whose run directories hold the epochs."""
    paths = result_tables(table)
    aggregated = aggregate(rows)
    contents = {
        "aggregated": aggregated,
        "runs": rows,
        "reference": compare(aggregated),
        "epochs": curves.epoch_rows(counted(rows)),
    }
    return {name: write_table(contents[name], path) for name, path in paths.items()}


def result_tables(table: str | Path) -> dict[str, Path]:
    """The four paths ``write_results`` writes for ``table``, by name: "aggregated" (``table``) and its
    companions "runs", "reference" and "epochs" (``companion_table``)."""
    return {"aggregated": Path(table)} | {
        kind: companion_table(table, kind) for kind in ("runs", "reference", "epochs")
    }


def companion_table(table: str | Path, kind: str) -> Path:
    """The table written beside the aggregated ``table``: ``kind`` "runs" (one row per run), "epochs"
    (one row per run and epoch) or "reference" (the published numbers compared)."""
    table = Path(table)
    return table.with_name(f"{table.stem}-{kind}.csv")


def _reference(source: str, note: str, **fields: Any) -> dict[str, Any]:
    # IteRand numbers are at the paper's default r = 0.1 (Fig. 1's other r values have no published row).
    r = 0.1 if fields["method"] == "iterand" else None
    return {"source": source, "dataset": "cifar10", "init": None, "r": r, "note": note, **fields}


_ITERAND = "IteRand paper (Chijiwa et al., NeurIPS 2021)"
_RECYCLING = "weight-recycling paper (Gorbett & Whitley)"
_EDGEPOPUP = "edge-popup paper (Ramanujan et al., CVPR 2020)"
_READ = "approximate, read from the paper's figures"
_IMAGENET = "ImageNet validation accuracy, 30% of the weights kept"

REFERENCE: list[dict[str, Any]] = [
    _reference(_ITERAND, _READ, model="conv6", width=1.0, method="iterand", pruned_fraction=0.5,
               test_acc=88.8),
    _reference(_ITERAND, "about 92.5-92.6; " + _READ, model="resnet18", width=1.0, method="iterand",
               pruned_fraction=0.6, test_acc=92.55),
    *[
        _reference(_RECYCLING, f"independent reproduction, width 1, {p:.0%} pruned", model=model, width=1.0,
                   method=method, pruned_fraction=p, test_acc=acc)
        for model, method, p, acc in [
            ("conv6", "edgepopup", 0.5, 89.53), ("conv6", "edgepopup", 0.9, 79.57),
            ("conv6", "iterand", 0.5, 90.74), ("conv6", "iterand", 0.9, 81.22),
            ("conv4", "edgepopup", 0.5, 86.67), ("conv4", "edgepopup", 0.9, 74.42),
            ("conv4", "iterand", 0.5, 88.37), ("conv4", "iterand", 0.9, 78.88),
        ]
    ],
    *[
        _reference(_RECYCLING, "independent reproduction, Conv6 width sweep, 50% pruned", model="conv6",
                   width=width, method=method, pruned_fraction=0.5, test_acc=acc)
        for method, accs in [("edgepopup", (78.5, 86.2, 89.5)), ("iterand", (83.0, 88.2, 90.7))]
        for width, acc in zip((0.25, 0.5, 1.0), accs, strict=True)
    ],
    *[
        _reference(_EDGEPOPUP, f"{_IMAGENET}, {title}", dataset="imagenet", model=model, width=1.0,
                   method="edgepopup", pruned_fraction=0.7, init=init, test_acc=acc)
        for init, title, accs in [("sc", "signed constant", (68.6, 72.3, 73.3)),
                                  ("kn", "Kaiming normal", (61.7, 66.15, 67.9))]
        for model, acc in zip(("resnet50", "resnet101", "wide_resnet50"), accs, strict=True)
    ],
]  # fmt: skip


def _matches(reference: Mapping[str, Any], ours: Mapping[str, Any]) -> bool:
    """Every field the reference states (not None) equals ours; numbers up to rounding."""
    for field in _MATCH:
        expected, value = reference.get(field), ours.get(field)
        if expected is None:
            continue
        if isinstance(expected, float):
            if not isinstance(value, int | float) or not math.isclose(expected, value, abs_tol=1e-9):
                return False
        elif expected != value:
            return False
    return True


def compare(aggregated: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (our aggregated row, matching reference): the setting, the published number and its
    source, our mean/std/count of the last-epoch test accuracy and ``difference`` = ours - published."""
    compared = []
    for ours in aggregated:
        for reference in REFERENCE:
            if not _matches(reference, ours):
                continue
            mean = ours.get("test_acc_last_mean")
            note = reference["note"]
            if ours.get("lossy_jpeg"):
                note = f"{note}; {JPEG_NOTE}"
            compared.append(
                {
                    **{field: ours.get(field) for field in _MATCH},
                    "epochs": ours.get("epochs"),
                    "steps_per_epoch": ours.get("steps_per_epoch"),
                    "lossy_jpeg": ours.get("lossy_jpeg"),
                    "source": reference["source"],
                    "published": reference["test_acc"],
                    "ours_mean": mean,
                    "ours_std": ours.get("test_acc_last_std"),
                    "ours_count": ours.get("count"),
                    "difference": None if mean is None else mean - reference["test_acc"],
                    "note": note,
                }
            )
    return compared


def matching(
    table: Iterable[Mapping[str, Any]],
    *,
    epochs: int,
    steps_per_epoch: int | None,
    models: Collection[str] | None = None,
    widths: Collection[float] | None = None,
    methods: Collection[str] | None = None,
    inits: Collection[str] | None = None,
    r_values: Collection[float] | None = None,
    datasets: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """The rows of ``table`` (aggregated or per run) trained for ``epochs`` epochs of ``steps_per_epoch``
    steps (None: full epochs) whose model, width, method, init, r and dataset are among the values given
    (None: any), in table order. ``inits`` never drops a dense method such as the "sgd" baseline, which
    always starts from KU."""
    allowed = {"model": models, "width": widths, "method": methods, "r": r_values, "dataset": datasets}
    return [
        dict(item)
        for item in table
        if item.get("epochs") == epochs
        and item.get("steps_per_epoch") == steps_per_epoch
        and all(values is None or item.get(field) in values for field, values in allowed.items())
        and (inits is None or "init" in ignored_fields(item["method"]) or item.get("init") in inits)
    ]


def select(
    table: Iterable[Mapping[str, Any]],
    key: Sequence[str],
    *,
    source: str | Path = "the results table",
    **choices: Any,
) -> list[dict[str, Any]]:
    """The rows of ``table`` that a figure of this grid shows, in table order: the rows ``matching``
    ``choices`` (its keyword arguments: the budget and the chosen values).

    ``ValueError`` when two kept rows have equal ``key`` values (two settings of one point, say another
    learning rate, which a figure would draw over each other), when no row is kept (the message names
    ``source``), or when the kept rows mix datasets.
    """
    shown = matching(table, **choices)
    counts = Counter(tuple(item.get(field) for field in key) for item in shown)
    duplicated = sorted((k for k, n in counts.items() if n > 1), key=lambda k: tuple(map(_sort_key, k)))
    if duplicated:
        raise InvalidInput(
            f"several settings for {duplicated} in {source}: give a results table or runs folder with "
            "one setting each"
        )
    if not shown:
        raise InvalidInput(f"no finished run of this grid in {source}: train it first")
    mixed = sorted({item.get("dataset") for item in shown}, key=_sort_key)
    if len(mixed) > 1:
        raise InvalidInput(f"the rows mix datasets {mixed}: results on different data cannot share a figure")
    return shown


def training_budget(rows: Iterable[Mapping[str, Any]]) -> str:
    """The training budgets of ``rows`` for a figure's note, e.g. "100 epoch(s)" or "1 epoch(s) of 60
    steps"; several are joined by "; "."""
    budgets = sorted({(item["epochs"], item["steps_per_epoch"]) for item in rows}, key=str)
    return "; ".join(f"{e} epoch(s)" + (f" of {s} steps" if s else "") for e, s in budgets)


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """``columns`` of ``rows`` as aligned text (floats with up to 4 significant decimals)."""
    cells = [[_cell(item.get(column)) for column in columns] for item in rows]
    widths = [max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)]
    lines = [columns, *cells]
    return "\n".join(
        "  ".join(text.ljust(w) for text, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)
