"""What produced a result: parameters, seed, package versions and the git commit, saved beside it."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from bookkeeping import paths
from bookkeeping.files import write_json

TRACKED_PACKAGES = ("numpy", "sympy", "torch", "torchvision", "matplotlib", "papermill")


def git_commit(repo: Path = paths.REPO_ROOT) -> dict:
    """HEAD's commit and whether the working tree differs from it; ``None`` outside a git checkout."""
    try:
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
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


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
