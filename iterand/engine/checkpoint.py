"""Checkpoint files: atomic writes, readable errors, and the global random generator states.

A checkpoint is a plain dict of tensors and Python scalars (``torch.load(weights_only=True)`` reads it,
so loading never runs pickled code). What goes into it is decided by ``iterand.engine.train``; this module
knows how to write it so that a kill at any moment leaves either the previous file or the new one, never
a torn one (write to a temporary file in the same folder, fsync, then ``os.replace``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from bookkeeping.errors import UserError
from bookkeeping.files import atomic_path, cannot_write, read_metrics
from bookkeeping.paths import RunFiles
from iterand.engine.config import TrainConfig, experiment_differences

__all__ = [
    "CheckpointError",
    "check_owner",
    "load",
    "load_holding",
    "missing_model_message",
    "other_model_hint",
    "restore_rng_states",
    "rng_states",
    "save",
    "trained_progress",
]


class CheckpointError(UserError):
    """A checkpoint that is missing, cannot be read, or does not belong to the run asking for it.

    The message says what is wrong with the file; what to do about it depends on the command (resume a
    run, evaluate it), so the caller adds the remedy.
    """


def save(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically; ``CheckpointError`` naming the file and the reason when the
    disk refuses (full, say): the file it would replace is kept as it was."""
    try:
        # Through a Python file: given a path, torch's own writer reports a full disk as an unexplained
        # RuntimeError ("unexpected pos ..."); a file object raises the OSError itself.
        with atomic_path(path) as tmp, tmp.open("wb") as file:
            torch.save(state, file)
    except OSError as error:
        raise CheckpointError(cannot_write("the checkpoint", path, error)) from error


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by ``save``, every tensor on the CPU.

    The CPU is right for all consumers: ``load_state_dict`` of modules and optimisers copies to the
    parameters' device, and generator states must be CPU byte tensors.
    """
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unrelated types for a damaged file
        raise CheckpointError(
            f"cannot read the checkpoint {path}: damaged, or not written by iterand ({type(error).__name__})"
        ) from error


def rng_states() -> dict[str, Any]:
    """The global CPU generator state and, where CUDA is in use, every CUDA generator state."""
    states: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    """Undo ``rng_states``: the global generators continue as if never interrupted."""
    torch.set_rng_state(states["cpu"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def missing_model_message(files: RunFiles, which: str, val_fraction: float) -> str:
    """Why a run directory has no model file ``which`` ("last" or "best"), and what to read instead."""
    name = files.model_checkpoint(which).name
    if which == "best" and val_fraction == 0:
        return (
            f"{files.root} has no {name}: the run has no validation set (val_fraction 0), so it keeps no "
            "best-validation model; use --checkpoint last"
        )
    epochs = len(read_metrics(files.metrics))
    if epochs == 0:
        return f"{files.root} has no {name}: no epoch of the run has finished yet; train it first"
    removed = f"{files.root} has no {name} although {epochs} epoch(s) finished: it was removed"
    return removed + other_model_hint(files, which)


def trained_progress(files: RunFiles, which: str, saved: dict[str, Any], epochs: int) -> dict[str, Any]:
    """How far the run had trained the model of its file ``which`` (``saved``, as ``load`` read it):
    ``epochs_trained`` (None: a model file too old to say) of its ``epochs``, and whether the run has
    ``finished`` (exporters record it), with a one-line warning when it has not. Read from the
    file loaded, since a run still training replaces it every epoch: checkpoint.pt holds the epochs done,
    best.pt the (0-based) epoch of its model."""
    if which == "last":
        trained = saved.get("progress", {}).get("epochs_done")
    else:
        trained = saved["epoch"] + 1 if "epoch" in saved else None
    progress = {"epochs_trained": trained, "epochs": epochs, "finished": files.summary.is_file()}
    if not progress["finished"]:
        warnings.warn(
            f"{files.root} has not finished: its {files.model_checkpoint(which).name} holds the model after "
            f"{trained} of {epochs} epochs",
            stacklevel=3,  # the caller of the reader: an exporter, or posthoc.load_trained_progress
        )
    return progress


def load_holding(path: Path, keys: tuple[str, ...], what: str, remedy: str) -> dict[str, Any]:
    """``load``, refusing a file that lacks any of ``keys`` as no ``what``; both refusals end in ``remedy``
    (what the caller's command can do about it)."""
    try:
        saved = load(path)
    except CheckpointError as error:
        raise CheckpointError(f"{error}: {remedy}") from None
    missing = [key for key in keys if key not in saved]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}, so it is no {what}: {remedy}")
    return saved


def check_owner(files: RunFiles, which: str, saved: dict[str, Any], config: TrainConfig) -> None:
    """Refuse model file ``which`` (its content ``saved``) unless the run of ``files`` wrote it: copied in
    from another run, it would be evaluated or exported under this run's name and configuration."""
    if "config" not in saved:
        details = "it does not say which run wrote it"
    else:
        details = experiment_differences(TrainConfig.from_dict(saved["config"]), config)
    if details:
        raise CheckpointError(
            f"{files.model_checkpoint(which)} is not the model of the run in {files.config} ({details}): "
            f"restore this run's own file{other_model_hint(files, which)}"
        )


def other_model_hint(files: RunFiles, which: str) -> str:
    """How to read the run's other model file, if it has one."""
    other = "best" if which == "last" else "last"
    path = files.model_checkpoint(other)
    return f"; or evaluate {path.name} with --checkpoint {other}" if path.is_file() else ""
