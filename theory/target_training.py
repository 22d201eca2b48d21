"""Train the target of the network-level theorem on data: a bias-free ReLU MLP, rescaled to
``||F_i||_Frob = 1`` layer by layer.

Why the rescaling changes no prediction. Without biases every layer map ``y -> F_i y`` and the ReLU are
positively homogeneous (``s(c y) = c s(y)`` for ``c > 0``), so dividing ``F_i`` by ``c_i = ||F_i||_Frob``
divides the output by ``c_1 * ... * c_l > 0``: ``f_rescaled(x) = f(x) / (c_1 ... c_l)``. Every logit shrinks
by the same positive factor, so the largest stays the largest and each input keeps its predicted class.
The theorem needs ``||F_i||_Frob <= 1`` (:class:`theory.network.Target`); norm exactly 1 is the
largest scale it allows, which keeps the weights as large as possible next to the subset-sum errors.

torch is imported inside :func:`train_target` only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bookkeeping import validation
from bookkeeping.errors import InvalidInput
from theory import network, torch_network
from theory.target_data import Task


@dataclass(frozen=True, eq=False)
class TrainedTarget:
    """The rescaled target and how it was obtained.

    ``scales``: the Frobenius norms ``c_i`` the trained layers were divided by; ``train_accuracy`` and
    ``test_accuracy``: of the rescaled target, in [0, 1]; ``seconds``: training time.
    """

    target: network.Target
    scales: tuple[float, ...]
    train_accuracy: float
    test_accuracy: float
    epochs: int
    seconds: float


def rescale(weights: Sequence[np.ndarray]) -> tuple[network.Target, tuple[float, ...]]:
    """``(Target with F_i / ||F_i||_Frob, (||F_1||, ..., ||F_l||))``; predictions unchanged (module
    docstring)."""
    weights = [np.asarray(w, dtype=np.float64) for w in weights]
    scales = tuple(float(np.linalg.norm(w)) for w in weights)
    for i, scale in enumerate(scales):
        if not (math.isfinite(scale) and scale > 0):
            raise InvalidInput(f"weights[{i}] must be finite and not all zero, got Frobenius norm {scale}")
    return network.Target(tuple(w / c for w, c in zip(weights, scales, strict=True))), scales


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose largest logit is at the label."""
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def train_target(
    task: Task,
    hidden: Sequence[int],
    epochs: int,
    seed: int = 0,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
) -> TrainedTarget:
    """Train ``d_0 -> hidden... -> classes`` (bias-free linear layers, ReLU between) with Adam on the
    cross-entropy of ``task``'s training set, then :func:`rescale` it.

    Deterministic for a given ``seed``: the initial weights (PyTorch's default for a linear layer,
    U[-1/sqrt(fan_in), 1/sqrt(fan_in)]) and the batch order come from one seeded generator, and training
    runs on one thread (:func:`theory.torch_network.one_thread`).
    The accuracies are those of the rescaled float64 target, the network the theorem emulates.
    """
    import torch
    from torch import nn
    from torch.nn.utils import skip_init

    hidden = [
        validation.integer_at_least(f"hidden[{i}]", h, 1)
        for i, h in enumerate(validation.entries("hidden", hidden))
    ]
    epochs = validation.integer_at_least("epochs", epochs, 1)
    batch_size = validation.integer_at_least("batch_size", batch_size, 1)
    learning_rate = validation.positive("learning_rate", learning_rate)
    generator = torch.Generator().manual_seed(validation.integer_at_least("seed", seed, 0))
    dims = (task.input_dim, *hidden, task.num_classes)
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        # skip_init: initialised from the seeded generator below, never from torch's global random state
        linear = skip_init(nn.Linear, d_in, d_out, bias=False)
        with torch.no_grad():
            linear.weight.uniform_(-1 / math.sqrt(d_in), 1 / math.sqrt(d_in), generator=generator)
        layers += [nn.ReLU(), linear] if i else [linear]
    model = nn.Sequential(*layers)
    inputs = torch.as_tensor(task.train_inputs, dtype=torch.float32)
    labels = torch.as_tensor(task.train_labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    started = time.perf_counter()
    with torch_network.one_thread():
        for _ in range(epochs):
            for batch in torch.randperm(len(labels), generator=generator).split(batch_size):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(inputs[batch]), labels[batch]).backward()
                optimizer.step()
    seconds = time.perf_counter() - started
    weights = [m.weight.detach().double().numpy() for m in model if isinstance(m, nn.Linear)]
    target, scales = rescale(weights)
    return TrainedTarget(
        target,
        scales,
        accuracy(target.forward(task.train_inputs), task.train_labels),
        accuracy(target.forward(task.test_inputs), task.test_labels),
        epochs,
        seconds,
    )
