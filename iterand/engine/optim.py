"""What trains, with which optimiser, at which learning rate (the official IteRand code's ``SGD`` and
``CustomCosineLR`` settings).

- Trained parameters: the ``scores`` of the subnetwork layers for the pruning methods (their weights are
  frozen and change only through ``iterand.core.weight_updates``); every parameter for the dense SGD baseline,
  BatchNorm's affine parameters included.
- SGD with momentum (Nesterov optional). Weight decay applies to every trained parameter: the scores in
  pruning runs, the weights AND the BatchNorm affine parameters in SGD runs. That is the official
  code's choice (it hands all trainable parameters to one SGD group); excluding BatchNorm would be
  the other common convention, and is not offered, so that the baseline matches the paper's.
- Learning rate, a function of the 0-based epoch only, set once before each epoch (constant within it).
  ``config.epochs`` counts every epoch: ``warmup_epochs`` of linear warm-up, then the cosine part, then
  ``finetune_epochs`` at ``finetune_lr``. With W warm-up, F fine-tuning and C = epochs - W - F cosine
  epochs (the paper's ImageNet setting: 105 = 5 + 95 + 5)::

      epoch e < W:          lr * (e + 1) / W
      W <= e < W + C:       lr * (1 + cos(pi * (e - W) / C)) / 2
      e >= W + C:           finetune_lr

  so the first cosine epoch trains at ``lr`` (a 1-epoch run trains at the initial rate) and the rate
  never reaches 0 inside the cosine part.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from iterand.core.layers import named_subnet_layers

if TYPE_CHECKING:
    from iterand.engine.config import TrainConfig

__all__ = ["learning_rate", "make_optimizer", "set_learning_rate", "trained_parameters"]


def trained_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the optimiser updates: the scores of a subnetwork model, else every parameter.

    A model with subnetwork layers must have nothing else that requires a gradient (its BatchNorm is
    non-affine and its layers have no bias): anything else would silently train beside the scores.
    """
    scores = [layer.scores for _, layer in named_subnet_layers(model)]
    if not scores:
        return list(model.parameters())
    score_ids = {id(p) for p in scores}
    extra = [name for name, p in model.named_parameters() if p.requires_grad and id(p) not in score_ids]
    if extra:
        raise ValueError(
            f"a subnetwork model must train only its scores, but these parameters also require a gradient: "
            f"{', '.join(extra)}"
        )
    return scores


def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.SGD:
    """SGD over ``trained_parameters(model)`` with the config's momentum, Nesterov flag and weight decay."""
    return torch.optim.SGD(
        trained_parameters(model),
        lr=learning_rate(config, 0),
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=config.nesterov,
    )


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The learning rate of 0-based ``epoch`` (see the module docstring for the rule)."""
    if not 0 <= epoch < config.epochs:
        raise ValueError(f"epoch must be in [0, {config.epochs}), got {epoch}")
    warmup, finetune = config.warmup_epochs, config.finetune_epochs
    cosine = config.epochs - warmup - finetune
    if cosine < 1:
        raise ValueError(
            f"epochs ({config.epochs}) must exceed warmup_epochs + finetune_epochs ({warmup} + {finetune}), "
            "leaving at least one cosine epoch"
        )
    if epoch < warmup:
        return config.lr * (epoch + 1) / warmup
    if epoch < warmup + cosine:
        return config.lr * (1.0 + math.cos(math.pi * (epoch - warmup) / cosine)) / 2.0
    return config.finetune_lr


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
