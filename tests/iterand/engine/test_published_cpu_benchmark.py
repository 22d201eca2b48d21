"""The side-by-side harness (``benchmarks/published_cpu.py``) against a small fake of the published checkout.

The published code is not part of this project, so these tests write a checkout with the same module
layout and interfaces. They pin what makes the comparison fair: the stand-in Conv6 has this project's
Conv6 layer shapes, stand-ins replace only the files a checkout lacks, re-draws follow the published
schedule, and torchvision's CIFAR-10 item code serves this project's decoded images. Timings are never
checked."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torchvision

from iterand.engine.data.cifar import load_arrays
from iterand.engine.factories import build_model
from iterand.experiments import presets

REPO = Path(__file__).resolve().parents[3]

SPARSE_MODULES = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class SparseConv2d(nn.Module):
        def __init__(self, in_ch, out_ch, **kwargs):
            super().__init__()
            k = kwargs["kernel_size"]
            self.padding = kwargs.get("padding", 0)
            self.weight = nn.Parameter(torch.randn(out_ch, in_ch, k, k))
            self.redraws = 0

        def forward(self, x):
            return F.conv2d(x, self.weight, None, 1, self.padding)

        def rerandomize(self, mode, la, mu):
            self.redraws += 1
"""

SUPERVISED_LEARNING = """
    import torch
    import utils.datasets
    from utils.subset_dataset import SubsetDataset, random_split
    from utils.schedulers import CustomCosineLR
    from models.networks.convs import Conv6

    class SupervisedLearning:
        def __init__(self, outman, cfg, device, data_parallel):
            others = cfg["__other_configs__"]
            self.cfg = cfg
            self.model = Conv6(others["cifar10"], others[cfg["model.config_name"]], cfg)
            self.train_dataset = list(range(8 * cfg["batch_size"]))

        def train(self, epoch, total_iters, before_callback=None):
            iterations = len(self.train_dataset) // self.cfg["batch_size"]
            if self.cfg["debug_max_iters"] is not None:
                iterations = min(iterations, self.cfg["debug_max_iters"])
            for _ in range(iterations):
                before_callback(self.model, epoch, total_iters, iterations)
                self.model(torch.zeros(2, 3, 32, 32)).sum().backward()
                total_iters += 1
"""

CONFIG = """
    cifar10: {class: CIFAR10, num_classes: 10}
    conv6x0.25: {class: Conv6, factor: 0.25}
    base: &base
        num_workers: 4
        batch_size: 8
        seed: null
        debug_max_iters: null
        rerand_mode: bernoulli
        rerand_mu: null
    figure2_conv6_sc_edgepopup:
        <<: *base
        parallel_grid:
            {model.config_name: [conv6x0.25, conv6x0.5], rerand_freq: [2], rerand_lambda: [0.0], seed: [1, 2]}
    figure2_conv6_sc_iterand:
        <<: *base
        parallel_grid: {model.config_name: [conv6x0.25], rerand_freq: [3], rerand_lambda: [0.1], seed: [1]}
"""


@pytest.fixture
def harness(monkeypatch):
    """The benchmark module, with every module a fake checkout imports removed again afterwards."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    monkeypatch.setattr(sys, "path", list(sys.path))  # import_published prepends the checkout
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", torchvision.datasets.CIFAR10)
    before = set(sys.modules)
    import published_cpu

    yield published_cpu
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("models", "utils"):
            del sys.modules[name]


def fake_checkout(root: Path, with_schedulers: bool = False) -> Path:
    files = {
        "models/networks/sparse_modules.py": SPARSE_MODULES,
        "models/supervised_learning.py": SUPERVISED_LEARNING,
        "config.yaml": CONFIG,
    }
    if with_schedulers:
        files["utils/schedulers.py"] = "class CustomCosineLR:\n    real = True\n"
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(textwrap.dedent(text))
    return root


def test_the_stand_in_conv6_has_this_projects_conv6_layer_shapes(harness, tmp_path):
    learner_class, stood_in = harness.import_published(fake_checkout(tmp_path))
    cfg = harness.published_config(tmp_path, "conv6", "edgepopup")
    published = [tuple(p.shape) for p in learner_class(None, cfg, "cpu", False).model.parameters()]
    ours = build_model(presets.get("fig2-conv6-sc-edgepopup").replace(width=0.25), 10)
    ours_shapes = [tuple(m.weight.shape) for m in ours.modules() if hasattr(m, "weight")]
    # The published classifier is 1x1 convolutions on a 1x1 map, ours linear layers: the same weights.
    assert [s[:2] if len(s) == 4 and s[2:] == (1, 1) else s for s in published] == ours_shapes
    assert sorted(stood_in) == sorted(harness.STAND_INS)


def test_only_missing_files_are_stood_in_and_a_non_checkout_is_refused(harness, tmp_path):
    checkout = fake_checkout(tmp_path / "published", with_schedulers=True)
    _, stood_in = harness.import_published(checkout)
    assert "utils/schedulers.py" not in stood_in and "models/networks/convs.py" in stood_in
    assert sys.modules["utils.schedulers"].CustomCosineLR.real
    with pytest.raises(SystemExit, match="not a checkout"):
        harness.import_published(tmp_path / "elsewhere")


def test_config_takes_the_first_grid_values_and_redraws_follow_the_published_period(
    harness, tmp_path, monkeypatch
):
    learner_class, _ = harness.import_published(fake_checkout(tmp_path))
    cfg = harness.published_config(tmp_path, "conv6", "iterand")
    assert (cfg["model.config_name"], cfg["rerand_freq"], cfg["rerand_lambda"], cfg["seed"]) == (
        "conv6x0.25",
        3,
        0.1,
        1,
    )
    assert cfg["dataset_download"] is False and cfg["data_parallel"] is False
    assert (cfg["num_workers"], harness.published_config(tmp_path, "conv6", "iterand", 2)["num_workers"]) == (
        4,
        2,
    )
    redraws = []
    original = learner_class.__init__

    def keep_model(self, *args):
        original(self, *args)
        redraws.append(self.model)

    monkeypatch.setattr(learner_class, "__init__", keep_model)
    rate = harness.measure_once(learner_class, cfg, steps=6, warmup=1)
    (model,) = redraws
    # commands/train.py re-draws before step it (from 0) when (it + 1) % period == 0: steps 2 and 5 of 7.
    assert model.convs[0].redraws == 2 and rate > 0


def test_torchvisions_cifar10_serves_the_decoded_images(harness, cifar_subset, subset_is_cifar10):
    harness.install_cifar10(str(cifar_subset))
    arrays = load_arrays(cifar_subset)
    train = torchvision.datasets.CIFAR10("unused", train=True, transform=None)
    test = torchvision.datasets.CIFAR10("unused", train=False, transform=None)
    assert (len(train), len(test)) == (len(arrays.train_labels), len(arrays.test_labels))
    image, label = train[7]
    assert label == arrays.train_labels[7]
    assert np.array_equal(np.asarray(image), arrays.train_images[7].transpose(1, 2, 0))
    assert train.classes[0] == "airplane" and len(train.classes) == 10
