"""Execute the jupytext notebooks through papermill with a named parameter set.

A notebook ``notebooks/NAME.py`` (jupytext percent format) has one cell tagged ``parameters``; its named
parameter sets (``quick`` for seconds-long runs used by the README and the tests, ``full`` or ``paper`` for
publishable figures) live in ``notebooks/params/NAME.yaml``. Executing writes the executed notebook, its
figures and data files, and a provenance record into ``runs/notebooks/NAME/SET/`` below the runs root
(``bookkeeping.paths.runs_root``), where ``SET`` is the
set's name, or for a parameter file ``STEM-HASH``: the file's name and 8 hex digits of a hash of the
parameters it holds but those that only say how it runs (``EXECUTION_ONLY``; ``set_label``), so that two
files of different results never share a folder and a file never replaces a built-in set's outputs.
The parameter ``out_dir`` is injected by the runner and is not part of the parameter files; any other
parameter must be one the notebook's ``parameters`` cell declares.
The kernel runs in the current working directory, so relative paths in a parameter set mean the same as
on the command line. A string parameter starting with ``{runs}`` means the runs root (``$ITERAND_RUNS``,
else ``runs/``): ``{runs}/train`` is where ``python -m iterand sweep`` trains; one starting with ``~/``
means the home folder, as on a command line.

A parameter set need not name every parameter: the others keep the ``parameters`` cell's defaults. The
provenance records the values used (``parameters``, see ``effective_parameters``) and those the set or
file gave (``given_parameters``).
When a run reads another kind of data than the notebook's default (a ``data_root``, or
``$ITERAND_CIFAR10`` for the trained-network notebook), the folder name says so (``SET-KIND``,
``output_label``); the provenance names the source either way.

A folder holds one execution. Before the next one starts, the outputs of the last successful one move to
``SET.previous/`` and stay there until a new execution succeeds; the new one writes its provenance at
the end, with ``status`` "succeeded", "failed" or "interrupted", so a folder without a provenance is an
execution that never finished (killed). Training runs stay in place: each holds its own summary, finished
ones are reused and interrupted ones resume. A figure notebook's runs (``runs_dir`` None) are those of
every parameter set of it: they live in one folder beside the sets', ``runs/notebooks/NAME/runs``
(``runs-KIND`` for another kind of data), so a set or file that shows other seeds, widths or axes trains
only the runs not there yet, and one switched to mode "read" finds them; each figure draws only the runs
its own values name (``iterand.experiments.figures.train_or_read``). The walkthrough keeps its runs in
its own folder, ``SET/runs``.
"""

from __future__ import annotations

import ast
import contextlib
import fnmatch
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jupytext
import papermill
from nbclient.exceptions import DeadKernelError
from papermill.exceptions import PapermillExecutionError

from bookkeeping import locks, paths, provenance, signals
from bookkeeping.errors import InvalidInput
from bookkeeping.files import read_json, read_yaml
from bookkeeping.paths import CIFAR10_ENV, SYNTHETIC, RunFiles
from bookkeeping.validation import unknown_key

INJECTED = ("out_dir",)
# Parameters that change how a notebook runs, not what it computes: training processes at once, worker
# processes (the same numbers), and whether a figure trains its runs first or only reads them (the same
# runs, under the same out_dir). Left out of a parameter file's hash, so that changing them neither
# retrains a figure's runs into a new folder nor loses them for a read.
EXECUTION_ONLY = ("concurrent", "workers", "mode")
PARAMETER_FILE_SUFFIXES = (".yaml", ".yml")
RUNS_PLACEHOLDER = "{runs}"
PREVIOUS_SUFFIX = ".previous"
LOCK_SUFFIX = ".lock"
# Subfolders that outlive an execution: the training runs of the figure notebooks, which the next
# execution reuses (finished) or resumes (interrupted) instead of training again.
KEPT = ("runs",)
SUCCEEDED, FAILED, INTERRUPTED = "succeeded", "failed", "interrupted"
OFFICIAL_DOWNLOAD = "official download"
# The notebooks whose data_root None falls back to $ITERAND_CIFAR10, and what they read without it
# (theory.target_data's synthetic teacher task; iterand.engine.data's download folder). fig3's data_root
# is ImageNet's, which no variable names.
CIFAR10_NOTEBOOKS = {
    "theory_trained_network": SYNTHETIC,
    "fig1_r_sweep": OFFICIAL_DOWNLOAD,
    "fig2_width": OFFICIAL_DOWNLOAD,
    "walkthrough": OFFICIAL_DOWNLOAD,
}


