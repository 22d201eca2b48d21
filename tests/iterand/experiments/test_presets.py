import re

import pytest
import torch

from iterand.core.layers import is_subnet_layer
from iterand.engine.config import TrainConfig
from iterand.engine.factories import build_model
from iterand.experiments import presets

# The paper's settings (the official code's figure<N>_* configurations), one entry per row, written out
# independently of presets.py:
# (figure, models, inits, methods, p, K_per, r per method, lr, wd, epochs, batch); "-" cells are None.
R = {"edgepopup": 0.0, "iterand": 0.1}
CONV6, RESNETS = ["conv6"], ["resnet18", "resnet34"]
IMAGENET_SUBNET = ["resnet34", "resnet50", "resnet101"]
TABLE = [
    (1, CONV6, ["ku"], ["iterand"], 0.5, 300, R, 0.3, 1e-4, 100, 128),
    (1, RESNETS, ["ku"], ["iterand"], 0.6, 300, R, 0.1, 5e-4, 100, 128),
    (2, CONV6, ["ku", "sc"], ["edgepopup", "iterand"], 0.5, 300, R, 0.3, 1e-4, 100, 128),
    (2, RESNETS, ["ku", "sc"], ["edgepopup", "iterand"], 0.6, 300, R, 0.1, 5e-4, 100, 128),
    (2, CONV6, ["ku"], ["sgd"], None, None, None, 0.01, 1e-4, 100, 128),
    (2, RESNETS, ["ku"], ["sgd"], None, None, None, 0.1, 5e-4, 100, 128),
    (3, IMAGENET_SUBNET, ["sc"], ["edgepopup", "iterand"], 0.7, 1000, R, 0.1, 1e-4, 105, 128),
    (3, RESNETS, ["ku"], ["sgd"], None, None, None, 0.1, 1e-4, 105, 128),
]
INITS = {"sc": "signed_constant", "ku": "kaiming_uniform"}


def expected_presets():
    for figure, models, inits, methods, p, period, r, lr, wd, epochs, batch in TABLE:
        for model in models:
            for init in inits:
                for method in methods:
                    yield (
                        f"fig{figure}-{model}-{init}-{method}",
                        (p, period, None if r is None else r[method], lr, wd, epochs, batch),
                    )


EXPECTED = dict(expected_presets())


def test_the_presets_are_exactly_the_table_rows():
    assert len(EXPECTED) == 3 + 15 + 8
    assert set(presets.names()) == set(EXPECTED)
    assert set(presets.PRESETS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_preset_has_the_table_settings(name):
    p, period, r, lr, wd, epochs, batch = EXPECTED[name]
    _, model, init, method = name.split("-")
    config = presets.get(name)
    assert (config.model, config.init, config.method) == (model, INITS[init], method)
    assert (config.lr, config.weight_decay, config.epochs, config.batch_size) == (lr, wd, epochs, batch)
    if method != "sgd":
        assert (config.pruned_fraction, config.period, config.period_unit, config.r) == (p, period, "step", r)
        assert (config.rate, config.rerandomize_mode, config.ranking, config.scope) == (
            1.0,
            "resample",
            "score",
            "layer",
        )
        assert config.weight_scale == 1.0
    assert (config.momentum, config.nesterov, config.label_smoothing) == (0.9, False, 0.0)
    assert (config.width, config.seed, config.split_seed) == (1.0, 1, 777)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dataset_settings(name):
    config = presets.get(name)
    if name.startswith("fig3-"):
        # 105 epochs in total: 5 warm-up + 95 cosine + 5 fine-tuning at 1e-5.
        assert (config.dataset, config.stem, config.val_fraction) == ("imagenet", "imagenet", 0.01)
        assert (config.warmup_epochs, config.finetune_epochs, config.finetune_lr) == (5, 5, 1e-5)
        assert config.epochs - config.warmup_epochs - config.finetune_epochs == 95
    else:
        assert (config.dataset, config.stem, config.val_fraction) == ("cifar10", "cifar", 0.1)
        assert (config.warmup_epochs, config.finetune_epochs, config.augmentation) == (0, 0, "iterand")


def test_names_follow_the_pattern():
    pattern = re.compile(r"fig[1-3]-(conv6|resnet(18|34|50|101))-(sc|ku)-(sgd|edgepopup|iterand)")
    assert all(pattern.fullmatch(name) for name in presets.names())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_presets_are_valid_configs_and_take_sweep_overrides(name):
    config = presets.get(name)
    assert TrainConfig.from_dict(config.to_dict()) == config
    swept = config.replace(width=0.5, seed=3)
    assert (swept.width, swept.seed) == (0.5, 3)


def test_fig1_r_sweep_points_are_valid():
    for r in (0.0, 0.01, 0.1, 1.0):
        assert presets.get("fig1-resnet18-ku-iterand").replace(r=r).r == r


@pytest.mark.parametrize(
    ("name", "num_classes", "input_size"),
    [
        ("fig2-conv6-sc-iterand", 10, 32),
        ("fig2-resnet18-ku-sgd", 10, 32),
        ("fig3-resnet50-sc-iterand", 10, 64),
    ],
)
def test_presets_build_working_models(name, num_classes, input_size):
    config = presets.get(name).replace(width=0.25)
    model = build_model(config, num_classes).eval()
    assert any(is_subnet_layer(m) for m in model.modules()) == (config.method != "sgd")
    with torch.no_grad():
        assert model(torch.zeros(1, 3, input_size, input_size)).shape == (1, num_classes)


def test_unknown_preset_lists_close_matches():
    with pytest.raises(
        ValueError, match=r"unknown preset 'fig2-conv6-sc-iterrand'; did you mean fig2-conv6-sc-iterand"
    ):
        presets.get("fig2-conv6-sc-iterrand")
    with pytest.raises(ValueError, match="known presets: fig1-conv6-ku-iterand, "):
        presets.get("xyz")


def test_describe_gives_the_config_and_a_one_line_description():
    info = presets.describe("fig3-resnet101-sc-iterand")
    assert info["name"] == "fig3-resnet101-sc-iterand"
    assert info["config"] == presets.get("fig3-resnet101-sc-iterand").to_dict()
    assert "\n" not in info["description"]
    assert all(word in info["description"] for word in ("Fig. 3", "ResNet-101", "ImageNet", "IteRand", "70%"))
    with pytest.raises(ValueError, match="unknown preset"):
        presets.describe("fig9")
