"""How result files are written and read: atomic whole-file writes, JSON, YAML, and JSON-lines metrics.

Whole-file writes are atomic (temporary file in the same folder, fsync, ``os.replace``), so a kill leaves
the previous version or the new one. Which file goes where is ``bookkeeping.paths``. Output locations a
user gives are checked before any work starts (``writable_folder``, ``writable_file``), so that a typo or
a read-only disk is one line at once, not a traceback at the end of a computation.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from bookkeeping.errors import InvalidInput, UserError

__all__ = [
    "append_metrics",
    "atomic_name",
    "atomic_path",
    "cannot_write",
    "file_in_the_way",
    "read_json",
    "read_metrics",
    "read_yaml",
    "truncate_metrics",
    "writable_file",
    "writable_folder",
    "write_json",
]


def atomic_name(name: str) -> str:
    """The name of the temporary file ``atomic_path`` writes for a file named ``name`` (a kill leaves it)."""
    return f".{name}.tmp"


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; on success it is synced and moved onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(atomic_name(path.name))
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


def cannot_write(what: str, path: Path, error: OSError) -> str:
    """One line for a write of ``path`` the disk refused (full, read-only, gone): ``cannot write WHAT
    PATH: REASON (ENAME)``, the errno's name being what a user searches for."""
    reason = error.strerror or str(error)
    if error.errno in errno.errorcode:
        reason += f" ({errno.errorcode[error.errno]})"
    return f"cannot write {what} {path}: {reason}"


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically; numpy values go through their Python equivalents."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")
    return path


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


class _Loader(yaml.SafeLoader):
    """YAML 1.1 as PyYAML reads it, except that a number in exponent form without a dot (``1e-2``) is a
    float, as in YAML 1.2, and not the string ``'1e-2'`` that a parameter check would then refuse, and
    that a key given twice in one mapping is an error: PyYAML keeps the last one silently, so a
    parameter set or configuration pasted twice ran with values nobody had read."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *defaults' brings keys that the mapping's own may override
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # SafeLoader refuses it with its own message
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def read_yaml(path: str | Path) -> Any:
    """The YAML document in ``path`` (``_Loader``: safe, and ``1e-2`` is a number); a syntax error, or a
    file that is not UTF-8 text, is an ``InvalidInput`` naming the file and where."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot read {path} ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        # A file saved in another encoding (Latin-1, UTF-16), or not text at all: YAML files are UTF-8.
        line = error.object.count(b"\n", 0, error.start) + 1
        byte = error.object[error.start]
        raise InvalidInput(
            f"{path}, line {line}: not valid YAML (must be UTF-8 text, got byte {byte:#04x})"
        ) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise InvalidInput(f"{where}: not valid YAML ({problem})") from None


def file_in_the_way(path: str | Path) -> Path | None:
    """The file that keeps folder ``path`` from existing (``path`` itself, or the nearest of its parents
    that exists, when that is not a folder), else None."""
    path = Path(path)
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    return None if existing.is_dir() else existing


def writable_folder(path: str | Path, what: str) -> Path:
    """``path``, created if missing, after writing a test file into it; ``UserError`` naming ``what``
    (e.g. "--out") and the reason if that fails (a file in the way, a read-only or missing disk)."""
    path = Path(path)
    if blocker := file_in_the_way(path):
        raise UserError(f"{what}: {blocker} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UserError(f"{what}: cannot write into {path} ({error.strerror or error})") from None
    return path


def writable_file(path: str | Path, what: str) -> Path:
    """``path`` if a file can be written there (its folder is checked by ``writable_folder``)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what}: {path} is a folder; give a file name")
    writable_folder(path.parent, what)
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{what}: {path} exists and is read-only")
    return path


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    """Append one epoch's record as a line of JSON."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Every complete record of ``metrics.jsonl`` (none if it does not exist). A torn last line (a kill
    while it was written, which the run rewrites when it resumes) is not a record; any other line that is
    not JSON is a ``UserError`` naming the file and the line."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise UserError(f"{path}, line {number}: not a JSON record; the file was altered") from None
    return records


def truncate_metrics(path: Path, epochs_done: int) -> list[int]:
    """Keep only the records of epochs ``< epochs_done``, one per epoch (the last written), in epoch order:
    those a resumed run will not write again. Returns the epochs ``< epochs_done`` that have no record
    (the file was deleted or edited): their records are lost, and the caller says so.

    A kill between the metrics line and the checkpoint of an epoch, or in the middle of writing a line,
    would otherwise leave a duplicate or torn record.
    """
    kept: dict[int, dict[str, Any]] = {}
    lines = path.read_text().splitlines() if path.is_file() else []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a kill; its epoch is trained again
        epoch = record.get("epoch") if isinstance(record, dict) else None
        if isinstance(epoch, int) and 0 <= epoch < epochs_done:
            kept[epoch] = record
    if path.is_file():
        with atomic_path(path) as tmp:
            tmp.write_text("".join(json.dumps(kept[epoch]) + "\n" for epoch in sorted(kept)))
    return [epoch for epoch in range(epochs_done) if epoch not in kept]


def _jsonable(value: Any) -> Any:
    # numpy scalars and arrays reach JSON through their Python equivalents; anything else as its text
    return value.tolist() if hasattr(value, "tolist") else str(value)
