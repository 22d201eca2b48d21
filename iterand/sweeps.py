"""The paper's experiment grids as named sweeps, and a runner that can be split across GPUs and machines.

A sweep is a family of presets (``iterand.presets``) times a grid of field values; ``runs`` expands it
into ``TrainConfig`` s in a fixed order: presets in the order given, then the grid's Cartesian product
with the LAST field varying fastest (``fig2-conv6``: preset, width, seed). Configs with the same
``run_name`` (the same experiment) appear once.

Named sweeps (spec section 5; 100 CIFAR-10 epochs, or 105 ImageNet epochs, per run):

- ``fig1``: ``fig1-{conv6,resnet18,resnet34}-ku-iterand`` x r in {0, 0.01, 0.1, 1} x seeds 1, 2, 3
  (36 runs). The paper plots the mean over seeds like Fig. 2, so the same seeds; r = 0 is edge-popup.
- ``fig2-conv6``, ``fig2-resnet18``, ``fig2-resnet34``: edge-popup and IteRand under KU and SC, and the
  dense SGD baseline (5 presets) x width in {0.25, 0.5, 1, 2} x seeds 1, 2, 3 (60 runs each). The SGD
  baselines are swept over width as well: Fig. 2 plots accuracy against parameter count for all three.
- ``fig2``: the union of the three (180 runs).
- ``fig3``: the ImageNet presets (8), seed 1 only, width 1.

Splitting: ``shard(items, k, n)`` (``--shard K/N``, K from 1 to N) keeps every n-th run starting at the
k-th, so the shards are disjoint, cover the sweep, do not depend on which runs already finished, and
each gets a similar mix of cheap and expensive runs. Each shard is an independent process: one per GPU
(``CUDA_VISIBLE_DEVICES``), one per Slurm array task (``scripts/slurm_sweep.sh``), or any mix, all
writing into the same ``out`` folder without coordinating (no two shards share a run directory).

Figures: ``train_or_read`` trains a ``subset`` of a sweep (some of its models, methods and inits) on a
grid of the figure's choosing, or only reads, and returns the aggregated results table the figure is
drawn from (``iterand.results``).

Running: a run whose ``summary.json`` exists is skipped; one with a checkpoint resumes from it
(``iterand.train.train``). ``concurrent=1`` trains in this process; ``concurrent=N > 1`` runs N
``python -m iterand train --config FILE --out OUT`` processes at once (several small runs on one GPU).
CPU runs share the cores this process may use: at most one run per core, each with
``cores // runs`` threads (``cpu_plan``, announced by ``progress``).
Each run's log goes to ``train.log`` in its run directory. A failing run is reported with its log and
the sweep goes on.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import torch

from iterand import cpu_runtime, presets, results
from iterand.config import TrainConfig, apply_overrides, run_name, save_yaml
from iterand.init import canonical_init
from iterand.run_files import RunFiles
from iterand.train import train

SEEDS = (1, 2, 3)
WIDTHS = (0.25, 0.5, 1.0, 2.0)
R_VALUES = (0.0, 0.01, 0.1, 1.0)
FIG2_MODELS = ("conv6", "resnet18", "resnet34")
STATUSES = ("finished", "interrupted", "pending")
_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")

Status = Literal["finished", "interrupted", "pending"]
T = TypeVar("T")

__all__ = [
    "R_VALUES",
    "SEEDS",
    "STATUSES",
    "SWEEPS",
    "WIDTHS",
    "Sweep",
    "get",
    "parse_grid",
    "parse_shard",
    "run",
    "cpu_plan",
    "run_dir",
    "runs",
    "shard",
    "status",
    "subset",
    "train_or_read",
]


@dataclass(frozen=True)
class Sweep:
    """A family of presets, each run at every point of ``grid`` (field -> values)."""

    name: str
    presets: tuple[str, ...]
    grid: dict[str, tuple]
    description: str


@dataclass(frozen=True)
class _Planned:
    preset: str
    point: dict[str, Any]  # this run's value of every grid field
    config: TrainConfig


def _family(prefix: str) -> tuple[str, ...]:
    # Taken from the preset list, so a sweep cannot name a preset that does not exist.
    return tuple(name for name in presets.names() if name.startswith(prefix))


def _named_sweeps() -> dict[str, Sweep]:
    width_grid = {"width": WIDTHS, "seed": SEEDS}
    sweeps = [
        Sweep(
            "fig1",
            _family("fig1-"),
            {"r": R_VALUES, "seed": SEEDS},
            "Fig. 1: r sweep of IteRand (KU), Conv6 / ResNet-18 / ResNet-34 width 1, seeds 1-3",
        )
    ]
    for model in FIG2_MODELS:
        sweeps.append(
            Sweep(
                f"fig2-{model}",
                _family(f"fig2-{model}-"),
                width_grid,
                f"Fig. 2: {model} edge-popup / IteRand (KU, SC) and dense SGD, width 0.25-2, seeds 1-3",
            )
        )
    sweeps.append(
        Sweep(
            "fig2",
            tuple(name for model in FIG2_MODELS for name in _family(f"fig2-{model}-")),
            width_grid,
            "Fig. 2: the width sweeps of Conv6, ResNet-18 and ResNet-34 together",
        )
    )
    sweeps.append(
        Sweep(
            "fig3",
            _family("fig3-"),
            {"seed": (1,)},
            "Fig. 3: ImageNet ResNet-34/50/101 edge-popup / IteRand (SC), ResNet-18/34 SGD, seed 1",
        )
    )
    return {sweep.name: sweep for sweep in sweeps}


SWEEPS: dict[str, Sweep] = _named_sweeps()


def get(sweep: Sweep | str) -> Sweep:
    """``sweep`` itself, or the named sweep; an unknown name raises ``ValueError`` listing the known ones."""
    if isinstance(sweep, Sweep):
        return sweep
    if sweep not in SWEEPS:
        raise ValueError(f"unknown sweep {sweep!r}; allowed: {', '.join(SWEEPS)}")
    return SWEEPS[sweep]


def subset(
    sweep: Sweep | str,
    *,
    models: Collection[str] | None = None,
    methods: Collection[str] | None = None,
    inits: Collection[str] | None = None,
) -> Sweep:
    """The presets of ``sweep`` of the given models, methods and inits (None: any; inits by name or alias,
    "sc", "ku", ...), on the sweep's grid. ``inits`` never drops the dense "sgd" baseline, which always
    starts from KU.

    ``ValueError`` when a value given is not in any preset of the sweep (a misspelt model would otherwise
    just be missing from the figure) or when no preset is left.
    """
    sweep = get(sweep)
    configs = {name: presets.get(name) for name in sweep.presets}
    fields = {name: {"model": c.model, "method": c.method, "init": c.init} for name, c in configs.items()}
    wanted = {
        "model": models,
        "method": methods,
        "init": None if inits is None else [canonical_init(init, "inits") for init in inits],
    }
    for field, values in wanted.items():
        unknown = [value for value in values or () if value not in {f[field] for f in fields.values()}]
        if unknown:
            raise ValueError(
                f"no preset of sweep {sweep.name} has {field} {', '.join(map(repr, unknown))}; "
                f"its presets: {', '.join(sweep.presets)}"
            )

    def chosen(f: Mapping[str, str]) -> bool:
        return all(
            values is None or f[field] in values or (field == "init" and f["method"] == "sgd")
            for field, values in wanted.items()
        )

    kept = tuple(name for name, f in fields.items() if chosen(f))
    only = "; ".join(f"{field} in {list(values)}" for field, values in wanted.items() if values is not None)
    if not kept:
        raise ValueError(
            f"no preset of sweep {sweep.name} has {only}; its presets: {', '.join(sweep.presets)}"
        )
    return replace(
        sweep, name=f"{sweep.name} (subset)", presets=kept, description=f"{sweep.description}; {only}"
    )


def _plan(
    sweep: Sweep | str, overrides: Sequence[str] = (), grid: Mapping[str, Sequence] | None = None
) -> list[_Planned]:
    sweep = get(sweep)
    full_grid = {**sweep.grid, **(grid or {})}
    for field, values in full_grid.items():
        if len(values) == 0:
            raise ValueError(f"grid field {field!r} has no values")
    keys = (item.partition("=")[0].strip() for item in overrides)
    swept = [key for key in keys if key in full_grid]
    if swept:
        # Either choice would be silent: the override would collapse the grid, or the grid would ignore it.
        raise ValueError(
            f"{', '.join(repr(f) for f in swept)} is swept by {sweep.name} "
            f"({', '.join(f'{f}={list(full_grid[f])}' for f in swept)}); choose its values with "
            f"--grid {swept[0]}=v1,v2 instead of --set"
        )
    planned: dict[str, _Planned] = {}
    for preset in sweep.presets:
        base = apply_overrides(presets.get(preset), overrides)
        for values in itertools.product(*full_grid.values()):
            config = base.replace(**dict(zip(full_grid, values, strict=True)))
            point = {field: getattr(config, field) for field in full_grid}
            planned.setdefault(run_name(config), _Planned(preset, point, config))
    return list(planned.values())


def runs(
    sweep: Sweep | str, overrides: Sequence[str] = (), grid: Mapping[str, Sequence] | None = None
) -> list[TrainConfig]:
    """Every distinct run of ``sweep``, in the documented order.

    ``overrides`` (``"key=value"``, as ``--set``) apply to every run, e.g. ``epochs=1`` or ``data_root``;
    a swept field cannot be overridden (``ValueError``). ``grid`` replaces the values of the named fields
    or adds fields (values may be strings, parsed like ``--set``).
    """
    return [planned.config for planned in _plan(sweep, overrides, grid)]


def shard(items: Sequence[T], k: int, n: int) -> list[T]:
    """Shard ``k`` of ``n`` (``1 <= k <= n``): ``items[k-1], items[k-1+n], ...``."""
    valid = all(isinstance(x, int) and not isinstance(x, bool) for x in (k, n)) and 1 <= k <= n
    if not valid:
        raise ValueError(f"shard must be K/N with 1 <= K <= N (e.g. --shard 2/4), got {k}/{n}")
    return list(items[k - 1 :: n])


_select_shard = shard  # `run` has a parameter named `shard`, as the command line's --shard


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)``; anything else raises ``ValueError`` naming ``shard`` and the format."""
    match = _SHARD.fullmatch(text)
    if not match:
        raise ValueError(f"shard must look like K/N with 1 <= K <= N, e.g. --shard 2/4; got {text!r}")
    k, n = int(match[1]), int(match[2])
    _select_shard([], k, n)
    return k, n


