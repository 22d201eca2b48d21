"""A finished (or interrupted) run's trained model, and its accuracies, read back from its run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from bookkeeping.paths import RunFiles
from iterand.core.accounting import count_weights
from iterand.engine import checkpoint, distributed
from iterand.engine.config import TrainConfig, load_yaml
from iterand.engine.factories import build_model
from iterand.engine.train import evaluate, load_data

__all__ = ["evaluate_run", "load_trained"]


def load_trained(
    run_dir: str | Path, which: str = "last", num_classes: int = 10
) -> tuple[nn.Module, TrainConfig]:
    """The model saved in a run directory (``checkpoint.pt`` for "last", ``best.pt`` for "best"), on the
    CPU, with the run's configuration: weights (IteRand re-draws them), scores and BatchNorm statistics.

    ``num_classes`` must be the run's (10 for CIFAR-10, 1000 for ImageNet).
    """
    files = RunFiles(Path(run_dir))
    path = files.model_checkpoint(which)
    config = _run_config(files)
    model = build_model(config, num_classes)
    model.load_state_dict(checkpoint.load(path)["model"])
    return model, config


def _run_config(files: RunFiles) -> TrainConfig:
    if not files.config.is_file():
        raise ValueError(f"{files.root} is not a run directory: it has no {files.config.name}")
    return load_yaml(files.config)


def evaluate_run(run_dir: str | Path, which: str = "last", data_root: str | None = None) -> dict[str, Any]:
    """Accuracies of a run directory's ``checkpoint.pt`` ("last") or ``best.pt`` ("best") on its data.

    Single process. ``data_root`` replaces the saved one (the data moved); ``device`` is chosen afresh.
    """
    files = RunFiles(Path(run_dir))
    files.model_checkpoint(which)  # an unknown `which` fails before any data is loaded
    config = _run_config(files).replace(device="auto")
    if data_root is not None:
        config = config.replace(data_root=data_root)
    ctx = distributed.Context(rank=0, world_size=1, local_rank=0, device=distributed.resolve_device("auto"))
    data = load_data(config, ctx)
    model, _ = load_trained(files.root, which, data.num_classes)
    model = model.to(ctx.device)
    amp = config.amp and ctx.device.type == "cuda"
    result: dict[str, Any] = {"run_dir": str(files.root), "checkpoint": which}
    if config.val_fraction > 0:
        result["val_loss"], result["val_acc"] = evaluate(model, data.val, ctx, amp)
    result["test_loss"], result["test_acc"] = evaluate(model, data.test, ctx, amp)
    counts = count_weights(model)
    return {**result, "weights_total": counts.total, "weights_kept": counts.kept}
