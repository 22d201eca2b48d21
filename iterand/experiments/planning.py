"""A sweep's runs in a fixed order, their shards, and their state in an output folder.

``runs`` expands a sweep (``iterand.experiments.sweeps``) into ``TrainConfig`` s in a fixed order: presets in
the order given, then the grid's Cartesian product with the LAST field varying fastest (``fig2-conv6``:
preset, width, seed). Configs with the same ``run_name`` (the same experiment) appear once. A field that a
run's method ignores (``iterand.core.names.ignored_fields``, say ``period`` for edge-popup) keeps its
preset value in that run whatever ``--set`` or ``--grid`` give it: otherwise the same computation would get
another run name, be trained again and be counted twice.

Splitting: ``shard(items, k, n)`` (``--shard K/N``, K from 1 to N) keeps every n-th run starting at the
k-th, so the shards are disjoint, cover the sweep, do not depend on which runs already finished, and
each gets a similar mix of cheap and expensive runs. Each shard is an independent process: one per GPU
(``CUDA_VISIBLE_DEVICES``), one per Slurm array task (``scripts/slurm_sweep.sh``), or any mix, all
writing into the same ``out`` folder without coordinating (no two shards share a run directory).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from bookkeeping import locks
from bookkeeping.errors import InvalidInput
from bookkeeping.paths import RunFiles
from iterand.core.names import ignored_fields
from iterand.engine.config import TrainConfig, apply_overrides, check_trainable, run_name
from iterand.experiments import presets, sweeps
from iterand.experiments.sweeps import Sweep

STATUSES = ("finished", "running", "interrupted", "pending")
_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")

Status = Literal["finished", "running", "interrupted", "pending"]
T = TypeVar("T")

__all__ = [
    "STATUSES",
    "Planned",
    "check_runnable",
    "parse_grid",
    "parse_shard",
    "plan",
    "run_dir",
    "runs",
    "shard",
    "status",
]


@dataclass(frozen=True)
class Planned:
    """One run of a sweep: its preset, its values of the grid fields, its config."""

    preset: str
    point: dict[str, Any]  # this run's value of every grid field
    config: TrainConfig
    kept: tuple[str, ...] = ()  # fields given by --set or --grid that keep the preset's value (ignored)


def plan(
    sweep: Sweep | str, overrides: Sequence[str] = (), grid: Mapping[str, Sequence] | None = None
) -> list[Planned]:
    sweep = sweeps.get(sweep)
    full_grid = {**sweep.grid, **(grid or {})}
    for field, values in full_grid.items():
        if len(values) == 0:
            raise InvalidInput(f"grid field {field!r} has no values")
    keys = (item.partition("=")[0].strip() for item in overrides)
    swept = [key for key in keys if key in full_grid]
    if swept:
        # Either choice would be silent: the override would collapse the grid, or the grid would ignore it.
        raise InvalidInput(
            f"{', '.join(repr(f) for f in swept)} is swept by {sweep.name} "
            f"({', '.join(f'{f}={list(full_grid[f])}' for f in swept)}); choose its values with "
            f"--grid {swept[0]}=v1,v2 instead of --set"
        )
    planned: dict[str, Planned] = {}
    for preset in sweep.presets:
        original = presets.get(preset)
        base = apply_overrides(original, overrides)
        for values in itertools.product(*full_grid.values()):
            config = base.replace(**dict(zip(full_grid, values, strict=True)))
            ignored = ignored_fields(config.method)
            kept = tuple(f for f in ignored if getattr(config, f) != getattr(original, f))
            config = config.replace(**{field: getattr(original, field) for field in kept})
            point = {field: getattr(config, field) for field in full_grid}
            planned.setdefault(run_name(config), Planned(preset, point, config, kept))
    return list(planned.values())


def runs(
    sweep: Sweep | str, overrides: Sequence[str] = (), grid: Mapping[str, Sequence] | None = None
) -> list[TrainConfig]:
    """Every distinct run of ``sweep``, in the documented order.

    ``overrides`` (``"key=value"``, as ``--set``) apply to every run, e.g. ``epochs=1`` or ``data_root``;
    a swept field cannot be overridden (``ValueError``). ``grid`` replaces the values of the named fields
    or adds fields (values may be strings, parsed like ``--set``).
    """
    return [planned.config for planned in plan(sweep, overrides, grid)]


def shard(items: Sequence[T], k: int, n: int) -> list[T]:
    """Shard ``k`` of ``n`` (``1 <= k <= n``): ``items[k-1], items[k-1+n], ...``."""
    valid = all(isinstance(x, int) and not isinstance(x, bool) for x in (k, n)) and 1 <= k <= n
    if not valid:
        raise InvalidInput(f"shard must be K/N with 1 <= K <= N (e.g. --shard 2/4), got {k}/{n}")
    return list(items[k - 1 :: n])


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)``; anything else raises ``ValueError`` naming ``shard`` and the format."""
    match = _SHARD.fullmatch(text)
    if not match:
        raise InvalidInput(f"shard must look like K/N with 1 <= K <= N, e.g. --shard 2/4; got {text!r}")
    k, n = int(match[1]), int(match[2])
    shard([], k, n)
    return k, n


