"""Training data: CIFAR-10 (device-resident, augmented on the device), ImageNet (streamed), synthetic.

`load(config, device, rank, world_size)` is the entry point; it returns a `DataBundle` of three loaders
(train / val / test) that all follow the `Loader` protocol. Modules: `cifar` (sources and the decoded
cache), `split` (the seeded validation split), `augment` (batched augmentations and normalisation),
`gpu_loader` (device-resident loaders), `imagenet` (ImageFolder streaming), `synthetic` (random data).

Randomness: the train order of an epoch is a pure function of (config.seed, epoch), the augmentation
of (config.seed, epoch, rank), so resuming at an epoch boundary and DDP runs are deterministic. The
validation split depends only on `config.split_seed`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import Tensor

from bookkeeping.errors import InvalidInput, UserError
from bookkeeping.files import file_in_the_way
from bookkeeping.paths import DATA_ENV, data_root, root_origin
from iterand.engine.data.defaults import CIFAR10_ENV, default_cifar_source
from iterand.engine.datasets import DATASETS

if TYPE_CHECKING:
    from iterand.engine.config import TrainConfig

CACHE_ENV = "ITERAND_DATA_CACHE"
# Entries of `DataBundle.description` that say where the data was read from, not what it is.
LOCATION_KEYS = ("source", "source_kind", "note")

__all__ = [
    "CACHE_ENV",
    "CIFAR10_ENV",
    "DataBundle",
    "DataError",
    "Loader",
    "cache_dir",
    "cache_origin",
    "data_identity",
    "default_cifar_source",
    "default_data_root",
    "derive_seed",
    "no_file_in_the_way",
    "load",
    "prepare",
    "seeded_generator",
    "to_device",
]


class DataError(UserError):
    """Missing or malformed data; the message names the path tried, the expected layout and a remedy."""


class Loader(Protocol):
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order and augmentation the next iteration yields."""

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        """(images, labels): float32 normalised (N, C, H, W) and int64 (N,), both on the loader's device."""

    def __len__(self) -> int:
        """Batches per epoch for this rank."""


@dataclass
class DataBundle:
    train: Loader
    val: Loader
    test: Loader
    num_classes: int
    image_shape: tuple[int, int, int]
    description: dict[str, Any] = field(default_factory=dict)


def data_identity(description: dict[str, Any]) -> dict[str, Any]:
    """What a bundle's data is, wherever it was read from: its ``description`` without ``LOCATION_KEYS``
    (for CIFAR-10: the dataset and whether it is the lossy JPEG copy). A run never continues on data of
    another identity (``iterand.engine.train``)."""
    return {key: value for key, value in description.items() if key not in LOCATION_KEYS}


def default_data_root() -> Path:
    """Where the official CIFAR-10 download goes by default: `bookkeeping.paths.data_root()`
    (`$ITERAND_DATA`, else `data/` in the working directory), a folder or none yet: a file there is a
    `DataError` naming the variable, before any download or decoding."""
    return no_file_in_the_way(data_root(), root_origin(DATA_ENV))


def cache_dir() -> Path:
    """Where decoded datasets are cached: `$ITERAND_DATA_CACHE`, else `cache/` in the data folder.

    Not beside the source, which may be read-only (e.g. a shared archive)."""
    return Path(os.environ.get(CACHE_ENV) or default_data_root() / "cache")


def no_file_in_the_way(path: Path, what: str) -> Path:
    """``path``, a folder or none yet; a file in its way is a `DataError` naming ``what`` (the variable
    that chose it, `root_origin`), found before any download or decoding."""
    if blocker := file_in_the_way(path):
        raise DataError(f"{what}: {blocker} is a file, not a folder")
    return path


def cache_origin() -> str:
    """How a message names `cache_dir()`: the variable that chose it."""
    return f"${CACHE_ENV}" if os.environ.get(CACHE_ENV) else f"cache/ in {root_origin(DATA_ENV)}"


def derive_seed(*parts: int) -> int:
    """A 64-bit seed from integers, e.g. (seed, epoch, stream, rank). NumPy's SeedSequence mixes the
    parts, so neighbouring tuples give unrelated streams."""
    return int(np.random.SeedSequence([int(part) for part in parts]).generate_state(1, dtype=np.uint64)[0])


def seeded_generator(*parts: int) -> torch.Generator:
    """A CPU generator seeded with `derive_seed(*parts)`."""
    return torch.Generator().manual_seed(derive_seed(*parts))


def to_device(tensor: Tensor, device: torch.device) -> Tensor:
    """Copy without stalling the device queue: CUDA copies go through pinned memory, asynchronously."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def load(config: TrainConfig, device: torch.device | str, rank: int = 0, world_size: int = 1) -> DataBundle:
    """The train / val / test loaders of `config.dataset` for process `rank` of `world_size`.

    Train batches hold `config.batch_size // world_size` examples per rank (the global batch is split),
    each rank a disjoint shard of the epoch's permutation; the last incomplete batch is dropped and
    `config.steps_per_epoch` caps the count. Eval loaders keep every example, each rank a shard
    (`rank::world_size`) in batches of `config.eval_batch_size`; add the counts over ranks.

    Where the data is looked for (`config.data_root`):

    - cifar10: `data_root` may be an archive (.tar.gz, .tgz, .tar) or a folder of class folders
      (`train/<class>/*.jpg`, `test/<class>/*.jpg`, the layout of `cifar10-jpeg.tar.gz`), or the folder
      holding the official `cifar-10-batches-py/` (torchvision's `root`); also one level down (e.g. a
      folder holding `cifar10-jpeg/` or the archive). Without `data_root`: `$ITERAND_CIFAR10` when set,
      else `default_data_root()`, where the official dataset is downloaded when it is not there yet
      (needs internet). Decoded images are cached once in `cache_dir()`.
    - imagenet: `data_root` (default `imagenet/` in `default_data_root()`) holds `train/<wnid>/*` and
      `val/<wnid>/*`.
    - synthetic: no files; seeded random images of CIFAR shapes, or ImageNet shapes when
      `config.stem == "imagenet"`.

    Raises `DataError` when the data is missing or malformed, naming the path and what to do.
    Under DDP, run `prepare(config)` on one rank before the others call `load`, so that only one process
    downloads and decodes.
    """
    device = torch.device(device)
    if config.batch_size % world_size:
        raise InvalidInput(
            f"batch_size {config.batch_size} (the global batch) is not divisible by world_size {world_size}"
        )
    return _loader(config).load_bundle(config, device, rank, world_size)


def prepare(config: TrainConfig) -> None:
    """Download and decode what `load` needs, without touching a device (CIFAR-10: fills the cache).

    Call it on one process before a multi-process `load`; a dataset whose loader module has no `prepare`
    needs none."""
    loader = _loader(config)
    if hasattr(loader, "prepare"):
        loader.prepare(config)


def _loader(config: TrainConfig) -> ModuleType:
    """The module of this package that loads `config.dataset` (`iterand.engine.datasets.DATASETS`).

    Imported on use: the dataset modules import this package (DataError, seeded_generator), and a run
    loads only the one it needs."""
    return importlib.import_module(f"{__name__}.{DATASETS[config.dataset].loader}")