class _QuietAfterStop(logging.Filter):
    """After a stop signal, drop nbclient's report that the kernel died and asyncio's "Task exception was
    never retrieved" for the cell it ran: the kernel died because the stop shut it down, which the one
    line ``interrupted: ...`` already says. Before a stop, a dead kernel is news and is reported."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not signals.stop_received():
            return True
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, DeadKernelError) or record.getMessage().startswith("Kernel died"))


# On the loggers, not in run_batch: asyncio's report comes when its task is collected, as late as exit.
for _logger in ("papermill", "asyncio"):
    logging.getLogger(_logger).addFilter(_QuietAfterStop())


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
    another notebook) raises ``InvalidInput`` listing the known ones, instead of being ignored. So does a
    ``results_table`` that is not a file, before any notebook starts (the ``*-committed`` sets of the
    figure notebooks redraw tables committed under the checkout's ``results/``, which no installed
    package holds).
    """
    if is_parameter_file(param_set):
        candidate = paths.user_path(param_set)
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
        what = f"a parameter of notebook {name}"
        raise InvalidInput(f"{param_set}: " + "; ".join(unknown_key(key, what, known) for key in unknown))
    table = parameters.get("results_table")
    if table is not None and not Path(resolve_runs(table)).is_file():
        raise InvalidInput(
            f"{param_set}: results_table {table} is not a file (relative to {Path.cwd()}); the tables under "
            "results/ come with a checkout of the repository: run this from the checkout's root"
        )
    return parameters


def set_label(param_set: str, parameters: Mapping) -> str:
    """The output folder name of a parameter set: a built-in set's name, or for a parameter file its stem
    and 8 hex digits of a SHA-256 of the parameters it holds but ``EXECUTION_ONLY`` (``my-3fa2b1c0``)."""
    if not is_parameter_file(param_set):
        return param_set
    hashed = {key: value for key, value in parameters.items() if key not in EXECUTION_ONLY}
    content = json.dumps(hashed, sort_keys=True, default=str)
    return f"{Path(param_set).stem}-{hashlib.sha256(content.encode()).hexdigest()[:8]}"


def output_label(name: str, param_set: str, parameters: Mapping, effective: Mapping | None = None) -> str:
    """The output folder name of notebook ``name`` run with ``param_set`` (whose given ``parameters`` are
    those of ``load_parameters``, with any override): ``set_label``, with the kind of data appended when
    the run reads another kind than the notebook's default (``data_source``): ``quick-cifar10`` for the
    trained-network notebook on CIFAR-10, ``quick-synthetic`` for a figure whose runs train on the
    synthetic set (``overrides: {dataset: synthetic}``).
    Runs on different kinds of data never share a folder; which copy of a kind was read (the JPEG copy or
    the official images) is in the provenance, and a new execution never leaves an older one's outputs
    beside its own (``execute``). ``effective``: ``effective_parameters(name, parameters)``, when the
    caller has them already."""
    if effective is None:
        effective = effective_parameters(name, parameters)
    return set_label(param_set, parameters) + data_suffix(name, effective)


def data_suffix(name: str, effective: Mapping) -> str:
    """``-KIND`` when the runs of notebook ``name`` with its ``effective`` parameters train on another kind of
    data than its default (``output_label``), else ""."""
    # The data the runs are trained on, in read mode too: a file trained, then switched to mode "read",
    # must find the runs where it trained them.
    source = _named_data(name, effective)
    kind = _data_kind(name, source)
    if source is None or kind == _data_kind(name, default_data_source(name)):
        return ""
    return f"-{kind}"


def _data_kind(name: str, source: str | None) -> str | None:
    if source is None or source == SYNTHETIC:
        return source
    return "cifar10" if name in CIFAR10_NOTEBOOKS else "data"


