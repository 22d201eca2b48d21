"""A seeded random dataset with the shapes of CIFAR-10 (`stem="cifar"`) or ImageNet (`stem="imagenet"`),
for smoke runs and benchmarks. It goes through the same split and device-resident loaders as CIFAR-10.

Each image is uniform noise averaged with a colour drawn per class, so a model can learn something
(a smoke run's loss goes down) while every pixel stays random. The data does not depend on the run seed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from iterand.engine.data import DataBundle, seeded_generator
from iterand.engine.data.augment import AUGMENTATIONS, imagenet_augmentation
from iterand.engine.data.gpu_loader import device_bundle

if TYPE_CHECKING:
    from iterand.engine.config import TrainConfig

DATA_SEED = 0
# stem -> (image shape, number of classes, train examples (before the validation split), test examples)
SHAPES = {
    "cifar": ((3, 32, 32), 10, 5000, 1000),
    "imagenet": ((3, 224, 224), 1000, 1000, 200),
}


def class_colours(num_classes: int, channels: int, generator: torch.Generator) -> torch.Tensor:
    """One uint8 colour per class, (num_classes, channels, 1, 1): drawn once for the train AND test images,
    so that the test set asks the same question as the training set."""
    return torch.randint(256, (num_classes, channels, 1, 1), generator=generator, dtype=torch.uint8)


def make_arrays(
    n: int, shape: tuple[int, int, int], colours: torch.Tensor, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`n` uint8 images of `shape`, each noise averaged with its class's colour, and their int64 labels."""
    labels = torch.randint(len(colours), (n,), generator=generator)
    images = torch.randint(256, (n, *shape), generator=generator, dtype=torch.uint8)
    # (noise + colour) / 2 with both halves rounded down, which cannot overflow uint8.
    images.bitwise_right_shift_(1).add_(colours.bitwise_right_shift(1)[labels])
    return images.numpy(), labels.numpy()


def load_bundle(config: TrainConfig, device: torch.device, rank: int, world_size: int) -> DataBundle:
    shape, num_classes, train_size, test_size = SHAPES[config.stem]
    generator = seeded_generator(DATA_SEED)
    colours = class_colours(num_classes, shape[0], generator)
    train_images, train_labels = make_arrays(train_size, shape, colours, generator)
    test_images, test_labels = make_arrays(test_size, shape, colours, generator)
    augmentation = (
        imagenet_augmentation(shape[1]) if config.stem == "imagenet" else AUGMENTATIONS[config.augmentation]
    )
    return device_bundle(
        train_images,
        train_labels,
        test_images,
        test_labels,
        config,
        device,
        rank,
        world_size,
        augmentation=augmentation,
        num_classes=num_classes,
        description={
            "dataset": "synthetic",
            "source": f"random, seed {DATA_SEED}, class colours shared by train and test",
            "source_kind": "synthetic",
        },
    )