def parse_grid(items: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``["width=0.25,0.5", "seed=1"]`` -> ``{"width": ("0.25", "0.5"), "seed": ("1",)}``."""
    grid: dict[str, tuple[str, ...]] = {}
    for item in items:
        field, sep, text = item.partition("=")
        values = tuple(value.strip() for value in text.split(",") if value.strip())
        if not sep or not field.strip() or not values:
            raise ValueError(
                f"--grid must look like key=v1,v2,... (e.g. --grid width=0.25,0.5), got {item!r}"
            )
        grid[field.strip()] = values
    return grid


def run_dir(config: TrainConfig, out: str | Path) -> Path:
    """The run directory of ``config`` below ``out`` (what ``python -m iterand train --out OUT`` uses)."""
    return Path(out) / run_name(config)


def status(config: TrainConfig, out: str | Path) -> Status:
    """The run's state below ``out``: "finished" (summary written), "interrupted" (a checkpoint to resume
    from) or "pending"."""
    files = RunFiles(run_dir(config, out))
    if files.summary.is_file():
        return "finished"
    if files.checkpoint.is_file():
        return "interrupted"
    return "pending"


def run(
    sweep: Sweep | str,
    out: str | Path,
    *,
    overrides: Sequence[str] = (),
    grid: Mapping[str, Sequence] | None = None,
    shard: tuple[int, int] = (1, 1),
    dry_run: bool = False,
    concurrent: int = 1,
    data_root: str | None = None,
    progress: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train the runs of shard ``shard`` = (K, N) of ``sweep`` that are not finished, into ``out``.

    ``data_root`` is applied before ``overrides``. Returns one record per run of the shard, in order:
    ``name``, ``dir``, ``status`` (before this call, one of ``STATUSES``), ``outcome`` ("planned" for a
    dry run, "skipped" when finished, "trained", "failed"), ``preset``, ``fields`` (the grid values),
    ``log`` and ``error`` (None unless failed). ``progress`` receives one line per event; a dry run
    gives one line per run: status, run directory, preset and grid values.
    """
    if isinstance(concurrent, bool) or not isinstance(concurrent, int) or concurrent < 1:
        raise ValueError(f"concurrent must be an integer >= 1, got {concurrent!r}")
    if data_root is not None:
        overrides = [f"data_root={data_root}", *overrides]
    out = Path(out)
    planned = _select_shard(_plan(sweep, overrides, grid), *shard)
    records = [_record(item, out) for item in planned]
    if dry_run:
        for record in records:
            progress(f"{record['status']:<11} {_describe(record)}")
        return records
    todo = []
    for item, record in zip(planned, records, strict=True):
        if record["status"] == "finished":
            record["outcome"] = "skipped"
            progress(f"skipped     {_describe(record)} (finished)")
        else:
            todo.append((item.config, record))
    if concurrent == 1:
        for config, record in todo:
            _train_here(config, record, progress)
    else:
        at_once, env = _concurrency(concurrent, [config for config, _ in todo], progress)
        with (
            tempfile.TemporaryDirectory(prefix="iterand-sweep-") as folder,
            ThreadPoolExecutor(at_once) as pool,
        ):
            jobs = [pool.submit(_train_subprocess, c, r, out, Path(folder), env, progress) for c, r in todo]
            for job in jobs:
                job.result()
    counts = {
        outcome: sum(r["outcome"] == outcome for r in records) for outcome in ("trained", "skipped", "failed")
    }
    progress(
        f"{get(sweep).name} shard {shard[0]}/{shard[1]}: {len(records)} runs, "
        + ", ".join(f"{count} {outcome}" for outcome, count in counts.items())
    )
    for record in records:
        if record["outcome"] == "failed":
            progress(f"FAILED {record['dir']}: {record['error']} (log: {record['log']})")
    return records


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
    """The aggregated results table (``iterand.results``) that a figure of ``sweep`` is drawn from.

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
        run(
            subset(sweep, models=models, methods=methods, inits=inits),
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


def _record(item: _Planned, out: Path) -> dict[str, Any]:
    directory = run_dir(item.config, out)
    return {
        "name": directory.name,
        "dir": str(directory),
        "status": status(item.config, out),
        "outcome": "planned",
        "preset": item.preset,
        "fields": dict(item.point),
        "log": str(RunFiles(directory).log),
        "error": None,
    }


def _describe(record: Mapping[str, Any]) -> str:
    fields = " ".join(
        f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
        for key, value in record["fields"].items()
    )
    return f"{record['dir']}  preset={record['preset']} {fields}"


def _starting(record: dict[str, Any], progress: Callable[[str], None]) -> None:
    verb = "resuming" if record["status"] == "interrupted" else "training"
    progress(f"{verb:<11} {_describe(record)}")


def _finished(record: dict[str, Any], error: str | None, progress: Callable[[str], None]) -> None:
    record["outcome"], record["error"] = ("failed", error) if error else ("trained", None)
    if error:
        progress(f"failed      {record['dir']}: {error} (log: {record['log']})")
    else:
        progress(f"finished    {record['dir']}")


@contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """The package's log records (INFO and up) also go to ``path`` while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("iterand")
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)
        handler.close()


