"""The dataset registry: every entry has a loader module, and the configuration's names are the loaders'."""

import importlib

import pytest

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
