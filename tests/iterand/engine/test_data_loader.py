"""The loaders behind `iterand.engine.data.load`: device-resident CIFAR-10 and synthetic data, ImageNet."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from iterand.engine.config import TrainConfig
from iterand.engine.data import DataError, load, seeded_generator
from iterand.engine.data.augment import AUGMENTATIONS, IMAGENET_MEAN, IMAGENET_STD
from iterand.engine.data.gpu_loader import ORDER_STREAM

TRAIN, VAL, TEST = 270, 30, 100  # the 300 + 100 images of conftest.cifar_subset
pytestmark = pytest.mark.usefixtures("subset_is_cifar10")


def cifar_config(root: Path, **overrides) -> TrainConfig:
    return TrainConfig(**{"data_root": str(root), "batch_size": 32, "eval_batch_size": 64, **overrides})


def batches(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(loader)


def labels_of(loader) -> torch.Tensor:
    return torch.cat([labels for _, labels in loader])


def same_batches(a, b) -> bool:
    pairs = zip(a, b, strict=False)
    return len(a) == len(b) and all(torch.equal(x, y) and torch.equal(u, v) for (x, u), (y, v) in pairs)


@pytest.fixture(scope="module")
def bundle(cifar_subset, subset_is_cifar10):
    return load(cifar_config(cifar_subset), "cpu")


def test_bundle_shapes_sizes_and_description(bundle):
    assert (bundle.num_classes, bundle.image_shape) == (10, (3, 32, 32))
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (TRAIN // 32, 1, 2)
    images, labels = next(iter(bundle.train))
    assert images.shape == (32, 3, 32, 32) and images.dtype == torch.float32 and images.device.type == "cpu"
    assert labels.shape == (32,) and labels.dtype == torch.int64
    assert [len(labels) for _, labels in bundle.test] == [64, 36]
    d = bundle.description
    assert (d["train_size"], d["val_size"], d["test_size"]) == (TRAIN, VAL, TEST)
    assert d["source_kind"] == "folders" and d["lossy_jpeg"] and "JPEG" in d["note"]
    assert d["augmentation"] == "iterand" and d["normalization"]["mean"] == list(IMAGENET_MEAN)
    assert d["split_seed"] == 777


def test_eval_batches_are_normalised_images_in_order(cifar_subset, bundle):
    images, labels = (torch.cat(parts) for parts in zip(*bundle.test, strict=True))
    assert torch.equal(labels, torch.arange(10).repeat_interleave(10))
    truck = np.asarray(Image.open(cifar_subset / "test/truck/0002.jpg").convert("RGB"), dtype=np.float32)
    expected = (
        torch.from_numpy(truck).permute(2, 0, 1) / 255 - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    ) / (torch.tensor(IMAGENET_STD).view(3, 1, 1))
    torch.testing.assert_close(images[92], expected, atol=1e-5, rtol=0)


def test_train_batches_are_augmented_views_of_their_examples(cifar_subset):
    bundle = load(cifar_config(cifar_subset, augmentation="standard"), "cpu")
    train = bundle.train
    train.set_epoch(2)
    index = train.indices(2)[0]
    images, labels = next(iter(train))
    assert torch.equal(labels, train.labels[index])
    norm = AUGMENTATIONS["standard"].normalization
    padded = F.pad(train.images[index].float(), (4, 4, 4, 4))
    for image, source in zip(images, padded, strict=True):
        views = [source[:, i : i + 32, j : j + 32] for i, j in itertools.product(range(9), range(9))]
        views = norm(torch.stack(views + [view.flip(2) for view in views]))
        assert (views == image).flatten(1).all(1).any()  # an exact shift (maybe mirrored) of its source


def test_an_epoch_is_a_function_of_seed_and_epoch(cifar_subset, bundle):
    again = load(cifar_config(cifar_subset), "cpu")
    for epoch in (0, 3):
        bundle.train.set_epoch(epoch)
        again.train.set_epoch(epoch)
        assert same_batches(batches(bundle.train), batches(again.train))
    assert same_batches(batches(again.train), batches(again.train))  # iterating twice repeats the epoch
    bundle.train.set_epoch(0)
    again.train.set_epoch(1)
    first, second = batches(bundle.train), batches(again.train)
    assert not torch.equal(first[0][1], second[0][1])  # another order
    # ... and another augmentation of the same example
    example = bundle.train.indices(0)[0, 0]
    batch, position = (again.train.indices(1) == example).nonzero()[0].tolist()
    assert not torch.equal(first[0][0][0], second[batch][0][position])


def test_epochs_permute_the_whole_train_set(bundle):
    for epoch in (0, 1):
        order = torch.randperm(TRAIN, generator=seeded_generator(1, epoch, ORDER_STREAM))
        assert torch.equal(bundle.train.indices(epoch).flatten(), order[: len(bundle.train) * 32])
    assert not torch.equal(bundle.train.indices(0), bundle.train.indices(1))


def test_the_split_ignores_the_run_seed_and_the_order_does_not(cifar_subset, bundle):
    other = load(cifar_config(cifar_subset, seed=2), "cpu")
    assert same_batches(batches(bundle.val), batches(other.val))
    assert torch.equal(bundle.train.images, other.train.images)
    assert not torch.equal(bundle.train.indices(0), other.train.indices(0))


def test_ranks_take_disjoint_shards_of_one_order(cifar_subset):
    ranks = [load(cifar_config(cifar_subset), "cpu", rank=r, world_size=2) for r in (0, 1)]
    for r in ranks:
        assert r.train.batch_size == 16 and len(r.train) == TRAIN // 32
    epoch_indices = [r.train.indices(4) for r in ranks]
    assert len(np.intersect1d(epoch_indices[0], epoch_indices[1])) == 0
    order = torch.randperm(TRAIN, generator=seeded_generator(1, 4, ORDER_STREAM))
    interleaved = torch.stack(epoch_indices, dim=1).flatten()  # batch k: rank 0's block, then rank 1's
    assert torch.equal(interleaved, order[: len(interleaved)])
    for split in ("val", "test"):
        shards = [labels_of(getattr(r, split)) for r in ranks]
        assert sum(len(shard) for shard in shards) == {"val": VAL, "test": TEST}[split]
    test = [labels_of(r.test) for r in ranks]
    assert torch.equal(test[0], torch.arange(10).repeat_interleave(10)[0::2])


def test_steps_per_epoch_caps_the_train_loader_only(cifar_subset):
    capped = load(cifar_config(cifar_subset, steps_per_epoch=3), "cpu")
    assert len(capped.train) == 3 and len(batches(capped.train)) == 3
    assert len(capped.test) == 2


def test_a_train_set_smaller_than_one_batch(cifar_subset):
    with pytest.raises(DataError, match="fewer than one global batch of 512"):
        load(cifar_config(cifar_subset, batch_size=512), "cpu")
    with pytest.raises(ValueError, match="not divisible by world_size 3"):
        load(cifar_config(cifar_subset), "cpu", rank=0, world_size=3)


# ---- synthetic --------------------------------------------------------------------------------------


def test_synthetic_cifar_shapes_are_seeded():
    config = TrainConfig(dataset="synthetic", batch_size=64, steps_per_epoch=2)
    first, second = load(config, "cpu"), load(config.replace(seed=5), "cpu")
    assert (first.num_classes, first.image_shape) == (10, (3, 32, 32))
    assert (first.description["train_size"], first.description["val_size"]) == (4500, 500)
    assert same_batches(batches(first.val), batches(second.val))  # the data ignores the run seed
    images, labels = next(iter(first.train))
    assert images.shape == (64, 3, 32, 32) and labels.max() < 10
    assert len(labels.unique()) > 1


def test_synthetic_classes_are_learnable():
    bundle = load(TrainConfig(dataset="synthetic"), "cpu")
    images, labels = bundle.train.images.float(), bundle.train.labels
    means = torch.stack([images[labels == c].mean(dim=(0, 2, 3)) for c in range(10)])
    assert (means.max(0).values - means.min(0).values).min() > 20  # class colours differ by > 20 / 255


def test_synthetic_imagenet_shapes():
    config = TrainConfig(
        dataset="synthetic", model="resnet18", stem="imagenet", batch_size=8, steps_per_epoch=1
    )
    bundle = load(config, "cpu")
    assert (bundle.num_classes, bundle.image_shape) == (1000, (3, 224, 224))
    images, labels = next(iter(bundle.train))
    assert images.shape == (8, 3, 224, 224) and labels.max() < 1000
    assert bundle.description["augmentation"] == "imagenet"


# ---- ImageNet (a tiny ImageFolder written by the test) ------------------------------------------------


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("val", 2)):
        for wnid in ("n01", "n02", "n03"):
            (root / split / wnid).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / wnid / f"{wnid}_{i}.JPEG")
    return root


def imagenet_config(root: Path, **overrides) -> TrainConfig:
    fields = dict(dataset="imagenet", model="resnet18", stem="imagenet", data_root=str(root), batch_size=4)
    return TrainConfig(**{**fields, "val_fraction": 0.2, "eval_batch_size": 4, "workers": 0, **overrides})


def test_imagenet_without_data_root_names_iterand_data_that_is_a_file(tmp_path, monkeypatch):
    # It said "ImageNet data root <file>/imagenet does not exist", naming neither the file nor the variable.
    blocker = tmp_path / "data"
    blocker.write_text("")
    monkeypatch.setenv("ITERAND_DATA", str(blocker))
    config = imagenet_config(tmp_path).replace(data_root=None)
    with pytest.raises(DataError, match=rf"^\$ITERAND_DATA: {blocker} is a file, not a folder$"):
        load(config, "cpu")


def test_imagenet_streams_normalised_batches(image_folder):
    bundle = load(imagenet_config(image_folder), "cpu")
    assert (bundle.num_classes, bundle.image_shape) == (3, (3, 224, 224))
    d = bundle.description
    assert (d["train_size"], d["val_size"], d["test_size"]) == (15, 3, 6)
    assert len(bundle.train) == 3 and len(bundle.test) == 2
    images, labels = next(iter(bundle.train))
    assert images.shape == (4, 3, 224, 224) and images.dtype == torch.float32 and labels.dtype == torch.int64
    test_labels = labels_of(bundle.test)
    assert torch.equal(test_labels, torch.tensor([0, 0, 1, 1, 2, 2]))
    pixels = images * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(
        1, 3, 1, 1
    )
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5


def test_imagenet_epochs_are_seeded_and_independent_of_workers(image_folder):
    serial = load(imagenet_config(image_folder), "cpu")
    parallel = load(imagenet_config(image_folder, workers=2), "cpu")
    serial.train.set_epoch(1)
    parallel.train.set_epoch(1)
    epoch_one = batches(serial.train)
    assert same_batches(epoch_one, batches(parallel.train))
    serial.train.set_epoch(2)
    assert not same_batches(epoch_one, batches(serial.train))


def test_imagenet_ranks_shard_the_data(image_folder):
    ranks = [load(imagenet_config(image_folder), "cpu", rank=r, world_size=2) for r in (0, 1)]
    seen = [labels_of(r.test) for r in ranks]
    assert sorted(torch.cat(seen).tolist()) == [0, 0, 1, 1, 2, 2]
    shards = [list(r.train.sampler) for r in ranks]
    assert not set(shards[0]) & set(shards[1]) and len(shards[0]) == len(shards[1]) == 7


def test_imagenet_errors_name_the_path(tmp_path, image_folder):
    with pytest.raises(DataError, match="does not exist") as error:
        load(imagenet_config(tmp_path / "missing"), "cpu")
    assert "train/<wnid>" in str(error.value) and "--data-root" in str(error.value)
    (tmp_path / "train" / "n01").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "train" / "n01" / "a.JPEG")
    with pytest.raises(DataError, match="val is missing or malformed"):
        load(imagenet_config(tmp_path, val_fraction=0.0, batch_size=1), "cpu")
    (tmp_path / "val" / "n01").mkdir(parents=True)
    corrupt = tmp_path / "val" / "n01" / "b.JPEG"
    corrupt.write_bytes(b"broken")
    bundle = load(imagenet_config(tmp_path, val_fraction=0.0, batch_size=1), "cpu")
    with pytest.raises(DataError, match="cannot decode the image") as error:
        batches(bundle.test)
    assert str(corrupt) in str(error.value)


# ---- on a GPU: no host synchronisation while iterating -------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_device_loaders_iterate_without_host_syncs():
    bundle = load(TrainConfig(dataset="synthetic", batch_size=128), "cuda")
    for loader in (bundle.train, bundle.val):
        loader.set_epoch(1)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for images, _ in loader:
                assert images.is_cuda
        finally:
            torch.cuda.set_sync_debug_mode("default")
