import pytest
import torch
import torchvision
from torch import nn

from iterand.core.accounting import count_weights
from iterand.core.convert import to_subnet
from iterand.core.layers import SubnetConv2d, SubnetLinear, SubnetSpec, is_subnet_layer
from iterand.core.masks import pruned_count

SPEC = SubnetSpec(pruned_fraction=0.6, weight_init="ku")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _conv_geometry(conv: nn.Conv2d) -> tuple:
    return (
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
    )


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=10)


@pytest.fixture(scope="module")
def mobilenet():
    torch.manual_seed(0)
    return torchvision.models.mobilenet_v3_small(weights=None, num_classes=10)


@pytest.fixture(scope="module")
def converted(resnet18, mobilenet):
    """Each test model converted once (ResNet-18 is 11M weights: converting it is the slow part)."""
    return {
        "resnet18": to_subnet(resnet18, SPEC, _generator(0)),
        "mobilenet": to_subnet(mobilenet, SPEC, _generator(0)),
    }


@pytest.mark.parametrize("fixture", ["resnet18", "mobilenet"])
def test_every_conv_linear_and_batchnorm_is_replaced_with_the_same_geometry(fixture, request, converted):
    before = dict(request.getfixturevalue(fixture).named_modules())
    after = dict(converted[fixture].named_modules())
    assert before.keys() == after.keys()
    seen = {nn.Conv2d: 0, nn.Linear: 0, nn.BatchNorm2d: 0}
    for name, old in before.items():
        new = after[name]
        if isinstance(old, nn.Conv2d):
            seen[nn.Conv2d] += 1
            assert type(new) is SubnetConv2d and new.spec == SPEC
            assert _conv_geometry(new) == _conv_geometry(old)
            assert new.bias is None
        elif isinstance(old, nn.Linear):
            seen[nn.Linear] += 1
            assert type(new) is SubnetLinear and new.spec == SPEC
            assert (new.in_features, new.out_features, new.bias) == (old.in_features, old.out_features, None)
        elif isinstance(old, nn.BatchNorm2d):
            seen[nn.BatchNorm2d] += 1
            assert type(new) is nn.BatchNorm2d and not new.affine and new.track_running_stats
            assert (new.num_features, new.eps, new.momentum) == (old.num_features, old.eps, old.momentum)
        else:
            assert type(new) is type(old)
    assert all(seen.values())
    # The torchvision models use biased linear layers, depthwise convs (MobileNet) and eps = 1e-3
    # (MobileNet): all of it must have been exercised above.
    if fixture == "mobilenet":
        assert any(m.groups > 1 for m in after.values() if isinstance(m, nn.Conv2d))
        assert any(m.eps == 1e-3 for m in after.values() if isinstance(m, nn.BatchNorm2d))


def test_the_original_model_is_left_unchanged(mobilenet):
    state = {key: value.clone() for key, value in mobilenet.state_dict().items()}
    converted = to_subnet(mobilenet, SPEC, _generator(0))
    assert converted is not mobilenet
    assert type(mobilenet.features[0][0]) is nn.Conv2d and mobilenet.features[0][1].affine
    assert mobilenet.state_dict().keys() == state.keys()
    assert all(torch.equal(value, mobilenet.state_dict()[key]) for key, value in state.items())


@pytest.mark.parametrize("fixture", ["resnet18", "mobilenet"])
def test_converted_model_trains_only_its_scores(fixture, converted):
    model = converted[fixture].train()
    torch.manual_seed(0)
    logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10)
    nn.functional.cross_entropy(logits, torch.tensor([1, 7])).backward()
    for name, parameter in model.named_parameters():
        if name.endswith("scores"):
            assert parameter.requires_grad and parameter.grad is not None, name
            assert parameter.grad.abs().sum() > 0, name
        else:
            assert not parameter.requires_grad and parameter.grad is None, name


def test_seeded_generator_gives_a_reproducible_model(mobilenet):
    first = to_subnet(mobilenet, SPEC, _generator(5)).state_dict()
    again = to_subnet(mobilenet, SPEC, _generator(5)).state_dict()
    other = to_subnet(mobilenet, SPEC, _generator(6)).state_dict()
    assert all(torch.equal(value, again[key]) for key, value in first.items())
    drawn = [key for key in first if key.endswith(("weight", "scores"))]
    assert drawn and not any(torch.equal(first[key], other[key]) for key in drawn)


def test_weights_follow_the_spec_distribution():
    model = nn.Sequential(nn.Conv2d(8, 16, 3), nn.Flatten(), nn.Linear(16, 5))
    converted = to_subnet(model, SubnetSpec(weight_init="signed_constant"), _generator(0))
    conv, linear = converted[0], converted[2]
    # Signed constant: every weight is +-sqrt(2 / fan_in).
    assert torch.allclose(conv.weight.abs(), torch.full_like(conv.weight, (2 / 72) ** 0.5))
    assert torch.allclose(linear.weight.abs(), torch.full_like(linear.weight, (2 / 16) ** 0.5))


def test_counts_of_a_converted_model(resnet18, converted):
    # torchvision's ResNet-18 with 10 classes has 11,172,032 conv + linear weights (biases not counted).
    dense = count_weights(resnet18)
    counts = count_weights(converted["resnet18"])
    assert counts.total == dense.total == 11_172_032
    assert counts.per_layer.keys() == dense.per_layer.keys()
    for name, (total, kept) in counts.per_layer.items():
        assert kept == total - pruned_count(total, 0.6), name


def test_shared_modules_stay_shared():
    shared = nn.Linear(4, 4)
    converted = to_subnet(nn.Sequential(shared, nn.ReLU(), shared), SPEC)
    assert is_subnet_layer(converted[0]) and converted[0] is converted[2]


def test_root_module_conversion_and_frozen_leftover_parameters():
    assert is_subnet_layer(to_subnet(nn.Linear(4, 3), SPEC))
    model = nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.Linear(6, 2))
    converted = to_subnet(model, SPEC)
    assert not any(p.requires_grad for p in converted[1].parameters())
    assert model[1].weight.requires_grad  # the original is untouched


def test_global_scope_models_run_without_extra_calls(mobilenet):
    model = to_subnet(mobilenet, SubnetSpec(pruned_fraction=0.6, scope="global"), _generator(0)).eval()
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    counts = count_weights(model)
    assert counts.kept == counts.total - pruned_count(counts.total, 0.6)


@pytest.mark.parametrize(
    ("model", "spec", "field"),
    [
        (nn.Sequential(nn.Linear(4, 4)), 0.5, "spec"),
        (nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")), SPEC, "padding_mode"),
        (nn.Sequential(nn.MultiheadAttention(8, 2)), SPEC, "MultiheadAttention"),
    ],
)
def test_invalid_input_raises_value_error(model, spec, field):
    with pytest.raises(ValueError, match=field):
        to_subnet(model, spec)
