"""The dataset registry: every entry has a loader module, and the configuration's names are the loaders'."""

import importlib

import pytest
import torch

from iterand.engine import config
from iterand.engine.data import augment, load
from iterand.engine.datasets import DATASETS


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_dataset_has_a_loader_module(name):
    module = importlib.import_module(f"iterand.engine.data.{DATASETS[name].loader}")
    assert callable(module.load_bundle)


def test_the_configuration_accepts_exactly_the_registered_datasets_and_augmentations():
    allowed = {item["name"]: item["allowed"] for item in config.describe_fields()}
    assert allowed["dataset"] == ", ".join(DATASETS)
    assert set(config.AUGMENTATIONS) == set(augment.AUGMENTATIONS)


def test_load_dispatches_through_the_registry():
    tiny = config.TrainConfig(dataset="synthetic", batch_size=16, eval_batch_size=500, val_fraction=0.0)
    bundle = load(tiny, "cpu")
    assert bundle.description["dataset"] == "synthetic" and bundle.num_classes == 10


def test_the_synthetic_test_set_asks_what_the_training_set_teaches():
    # The test images once had class colours of their own: a trained model scored 0-12 % on them.
    bundle = load(config.TrainConfig(dataset="synthetic", val_fraction=0.0), "cpu")

    def class_means(images, labels):
        return torch.stack([images[labels == c].float().mean(dim=(0, 2, 3)) for c in range(10)])

    train = class_means(bundle.train.images, bundle.train.labels)
    test = class_means(bundle.test.images, bundle.test.labels)
    # Each class's mean colour differs between the sets by sampling noise only (a pixel's noise half has
    # std 37 over 100 images x 1024 pixels), while the colours of different classes lie tens apart.
    assert (train - test).abs().max() < 1.0
    assert torch.cdist(train, test).argmin(dim=1).tolist() == list(range(10))
