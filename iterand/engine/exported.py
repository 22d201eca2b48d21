"""Exported models: a folder from which a trained model is rebuilt without its run directory.

A folder (``bookkeeping.paths.ExportFiles``) holds

- ``model.safetensors``: the effective dense weights, what the forward pass uses (pruned weights are
  zeros), with BatchNorm statistics; the state dict of the dense model of the same architecture
  (``iterand.core.export.effective_state_dict``: non-affine BatchNorm exported as weight 1, bias 0);
- ``masks.safetensors``: the kept mask (bool, True = kept) of every pruned weight, under that weight's
  key (``weights[key] == 0`` wherever ``masks[key]`` is False); not written for the dense baseline,
  which has none;
- ``config.json``: ``format`` ("dense" or "torchvision"), ``format_version``, ``num_classes``,
  ``architecture`` (model, width, stem; the torchvision model name for that format), ``config`` (every
  field of the run's ``TrainConfig``), ``source`` (what was exported: run directory, checkpoint, and its
  ``progress``: the epochs trained into the model of how many, and whether the run had finished),
  ``weights`` (total and kept), ``files`` and ``provenance`` (package versions and code commit).

In the "torchvision" format (ImageNet-stem ResNets at width 1 only, ``iterand.core.torchvision_names``)
the weights and masks carry torchvision's names and the classifier's zero bias, so that
``torchvision.models.<name>(num_classes=...)`` loads ``model.safetensors`` with ``strict=True``.

``read`` rebuilds the dense model of either format from the folder alone;
``iterand.engine.posthoc.load_trained`` calls it for a folder holding ``config.json``. The export of a run
that had not finished says so when read (one warning line), and calls itself stale once that run has
finished since: the folder still holds the model of the epoch it was exported at, so export it again.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from bookkeeping import provenance
from bookkeeping.errors import InvalidInput
from bookkeeping.files import atomic_path, read_json, write_json
from bookkeeping.paths import ExportFiles, RunFiles
from iterand.core.accounting import count_weights
from iterand.core.export import effective_state_dict
from iterand.core.layers import kept_masks
from iterand.core.models import build, classifier_outputs
from iterand.core.torchvision_names import (
    from_torchvision,
    to_torchvision,
    torchvision_architecture,
    torchvision_key,
)
from iterand.engine.config import TrainConfig

FORMAT_VERSION = 1
READABLE = ("dense", "torchvision")

__all__ = [
    "FORMAT_VERSION",
    "is_export",
    "pruned_weights",
    "read",
    "write_dense",
    "write_torchvision",
]


def write_dense(
    model: nn.Module, config: TrainConfig, out: str | Path, source: dict[str, Any] | None = None
) -> Path:
    """Export ``model`` (built from ``config``) into the folder ``out``; return ``out``.

    ``source`` says where the model came from (recorded in ``config.json``)."""
    model = model.eval()
    weights = effective_state_dict(model)
    masks = {f"{layer}.weight": mask for layer, mask in kept_masks(model).items()}
    return _write(model, config, ExportFiles(Path(out)), source, "dense", weights, masks, {})


def write_torchvision(
    model: nn.Module, config: TrainConfig, out: str | Path, source: dict[str, Any] | None = None
) -> Path:
    """Like ``write_dense``, under torchvision's names; ValueError for a model torchvision does not have."""
    name = torchvision_architecture(model)
    model = model.eval()
    weights = to_torchvision(model, effective_state_dict(model))
    masks = {torchvision_key(f"{layer}.weight"): mask for layer, mask in kept_masks(model).items()}
    architecture = {"torchvision": name}
    return _write(model, config, ExportFiles(Path(out)), source, "torchvision", weights, masks, architecture)


def _write(
    model: nn.Module,
    config: TrainConfig,
    files: ExportFiles,
    source: dict[str, Any] | None,
    format_name: str,
    weights: dict[str, torch.Tensor],
    masks: dict[str, torch.Tensor],
    architecture: dict[str, str],
) -> Path:
    _save(files.weights, weights)
    if masks:
        _save(files.masks, masks)
    else:
        files.masks.unlink(missing_ok=True)  # a mask file left by an earlier export to the same folder
    counts = count_weights(model)
    # Written last: a folder with config.json is a complete export.
    write_json(
        files.config,
        {
            "format": format_name,
            "format_version": FORMAT_VERSION,
            "num_classes": classifier_outputs(model.state_dict()),
            "architecture": {
                "model": config.model,
                "width": config.width,
                "stem": config.stem,
                **architecture,
            },
            "config": config.to_dict(),
            "source": source or {},
            "weights": {"total": counts.total, "kept": counts.kept},
            "files": {"weights": files.weights.name, "masks": files.masks.name if masks else None},
            "provenance": {"packages": provenance.package_versions(), "git": provenance.git_commit()},
        },
    )
    return files.root


def _save(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    with atomic_path(path) as tmp:
        save_file({key: tensor.detach().cpu().contiguous() for key, tensor in tensors.items()}, str(tmp))


def pruned_weights(folder: str | Path) -> int:
    """How many weights the exported folder's masks prune (0 without masks: a dense baseline). The dense
    model read back has zeros there, but no masks, so counting its layers would call every weight kept."""
    files = ExportFiles(Path(folder))
    if not files.masks.is_file():
        return 0
    return sum(int((~mask).sum()) for mask in load_file(str(files.masks)).values())


def is_export(folder: str | Path) -> bool:
    """Whether ``folder`` holds an exported model (its ``config.json``)."""
    return ExportFiles(Path(folder)).config.is_file()


def read(folder: str | Path) -> tuple[nn.Module, TrainConfig, dict[str, Any]]:
    """The dense model of an exported folder (on the CPU, in eval mode), the run's configuration and the
    ``progress`` the export recorded (empty for an export written before it was recorded), with a warning
    when the exported run had not finished, saying so and whether it is stale."""
    files = ExportFiles(Path(folder))
    if not files.config.is_file():
        raise InvalidInput(f"{files.root} is not an exported model: it has no {files.config.name}")
    try:
        record = read_json(files.config)
        format_name = record.get("format")
        if format_name not in READABLE or record.get("format_version") != FORMAT_VERSION:
            raise InvalidInput(
                f"{files.config}: format {format_name!r} version {record.get('format_version')!r}; this "
                f"code reads {', '.join(READABLE)} version {FORMAT_VERSION}"
            )
        config = TrainConfig.from_dict(record["config"])
        num_classes = record["num_classes"]
        source = record.get("source") or {}
        recorded = source.get("progress") or {}
        if recorded:
            finished, reached = (
                recorded["finished"],
                f"{recorded['epochs_trained']} of {recorded['epochs']} epochs",
            )
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        if isinstance(error, InvalidInput):
            raise
        raise InvalidInput(
            f"{files.config} is damaged ({type(error).__name__}: {error}); export the run again"
        ) from None
    model = build(config.model, config.width, num_classes, stem=config.stem, dense=True)
    state = load_file(str(files.weights))
    if format_name == "torchvision":
        state = from_torchvision(model, state)
    model.load_state_dict(state)
    if recorded and not finished:
        run = source.get("run_dir")
        if run and RunFiles(Path(run)).summary.is_file():
            warnings.warn(
                f"{files.root} is stale: it holds the model after {reached} of {run}, which has finished "
                "since; export the run again",
                stacklevel=3,
            )
        else:
            warnings.warn(
                f"{files.root} holds the model after {reached} of {run}, unfinished when exported",
                stacklevel=3,
            )
    return model.eval(), config, recorded
