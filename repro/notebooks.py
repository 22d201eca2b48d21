"""Execute the jupytext notebooks through papermill with a named parameter set.

A notebook ``notebooks/NAME.py`` (jupytext percent format) has one cell tagged ``parameters``; its named
parameter sets (``quick`` for seconds-long runs used by the README and the tests, ``full`` or ``paper`` for
publishable figures) live in ``notebooks/params/NAME.yaml``. Executing writes the executed notebook, its
figures and data files, and a provenance record into ``runs/notebooks/NAME/SET/`` below the runs root
(``bookkeeping.paths.runs_root``), where ``SET`` is the
set's name, or for a parameter file ``STEM-HASH``: the file's name and 8 hex digits of a hash of the
parameters it holds (``set_label``), so that two files never share a folder and a file never replaces a
built-in set's outputs. The parameter ``out_dir`` is injected by the runner and is not part of the
parameter files; any other parameter must be one the notebook's ``parameters`` cell declares.
The kernel runs in the current working directory, so relative paths in a parameter set mean the same as
on the command line.
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import jupytext
import papermill
from papermill.exceptions import PapermillExecutionError

from bookkeeping import paths, provenance
from bookkeeping.errors import InvalidInput
from bookkeeping.files import read_yaml

INJECTED = ("out_dir",)
PARAMETER_FILE_SUFFIXES = (".yaml", ".yml")


def available() -> list[str]:
    """Names of all notebooks that have a parameter file."""
    return sorted(p.stem for p in paths.NOTEBOOK_PARAMS.glob("*.yaml"))


def parameter_sets(name: str) -> dict[str, dict]:
    """All named parameter sets of notebook ``name``."""
    path = paths.notebook_params(name)
    if not path.is_file():
        raise InvalidInput(f"notebook must be one of {', '.join(available())}, got {name!r} (no {path})")
    return read_yaml(path)


def is_parameter_file(param_set: str) -> bool:
    return Path(param_set).suffix in PARAMETER_FILE_SUFFIXES


def load_parameters(name: str, param_set: str) -> dict:
    """Parameters of one named set, or of a YAML file when ``param_set`` is a path to one.

    Each must be declared by the notebook's ``parameters`` cell: an unknown one (a typo, a parameter of
    another notebook) raises ``InvalidInput`` listing the known ones, instead of being ignored.
    """
    if is_parameter_file(param_set):
        candidate = Path(param_set)
        if not candidate.is_file():
            raise InvalidInput(f"params file {candidate} does not exist")
        parameters = read_yaml(candidate) or {}
        if not isinstance(parameters, dict):
            raise InvalidInput(f"params file {candidate} must hold a mapping of parameters")
    else:
        sets = parameter_sets(name)
        if param_set not in sets:
            raise InvalidInput(f"params must be one of {', '.join(sets)} or a .yaml file, got {param_set!r}")
        parameters = sets[param_set]
    known = [key for key in declared_parameters(name) if key not in INJECTED]
    unknown = [key for key in parameters if key not in known]
    if unknown:
        raise InvalidInput(
            f"{param_set}: {', '.join(map(repr, unknown))} is not a parameter of notebook {name}; "
            f"known: {', '.join(known)}"
        )
    return parameters


def set_label(param_set: str, parameters: Mapping) -> str:
    """The output folder name of a parameter set: a built-in set's name, or for a parameter file its stem
    and 8 hex digits of a SHA-256 of the parameters it holds (``my-3fa2b1c0``)."""
    if not is_parameter_file(param_set):
        return param_set
    content = json.dumps(parameters, sort_keys=True, default=str)
    return f"{Path(param_set).stem}-{hashlib.sha256(content.encode()).hexdigest()[:8]}"


def output_dir(name: str, param_set: str, root: Path | None = None) -> Path:
    """Where executing notebook ``name`` with ``param_set`` writes (``runs/notebooks/NAME/SET``)."""
    return paths.notebook_output_dir(name, set_label(param_set, load_parameters(name, param_set)), root)


def declared_parameters(name: str) -> dict:
    """The defaults assigned in the notebook's ``parameters`` cell (literal values only)."""
    notebook = jupytext.read(paths.notebook_source(name))
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(
            f"notebook {name} must have exactly one cell tagged 'parameters', found {len(cells)}"
        )
    declared = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            declared[node.targets[0].id] = ast.literal_eval(node.value)
    return declared


def execute(name: str, param_set: str = "quick", root: Path | None = None, progress: bool = False) -> Path:
    """Run notebook ``name`` with a parameter set; return its output folder."""
    parameters = load_parameters(name, param_set)
    set_name = set_label(param_set, parameters)
    out_dir = paths.notebook_output_dir(name, set_name, root)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = out_dir / f"{name}.source.ipynb"
    jupytext.write(jupytext.read(paths.notebook_source(name)), source)
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(source),
            str(paths.executed_notebook(out_dir, name)),
            parameters={**parameters, "out_dir": str(out_dir)},
            kernel_name="python3",
            cwd=str(Path.cwd()),
            progress_bar=progress,
            # the kernel's start-up warning about unencrypted local TCP says nothing about the notebook
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    finally:
        source.unlink(missing_ok=True)
    provenance.write(
        out_dir,
        parameters,
        seed=parameters.get("seed"),
        notebook=name,
        parameter_set=set_name,
        seconds=round(time.perf_counter() - started, 1),
    )
    return out_dir


def select(patterns: list[str]) -> list[str]:
    """Notebook names matching the patterns, in the order given; a pattern matching nothing is an error."""
    names = available()
    selected: list[str] = []
    for pattern in patterns:
        matches = fnmatch.filter(names, pattern)
        if not matches:
            raise InvalidInput(f"notebook must be one of {', '.join(names)} (or a pattern), got {pattern!r}")
        selected += [m for m in matches if m not in selected]
    return selected


def run_batch(patterns: list[str], param_set: str) -> int:
    """Execute the matching notebooks one after another, reporting progress; return an exit status.

    Parameters are checked for every notebook before the first one starts, so a typo fails at once
    (``InvalidInput``). A failing notebook stops the batch with one line naming the cell and one naming
    the folder that holds the executed notebook with its traceback; the status is then 1.
    """
    selected = select(patterns)
    for name in selected:
        load_parameters(name, param_set)
    for name in selected:
        started = time.perf_counter()
        print(f"running {name} [{param_set}] ...", flush=True)
        try:
            out_dir = execute(name, param_set)
        except PapermillExecutionError as err:
            print(
                f"error: notebook {name} failed in cell {err.exec_count}: {err.ename}: {err.evalue}",
                file=sys.stderr,
            )
            failed = paths.executed_notebook(output_dir(name, param_set), name)
            print(f"the executed notebook with the traceback is {failed}", file=sys.stderr)
            return 1
        print(f"  done in {time.perf_counter() - started:.1f} s -> {out_dir}", flush=True)
    return 0