def output_dir(name: str, param_set: str, root: Path | None = None) -> Path:
    """Where executing notebook ``name`` with ``param_set`` writes (``runs/notebooks/NAME/SET``)."""
    return paths.notebook_output_dir(
        name, output_label(name, param_set, load_parameters(name, param_set)), root
    )


def previous_dir(out_dir: Path) -> Path:
    """Where the outputs of the last successful execution wait while ``out_dir`` holds a newer one."""
    return out_dir.with_name(out_dir.name + PREVIOUS_SUFFIX)


def effective_parameters(name: str, parameters: Mapping) -> dict:
    """The values notebook ``name`` runs with: its ``parameters`` cell's defaults (``out_dir`` aside),
    replaced by the given ``parameters``, with ``{runs}`` expanded (``resolve_runs``)."""
    defaults = {key: value for key, value in declared_parameters(name).items() if key not in INJECTED}
    return {key: resolve_runs(value) for key, value in {**defaults, **parameters}.items()}


def resolve_runs(value: Any) -> Any:
    """A string starting with ``{runs}`` with that part replaced by the runs root
    (``bookkeeping.paths.runs_root``, the rule every command follows), one starting with ``~`` with the
    home folder (``bookkeeping.paths.user_path``); any other value as it is."""
    if isinstance(value, str) and (value == RUNS_PLACEHOLDER or value.startswith(RUNS_PLACEHOLDER + "/")):
        return str(paths.runs_root()) + value[len(RUNS_PLACEHOLDER) :]
    if isinstance(value, str) and (value == "~" or value.startswith("~/")):
        return str(paths.user_path(value))
    return value


def data_source(name: str, parameters: Mapping) -> str | None:
    """The data a run of notebook ``name`` with its effective ``parameters`` reads: its ``data_root``,
    else for the CIFAR-10 notebooks ``$ITERAND_CIFAR10``, else the notebook's default
    (``default_data_source``); an existing path is made absolute. None for a notebook without
    ``data_root`` and in ``mode`` "read", which trains nothing (the runs it reads record their data)."""
    if parameters.get("mode") == "read":
        return None
    return _named_data(name, parameters)


def _named_data(name: str, parameters: Mapping) -> str | None:
    """``data_source`` whatever the mode: the data the runs of these parameters train on."""
    if "data_root" not in parameters:
        return None
    if name in CIFAR10_NOTEBOOKS and (parameters.get("overrides") or {}).get("dataset") == SYNTHETIC:
        return SYNTHETIC  # a CIFAR-10 figure's runs told to train on the synthetic set read no data_root
    named = parameters["data_root"]
    if named is None and name in CIFAR10_NOTEBOOKS:
        named = os.environ.get(CIFAR10_ENV) or None
    if named is None:
        return default_data_source(name)
    if named != SYNTHETIC and Path(named).expanduser().exists():
        return str(Path(named).expanduser().resolve())
    return str(named)


def default_data_source(name: str) -> str | None:
    """What notebook ``name`` reads when no data is named: ``CIFAR10_NOTEBOOKS``; None: its own default."""
    default = CIFAR10_NOTEBOOKS.get(name)
    if default == OFFICIAL_DOWNLOAD:
        return f"{OFFICIAL_DOWNLOAD} in {paths.data_root()}"
    return default


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
    """Run notebook ``name`` with a parameter set; return its output folder (the module docstring says
    what it holds after a success, a failure or an interrupt)."""
    given = load_parameters(name, param_set)
    parameters = effective_parameters(name, given)
    set_name = output_label(name, param_set, given, parameters)
    out_dir = paths.notebook_output_dir(name, set_name, root)
    shared = "runs_dir" in parameters and parameters["runs_dir"] is None
    if shared:
        parameters["runs_dir"] = str(paths.notebook_runs_dir(name, data_suffix(name, parameters), root))
    # Two executions of one set would clear and overwrite each other's outputs: the second is refused.
    lock = locks.RunLock(out_dir.with_name(out_dir.name + LOCK_SUFFIX))
    try:
        lock.acquire()
    except locks.Locked as error:
        raise locks.Locked(
            f"{out_dir} is being written by {locks.describe_holder(error.holder)}, another execution of "
            f"{name} with these parameters: wait for it to end (or stop it), then run this again",
            error.holder,
        ) from None
    try:
        previous = _clear_for_execution(out_dir)
        if shared:
            _adopt_runs(out_dir / paths.NOTEBOOK_RUNS, Path(parameters["runs_dir"]))
        return _execute_locked(name, parameters, given, set_name, out_dir, previous, progress)
    finally:
        lock.release()