def parse_grid(items: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``["width=0.25,0.5", "seed=1"]`` -> ``{"width": ("0.25", "0.5"), "seed": ("1",)}``."""
    grid: dict[str, tuple[str, ...]] = {}
    for item in items:
        field, sep, text = item.partition("=")
        values = tuple(value.strip() for value in text.split(",") if value.strip())
        if not sep or not field.strip() or not values:
            raise InvalidInput(
                f"--grid must look like key=v1,v2,... (e.g. --grid width=0.25,0.5), got {item!r}"
            )
        grid[field.strip()] = values
    return grid


def run_dir(config: TrainConfig, out: str | Path) -> Path:
    """The run directory of ``config`` below ``out`` (what ``python -m iterand train --out OUT`` uses)."""
    return Path(out) / run_name(config)


def status(config: TrainConfig, out: str | Path) -> Status:
    """The run's state below ``out``: "finished" (summary written), "running" (another process holds its
    directory, ``bookkeeping.locks``), "interrupted" (a checkpoint to resume from) or "pending"."""
    files = RunFiles(run_dir(config, out))
    if files.summary.is_file():
        return "finished"
    if locks.holder(files.lock) is not None:
        return "running"
    if files.checkpoint.is_file():
        return "interrupted"
    return "pending"


def check_runnable(configs: Iterable[TrainConfig]) -> None:
    """Raise, before any of ``configs`` starts, the ``UserError`` that ``train`` would stop each run with at
    its start: a configuration that trains something other than it names (``check_trainable``), a device
    this machine lacks, missing or damaged data, TensorBoard asked for but not installed. ``train``'s own
    checks, once per distinct setting: a sweep then ends with one line instead of one failure per run.
    CIFAR-10 is found, downloaded if it is nowhere, and decoded into the cache here, as the first run
    would do; the runs then read the cache."""
    # Imported on use: planning a sweep or listing it (--dry-run) loads no data stack.
    from iterand.engine.data import prepare

    configs = list(configs)
    check_settings(configs)
    for config in {(config.dataset, config.data_root): config for config in configs}.values():
        prepare(config)


def check_settings(configs: Iterable[TrainConfig]) -> None:
    """The checks of ``check_runnable`` that read no data (what a dry run can afford to check): the
    configurations themselves, the device, TensorBoard."""
    # Imported on use: planning a sweep loads no torch.
    from iterand.engine.distributed import resolve_device
    from iterand.engine.tensorboard_log import require_tensorboard

    configs = list(configs)
    for config in configs:
        check_trainable(config)
    for device in dict.fromkeys(config.device for config in configs):
        resolve_device(device)
    if any(config.tensorboard for config in configs):
        require_tensorboard()