def _train_here(config: TrainConfig, record: dict[str, Any], progress: Callable[[str], None]) -> None:
    _starting(record, progress)
    log = Path(record["log"])
    error = None
    with _log_to(log):
        try:
            train(config, record["dir"])
        except Exception as exc:  # noqa: BLE001 - one failing run must not stop the sweep
            error = f"{type(exc).__name__}: {exc}"
            with log.open("a") as f:
                traceback.print_exc(file=f)
    _finished(record, error, progress)


def cpu_plan(concurrent: int, cores: int) -> tuple[int, int]:
    """(runs at once, threads per run) for ``concurrent`` CPU runs on ``cores`` cores: at most one run per
    core, and the cores split evenly, so that runs x threads never exceeds the cores."""
    at_once = min(concurrent, cores)
    return at_once, cores // at_once


def _on_cpu(config: TrainConfig) -> bool:
    return config.device == "cpu" or (config.device == "auto" and not torch.cuda.is_available())


def _concurrency(
    concurrent: int, configs: Sequence[TrainConfig], progress: Callable[[str], None]
) -> tuple[int, dict[str, str] | None]:
    """Runs at once and the environment of their processes (None: this one's). CPU runs share the cores
    this process may use (``cpu_plan``); N processes each taking every core would fight over them."""
    if not configs or not all(_on_cpu(config) for config in configs):
        return concurrent, None
    cores = cpu_runtime.available_cores()
    at_once, threads = cpu_plan(concurrent, cores)
    lowered = f" (--concurrent {concurrent} lowered to the cores)" if at_once < concurrent else ""
    progress(
        f"CPU runs: {at_once} at a time x {threads} thread(s) = {at_once * threads} of {cores} available "
        f"cores{lowered}"
    )
    return at_once, {**os.environ, **cpu_runtime.thread_environment(threads)}


def _train_subprocess(
    config: TrainConfig,
    record: dict[str, Any],
    out: Path,
    folder: Path,
    env: dict[str, str] | None,
    progress: Callable[[str], None],
) -> None:
    _starting(record, progress)
    config_file = folder / f"{record['name']}.yaml"
    save_yaml(config, config_file)
    log = Path(record["log"])
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "iterand", "train", "--config", str(config_file), "--out", str(out)]
    with log.open("a") as f:
        code = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, env=env, check=False).returncode
    error = None
    if code != 0:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        error = f"exit status {code}" + (f": {lines[-1].strip()}" if lines else "")
    _finished(record, error, progress)
