"""``python -m iterand export``: a run's trained model as a folder other tools load.

``FORMATS`` maps each format name to its exporter, a function ``(model, config, out, source) -> out``
that writes the folder ``out`` for ``model`` (built from the ``TrainConfig`` ``config``; ``source`` is a
dict recorded as where the model came from). The formats and their files are described in
``iterand.engine.exported``:

- ``dense``: the effective dense weights and the masks (safetensors) with ``config.json``; every model.
  ``iterand.engine.posthoc.load_trained(folder)`` rebuilds it from the folder alone.
- ``torchvision``: the same under torchvision's names, for the ImageNet-stem ResNets at width 1:
  ``torchvision.models.resnet50(num_classes=N).load_state_dict(safetensors.torch.load_file(
  "model.safetensors"))`` loads it strictly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from bookkeeping.errors import InvalidInput
from bookkeeping.files import atomic_name, read_json, writable_folder
from bookkeeping.paths import EXPORT_FILES, ExportFiles, RunFiles
from iterand.engine import exported
from iterand.engine.config import TrainConfig
from iterand.engine.posthoc import load_trained_progress

Exporter = Callable[[nn.Module, TrainConfig, Path, dict[str, Any]], Path]

FORMATS: dict[str, Exporter] = {
    "dense": exported.write_dense,
    "torchvision": exported.write_torchvision,
}

__all__ = ["FORMATS", "export_run"]


def export_run(
    run_dir: str | Path, which: str = "last", format_name: str = "dense", out: str | Path | None = None
) -> Path:
    """Export the model of ``run_dir``'s ``checkpoint.pt`` ("last") or ``best.pt`` ("best") in
    ``format_name`` into ``out`` (default ``<run_dir>/export/<format>-<which>``); return the folder.

    A run that has not finished is exported with a one-line warning naming the epoch reached of how many
    (``posthoc.load_trained_progress``); the export records that ``progress`` in its source, so that
    reading it later says whether the run has finished since (``exported.read``)."""
    if format_name not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}, got {format_name!r}")
    files = RunFiles(Path(run_dir))
    if exported.is_export(files.root):
        raise InvalidInput(f"{files.root} is already an exported model; export a run directory")
    model, config, progress = load_trained_progress(files.root, which)
    source = {
        "run_dir": str(files.root.resolve()),
        "run_name": files.root.name,
        "checkpoint": which,
        "checkpoint_file": files.model_checkpoint(which).name,
        "progress": progress,
    }
    target = Path(out) if out is not None else files.export_dir(format_name, which)
    made = [folder for folder in (target, *target.parents) if not folder.exists()]
    _check_target(target, source["run_name"])
    try:
        return FORMATS[format_name](model, config, target, source)
    except InvalidInput:
        # A model the format cannot hold (torchvision's names for a Conv6) leaves no empty folders behind.
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _check_target(target: Path, run_name: str) -> None:
    """Refuse a folder whose files an export would overwrite or mix with: a run directory, or the export
    of another run (which would then load as this run's model). Runs are told apart by name, which the
    experiment decides, so a run moved or copied elsewhere still re-exports into its own folders."""
    if RunFiles(target).config.is_file() or RunFiles(target).checkpoint.is_file():
        raise InvalidInput(f"--out: {target} is a run directory; export into a folder of its own")
    if exported.is_export(target):
        try:
            other = read_json(ExportFiles(target).config).get("source", {}).get("run_name")
        except (OSError, ValueError, AttributeError):
            other = None
        if other != run_name:
            raise InvalidInput(
                f"--out: {target} holds the export of another run ({other or 'unreadable config.json'}); "
                "choose another folder"
            )
    others = _foreign_entries(target)
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise InvalidInput(
            f"--out: {target} holds other files ({shown}), which the export would mix with; export into a "
            "new or empty folder"
        )
    writable_folder(target, "--out")


def _foreign_entries(target: Path) -> list[str]:
    """The names in folder ``target`` that no export writes (a folder of run directories given as --out
    had the export's files written among them)."""
    if not target.is_dir():
        return []
    own = {name for file in EXPORT_FILES for name in (file, atomic_name(file))}
    return sorted(entry.name for entry in target.iterdir() if entry.name not in own)
