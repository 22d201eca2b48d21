"""What produced a result: parameters, seed, package versions and the code's commit, saved beside it.

The commit is the checkout's HEAD when the packages run from a git checkout; for an installed package it
is the commit pip recorded for a ``git+...`` install (``direct_url.json``), and the installed version of
``iterand`` is among the package versions either way.

A result drawn from training runs (a figure) also names the commits those runs were trained at, whether
their trees were dirty, and the data they read (``run_commits``): the code that drew a figure is not the
code that trained its runs, and a run reused from a shared folder may have read another copy of the data
than the one this execution would train on.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from bookkeeping import paths, tables
from bookkeeping.files import write_json

# The columns of a per-run table (iterand.experiments.results.row) naming the code a run was trained at.
RUN_COMMIT_COLUMN = "git_commit"
RUN_DIRTY_COLUMN = "git_dirty"
# ... and the data it read: the dataset, and for CIFAR-10 whether it was the lossy JPEG copy.
RUN_DATA_COLUMNS = ("dataset", "lossy_jpeg")

DISTRIBUTION = "iterand"
TRACKED_PACKAGES = (DISTRIBUTION, "numpy", "sympy", "torch", "torchvision", "matplotlib", "papermill")


def git_commit(repo: Path = paths.SOURCE_ROOT) -> dict:
    """The commit of the code: see the module docstring. ``None`` values when it is unknown."""
    return _checkout_commit(repo) or _installed_commit() or {"commit": None, "dirty": None}


def _checkout_commit(repo: Path) -> dict | None:
    """HEAD's commit and whether the working tree differs from it, if ``repo`` is a checkout's root.

    Only its root: an installed package inside some other repository (a virtual environment in a
    project folder) must not report that repository's commit.
    """
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        if Path(top).resolve() != repo.resolve():
            return None
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def _installed_commit() -> dict | None:
    """The commit pip recorded when the package was installed from a git URL (PEP 610)."""
    try:
        recorded = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    commit = json.loads(recorded or "{}").get("vcs_info", {}).get("commit_id")
    return {"commit": commit, "dirty": False} if commit else None


def package_versions(names=TRACKED_PACKAGES) -> dict[str, str | None]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def collect(parameters: dict, seed=None, **extra) -> dict:
    """A JSON-serialisable record of one run."""
    return {
        "parameters": parameters,
        "seed": seed,
        "git": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **extra,
    }


def write(out_dir: Path, parameters: dict, seed=None, **extra) -> Path:
    """Write the provenance record of a run into ``out_dir`` and return its path."""
    return write_json(out_dir / paths.PROVENANCE_FILE, collect(parameters, seed, **extra))


def run_commits(out_dir: Path) -> list[dict]:
    """The commits of the training runs listed in the tables in ``out_dir`` (CSV files with a
    ``git_commit`` column): one entry per commit, dirty flag and data read (``run_data``), with the tables
    and how many rows. ``dirty`` is None for a table written before the per-run rows carried it (it is
    unknown), ``data`` for a table without a ``dataset`` column."""
    found: dict[tuple, dict] = {}
    for table in sorted(Path(out_dir).glob("*.csv")):
        try:
            rows = tables.read_csv(table)
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        for row in rows:
            if not row.get(RUN_COMMIT_COLUMN):
                continue
            commit, dirty, data = str(row[RUN_COMMIT_COLUMN]), row.get(RUN_DIRTY_COLUMN), run_data(row)
            entry = found.setdefault(
                (commit, dirty, data),
                {"commit": commit, "dirty": dirty, "data": data, "tables": [], "rows": 0},
            )
            entry["rows"] += 1
            if table.name not in entry["tables"]:
                entry["tables"].append(table.name)
    return list(found.values())


def run_data(row: dict) -> str | None:
    """What a per-run row says its run read: "cifar10 (lossy JPEG copy)", "cifar10", "synthetic", ..."""
    dataset, lossy = (row.get(column) for column in RUN_DATA_COLUMNS)
    if not dataset:
        return None
    return f"{dataset} (lossy JPEG copy)" if lossy is True else str(dataset)
