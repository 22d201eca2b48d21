"""Every file and folder name the project writes or reads lives here, so none is spelled twice.

Nothing is written where the package is installed. Outputs go below the runs root: ``$ITERAND_RUNS`` when
set, else ``runs/`` in the current working directory (in a checkout, run from its root: the git-ignored
``runs/``). Datasets downloaded by the package, and their decoded caches, go below the data folder:
``$ITERAND_DATA``, else ``data/`` in the current working directory.

A training run directory ``<out>/<run name>/`` (default ``<out>`` = ``default_out()`` =
``<runs root>/train``) holds:

- ``config.yaml``: the full ``TrainConfig``, written when the run starts;
- ``metrics.jsonl``: one JSON object per finished epoch (0-based ``epoch``), appended;
- ``checkpoint.pt``: everything needed to continue the run exactly, rewritten after every epoch;
- ``best.pt``: the model of the epoch with the best validation accuracy so far;
- ``summary.json``: final accuracies, weight counts, throughput and provenance, written at the end;
- ``train.log``: the run's log when a sweep (``iterand.experiments.launcher``) trains it, appended on
  every attempt;
- ``run.lock``: locked by the process working in the directory (``bookkeeping.locks``), holding its
  process id, host and start time.

- ``tensorboard/``: TensorBoard event files of the per-epoch records, when ``TrainConfig.tensorboard``.

An exported model (``python -m iterand export``, ``ExportFiles``) is a folder holding ``config.json``
(what it is and how to rebuild it), ``model.safetensors`` (the weights) and, for subnetwork models,
``masks.safetensors``.

- ``<run name>-<last|best>.ticket``: the model as a compact file (``python -m iterand export --format
  compact``; ``--out`` puts it elsewhere under the same name).

How each file is written (atomically) is ``bookkeeping.files``.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from bookkeeping.errors import InvalidInput

# The folder holding the packages: a checkout's root, or site-packages when installed (never written to).
SOURCE_ROOT = Path(__file__).resolve().parent.parent
# The notebooks live in the checkout's notebooks/; an installed package carries them inside repro
# (pyproject.toml maps the folder there).
NOTEBOOK_SOURCES = next(
    (
        path
        for path in (SOURCE_ROOT / "notebooks", SOURCE_ROOT / "repro" / "notebook_sources")
        if path.is_dir()
    ),
    SOURCE_ROOT / "notebooks",
)
NOTEBOOK_PARAMS = NOTEBOOK_SOURCES / "params"

RUNS_ENV = "ITERAND_RUNS"
DATA_ENV = "ITERAND_DATA"
# The one variable naming a CIFAR-10 copy, read by iterand.engine.data, theory.target_data and the runner.
CIFAR10_ENV = "ITERAND_CIFAR10"
# The data_root (theory) and dataset (iterand) that choose a synthetic set instead of real data.
SYNTHETIC = "synthetic"

PROVENANCE_FILE = "provenance.json"

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
LOG_FILE = "train.log"
LOCK_FILE = "run.lock"
TENSORBOARD_DIR = "tensorboard"
TRAIN_RUNS = "train"
# The folder of a figure notebook's runs, shared by all its parameter sets (notebook_runs_dir).
NOTEBOOK_RUNS = "runs"
CHECKPOINT_CHOICES = ("last", "best")
EXPORT_CONFIG_FILE = "config.json"
EXPORT_WEIGHTS_FILE = "model.safetensors"
EXPORT_MASKS_FILE = "masks.safetensors"
EXPORT_DIR = "export"
EXPORT_FILES = (EXPORT_CONFIG_FILE, EXPORT_WEIGHTS_FILE, EXPORT_MASKS_FILE)


# The folder each root variable falls back to, in the current working directory.
_ROOT_DEFAULTS = {RUNS_ENV: "runs", DATA_ENV: "data"}


def user_path(text: str | os.PathLike) -> Path:
    """A path as a user wrote it, with ``~`` meaning the home folder as in a shell: shells leave it alone
    in ``--out=~/x`` and in parameter files, and a literal ``./~`` folder is a trap (``rm -rf ~``)."""
    return Path(text).expanduser()


def cli_path(text: str) -> Path:
    """``user_path`` as a command-line option's type. An empty value is refused: ``Path("")`` is the current
    folder, so ``--out "$DIR"`` with ``DIR`` unset would write run folders or exported files there."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "the path is empty (an unset shell variable?); give . for the current folder"
        )
    return user_path(text)


