"""What the figure notebooks call to get their data: train (or only read) a figure's runs, aggregate them,
and pick the rows the figure shows.

``train_or_read`` trains a ``sweeps.subset`` of a sweep (some of its models, methods and inits) on a
grid of the figure's choosing, or only reads, and returns the aggregated results table the figure is
drawn from (``iterand.experiments.results``). ``rows`` does that for one of the paper's figures from the
figure notebook's parameters and returns the table's rows of that figure (``results.select``);
``seed_rows`` returns the same figure's rows per seed and per epoch, from the tables written beside it
(``-runs.csv`` and ``-epochs.csv``, ``results.companion_table``), for the comparisons over seeds
(``iterand.experiments.comparison``, ``iterand.experiments.curves``).
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bookkeeping.errors import InvalidInput, UserError
from bookkeeping.paths import RunFiles
from bookkeeping.validation import is_real
from iterand.engine.config import run_name
from iterand.engine.data import default_cifar_source
from iterand.experiments import launcher, planning, results, sweeps
from iterand.experiments.results import companion_table
from iterand.experiments.sweeps import Sweep

__all__ = ["FIGURES", "rows", "seed_rows", "train_or_read"]


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
    concurrent: int = 1,
) -> Path:
    """The aggregated results table (``iterand.experiments.results``) a figure of ``sweep`` is drawn from.

    ``mode="train"`` first trains ``subset(sweep, models=..., methods=..., inits=...)`` on ``grid`` (see
    ``runs``) into ``runs_dir``, with ``overrides`` (field -> value, as ``--set``) on every run: finished runs
    are skipped, interrupted ones resume, and a failed one is a ``UserError`` once the others are done, as is
    one that another process holds, or that was stopped alone, and has not finished (the figure would
    quietly lack it).
    ``mode="read"`` trains nothing. Then the table is ``results_table`` if given, else the finished runs of
    that grid under ``runs_dir`` (the run directories its subset, ``grid`` and ``overrides`` name, in either
    mode: a folder that other grids share, or that holds runs of other settings, gives only these),
    aggregated over seeds and written to ``table`` with the runs, the published numbers and every epoch of
    every run beside it (``results.write_results``, the tables ``python -m iterand results`` writes); a run
    found in several directories is counted once, with a warning naming them.
    ``concurrent``: training processes at once (``launcher.run``; CPU runs split the cores between them).

    ``data_root`` may be a function giving it: called only when training, so that a default data source
    is chosen, and announced, only when some data is used.
    """
    if mode not in ("train", "read"):
        raise InvalidInput(f"mode must be 'train' or 'read', got {mode!r}")
    chosen = sweeps.subset(sweep, models=models, methods=methods, inits=inits)
    settings = [f"{key}={value}" for key, value in (overrides or {}).items()]
    if mode == "train":
        records = launcher.run(
            chosen,
            runs_dir,
            overrides=settings,
            grid=grid,
            data_root=data_root() if callable(data_root) else data_root,
            concurrent=concurrent,
        )
        _refuse_failed_runs(records, runs_dir)
        _refuse_unfinished_runs(records)
    if results_table is not None:
        if not Path(results_table).is_file():
            raise InvalidInput(
                f"no results table {results_table} (from {Path.cwd()}): give the path of an aggregated "
                "results CSV, or run from the folder it is relative to"
            )
        _refuse_unaggregated(Path(results_table))
        return Path(results_table)
    if not Path(runs_dir).is_dir():
        raise InvalidInput(
            f"no runs folder {runs_dir}: train the grid first (mode 'train'), give results_table, or set "
            "runs_dir to the folder holding the runs"
        )
    names = {run_name(item.config) for item in planning.plan(chosen, settings, grid)}
    rows = results.collect(runs_dir, names)
    for line in results.duplicate_warnings(rows):
        warnings.warn(line, stacklevel=2)
    return results.write_results(rows, table)["aggregated"]


def _refuse_unaggregated(table: Path) -> None:
    """Refuse a ``results_table`` that is not an aggregated table in one line naming what it lacks; a figure
    stopped later on a KeyError, or took a per-run table for several settings of one point."""
    with open(table, newline="") as f:
        header = next(csv.reader(f), [])
    missing = [column for column in _AGGREGATED_COLUMNS if column not in header]
    if missing:
        per_run = (
            ": it is a per-run table (one row per run); give the aggregated one beside it (no -runs)"
            if "run_name" in header
            else ""
        )
        raise InvalidInput(
            f"results_table {table} has no column {', '.join(missing)}{per_run}; python -m iterand results "
            "writes the aggregated table a figure reads"
        )


def _refuse_failed_runs(records: Sequence[Mapping[str, Any]], runs_dir: str | Path) -> None:
    """A figure drawn after some of its runs failed would quietly miss them (and after all of them, only
    say that nothing was trained): the error names the first failure and its log instead."""
    failed = [record for record in records if record["outcome"] == "failed"]
    if failed:
        first = failed[0]
        raise UserError(
            f"{len(failed)} of {len(records)} runs of the grid failed; the first: {first['dir']}: "
            f"{first['error']} (log: {first['log']}). Fix the cause and run again (finished runs are kept), "
            f"or draw what finished with mode 'read' and runs_dir {runs_dir}"
        )


def _refuse_unfinished_runs(records: Sequence[Mapping[str, Any]]) -> None:
    """A run skipped because another process held it (another sweep, a ``train`` by hand) is drawn if
    that process has finished it by now, and so is none that was stopped alone (its process got a signal
    of its own); either would be missing from the figure without a word, so the error names it instead."""
    unfinished = [
        record
        for record in records
        if record["outcome"] in ("skipped", "interrupted")
        and not RunFiles(Path(record["dir"])).summary.is_file()
    ]
    if unfinished:
        first = unfinished[0]
        why = (
            "is held by another process: run this again once that process has ended"
            if first["outcome"] == "skipped"
            else "was stopped before it finished: run this again to resume it"
        )
        raise UserError(
            f"{len(unfinished)} of {len(records)} runs of the grid are not finished, the first: "
            f"{first['dir']}, which {why} (finished runs are kept)"
        )


@dataclass(frozen=True)
class Grid:
    """A figure's runs and rows, as ``rows`` reads them from the notebook's parameters.

    ``subset``: the parameters that pick presets of ``sweep`` (``sweeps.subset``); ``swept``: field ->
    parameter holding its values (with ``seed`` <- ``seeds``); ``fixed``: field -> parameter holding its
    one value, set on every run and required of every row; ``key``: the columns that identify a point;
    ``select``: further ``results.select`` filters, fixed by the figure.
    """

    sweep: str
    subset: tuple[str, ...]
    swept: dict[str, str]
    fixed: dict[str, str]
    key: tuple[str, ...]
    select: dict[str, Any] = field(default_factory=dict)
    cifar: bool = True


FIGURES = {
    "fig1": Grid(
        "fig1", ("models",), {"r": "r_values"}, {"width": "width"}, ("model", "r"), {"methods": ["iterand"]}
    ),
    "fig2": Grid(
        "fig2", ("models", "methods", "inits"), {"width": "widths"}, {}, ("model", "width", "method", "init")
    ),
    "fig3": Grid(
        "fig3",
        ("models", "methods"),
        {},
        {"width": "width"},
        ("model", "method"),
        {"datasets": ["imagenet", "synthetic"]},
        cifar=False,
    ),
}
# results.select's filter of each swept or fixed field.
_FILTERS = {"width": "widths", "r": "r_values"}
# What a figure reads from every row of an aggregated results table, whatever its figure.
_AGGREGATED_COLUMNS = ("model", "method", "test_acc_last_mean")
# The table column of each subset parameter whose values every row must cover (the dense baseline's init
# is always "ku", so inits are not checked).
_SUBSET_FIELDS = {"models": "model", "methods": "method"}


def rows(figure: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The aggregated rows that figure ``figure`` (``FIGURES``) shows: its runs of the chosen seeds only.

    ``parameters`` are the figure notebook's (a notebook passes ``globals()``): ``mode``, ``out_dir``,
    ``runs_dir`` (None: ``<out_dir>/runs``; ``python -m repro`` names one folder that every parameter set of
    the notebook shares, ``bookkeeping.paths.notebook_runs_dir``), ``results_table``, ``seeds``, ``epochs``,
    ``steps_per_epoch``, ``overrides`` (further fields of every run), ``data_root`` (None: for CIFAR-10,
    ``default_cifar_source()``, chosen only when training), ``concurrent`` (optional, default 1: training
    processes at once) and the figure's own (``Grid``). The runs are
    ``train_or_read`` of the sweep's subset on the swept values and seeds, with the fixed values and the
    training budget set on every run; the table is written to ``<out_dir>/results.csv``. The rows
    aggregate the per-run table beside it (``companion_table``) over the chosen ``seeds``, and are those of
    that budget and of the chosen values (``results.select``, which refuses two settings of one point). A
    chosen value without a row, or a row missing some of the seeds, is named in a warning, and so is a row
    whose mean is not a number (a table edited by hand), which is left out.
    """
    grid = FIGURES[figure]
    out_dir = Path(parameters["out_dir"])
    runs_dir = out_dir / "runs" if parameters["runs_dir"] is None else parameters["runs_dir"]
    data_root = parameters["data_root"]
    table = train_or_read(
        parameters["mode"],
        grid.sweep,
        runs_dir,
        _written_table(parameters),
        results_table=parameters["results_table"],
        grid={**{name: parameters[value] for name, value in grid.swept.items()}, "seed": parameters["seeds"]},
        overrides={**_fixed(grid, parameters), **_budget(parameters), **parameters["overrides"]},
        data_root=default_cifar_source if data_root is None and grid.cifar else data_root,
        concurrent=parameters.get("concurrent", 1),
        **{name: parameters[name] for name in grid.subset},
    )
    source = parameters["results_table"] or f"the runs folder {runs_dir}"
    shown = results.select(
        _over_seeds(table, parameters["seeds"]), grid.key, source=source, **_filters(grid, parameters)
    )
    for line in _missing(grid, parameters, shown):
        warnings.warn(line, stacklevel=2)
    drawn = [item for item in shown if is_real(item["test_acc_last_mean"])]
    if not drawn:
        raise InvalidInput(f"no row of {source} has a number as its test_acc_last_mean: nothing to draw")
    return drawn


