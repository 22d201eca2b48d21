"""A finished (or interrupted) run's trained model, and its accuracies, read back from its run directory
(or, for the model, from a folder that ``python -m iterand export`` wrote).

A model of a run that has not finished (its ``summary.json`` missing: still training, or interrupted) is
read with a one-line warning naming the epoch it holds of how many (``progress``); ``evaluate_run`` and
``python -m iterand export`` record that count.

Reading never changes the run directory, so the messages of a missing or unreadable model file say how to
get a model to read (another checkpoint, restoring the file), never to delete anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from bookkeeping.errors import InvalidInput
from bookkeeping.paths import COMPACT_SUFFIX, EXPORT_CONFIG_FILE, RunFiles
from iterand.core.accounting import count_weights
from iterand.core.models import classifier_outputs
from iterand.engine import checkpoint, distributed, exported
from iterand.engine.config import TrainConfig, load_yaml
from iterand.engine.data import DataError
from iterand.engine.factories import build_model
from iterand.engine.train import evaluate, load_data, uses_amp

__all__ = ["evaluate_run", "load_trained", "load_trained_progress"]


def load_trained(path: str | Path, which: str = "last") -> tuple[nn.Module, TrainConfig]:
    """A trained model on the CPU and the configuration of the run that trained it.

    ``path`` is a run directory: its model saved in ``checkpoint.pt`` ("last") or ``best.pt`` ("best"),
    as trained (weights, which IteRand re-draws, scores and BatchNorm statistics; the number of classes
    read from the saved classifier). Or an exported folder (one holding ``config.json``, see
    ``iterand.engine.exported``): its dense model, in eval mode, whatever ``which`` says.
    """
    model, config, _ = load_trained_progress(path, which)
    return model, config


def load_trained_progress(
    path: str | Path, which: str = "last"
) -> tuple[nn.Module, TrainConfig, dict[str, Any]]:
    """``load_trained``, and how far the run had trained that model (``checkpoint.trained_progress``, which
    warns when the run has not finished); for an exported folder, what it recorded when exported
    (``exported.read`` warns when that is stale)."""
    if exported.is_export(path):
        return exported.read(path)
    files = RunFiles(Path(path))
    config = _run_config(files)
    saved = _saved_model(files, which, config)
    model = build_model(config, classifier_outputs(saved["model"]))
    model.load_state_dict(saved["model"])
    return model, config, checkpoint.trained_progress(files, which, saved, config.epochs)


def _run_config(files: RunFiles) -> TrainConfig:
    if files.root.suffix == COMPACT_SUFFIX and files.root.is_file():
        raise InvalidInput(
            f"{files.root} is a compact file (seed and masks), which eval does not read: rebuild its model "
            f"in Python with iterand.load_compact({str(files.root)!r}), or eval the run it came from"
        )
    if not files.config.is_file():
        raise InvalidInput(
            f"{files.root} is not a run directory (no {files.config.name}) nor an exported model (no "
            f"{EXPORT_CONFIG_FILE})"
        )
    return load_yaml(files.config)


def _saved_model(files: RunFiles, which: str, config: TrainConfig) -> dict[str, Any]:
    """The content of model file ``which``, or a ``CheckpointError`` that says what the run holds."""
    path = files.model_checkpoint(which)
    if not path.is_file():
        raise checkpoint.CheckpointError(checkpoint.missing_model_message(files, which, config.val_fraction))
    try:
        saved = checkpoint.load(path)
    except checkpoint.CheckpointError as error:
        raise checkpoint.CheckpointError(
            f"{error}; the rest of the run directory is intact: restore the file from a copy"
            f"{checkpoint.other_model_hint(files, which)}"
        ) from None
    checkpoint.check_owner(files, which, saved, config)
    return saved


def evaluate_run(run_dir: str | Path, which: str = "last", data_root: str | None = None) -> dict[str, Any]:
    """Accuracies of a run directory's ``checkpoint.pt`` ("last") or ``best.pt`` ("best") on its data, or
    of an exported folder's dense model (``which`` is then ignored) on the data of the run it came from.

    Single process. ``data_root`` replaces the saved one (the data moved); ``device`` is chosen afresh.
    The model file is read before the data is loaded, so that a missing or damaged one is reported at once.
    """
    model, config, progress = load_trained_progress(run_dir, which)
    config = config.replace(device="auto")
    if data_root is not None:
        config = config.replace(data_root=data_root)
    ctx = distributed.Context(rank=0, world_size=1, local_rank=0, device=distributed.resolve_device("auto"))
    try:
        data = load_data(config, ctx)
    except DataError as error:
        if data_root is not None:
            raise
        raise DataError(
            f"{error} (the location was saved with the run; if the data moved, give eval --data-root PATH)"
        ) from None
    model = model.to(ctx.device)
    amp = uses_amp(config, ctx.device)
    checkpoint_name = "export" if exported.is_export(run_dir) else which
    result: dict[str, Any] = {"run_dir": str(Path(run_dir)), "checkpoint": checkpoint_name, **progress}
    if config.val_fraction > 0:
        result["val_loss"], result["val_acc"] = evaluate(model, data.val, ctx, amp)
    result["test_loss"], result["test_acc"] = evaluate(model, data.test, ctx, amp)
    counts = count_weights(model)
    kept = counts.total - exported.pruned_weights(run_dir) if checkpoint_name == "export" else counts.kept
    return {**result, "weights_total": counts.total, "weights_kept": kept}
