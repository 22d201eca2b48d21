"""Shared fixtures of the iterand tests: a small real subset of the CIFAR-10 JPEG copy, taken for the
complete CIFAR-10 where a test asks.

The copy is found where the package finds it, through `$ITERAND_CIFAR10` (`make test` sets it when the
project's shared copy lies beside the repository); without it the tests that need real images skip.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from iterand.engine.data.defaults import CIFAR10_ENV

SUBSET_PER_CLASS = {"train": 30, "test": 10}


@pytest.fixture(scope="session")
def cifar_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`<tmp>/cifar10-subset/{train,test}/<class>/NNNN.jpg`: the first 30 train and 10 test images of every
    class of the real archive, under their original names (so in the official per-class order)."""
    archive = Path(os.environ.get(CIFAR10_ENV) or "")
    if not (archive.name.endswith(".tar.gz") and archive.is_file()):
        pytest.skip(f"needs ${CIFAR10_ENV} set to the CIFAR-10 JPEG archive (cifar10-jpeg.tar.gz)")
    root = tmp_path_factory.mktemp("cifar") / "cifar10-subset"
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            if not member.isfile() or len(parts) < 3 or parts[-3] not in SUBSET_PER_CLASS:
                continue
            split, class_name, file_name = parts[-3:]
            if int(file_name.split(".")[0]) < SUBSET_PER_CLASS[split]:
                target = root / split / class_name / file_name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())
    return root


@pytest.fixture(scope="module")
def subset_is_cifar10() -> Iterator[None]:
    """The data checks take `cifar_subset` (and smaller sets made by tests) for the complete CIFAR-10:
    without this, `iterand.engine.data.cifar.check_counts` refuses anything but 5,000 + 1,000 per class."""
    from iterand.engine.data import cifar

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cifar, "PER_CLASS", dict(SUBSET_PER_CLASS))
        yield