def seed_rows(figure: str, parameters: Mapping[str, Any]) -> tuple[list[dict], list[dict]]:
    """(runs, epochs): the rows of figure ``figure`` per run and per run and epoch, read from the tables
    beside the one ``rows`` read (``companion_table``), with the same choices of ``parameters``; only
    the seeds in ``seeds``, and a run found in several directories once (``results.counted``, as in the
    means). Call it after ``rows``, which trains and writes them, and refuses two settings of one point.
    An aggregated table given alone (its companions not beside it) has no runs and no epochs to give: a
    warning names the missing table, and the rows it would have given are empty."""
    grid = FIGURES[figure]
    # The table rows read (train_or_read's rule): the given results_table, else the one rows wrote.
    table = parameters["results_table"] or _written_table(parameters)
    if _alone(table, "runs", "the seed-by-seed figure and the paired differences"):
        return [], []
    runs = results.counted(
        results.matching(_runs_of_seeds(table, parameters["seeds"]), **_filters(grid, parameters))
    )
    if _alone(table, "epochs", "the per-epoch curves"):
        return runs, []
    names = {item["run_name"] for item in runs}
    epochs = [
        item for item in results.read_table(companion_table(table, "epochs")) if item["run_name"] in names
    ]
    return runs, epochs


def _alone(table: str | Path, kind: str, left_out: str) -> bool:
    """Whether the ``kind`` table beside ``table`` is missing, warning of what that leaves out."""
    companion = companion_table(table, kind)
    if companion.is_file():
        return False
    warnings.warn(
        f"no {companion} beside {table} (python -m iterand results writes both): {left_out} are left out",
        stacklevel=3,
    )
    return True


