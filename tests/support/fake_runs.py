"""Small training runs on in-memory data, shared by the training, compact-file and DDP tests.

``FakeData`` is a learnable CIFAR-shaped set: each class has its own mean image, plus noise. Its order
is a pure function of (seed, epoch), and rank r of w takes the r-th strided share of every global batch,
so w ranks together see exactly the single-process batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from iterand.engine.config import TrainConfig

NUM_CLASSES = 4


class FakeLoader:
    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool,
        rank: int = 0,
        world_size: int = 1,
        nan_from_epoch: int | None = None,
    ) -> None:
        self.images, self.labels, self.batch_size = images, labels, batch_size
        self.shuffle, self.rank, self.world_size = shuffle, rank, world_size
        self.nan_from_epoch = nan_from_epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.shuffle else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        order = torch.arange(n)
        if self.shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(1000 + self.epoch))
        poisoned = self.nan_from_epoch is not None and self.epoch >= self.nan_from_epoch
        for i in range(len(self)):
            index = order[i * self.batch_size : (i + 1) * self.batch_size][self.rank :: self.world_size]
            images = self.images[index]
            yield (images * math.nan if poisoned else images), self.labels[index]


@dataclass
class FakeData:
    train: FakeLoader
    val: FakeLoader
    test: FakeLoader
    num_classes: int = NUM_CLASSES
    image_shape: tuple[int, int, int] = (3, 32, 32)
    description: dict = field(default_factory=lambda: {"source": "in-memory test data"})


def fake_data(
    n_train: int = 128,
    batch_size: int = 32,
    *,
    rank: int = 0,
    world_size: int = 1,
    nan_from_epoch: int | None = None,
) -> FakeData:
    generator = torch.Generator().manual_seed(0)
    means = torch.randn(NUM_CLASSES, 3, 32, 32, generator=generator)

    def examples(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(NUM_CLASSES, (n,), generator=generator)
        return means[labels] + 2.0 * torch.randn(n, 3, 32, 32, generator=generator), labels

    shard = {"rank": rank, "world_size": world_size}
    train_set, val_set, test_set = examples(n_train), examples(64), examples(64)
    return FakeData(
        train=FakeLoader(*train_set, batch_size, shuffle=True, nan_from_epoch=nan_from_epoch, **shard),
        val=FakeLoader(*val_set, 50, shuffle=False, **shard),
        test=FakeLoader(*test_set, 50, shuffle=False, **shard),
    )


def tiny_config(**overrides) -> TrainConfig:
    base = {
        "model": "conv2",
        "width": 0.125,
        "method": "edgepopup",
        "dataset": "synthetic",
        "epochs": 3,
        "batch_size": 32,
        "lr": 0.1,
        "device": "cpu",
        "seed": 3,
    }
    return TrainConfig.from_dict({**base, **overrides})


def stop_after_epoch(monkeypatch, epoch: int) -> None:
    """Make every run trained from now on raise ``RuntimeError("stopped")`` when epoch ``epoch`` (0-based)
    starts, leaving the checkpoint of the epochs before it: an unfinished run."""
    from iterand.engine.train import Trainer  # imported here: the torchrun workers import this module too

    real_epoch = Trainer._epoch

    def stopping(self, at):
        if at == epoch:
            raise RuntimeError("stopped")
        real_epoch(self, at)

    monkeypatch.setattr(Trainer, "_epoch", stopping)
