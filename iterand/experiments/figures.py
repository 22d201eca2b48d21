"""What the figure notebooks call to get their data: train (or only read) a figure's runs, aggregate them.

``train_or_read`` trains a ``sweeps.subset`` of a sweep (some of its models, methods and inits) on a
grid of the figure's choosing, or only reads, and returns the aggregated results table the figure is
drawn from (``iterand.experiments.results``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from bookkeeping.errors import InvalidInput
from iterand.experiments import launcher, results, sweeps
from iterand.experiments.sweeps import Sweep

__all__ = ["train_or_read"]


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
    written to ``table`` (with the runs and the published numbers beside it, ``results.write_results``);
    a run found in several directories is counted once, with a warning naming them.

    ``data_root`` may be a function giving it: called only when training, so that a default data source
    is chosen, and announced, only when some data is used.
    """
    if mode not in ("train", "read"):
        raise InvalidInput(f"mode must be 'train' or 'read', got {mode!r}")
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
    rows = results.collect(runs_dir)
    for line in results.duplicate_warnings(rows):
        warnings.warn(line, stacklevel=2)
    return results.write_results(rows, table)["aggregated"]
