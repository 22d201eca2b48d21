"""Every file name inside a training run directory, and how each file is written.

A run directory ``<out>/<run_name(config)>/`` (default ``<out>`` = ``runs/train``, below
``repro.paths.runs_root()``) holds:

- ``config.yaml``: the full ``TrainConfig``, written when the run starts;
- ``metrics.jsonl``: one JSON object per finished epoch (0-based ``epoch``), appended;
- ``checkpoint.pt``: everything needed to continue the run exactly, rewritten after every epoch;
- ``best.pt``: the model of the epoch with the best validation accuracy so far;
- ``summary.json``: final accuracies, weight counts, throughput and provenance, written at the end;
- ``train.log``: the run's log when a sweep (``iterand.sweeps``) trains it, appended on every attempt.

Whole-file writes are atomic (temporary file in the same folder, fsync, ``os.replace``), so a kill leaves
the previous version or the new one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro import paths

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
LOG_FILE = "train.log"
TRAIN_RUNS = "train"
CHECKPOINT_CHOICES = ("last", "best")

__all__ = [
    "CHECKPOINT_CHOICES",
    "RunFiles",
    "append_metrics",
    "atomic_path",
    "default_out",
    "read_json",
    "read_metrics",
    "truncate_metrics",
    "write_json",
]


def default_out() -> Path:
    """Where ``python -m iterand train`` puts run directories unless ``--out`` says otherwise."""
    return paths.runs_root() / TRAIN_RUNS


@dataclass(frozen=True)
class RunFiles:
    """The paths of one run directory ``root``."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def metrics(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def summary(self) -> Path:
        return self.root / SUMMARY_FILE

    @property
    def checkpoint(self) -> Path:
        return self.root / CHECKPOINT_FILE

    @property
    def best(self) -> Path:
        return self.root / BEST_FILE

    @property
    def log(self) -> Path:
        return self.root / LOG_FILE

    def model_checkpoint(self, which: str) -> Path:
        """``checkpoint.pt`` for "last" (the last finished epoch), ``best.pt`` for "best"."""
        if which not in CHECKPOINT_CHOICES:
            raise ValueError(f"checkpoint must be one of {', '.join(CHECKPOINT_CHOICES)}, got {which!r}")
        return self.checkpoint if which == "last" else self.best


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; on success it is synced and moved onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the data must be on disk before the rename makes it the file
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, record: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    """Append one epoch's record as a line of JSON."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Every complete record of ``metrics.jsonl`` (none if it does not exist)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def truncate_metrics(path: Path, epochs_done: int) -> None:
    """Keep only the records of epochs ``< epochs_done``: those a resumed run will not write again.

    A kill between the metrics line and the checkpoint of an epoch, or in the middle of writing a line,
    would otherwise leave a duplicate or torn record.
    """
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a kill; its epoch is trained again
        if record.get("epoch", epochs_done) < epochs_done:
            kept.append(json.dumps(record) + "\n")
    with atomic_path(path) as tmp:
        tmp.write_text("".join(kept))