def _over_seeds(table: Path, seeds: Collection[int]) -> list[dict[str, Any]]:
    """``table``'s rows aggregated over ``seeds`` only: a figure averages its chosen seeds, never every seed
    a runs folder happens to hold. That needs the per-run table beside it; an aggregated table given
    alone is read as it is (``_missing`` names its rows of other seeds)."""
    if not companion_table(table, "runs").is_file():
        return results.read_table(table)
    return results.aggregate(_runs_of_seeds(table, seeds))


def _runs_of_seeds(table: str | Path, seeds: Collection[int]) -> list[dict[str, Any]]:
    """The rows of the per-run table beside ``table`` (``companion_table``) whose seed is in ``seeds``."""
    return [item for item in results.read_table(companion_table(table, "runs")) if item["seed"] in seeds]


def _missing(grid: Grid, parameters: Mapping[str, Any], shown: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per chosen value with no row, per row whose seeds are not the chosen ones, and per row whose
    mean is not a number."""
    chosen = {name: parameters[value] for name, value in grid.swept.items()}
    chosen.update({field: parameters[name] for name, field in _SUBSET_FIELDS.items() if name in grid.subset})
    lines = [
        f"no finished run for {field} {value!r} at this budget: the figure leaves it out"
        for field, values in chosen.items()
        if values is not None
        for value in values
        if value not in {item[field] for item in shown}
    ]
    wanted = sorted(parameters["seeds"])
    for item in shown:
        point = ", ".join(f"{field} {item[field]}" for field in grid.key)
        found = sorted(int(seed) for seed in str(item.get("seeds") or "").split())
        if found and found != wanted:
            lines.append(f"{point}: the mean is over seeds {found}, not the chosen {wanted}")
        if not is_real(item["test_acc_last_mean"]):  # a table edited by hand
            mean = item["test_acc_last_mean"]
            lines.append(f"{point}: test_acc_last_mean is {mean}, not a number: the figure has no point here")
    return lines


def _written_table(parameters: Mapping[str, Any]) -> Path:
    return Path(parameters["out_dir"]) / results.RESULTS_TABLE


def _budget(parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {"epochs": parameters["epochs"], "steps_per_epoch": parameters["steps_per_epoch"]}


def _fixed(grid: Grid, parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {name: parameters[value] for name, value in grid.fixed.items()}


def _filters(grid: Grid, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The ``results.matching`` choices of a figure's rows: its budget and chosen values."""
    return {
        **_budget(parameters),
        **{name: parameters[name] for name in grid.subset},
        **{_FILTERS[name]: parameters[value] for name, value in grid.swept.items()},
        **{_FILTERS[name]: [value] for name, value in _fixed(grid, parameters).items()},
        **grid.select,
    }
