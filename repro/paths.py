"""Every file and folder name the project writes or reads lives here, so none is spelled twice.

Outputs go below the runs root: ``runs/`` in the repository (git-ignored), or ``$ITERAND_RUNS`` when set.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_SOURCES = REPO_ROOT / "notebooks"
NOTEBOOK_PARAMS = NOTEBOOK_SOURCES / "params"

PROVENANCE_FILE = "provenance.json"


def runs_root() -> Path:
    """Root of all run outputs (figures, data, executed notebooks, checkpoints)."""
    return Path(os.environ.get("ITERAND_RUNS", REPO_ROOT / "runs"))


def notebook_source(name: str) -> Path:
    """The jupytext source of notebook ``name``."""
    return NOTEBOOK_SOURCES / f"{name}.py"


def notebook_params(name: str) -> Path:
    """The YAML file holding the named parameter sets (``quick``, ``full``, ...) of notebook ``name``."""
    return NOTEBOOK_PARAMS / f"{name}.yaml"


def notebook_output_dir(name: str, param_set: str, root: Path | None = None) -> Path:
    """Where an execution of notebook ``name`` with ``param_set`` writes its notebook, figures and data."""
    return (root or runs_root()) / "notebooks" / name / param_set


def executed_notebook(out_dir: Path, name: str) -> Path:
    return out_dir / f"{name}.ipynb"


def experiment_output_dir(experiment: str, param_set: str, root: Path | None = None) -> Path:
    """Where ``python -m theory experiment`` writes the tables of one experiment."""
    return (root or runs_root()) / "theory" / experiment / param_set
