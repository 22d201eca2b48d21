"""Export: kept masks, effective weights, the equivalent dense model and the dense loading recipe."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from iterand.core import masks
from iterand.core.export import effective_state_dict, effective_weights, export_masks, to_dense
from iterand.core.layers import (
    SubnetSpec,
    attach_global_scope,
    is_subnet_layer,
    layer_factory,
    named_subnet_layers,
)

SPECS = {
    "masked": SubnetSpec(pruned_fraction=0.6, weight_init="kaiming_normal"),
    "abs": SubnetSpec(pruned_fraction=0.3, ranking="abs_score"),
    "biprop": SubnetSpec(
        pruned_fraction=0.5, ranking="abs_score", effective_weight="biprop", weight_init="kn"
    ),
    "global": SubnetSpec(pruned_fraction=0.7, scope="global"),
}


class Block(nn.Module):
    """conv-BN-ReLU with a conv shortcut: nested names and a BatchNorm1d in the head."""

    def __init__(self, factory):
        super().__init__()
        self.conv = factory.conv(3, 6, 3, padding=1)
        self.bn = factory.batchnorm(6)
        self.shortcut = factory.conv(3, 6, 1)
        self.head = nn.Sequential(nn.Flatten(), factory.linear(6 * 6 * 6, 10), factory.batchnorm1d(10))
        self.out = factory.linear(10, 4)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)) + self.shortcut(x))
        return self.out(torch.relu(self.head(y)))


def trained_like(spec):
    """A float64 model whose scores moved off their init and whose BatchNorm statistics are non-trivial."""
    model = Block(layer_factory(spec, torch.Generator().manual_seed(0))).double()
    if spec is not None and spec.scope == "global":
        attach_global_scope(model)
    generator = torch.Generator().manual_seed(1)
    if spec is not None:
        for _, layer in named_subnet_layers(model):
            layer.scores.data.add_(torch.randn(layer.scores.shape, generator=generator, dtype=torch.float64))
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, 6, 6, generator=generator, dtype=torch.float64) * 2 + 0.5)
    return model.eval()


def inputs():
    return torch.randn(5, 3, 6, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)


@pytest.mark.parametrize("kind", SPECS)
def test_export_masks_are_boolean_kept_masks_with_exact_counts(kind):
    model = trained_like(SPECS[kind])
    exported = export_masks(model)
    layers = dict(named_subnet_layers(model))
    assert list(exported) == ["conv", "shortcut", "head.1", "out"] == list(layers)
    for name, mask in exported.items():
        assert mask.dtype == torch.bool and mask.shape == layers[name].weight.shape
        assert torch.equal(mask, layers[name].kept_mask())
        if kind != "global":
            assert int(mask.sum()) == mask.numel() - masks.pruned_count(
                mask.numel(), SPECS[kind].pruned_fraction
            )
    if kind == "global":
        total = sum(m.numel() for m in exported.values())
        assert sum(int(m.sum()) for m in exported.values()) == total - masks.pruned_count(total, 0.7)


@pytest.mark.parametrize("kind", SPECS)
def test_effective_weights_are_the_forward_weights(kind):
    model = trained_like(SPECS[kind])
    weights = effective_weights(model)
    for name, layer in named_subnet_layers(model):
        assert torch.equal(weights[name], layer.effective_weight().detach())
        assert torch.equal(weights[name] == 0, ~layer.kept_mask() | (layer.weight == 0))


@pytest.mark.parametrize("kind", SPECS)
def test_dense_model_loads_effective_state_dict_strictly_and_matches(kind):
    model = trained_like(SPECS[kind])
    dense = Block(layer_factory(None)).double().eval()
    state = effective_state_dict(model)
    assert set(state) == set(dense.state_dict())  # no scores; BN weight/bias added for the affine twin
    dense.load_state_dict(state)  # strict
    assert torch.equal(dense.bn.weight, torch.ones(6, dtype=torch.float64))
    assert torch.equal(dense.head[2].bias, torch.zeros(10, dtype=torch.float64))
    x = inputs()
    with torch.no_grad():
        assert torch.allclose(dense(x), model(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", SPECS)
def test_to_dense_gives_plain_layers_and_the_same_outputs(kind):
    model = trained_like(SPECS[kind])
    before = {name: value.clone() for name, value in model.state_dict().items()}
    dense = to_dense(model)
    assert not any(is_subnet_layer(m) for m in dense.modules())
    assert type(dense.conv) is nn.Conv2d and type(dense.head[1]) is nn.Linear and dense.conv.bias is None
    assert (dense.shortcut.kernel_size, dense.conv.padding) == ((1, 1), (1, 1))
    assert not dense.bn.affine  # BatchNorm copied as is
    assert not any("scores" in key for key in dense.state_dict())
    x = inputs()
    with torch.no_grad():
        assert torch.allclose(dense(x), model(x), rtol=1e-12, atol=1e-12)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # original untouched


def test_global_export_uses_current_scores_not_a_stale_threshold():
    model = trained_like(SPECS["global"])
    model.conv.scores.data.add_(100.0)  # no forward since: the stored threshold is stale
    assert bool(export_masks(model)["conv"].all())


def test_to_dense_of_a_single_layer_model():
    layer = layer_factory(SubnetSpec()).linear(6, 3)
    dense = to_dense(layer)
    assert type(dense) is nn.Linear
    x = torch.randn(2, 6)
    assert torch.allclose(dense(x), layer(x))


def test_export_refuses_a_dense_model():
    with pytest.raises(ValueError, match="subnetwork"):
        export_masks(Block(layer_factory(None)))
