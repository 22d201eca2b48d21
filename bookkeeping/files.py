"""How result files are written and read: atomic whole-file writes, JSON, and JSON-lines metrics.

Whole-file writes are atomic (temporary file in the same folder, fsync, ``os.replace``), so a kill leaves
the previous version or the new one. Which file goes where is ``bookkeeping.paths``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["append_metrics", "atomic_path", "read_json", "read_metrics", "truncate_metrics", "write_json"]


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


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically; numpy values go through their Python equivalents."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")
    return path


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


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


def _jsonable(value: Any) -> Any:
    # numpy scalars and arrays reach JSON through their Python equivalents; anything else as its text
    return value.tolist() if hasattr(value, "tolist") else str(value)
