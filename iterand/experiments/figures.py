"""What the figure notebooks call to get their data: train (or only read) a figure's runs, aggregate them.

``train_or_read`` trains a ``sweeps.subset`` of a sweep (some of its models, methods and inits) on a
grid of the figure's choosing, or only reads, and returns the aggregated results table the figure is
drawn from (``iterand.experiments.results``). ``x_value`` places an aggregated row on one of the
``X_AXES`` of Fig. 2: the number of parameters, or the model's size in bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from iterand.experiments import launcher, results, sweeps
from iterand.experiments.sweeps import Sweep

# Fig. 2's x-axes and their labels.
X_AXES = {
    "parameters": "number of parameters (conv + linear weights of the architecture)",
    "bytes": "model size in bytes (compact file; dense SGD: float32 weights and BatchNorm)",
}

__all__ = ["X_AXES", "train_or_read", "x_value"]


def x_value(row: Mapping[str, Any], x_axis: str) -> float | None:
    """Where an aggregated results row sits on the x-axis ``x_axis`` (one of ``X_AXES``).

    "parameters": ``weights_total``. "bytes": what storing the model takes, the comparison of parameter
    efficiency in the strong-lottery-ticket literature: the mean compact file size over seeds for a
    subnetwork method, the float32 size for the dense SGD baseline; None when the row has no size
    (runs trained before compact files existed).
    """
    if x_axis not in X_AXES:
        raise ValueError(f"x_axis must be one of {', '.join(repr(a) for a in X_AXES)}, got {x_axis!r}")
    if x_axis == "parameters":
        return row["weights_total"]
    return row.get("dense_float32_bytes" if row["method"] == "sgd" else "compact_bytes_mean")


def train_or_read(
    mode: str,
    sweep: Sweep | str,
    runs_dir: str | Path,
    table: str | Path,
    *,
    results_table: str | Path | None = None,
    models: Collection[str] | None = None,
    methods: Collection[str] | None = None,
    inits: Collection[str] | None = None,
    grid: Mapping[str, Sequence] | None = None,
    overrides: Mapping[str, Any] | None = None,
    data_root: str | Callable[[], str] | None = None,
) -> Path:
    """The aggregated results table (``iterand.experiments.results``) a figure of ``sweep`` is drawn from.

    ``mode="train"`` first trains ``subset(sweep, models=..., methods=..., inits=...)`` on ``grid`` (see
    ``runs``) into ``runs_dir``, with ``overrides`` (field -> value, as ``--set``) on every run: finished
    runs are skipped, interrupted ones resume. ``mode="read"`` trains nothing. Then the table is
    ``results_table`` if given, else the finished runs under ``runs_dir``, aggregated over seeds and
    written to ``table`` (with the runs and the published numbers beside it, ``results.write_results``).

    ``data_root`` may be a function giving it: called only when training, so that a default data source
    is chosen, and announced, only when some data is used.
    """
    if mode not in ("train", "read"):
        raise ValueError(f"mode must be 'train' or 'read', got {mode!r}")
    if mode == "train":
        launcher.run(
            sweeps.subset(sweep, models=models, methods=methods, inits=inits),
            runs_dir,
            overrides=[f"{key}={value}" for key, value in (overrides or {}).items()],
            grid=grid,
            data_root=data_root() if callable(data_root) else data_root,
        )
    if results_table is not None:
        return Path(results_table)
    if not Path(runs_dir).is_dir():
        raise FileNotFoundError(
            f"no runs folder {runs_dir}: train the grid first (mode 'train') or give results_table"
        )
    return results.write_results(results.collect(runs_dir), table)["aggregated"]
