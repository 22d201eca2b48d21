"""The data behind every figure, written as CSV (row tables) or JSON (anything else).

Tests compare numbers in these files, never pixels, so every figure is saved together with its data.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

from bookkeeping.files import write_json


def write_csv(rows: Sequence[Mapping], path: Path) -> Path:
    """Write a list of flat dicts; the columns are the union of keys, in first-seen order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict]:
    """Read a table written by :func:`write_csv`, turning numeric cells back into numbers."""
    with Path(path).open(newline="") as f:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def write_tables(results: Mapping, out_dir: Path) -> list[Path]:
    """Write named results: a list of rows as ``NAME.csv``, anything else as ``NAME.json``."""
    written = []
    for name, data in results.items():
        if isinstance(data, list):
            written.append(write_csv(data, Path(out_dir) / f"{name}.csv"))
        else:
            written.append(write_json(Path(out_dir) / f"{name}.json", data))
    return written


def save_figure(fig, out_dir: Path, name: str, data) -> Path:
    """Save ``fig`` as ``NAME.png`` in ``out_dir`` with the data it shows as ``NAME.csv`` (a list of rows)
    or ``NAME.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{name}.png"
    fig.savefig(png, dpi=130, bbox_inches="tight")
    write_tables({name: data}, out_dir)
    return png


def _parse(cell: str):
    if cell == "":
        return None
    if cell in ("True", "False"):
        return cell == "True"
    for convert in (int, float):
        try:
            return convert(cell)
        except ValueError:
            pass
    return cell
