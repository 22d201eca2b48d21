"""ImageNet streamed from an ImageFolder layout through DataLoader workers.

Layout: `<root>/train/<wnid>/*.JPEG` and `<root>/val/<wnid>/*.JPEG` (the official validation images
sorted into class folders, as the usual `valprep.sh` does). `val_fraction` of train (chosen by
`split_seed`, see `iterand.engine.data.split`, on ImageFolder's sorted sample order) is the validation set;
the official val folder is the test set.

Transforms are the usual ones: train RandomResizedCrop(224) + horizontal flip; eval Resize(256) +
CenterCrop(224). Workers produce uint8 tensors and the normalisation (ImageNet mean/std) runs on the
device, which moves a quarter of the bytes. The random transform of sample i in epoch e is seeded by
(seed, e, i), so it depends neither on the number of workers nor on which worker loads the sample.
Train shards come from `DistributedSampler` (shuffled per epoch by `set_epoch`); eval shards are
`rank::world_size` without padding, so every example is counted once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision import transforms
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from iterand.engine.data import DataBundle, DataError, default_data_root, derive_seed
from iterand.engine.data.augment import IMAGENET_NORMALIZATION, Normalization
from iterand.engine.data.split import split_indices

if TYPE_CHECKING:
    from iterand.engine.config import TrainConfig

IMAGE_SIZE = 224
RESIZE_SIZE = 256


def train_transform(image_size: int = IMAGE_SIZE) -> Callable[[Image.Image], Tensor]:
    return transforms.Compose(
        [
            transforms.RandomResizedCrop(image_size),
            transforms.RandomHorizontalFlip(),
            transforms.PILToTensor(),
        ]
    )


def eval_transform(
    image_size: int = IMAGE_SIZE, resize_size: int = RESIZE_SIZE
) -> Callable[[Image.Image], Tensor]:
    return transforms.Compose(
        [transforms.Resize(resize_size), transforms.CenterCrop(image_size), transforms.PILToTensor()]
    )


class ImageFiles(Dataset):
    """(path, label) samples through `transform`; `epoch` (set by the loader) seeds the randomness."""

    def __init__(self, samples: list[tuple[str, int]], transform: Callable[[Image.Image], Tensor], seed: int):
        self.samples, self.transform, self.seed = samples, transform, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        path, label = self.samples[index]
        try:
            with Image.open(path) as file:
                image = file.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise DataError(
                f"cannot decode the image {path} ({type(error).__name__}: {error}); the file is corrupt"
            ) from error
        # torchvision's random transforms read the global RNG; a forked, seeded one keeps them
        # reproducible and leaves the caller's RNG untouched (workers=0 runs in the training process).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.seed, self.epoch, index))
            return self.transform(image), label


class StreamingLoader:
    """Batches from DataLoader workers, moved to `device` without blocking and normalised there."""

    def __init__(
        self,
        dataset: ImageFiles,
        batch_size: int,
        *,
        train: bool,
        device: torch.device,
        workers: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        normalization: Normalization = IMAGENET_NORMALIZATION,
        max_batches: int | None = None,
    ) -> None:
        self.dataset, self.train, self.device, self.normalization = dataset, train, device, normalization
        if train:
            sampler = DistributedSampler(
                dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
            )
        else:
            sampler = range(rank, len(dataset), world_size)
        self.sampler = sampler
        self.loader = DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            drop_last=train,
        )
        self.num_batches = min(len(self.loader), max_batches or len(self.loader))
        if train and self.num_batches == 0:
            raise DataError(
                f"the training set has {len(dataset)} images, fewer than one global batch of "
                f"{batch_size * world_size}; lower batch_size"
            )

    def set_epoch(self, epoch: int) -> None:
        self.dataset.epoch = epoch
        if self.train:
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for images, labels in itertools.islice(self.loader, self.num_batches):
            images = images.to(self.device, non_blocking=True)
            yield self.normalization(images), labels.to(self.device, non_blocking=True)

    def __len__(self) -> int:
        return self.num_batches


def layout_help(root: Path) -> str:
    return (
        f"Expected {root}/train/<wnid>/*.JPEG and {root}/val/<wnid>/*.JPEG (the validation images sorted "
        "into class folders, e.g. with the usual valprep.sh). ImageNet is not downloaded automatically: "
        "obtain it from https://image-net.org and pass `python -m iterand train ... --data-root PATH`."
    )


def scan(folder: Path, root: Path) -> tuple[list[tuple[str, int]], list[str]]:
    """ImageFolder's (path, class index) samples of `folder`, sorted by class then file, and the classes."""
    try:
        classes, class_to_index = find_classes(str(folder))
        samples = make_dataset(str(folder), class_to_index, extensions=IMG_EXTENSIONS)
    except (FileNotFoundError, NotADirectoryError) as error:
        raise DataError(
            f"ImageNet folder {folder} is missing or malformed: {error}. {layout_help(root)}"
        ) from error
    return samples, classes


def prepare(config: TrainConfig) -> Path:
    """The ImageNet root of `config`, checked to be a folder: a sweep calls this once before any run starts,
    so a missing root is one error, not one per run."""
    root = Path(config.data_root).expanduser() if config.data_root else default_data_root() / "imagenet"
    if not root.is_dir():
        state = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataError(f"ImageNet data root {root} {state}. {layout_help(root)}")
    return root


def load_bundle(
    config: TrainConfig,
    device: torch.device,
    rank: int,
    world_size: int,
    *,
    image_size: int = IMAGE_SIZE,
    resize_size: int = RESIZE_SIZE,
) -> DataBundle:
    root = prepare(config)
    train_samples, classes = scan(root / "train", root)
    test_samples, test_classes = scan(root / "val", root)
    if test_classes != classes:
        raise DataError(
            f"the class folders of {root / 'val'} ({len(test_classes)}) differ from those of "
            f"{root / 'train'} ({len(classes)}). {layout_help(root)}"
        )
    train_index, val_index = split_indices(len(train_samples), config.val_fraction, config.split_seed)
    evaluate = eval_transform(image_size, resize_size)

    def loader(
        samples: list[tuple[str, int]], transform: Callable, train: bool, batch_size: int
    ) -> StreamingLoader:
        return StreamingLoader(
            ImageFiles(samples, transform, config.seed),
            batch_size,
            train=train,
            device=device,
            workers=config.workers,
            seed=config.seed,
            rank=rank,
            world_size=world_size,
            max_batches=config.steps_per_epoch if train else None,
        )

    return DataBundle(
        train=loader(
            [train_samples[i] for i in train_index],
            train_transform(image_size),
            True,
            config.batch_size // world_size,
        ),
        val=loader([train_samples[i] for i in val_index], evaluate, False, config.eval_batch_size),
        test=loader(test_samples, evaluate, False, config.eval_batch_size),
        num_classes=len(classes),
        image_shape=(3, image_size, image_size),
        description={
            "dataset": "imagenet",
            "source": str(root),
            "source_kind": "imagefolder",
            "train_size": len(train_index),
            "val_size": len(val_index),
            "test_size": len(test_samples),
            "val_fraction": config.val_fraction,
            "split_seed": config.split_seed,
            "augmentation": "imagenet",
            "augmentation_detail": f"train RandomResizedCrop({image_size}) + horizontal flip; eval "
            f"Resize({resize_size}) + CenterCrop({image_size}); config.augmentation does not apply",
            "normalization": {
                "mean": list(IMAGENET_NORMALIZATION.mean),
                "std": list(IMAGENET_NORMALIZATION.std),
            },
            "loader": f"streaming, {config.workers} workers",
        },
    )
