"""Execute the jupytext notebooks through papermill with a named parameter set.

A notebook ``notebooks/NAME.py`` (jupytext percent format) has one cell tagged ``parameters``; its named
parameter sets (``quick`` for seconds-long runs used by the README and the tests, ``full`` or ``paper`` for
publishable figures) live in ``notebooks/params/NAME.yaml``. Executing writes the executed notebook, its
figures and data files, and a provenance record into ``runs/notebooks/NAME/SET/`` below the runs root
(``bookkeeping.paths.runs_root``). The parameter ``out_dir`` is injected by the runner and is not part of
the parameter files. The kernel runs in the current working directory, so relative paths in a parameter
set mean the same as on the command line.
"""

from __future__ import annotations

import ast
import fnmatch
import sys
import time
from pathlib import Path

import jupytext
import papermill
import yaml
from papermill.exceptions import PapermillExecutionError

from bookkeeping import paths, provenance

INJECTED = ("out_dir",)


def available() -> list[str]:
    """Names of all notebooks that have a parameter file."""
    return sorted(p.stem for p in paths.NOTEBOOK_PARAMS.glob("*.yaml"))


def parameter_sets(name: str) -> dict[str, dict]:
    """All named parameter sets of notebook ``name``."""
    path = paths.notebook_params(name)
    if not path.is_file():
        raise ValueError(f"notebook must be one of {', '.join(available())}, got {name!r} (no {path})")
    return yaml.safe_load(path.read_text())


def load_parameters(name: str, param_set: str) -> dict:
    """Parameters of one named set, or of a YAML file when ``param_set`` is a path to one."""
    candidate = Path(param_set)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise ValueError(f"params file {candidate} does not exist")
        return yaml.safe_load(candidate.read_text())
    sets = parameter_sets(name)
    if param_set not in sets:
        raise ValueError(f"params must be one of {', '.join(sets)} or a .yaml file, got {param_set!r}")
    return sets[param_set]


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
    set_name = Path(param_set).stem if Path(param_set).suffix in (".yaml", ".yml") else param_set
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
            raise ValueError(f"notebook must be one of {', '.join(names)} (or a pattern), got {pattern!r}")
        selected += [m for m in matches if m not in selected]
    return selected


def run_batch(patterns: list[str], param_set: str) -> int:
    """Execute the matching notebooks one after another, reporting progress; return an exit status.

    Parameters are checked for every notebook before the first one starts, so a typo fails at once.
    A failing notebook stops the batch with one line naming the cell and where its traceback was saved.
    """
    try:
        selected = select(patterns)
        for name in selected:
            load_parameters(name, param_set)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
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
            failed = paths.notebook_output_dir(name, param_set)
            print(f"the executed notebook with the traceback is in {failed}", file=sys.stderr)
            return 1
        print(f"  done in {time.perf_counter() - started:.1f} s -> {out_dir}", flush=True)
    return 0