def _adopt_runs(old: Path, shared: Path) -> None:
    """Move the runs an earlier version trained into a set's own ``runs/`` to the notebook's shared folder,
    where every set of the notebook now looks for them: a set trained before is not trained again. A run
    that cannot move (one of its name is there already, a process holds it, another file system) stays,
    and so does a ``runs/`` that is a link (to a larger disk, say); each is named, with what to do."""
    if old.is_symlink():
        print(
            f"warning: {old} is a link to {old.resolve()}, whose runs were not moved to {shared}, where the "
            f"figures now look: set runs_dir to {old.resolve()} to draw them",
            file=sys.stderr,
        )
        return
    if not old.is_dir():
        return
    shared.mkdir(parents=True, exist_ok=True)
    moved, stayed = 0, []
    for run in sorted(entry for entry in old.iterdir() if entry.is_dir()):
        if _move_run(run, shared / run.name):
            moved += 1
        else:
            stayed.append(run.name)
    if moved:
        print(f"moved {moved} runs from {old} to {shared}, which every parameter set shares", flush=True)
    if stayed:
        print(
            f"warning: {len(stayed)} runs stayed in {old} ({', '.join(stayed[:3])}"
            f"{', ...' if len(stayed) > 3 else ''}): one of that name is in {shared} already, a process "
            f"holds it, or it is on another file system; figures read {shared} only, so move or delete them",
            file=sys.stderr,
        )
    with contextlib.suppress(OSError):
        old.rmdir()  # only once empty


def _move_run(run: Path, target: Path) -> bool:
    if target.exists() or locks.holder(RunFiles(run).lock) is not None:
        return False
    try:
        run.rename(target)
    except OSError:  # another execution moved one of that name there first, or another file system
        return False
    return True


