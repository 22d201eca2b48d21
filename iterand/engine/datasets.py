"""The datasets a run can name, and what the configuration needs to know about each (torch-free).

``DATASETS`` is the registry: ``iterand.engine.config`` validates ``dataset`` against it, and
``iterand.engine.data.load`` imports the module of ``iterand.engine.data`` that ``Dataset.loader`` names
and calls its ``load_bundle(config, device, rank, world_size)`` (and its ``prepare(config)``, where it
has one, before a multi-process run). Adding a dataset is one loader module and one line here.
"""

from __future__ import annotations

import dataclasses

from iterand.core.names import STEMS

__all__ = ["DATASETS", "Dataset"]


@dataclasses.dataclass(frozen=True)
class Dataset:
    """``stems``: the input stems its images fit (ImageNet's 224x224 images need the ImageNet stem)."""

    name: str
    title: str
    loader: str
    stems: tuple[str, ...] = STEMS


DATASETS: dict[str, Dataset] = {
    dataset.name: dataset
    for dataset in (
        Dataset("cifar10", "CIFAR-10", "cifar"),
        Dataset("imagenet", "ImageNet", "imagenet", stems=("imagenet",)),
        Dataset("synthetic", "synthetic (random images)", "synthetic"),
    )
}
