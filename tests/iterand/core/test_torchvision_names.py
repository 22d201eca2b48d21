"""The ImageNet-stem ResNets under torchvision's names: which models map, the names both ways, the bias."""

from __future__ import annotations

import pytest
import torch
import torchvision

from iterand.core.export import effective_state_dict
from iterand.core.models import RESNET_LAYOUTS, build
from iterand.core.torchvision_names import (
    from_torchvision,
    to_torchvision,
    torchvision_architecture,
    torchvision_key,
)


@pytest.mark.parametrize("name", sorted(RESNET_LAYOUTS))
def test_every_imagenet_resnet_at_width_1_has_torchvisions_keys_and_shapes(name):
    ours = build(name, 1.0, 12, stem="imagenet", dense=True)
    assert torchvision_architecture(ours) == name
    state = to_torchvision(ours, effective_state_dict(ours))
    with torch.device("meta"):  # names and shapes only: no need to draw torchvision's weights
        theirs = getattr(torchvision.models, name)(num_classes=12).state_dict()
    assert {key: tuple(t.shape) for key, t in state.items()} == {
        key: tuple(t.shape) for key, t in theirs.items()
    }
    assert torch.equal(state["fc.bias"], torch.zeros(12))
    assert from_torchvision(ours, state).keys() == ours.state_dict().keys()


@pytest.mark.parametrize(
    "name, width, stem",
    [
        ("resnet18", 1.0, "cifar"),
        ("resnet50", 0.5, "imagenet"),
        ("resnet18", 2.0, "imagenet"),
        ("conv6", 1.0, "cifar"),
    ],
)
def test_models_without_a_torchvision_twin_are_refused(name, width, stem):
    model = build(name, width, 10, stem=stem, dense=True)
    with pytest.raises(ValueError, match="only the ImageNet-stem ResNets at width 1") as error:
        to_torchvision(model, model.state_dict())
    assert "dense format" in str(error.value)


def test_key_names():
    assert torchvision_key("stem.0.weight") == "conv1.weight"
    assert torchvision_key("stem.1.running_var") == "bn1.running_var"
    assert torchvision_key("stages.0.1.conv2.weight") == "layer1.1.conv2.weight"
    assert torchvision_key("stages.3.0.bn3.num_batches_tracked") == "layer4.0.bn3.num_batches_tracked"
    assert torchvision_key("stages.2.0.shortcut.1.bias") == "layer3.0.downsample.1.bias"
    with pytest.raises(ValueError, match="no torchvision name"):
        torchvision_key("stages.0.0.relu.weight")


def test_a_classifier_bias_cannot_be_dropped_silently():
    ours = build("resnet18", 1.0, 3, stem="imagenet", dense=True)
    state = to_torchvision(ours, ours.state_dict())
    state["fc.bias"] = torch.tensor([0.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="fc.bias is not zero"):
        from_torchvision(ours, state)