def _from_environment(variable: str) -> Path:
    value = os.environ.get(variable)
    return user_path(value) if value else Path.cwd() / _ROOT_DEFAULTS[variable]


def root_origin(variable: str) -> str:
    """How a message names the root that ``variable`` (``RUNS_ENV``, ``DATA_ENV``) chooses: ``$VARIABLE``
    when it is set, so that a user learns which setting to change, else the default folder."""
    if os.environ.get(variable):
        return f"${variable}"
    return f"{_ROOT_DEFAULTS[variable]}/ in the working directory (${variable} unset)"


COMPACT_SUFFIX = ".ticket"


def runs_root() -> Path:
    """Root of all run outputs (figures, data, executed notebooks, checkpoints): ``$ITERAND_RUNS``, else
    ``runs/`` in the current working directory."""
    return _from_environment(RUNS_ENV)


def data_root() -> Path:
    """Where datasets are downloaded and decoded caches kept: ``$ITERAND_DATA``, else ``data/`` in the
    current working directory."""
    return _from_environment(DATA_ENV)


def notebook_source(name: str) -> Path:
    """The jupytext source of notebook ``name``."""
    return NOTEBOOK_SOURCES / f"{name}.py"


def notebook_params(name: str) -> Path:
    """The YAML file holding the named parameter sets (``quick``, ``full``, ...) of notebook ``name``."""
    return NOTEBOOK_PARAMS / f"{name}.yaml"


def notebook_output_dir(name: str, param_set: str, root: Path | None = None) -> Path:
    """Where an execution of notebook ``name`` with ``param_set`` writes its notebook, figures and data."""
    return (root or runs_root()) / "notebooks" / name / param_set


def notebook_runs_dir(name: str, suffix: str = "", root: Path | None = None) -> Path:
    """Where the figure notebook ``name`` trains its runs for every parameter set (``NOTEBOOK_RUNS``, with
    ``suffix`` for runs on another kind of data than its default, ``-synthetic``): beside the sets'
    output folders, none of which has that name."""
    return notebook_output_dir(name, f"{NOTEBOOK_RUNS}{suffix}", root)


def executed_notebook(out_dir: Path, name: str) -> Path:
    return out_dir / f"{name}.ipynb"


def experiment_output_dir(experiment: str, param_set: str, root: Path | None = None) -> Path:
    """Where ``python -m theory experiment`` writes the tables of one experiment."""
    return (root or runs_root()) / "theory" / experiment / param_set


def compact_file(out_dir: Path, run_name: str, which: str) -> Path:
    """The compact file of run ``run_name``'s "last" or "best" model in ``out_dir``."""
    if which not in CHECKPOINT_CHOICES:
        raise ValueError(f"checkpoint must be one of {', '.join(CHECKPOINT_CHOICES)}, got {which!r}")
    return out_dir / f"{run_name}-{which}{COMPACT_SUFFIX}"


def default_out() -> Path:
    """Where ``python -m iterand train`` puts run directories unless ``--out`` says otherwise."""
    return runs_root() / TRAIN_RUNS


@dataclass(frozen=True)
class RunFiles:
    """The paths of one training run directory ``root``."""

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

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def tensorboard(self) -> Path:
        return self.root / TENSORBOARD_DIR

    def export_dir(self, format_name: str, which: str) -> Path:
        """Where ``python -m iterand export`` writes unless ``--out`` says otherwise."""
        return self.root / EXPORT_DIR / f"{format_name}-{which}"

    def model_checkpoint(self, which: str) -> Path:
        """``checkpoint.pt`` for "last" (the last finished epoch), ``best.pt`` for "best"."""
        if which not in CHECKPOINT_CHOICES:
            raise InvalidInput(f"checkpoint must be one of {', '.join(CHECKPOINT_CHOICES)}, got {which!r}")
        return self.checkpoint if which == "last" else self.best


@dataclass(frozen=True)
class ExportFiles:
    """The paths of one exported model folder ``root``."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / EXPORT_CONFIG_FILE

    @property
    def weights(self) -> Path:
        return self.root / EXPORT_WEIGHTS_FILE

    @property
    def masks(self) -> Path:
        return self.root / EXPORT_MASKS_FILE


def damaged_summary_advice(files: RunFiles) -> str:
    """What to do about a run's unreadable ``summary.json``. Deleting it makes the same command evaluate
    the run again from its checkpoint, but only when there is one: without, it would train from scratch."""
    if files.checkpoint.is_file():
        return "restore the file, or delete it to evaluate the run again from its last checkpoint"
    return f"restore the file (the run has no {files.checkpoint.name} left to evaluate it again from)"