def _execute_locked(
    name: str, parameters: dict, given: dict, set_name: str, out_dir: Path, previous: Path, progress: bool
) -> Path:
    source = out_dir / f"{name}.source.ipynb"
    jupytext.write(jupytext.read(paths.notebook_source(name)), source)
    started = time.perf_counter()
    status = FAILED
    try:
        papermill.execute_notebook(
            str(source),
            str(paths.executed_notebook(out_dir, name)),
            parameters={**parameters, "out_dir": str(out_dir)},
            kernel_name="python3",
            cwd=str(Path.cwd()),
            progress_bar=progress,
            # The kernel's own log says nothing about the notebook, whose errors come back as cell outputs:
            # a warning about unencrypted local TCP at start-up, and at shut-down "KeyboardInterrupt
            # caught in kernel" (shut-down begins with an interrupt) or, after a Ctrl-C that stopped a
            # cell, a ZMQError traceback from replying on a closed socket.
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
        status = SUCCEEDED
    except KeyboardInterrupt:
        status = INTERRUPTED
        raise
    finally:
        source.unlink(missing_ok=True)
        provenance.write(
            out_dir,
            parameters,
            seed=parameters.get("seed"),
            status=status,
            notebook=name,
            parameter_set=set_name,
            given_parameters=given,
            data_source=data_source(name, parameters),
            runs=_run_commits(out_dir, parameters),
            warnings=notebook_warnings(paths.executed_notebook(out_dir, name)),
            seconds=round(time.perf_counter() - started, 1),
            **({} if status == SUCCEEDED or not previous.is_dir() else {"last_success": str(previous)}),
        )
        if status == SUCCEEDED:
            shutil.rmtree(previous, ignore_errors=True)
    return out_dir


def notebook_warnings(notebook: Path) -> list[str]:
    """The messages of the warnings an executed ``notebook`` printed (a figure that leaves out a width,
    a mean over fewer seeds than chosen), in order, each once: they are in its stderr outputs only, which
    nobody reads when the command says it is done."""
    try:
        cells = read_json(notebook)["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # no executed notebook (stopped before papermill wrote it): nothing was said
    found: dict[str, None] = {}
    for cell in cells:
        for output in cell.get("outputs", ()):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = "".join(output.get("text", ""))
                found.update(dict.fromkeys(match[1] for match in _WARNING_LINE.finditer(text)))
    return list(found)


# Python's warning format, "FILE:LINE: CATEGORY: MESSAGE", one warning per line.
_WARNING_LINE = re.compile(r"^\S.*?:\d+: \w*Warning: (.*)$", re.MULTILINE)


def _run_commits(out_dir: Path, parameters: Mapping) -> list[dict]:
    """The commits of the training runs the outputs draw on: the per-run tables written into ``out_dir``,
    or beside a ``results_table`` the figure was drawn from."""
    folders = [out_dir]
    if parameters.get("results_table"):
        folders.append(Path(parameters["results_table"]).parent)
    return [entry for folder in folders for entry in provenance.run_commits(folder)]


def succeeded(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds the outputs of a successful execution (a provenance that says so; one
    written before provenances had a status is one of a success, the only kind written then)."""
    try:
        record = read_json(out_dir / paths.PROVENANCE_FILE)
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("status", SUCCEEDED) == SUCCEEDED


def _clear_for_execution(out_dir: Path) -> Path:
    """Empty ``out_dir`` but for ``KEPT`` and return ``previous_dir(out_dir)``, which then holds the
    outputs of the last successful execution, if there was one.

    A success in ``out_dir`` replaces an older one in ``previous`` by one rename of the whole folder, so a
    kill at any moment leaves it complete in one of the two places; the outputs of an execution that did
    not succeed describe nothing and are removed.
    """
    previous = previous_dir(out_dir)
    if succeeded(out_dir):
        shutil.rmtree(previous, ignore_errors=True)
        out_dir.rename(previous)
    out_dir.mkdir(parents=True, exist_ok=True)
    for entry in out_dir.iterdir():
        if entry.name in KEPT:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    for name in KEPT:
        if (previous / name).exists() and not (out_dir / name).exists():
            (previous / name).rename(out_dir / name)
    return previous


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
    the folder that holds the executed notebook with its traceback; the status is then 1. Ctrl-C, SIGTERM
    and SIGHUP stop the running notebook's kernel (and what it started) and raise ``KeyboardInterrupt``
    saying which notebook did not finish.
    """
    selected = select(patterns)
    for name in selected:
        load_parameters(name, param_set)
    # The kernel, and the training processes a figure's sweep starts, outlive this process if it is
    # killed outright: a SIGTERM or SIGHUP must stop them as Ctrl-C does.
    with signals.stop_signals_as_interrupt():
        return _run_selected(selected, param_set)


def _run_selected(selected: list[str], param_set: str) -> int:
    for name in selected:
        started = time.perf_counter()
        print(f"running {name} [{param_set}] ...", flush=True)
        try:
            out_dir = execute(name, param_set)
        except KeyboardInterrupt:
            out_dir = output_dir(name, param_set)
            kept = f"; the last successful outputs are in {previous_dir(out_dir)}"
            raise KeyboardInterrupt(
                f"interrupted: notebook {name} did not finish ({out_dir})"
                + (kept if previous_dir(out_dir).is_dir() else "")
            ) from None
        except PapermillExecutionError as err:
            print(
                f"error: notebook {name} failed in cell {err.exec_count}: {err.ename}: {err.evalue}",
                file=sys.stderr,
            )
            out_dir = output_dir(name, param_set)
            print(
                f"the executed notebook with the traceback is {paths.executed_notebook(out_dir, name)}",
                file=sys.stderr,
            )
            if previous_dir(out_dir).is_dir():
                print(f"the last successful outputs are in {previous_dir(out_dir)}", file=sys.stderr)
            _say_warnings(out_dir, name)  # what the notebook warned of before it failed may say why
            return 1
        print(f"  done in {time.perf_counter() - started:.1f} s -> {out_dir}", flush=True)
        _say_warnings(out_dir, name)
    return 0


def _say_warnings(out_dir: Path, name: str) -> None:
    """Repeat the warnings the execution in ``out_dir`` printed: from its provenance, which holds them
    already (the executed notebook may be megabytes of figures)."""
    for message in read_json(out_dir / paths.PROVENANCE_FILE).get("warnings", []):
        print(f"warning: {message} ({name})", file=sys.stderr)
