"""Subnetwork layers, their spec, the global scope and the layer factory."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from iterand.core import masks
from iterand.core.init import draw_weights
from iterand.core.layers import (
    LayerFactory,
    SubnetConv2d,
    SubnetLinear,
    SubnetSpec,
    attach_global_scope,
    is_subnet_layer,
    kept_masks,
    layer_factory,
    named_subnet_layers,
    update_global_thresholds,
)
from iterand.core.weight_updates import IteRand


def conv(spec=None, seed=0, **kwargs):
    spec = SubnetSpec(**kwargs) if spec is None else spec
    return SubnetConv2d(4, 6, 3, padding=1, spec=spec, generator=torch.Generator().manual_seed(seed)).double()


def small_model(spec, seed=0):
    factory = layer_factory(spec, torch.Generator().manual_seed(seed))
    return nn.Sequential(
        factory.conv(3, 8, 3, padding=1),
        factory.batchnorm(8),
        nn.ReLU(),
        factory.conv(8, 8, 3, stride=2, padding=1),
        factory.batchnorm(8),
        nn.ReLU(),
        nn.Flatten(),
        factory.linear(8 * 4 * 4, 5),
    )


def explicit_score_gradient(layer, x, upstream):
    """d loss / d scores from autograd on an explicit (w * m) leaf: grad(w * m) * w (* sign(s) for |s|)."""
    kept = layer.kept_mask()
    effective = (layer.weight * kept).detach().requires_grad_(True)
    out = F.conv2d(x, effective, None, layer.stride, layer.padding)
    (out * upstream).sum().backward()
    grad = effective.grad * layer.weight
    return grad * layer.scores.detach().sign() if layer.spec.ranking == "abs_score" else grad


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"pruned_fraction": 1.0}, "pruned_fraction"),
        ({"pruned_fraction": -0.2}, "pruned_fraction"),
        ({"ranking": "magnitude"}, "ranking"),
        ({"weight_init": "xavier"}, "weight_init"),
        ({"weight_scale": 0.0}, "weight_scale"),
        ({"weight_scale": float("inf")}, "weight_scale"),
        ({"effective_weight": "binary"}, "effective_weight"),
        ({"scope": "model"}, "scope"),
        ({"effective_weight": "biprop", "ranking": "score"}, "ranking"),
    ],
)
def test_spec_rejects_bad_fields_naming_them(fields, field):
    with pytest.raises(ValueError, match=field):
        SubnetSpec(**fields)


def test_spec_defaults_and_alias_canonicalisation():
    spec = SubnetSpec()
    assert (spec.pruned_fraction, spec.ranking, spec.weight_init, spec.scope) == (
        0.5,
        "score",
        "signed_constant",
        "layer",
    )
    assert SubnetSpec(weight_init="ku").weight_init == "kaiming_uniform"
    assert SubnetSpec(weight_init="ku") == SubnetSpec(weight_init="kaiming_uniform")


def test_layer_parameters_frozen_weights_trained_scores_no_bias():
    for layer in (conv(), SubnetLinear(7, 3, spec=SubnetSpec())):
        assert layer.bias is None
        assert not layer.weight.requires_grad and layer.scores.requires_grad
        assert layer.scores.shape == layer.weight.shape
        assert set(layer.state_dict()) == {"weight", "scores"}
        assert [p for p in layer.parameters() if p.requires_grad] == [layer.scores]
        assert is_subnet_layer(layer)
    assert not is_subnet_layer(nn.Conv2d(2, 2, 1))
    assert not conv().double().weight.requires_grad


def test_scores_then_weights_drawn_from_the_generator():
    layer = SubnetConv2d(
        4,
        6,
        3,
        spec=SubnetSpec(weight_init="kn", weight_scale=0.5),
        generator=torch.Generator().manual_seed(7),
    )
    generator = torch.Generator().manual_seed(7)
    template = torch.empty(6, 4, 3, 3)
    assert torch.equal(layer.scores, draw_weights(template, "kaiming_uniform", 1.0, generator))
    assert torch.equal(layer.weight, draw_weights(template, "kaiming_normal", 0.5, generator))
    assert layer.fan_in == 36
    assert float(layer.scores.detach().abs().max()) <= math.sqrt(6 / 36)


@pytest.mark.parametrize("ranking", masks.RANKINGS)
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 0.9])
def test_layer_mask_exact_count_and_keeps_top_ranked(ranking, p):
    layer = conv(pruned_fraction=p, ranking=ranking)
    mask = layer.mask()
    assert mask.dtype == layer.weight.dtype and set(mask.unique().tolist()) <= {0.0, 1.0}
    assert int(mask.sum()) == 216 - masks.pruned_count(216, p) == 216 - layer.pruned_count
    ranked = layer.scores.detach() if ranking == "score" else layer.scores.detach().abs()
    if p > 0:
        assert ranked[mask.bool()].min() > ranked[~mask.bool()].max()


def test_tiny_layer_with_one_weight_is_always_kept():
    layer = SubnetLinear(1, 1, spec=SubnetSpec(pruned_fraction=0.99))
    assert layer.mask().tolist() == [[1.0]]


@pytest.mark.parametrize("ranking", masks.RANKINGS)
def test_forward_uses_masked_weight_and_gradient_is_straight_through(ranking):
    layer = conv(ranking=ranking, weight_init="kaiming_normal")
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 5, 5, generator=generator, dtype=torch.float64)
    upstream = torch.randn(2, 6, 5, 5, generator=generator, dtype=torch.float64)
    out = layer(x)
    assert torch.equal(out, F.conv2d(x, layer.weight * layer.mask(), None, 1, 1))
    (out * upstream).sum().backward()
    assert layer.weight.grad is None
    assert torch.allclose(
        layer.scores.grad, explicit_score_gradient(layer, x, upstream), rtol=1e-12, atol=1e-15
    )


def test_biprop_effective_weight_and_gradient():
    layer = conv(effective_weight="biprop", ranking="abs_score", pruned_fraction=0.6, weight_init="kn")
    m = layer.mask()
    alpha = (layer.weight.abs() * m).sum() / (216 - masks.pruned_count(216, 0.6))
    expected = alpha * layer.weight.sign() * m
    assert torch.allclose(layer.effective_weight(), expected, rtol=1e-14, atol=0)
    # the magnitudes collapse to alpha: one value among the kept weights
    assert torch.allclose(layer.effective_weight().abs()[m.bool()], alpha.expand(int(m.sum())))
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    layer(x).sum().backward()
    grad_effective = torch.autograd.grad(F.conv2d(x, expected.requires_grad_(), None, 1, 1).sum(), expected)[
        0
    ]
    assert torch.allclose(layer.scores.grad, grad_effective * layer.weight * layer.scores.detach().sign())


def test_global_scope_one_threshold_exact_total():
    spec = SubnetSpec(scope="global", pruned_fraction=0.7, ranking="abs_score")
    model = small_model(spec).double()
    layers = [layer for _, layer in named_subnet_layers(model)]
    with pytest.raises(RuntimeError, match="update_global_thresholds"):
        model(torch.zeros(1, 3, 8, 8, dtype=torch.float64))
    update_global_thresholds(model)
    total = sum(layer.weight.numel() for layer in layers)
    kept = torch.cat([layer.kept_mask().reshape(-1) for layer in layers])
    assert int(kept.sum()) == total - masks.pruned_count(total, 0.7)
    ranked = torch.cat([layer.scores.detach().abs().reshape(-1) for layer in layers])
    assert ranked[kept].min() > ranked[~kept].max()
    per_layer = [float(layer.mask().mean()) for layer in layers]
    assert len(set(per_layer)) > 1  # layers keep different fractions: the threshold is shared, not the count
    assert all(
        torch.equal(a, layer.kept_mask()) for a, layer in zip(kept_masks(model).values(), layers, strict=True)
    )


def test_global_scope_ties_across_layers_are_exact():
    model = small_model(SubnetSpec(scope="global", pruned_fraction=0.5))
    for _, layer in named_subnet_layers(model):
        layer.scores.data.fill_(1.0)
    update_global_thresholds(model)
    kept = torch.cat([layer.kept_mask().reshape(-1) for _, layer in named_subnet_layers(model)])
    n_pruned = masks.pruned_count(kept.numel(), 0.5)
    assert torch.equal(kept, torch.arange(kept.numel()) >= n_pruned)  # model order, then flat order


def test_attached_global_scope_follows_score_changes():
    model = small_model(SubnetSpec(scope="global", pruned_fraction=0.5))
    attach_global_scope(model)
    model(torch.zeros(1, 3, 8, 8))
    first = model[0].kept_mask()
    model[0].scores.data.add_(10.0)  # now every weight of the first layer outranks the others
    model(torch.zeros(1, 3, 8, 8))
    assert not torch.equal(first, model[0].kept_mask()) and bool(model[0].kept_mask().all())


def two_global_layers(pruned_fraction=0.5):
    """32 + 64 weights: neither layer alone holds the globally pruned count."""
    factory = layer_factory(
        SubnetSpec(scope="global", pruned_fraction=pruned_fraction), torch.Generator().manual_seed(0)
    )
    return nn.Sequential(factory.linear(4, 8), factory.linear(8, 8)).double()


def test_kept_masks_of_global_layers_use_a_fresh_threshold():
    model = two_global_layers()
    update_global_thresholds(model)
    model[0].scores.data.add_(10.0)  # the first layer now outranks every weight of the second
    fresh = kept_masks(model)
    assert bool(fresh["0"].all())
    # The first layer alone cannot tell a fresh threshold from the stale one (it clears both); the
    # second layer must now hold all the pruned weights, which only a fresh threshold gives.
    n_pruned = masks.pruned_count(32 + 64, 0.5)
    second = model[1].scores.detach()
    assert int(fresh["1"].sum()) == 64 - n_pruned
    assert second[fresh["1"]].min() > second[~fresh["1"]].max()


def test_kept_masks_leave_the_stored_global_thresholds_alone():
    model = two_global_layers()
    update_global_thresholds(model)
    stored = [
        (layer.global_threshold.clone(), layer.global_tie_quota.clone(), layer.kept_mask())
        for _, layer in named_subnet_layers(model)
    ]
    reduced = kept_masks(model, 0.5)
    assert sum(int((~kept).sum()) for kept in reduced.values()) == masks.pruned_count(96, 0.25)
    for (threshold, tie_quota, kept), (_, layer) in zip(stored, named_subnet_layers(model), strict=True):
        assert torch.equal(layer.global_threshold, threshold)
        assert torch.equal(layer.global_tie_quota, tie_quota)
        assert torch.equal(layer.kept_mask(), kept)


def test_global_layers_must_agree():
    factory_a = layer_factory(SubnetSpec(scope="global", pruned_fraction=0.5))
    factory_b = layer_factory(SubnetSpec(scope="global", pruned_fraction=0.6))
    model = nn.Sequential(factory_a.linear(4, 4), factory_b.linear(4, 4))
    with pytest.raises(ValueError, match="pruned_fraction"):
        update_global_thresholds(model)


def test_dense_factory_builds_plain_trainable_ku_layers_and_affine_bn():
    factory = layer_factory(None, torch.Generator().manual_seed(0))
    conv_layer, linear_layer, bn = factory.conv(16, 32, 3), factory.linear(200, 10), factory.batchnorm(8)
    assert type(conv_layer) is nn.Conv2d and type(linear_layer) is nn.Linear
    for layer, fan in ((conv_layer, 144), (linear_layer, 200)):
        assert layer.bias is None and layer.weight.requires_grad
        bound = math.sqrt(6 / fan)
        largest = float(layer.weight.detach().abs().max())
        assert largest <= bound and largest > 0.95 * bound
    assert bn.affine and bn.track_running_stats and isinstance(factory.batchnorm1d(4), nn.BatchNorm1d)


def test_subnet_factory_builds_subnet_layers_and_non_affine_bn():
    factory = LayerFactory(SubnetSpec(), torch.Generator().manual_seed(0))
    assert isinstance(factory.conv(3, 4, 3), SubnetConv2d) and isinstance(factory.linear(3, 4), SubnetLinear)
    for bn in (factory.batchnorm(4), factory.batchnorm1d(4)):
        assert not bn.affine and bn.track_running_stats
    with pytest.raises(ValueError, match="spec"):
        layer_factory("dense")


def test_same_generator_seed_builds_identical_models():
    a, b = small_model(SubnetSpec(), seed=4), small_model(SubnetSpec(), seed=4)
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_compiled_forward_and_backward_match_eager(scope):
    spec = SubnetSpec(scope=scope, pruned_fraction=0.6, ranking="abs_score")
    eager = small_model(spec, seed=2)
    compiled_model = small_model(spec, seed=2)
    if scope == "global":
        attach_global_scope(eager)
        attach_global_scope(compiled_model)
    compiled = torch.compile(compiled_model, backend="aot_eager", fullgraph=True)
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    out_eager, out_compiled = eager(x), compiled(x)
    assert torch.allclose(out_eager, out_compiled, atol=1e-6)
    out_eager.square().sum().backward()
    out_compiled.square().sum().backward()
    for (_, a), (_, b) in zip(named_subnet_layers(eager), named_subnet_layers(compiled_model), strict=True):
        assert torch.allclose(a.scores.grad, b.scores.grad, atol=1e-6)
        assert b.weight.grad is None


def test_building_a_dense_model_leaves_the_global_rng_alone():
    from iterand import models

    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    models.build("conv2", width=0.25, dense=True, seed=3)
    models.build("conv2", width=0.25, seed=3)
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.parametrize("scope", ["layer", "global"])
@pytest.mark.parametrize("ranking", masks.RANKINGS)
def test_channels_last_model_has_the_same_masks_effective_weights_and_redraws(scope, ranking):
    # The Trainer converts models to channels-last memory (CPU and GPU). Masks (ties included), effective
    # weights and IteRand's re-draws are computed in logical order, so they are bit for bit those of the
    # contiguous model; only the convolutions sum in another order (outputs and gradients close).
    model = small_model(SubnetSpec(ranking=ranking, scope=scope), seed=5)
    with torch.no_grad():
        for _, layer in named_subnet_layers(model):
            layer.scores.copy_((layer.scores * 8).round() / 8)  # many ties, broken by flat position
    converted = copy.deepcopy(model).to(memory_format=torch.channels_last)
    assert not converted[0].scores.is_contiguous() and not converted[0].weight.is_contiguous()
    if scope == "global":
        update_global_thresholds(model)
        update_global_thresholds(converted)
    for (name, kept), (_, kept_converted) in zip(
        kept_masks(model).items(), kept_masks(converted).items(), strict=True
    ):
        assert torch.equal(kept, kept_converted), name
    layers = list(zip(named_subnet_layers(model), named_subnet_layers(converted), strict=True))
    for (_, layer), (_, layer_converted) in layers:
        assert torch.equal(layer.effective_weight(), layer_converted.effective_weight())
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    out, out_converted = model(x), converted(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out_converted, out)
    out.square().sum().backward()
    out_converted.square().sum().backward()
    for (_, layer), (_, layer_converted) in layers:
        torch.testing.assert_close(layer_converted.scores.grad, layer.scores.grad)
    IteRand(r=0.5, seed=3).apply(model)
    IteRand(r=0.5, seed=3).apply(converted)
    for (name, layer), (_, layer_converted) in layers:
        assert torch.equal(layer.weight, layer_converted.weight), name
