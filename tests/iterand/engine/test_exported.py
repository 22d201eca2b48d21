"""Exported folders: a trained run's model as safetensors + config.json, rebuilt from the folder alone, and
loaded by torchvision's ResNets strictly with the same logits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import load_file

from bookkeeping.errors import InvalidInput
from bookkeeping.files import read_json, write_json
from bookkeeping.paths import ExportFiles
from iterand.core.accounting import count_weights
from iterand.core.export import export_masks
from iterand.engine import exported
from iterand.engine.config import TrainConfig
from iterand.engine.data import DataBundle
from iterand.engine.posthoc import load_trained
from iterand.engine.train import train

NUM_CLASSES = 5


class Batches:
    """A fixed list of (images, labels) batches, the loader protocol of iterand.engine.data."""

    def __init__(self, batches):
        self.batches = batches

    def set_epoch(self, epoch):
        pass

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


def synthetic_bundle(size: int, batches: int = 3, batch_size: int = 8) -> DataBundle:
    """Random images whose class shifts their mean: a few steps move the scores and BatchNorm statistics."""
    generator = torch.Generator().manual_seed(0)

    def batch():
        labels = torch.randint(NUM_CLASSES, (batch_size,), generator=generator)
        images = torch.randn(batch_size, 3, size, size, generator=generator) + labels.view(-1, 1, 1, 1) * 0.3
        return images, labels

    return DataBundle(
        train=Batches([batch() for _ in range(batches)]),
        val=Batches([batch()]),
        test=Batches([batch()]),
        num_classes=NUM_CLASSES,
        image_shape=(3, size, size),
        description={"source": "synthetic test batches"},
    )


def trained_run(run_dir: Path, size: int, **fields) -> Path:
    config = TrainConfig.from_dict(
        {"dataset": "synthetic", "epochs": 1, "batch_size": 8, "device": "cpu", "period": 1, **fields}
    )
    train(config, run_dir, data=synthetic_bundle(size))
    return run_dir


@pytest.fixture(scope="module")
def conv6_run(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory.mktemp("conv6"), 32, model="conv6", width=0.125, method="iterand")


def test_a_conv6_export_loads_back_from_its_folder_alone(conv6_run, tmp_path):
    run = shutil.copytree(conv6_run, tmp_path / "run")
    model, config = load_trained(run)
    folder = exported.write_dense(model, config, tmp_path / "export", {"run_dir": str(run)})
    record = read_json(ExportFiles(folder).config)
    assert record["format"] == "dense" and record["num_classes"] == NUM_CLASSES
    assert record["config"] == config.to_dict() and record["source"] == {"run_dir": str(run)}
    assert record["weights"] == {"total": count_weights(model).total, "kept": count_weights(model).kept}

    # Nothing but the folder: the run directory is gone.
    shutil.rmtree(run)
    dense, loaded_config = load_trained(folder)
    assert loaded_config == config
    images = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.allclose(dense(images), model.eval()(images), atol=1e-5, rtol=0)


def test_the_weights_are_the_effective_ones_and_the_masks_the_kept_ones(conv6_run, tmp_path):
    model, config = load_trained(conv6_run)
    folder = exported.write_dense(model, config, tmp_path)
    weights, masks = load_file(ExportFiles(folder).weights), load_file(ExportFiles(folder).masks)
    expected = export_masks(model)
    assert masks.keys() == {f"{layer}.weight" for layer in expected}
    for layer, kept in expected.items():
        key = f"{layer}.weight"
        assert masks[key].dtype == torch.bool and torch.equal(masks[key], kept)
        layer_weight = model.get_submodule(layer).weight
        assert torch.equal(weights[key], layer_weight * kept)  # zeros exactly where pruned
    assert not any(key.endswith("scores") for key in weights)


def test_the_dense_baseline_exports_no_masks(tmp_path):
    run = trained_run(tmp_path / "run", 32, model="conv2", width=0.125, method="sgd")
    model, config = load_trained(run)
    folder = exported.write_dense(model, config, tmp_path / "export")
    assert (
        not ExportFiles(folder).masks.exists()
        and read_json(ExportFiles(folder).config)["files"]["masks"] is None
    )
    dense, _ = load_trained(folder)
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(dense(images), model.eval()(images), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_torchvision_loads_an_exported_resnet_strictly_with_the_same_logits(name, tmp_path):
    # 32x32 inputs keep it quick; the ImageNet stem and every stage work on them (layer4 sees 1x1).
    run = trained_run(tmp_path / "run", 32, model=name, stem="imagenet", method="iterand")
    model, config = load_trained(run)
    folder = exported.write_torchvision(model, config, tmp_path / "export")
    record = read_json(ExportFiles(folder).config)
    assert record["architecture"]["torchvision"] == name and record["num_classes"] == NUM_CLASSES

    theirs = getattr(torchvision.models, name)(num_classes=record["num_classes"])
    theirs.load_state_dict(load_file(ExportFiles(folder).weights), strict=True)
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        ours_logits, their_logits = model.eval()(images), theirs.eval()(images)
    assert (ours_logits - their_logits).abs().max() < 1e-5
    assert ours_logits.std() > 0.01  # not a vacuous comparison of constant outputs
    masks = load_file(ExportFiles(folder).masks)
    assert "layer1.0.conv1.weight" in masks and "conv1.weight" in masks and "fc.weight" in masks

    # ... and iterand reads the torchvision folder back as well.
    again, _ = load_trained(folder)
    with torch.no_grad():
        assert (again(images) - ours_logits).abs().max() < 1e-5


@pytest.mark.parametrize(
    "damage",
    [
        lambda record: {**record, "source": {**record["source"], "progress": {"epochs_trained": 3}}},
        lambda record: {**record, "source": {**record["source"], "progress": "x"}},
        lambda record: {key: value for key, value in record.items() if key != "config"},
        lambda record: ["not", "a", "record"],
    ],
)
def test_a_damaged_record_is_one_error_naming_it(conv6_run, tmp_path, damage):
    # Each was a KeyError, TypeError or AttributeError traceback from `eval EXPORT`.
    model, config = load_trained(conv6_run)
    folder = exported.write_dense(model, config, tmp_path, {"progress": {"finished": True}})
    record_file = ExportFiles(folder).config
    write_json(record_file, damage(read_json(record_file)))
    with pytest.raises(
        InvalidInput, match=rf"^{record_file} is damaged \(\w+Error: .*\); export the run again$"
    ):
        load_trained(folder)


def test_a_record_that_is_not_json_is_one_error_naming_it(conv6_run, tmp_path):
    model, config = load_trained(conv6_run)
    folder = exported.write_dense(model, config, tmp_path)
    ExportFiles(folder).config.write_text("{bad")
    with pytest.raises(InvalidInput, match="is damaged \\(JSONDecodeError"):
        load_trained(folder)


def test_a_folder_of_another_format_is_refused(conv6_run, tmp_path):
    model, config = load_trained(conv6_run)
    folder = exported.write_dense(model, config, tmp_path)
    write_json(ExportFiles(folder).config, {**read_json(ExportFiles(folder).config), "format": "compact"})
    with pytest.raises(ValueError, match="format 'compact'"):
        load_trained(folder)
