import dataclasses

import pytest
import torch
from torch import nn

from iterand.core.accounting import WeightCount, count_weights
from iterand.core.layers import SubnetSpec, is_subnet_layer
from iterand.core.masks import pruned_count
from iterand.core.models import build


def test_dense_model_keeps_everything_and_counts_only_conv_and_linear_weights():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, bias=True),  # 216 weights (+ 8 biases, not counted)
        nn.BatchNorm2d(8),  # not counted
        nn.Flatten(),
        nn.Linear(8 * 30 * 30, 10, bias=True),  # 72,000 weights
    )
    counts = count_weights(model)
    assert counts.per_layer == {"0": (216, 216), "3": (72_000, 72_000)}
    assert (counts.total, counts.kept, counts.pruned, counts.kept_fraction) == (72_216, 72_216, 0, 1.0)


@pytest.mark.parametrize("pruned_fraction", [0.5, 0.6])
@pytest.mark.parametrize("name", ["conv6", "resnet18"])
def test_subnetwork_kept_count_is_total_minus_the_pruned_count_per_layer(name, pruned_fraction):
    model = build(name, width=0.25, pruned_fraction=pruned_fraction)
    counts = count_weights(model)
    layers = {key: m for key, m in model.named_modules() if is_subnet_layer(m)}
    assert counts.per_layer.keys() == layers.keys()
    for key, (total, kept) in counts.per_layer.items():
        assert total == layers[key].weight.numel()
        assert kept == total - pruned_count(total, pruned_fraction), key
        assert kept == int(layers[key].mask().sum()), key
    assert counts.total == sum(total for total, _ in counts.per_layer.values())
    assert counts.kept == sum(kept for _, kept in counts.per_layer.values())
    assert counts.kept_fraction == pytest.approx(1 - pruned_fraction, abs=1e-3)


def test_rounding_of_the_first_conv6_layer_is_pinned():
    # 3 * 64 * 9 = 1728 weights: p = 0.5 prunes round(863.5) = 864 (half to even), p = 0.6 prunes
    # round(1036.2) = 1036. Written out so that a drift of the count rule fails here too.
    for pruned_fraction, kept in [(0.5, 864), (0.6, 692)]:
        counts = count_weights(build("conv6", pruned_fraction=pruned_fraction))
        assert counts.per_layer["features.0"] == (1728, kept)


def test_counts_follow_the_current_scores():
    model = build("conv2", width=0.25, subnet=SubnetSpec(pruned_fraction=0.5, scope="global"))
    first = count_weights(model)
    assert first.kept == first.total - pruned_count(first.total, 0.5)
    # Raising one layer's scores moves the global threshold: that layer keeps everything, the others less.
    layer = model.classifier[3]
    with torch.no_grad():
        layer.scores.add_(100.0)
    second = count_weights(model)
    assert second.kept == first.kept
    assert second.per_layer["classifier.3"] == (4096, 4096)
    assert first.per_layer["classifier.3"][1] < 4096
    assert second.per_layer["classifier.1"][1] < first.per_layer["classifier.1"][1]


def test_shared_layers_are_counted_once():
    shared = nn.Linear(4, 4, bias=False)
    counts = count_weights(nn.Sequential(shared, nn.ReLU(), shared))
    assert counts.total == 16 and list(counts.per_layer) == ["0"]


def test_weight_count_is_read_only():
    counts = count_weights(nn.Linear(2, 3))
    assert isinstance(counts, WeightCount)
    with pytest.raises(dataclasses.FrozenInstanceError):
        counts.total = 0
    with pytest.raises(TypeError):
        counts.per_layer["extra"] = (1, 1)


def test_model_without_weights_to_count_raises():
    with pytest.raises(ValueError, match="model"):
        count_weights(nn.Sequential(nn.ReLU(), nn.BatchNorm2d(3)))
