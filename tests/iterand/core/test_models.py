import dataclasses
import subprocess
import sys

import pytest
import torch
import torchvision
from torch import nn

from iterand.core.accounting import count_weights
from iterand.core.layers import SubnetSpec, is_subnet_layer
from iterand.core.models import MODEL_NAMES, build
from iterand.core.names import MIN_CHANNELS, NARROWEST_CHANNELS, scaled_channels

# Reference parameter counts (conv + linear weights, in millions, at the stated precision)
# and the exact counts the code computes; the exact numbers pin the architecture and the width rule.
REFERENCE_COUNTS = [
    # name, width, stem, num_classes, reference (millions), exact
    ("conv6", 0.25, "cifar", 10, "0.142", 142_128),
    ("conv6", 0.5, "cifar", 10, "0.566", 566_368),
    ("conv6", 1, "cifar", 10, "2.261", 2_261_184),
    ("conv6", 2, "cifar", 10, "9.036", 9_036_160),
    ("resnet18", 0.25, "cifar", 10, "0.708", 708_288),
    ("resnet18", 0.5, "cifar", 10, "2.805", 2_804_928),
    ("resnet18", 1, "cifar", 10, "11.16", 11_164_352),
    ("resnet18", 2, "cifar", 10, "44.58", 44_576_448),
    ("resnet34", 0.25, "cifar", 10, "1.340", 1_339_584),
    ("resnet34", 0.5, "cifar", 10, "5.330", 5_330_112),
    ("resnet34", 1, "cifar", 10, "21.27", 21_265_088),
    ("resnet34", 2, "cifar", 10, "84.98", 84_979_392),
    ("resnet34", 1, "imagenet", 1000, "21.78", 21_779_648),
    ("resnet50", 1, "imagenet", 1000, "25.50", 25_502_912),
    ("resnet101", 1, "imagenet", 1000, "44.44", 44_442_816),
]


@pytest.mark.parametrize(("name", "width", "stem", "num_classes", "reference", "exact"), REFERENCE_COUNTS)
def test_weight_counts_match_the_references(name, width, stem, num_classes, reference, exact):
    # The dense build is the same architecture (checked below) at half the memory of weights + scores.
    total = count_weights(build(name, width, num_classes, stem=stem, dense=True)).total
    decimals = len(reference.split(".")[1])
    assert f"{total / 1e6:.{decimals}f}" == reference
    assert total == exact


@pytest.mark.parametrize(
    ("name", "exact"), [("conv2", 4_300_992), ("conv4", 2_425_024), ("conv8", 5_275_840)]
)
def test_other_conv_networks_weight_counts(name, exact):
    assert count_weights(build(name, dense=True)).total == exact


@pytest.mark.parametrize(
    ("name", "width"),
    [(name, 0.25) for name in MODEL_NAMES]
    + [("conv6", 1.3), ("conv8", 0.5), ("resnet18", 0.5), ("resnet50", 0.5)],
)
def test_cifar_output_shape(name, width):
    torch.manual_seed(0)
    model = build(name, width=width)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize(("name", "width"), [("resnet18", 0.5), ("resnet50", 0.25), ("resnet101", 0.25)])
def test_imagenet_output_shape(name, width):
    torch.manual_seed(0)
    model = build(name, width=width, num_classes=1000, stem="imagenet").eval()
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


def test_stems():
    cifar = build("resnet18", dense=True)
    imagenet = build("resnet18", stem="imagenet", dense=True)
    assert (cifar.stem[0].kernel_size, cifar.stem[0].stride) == ((3, 3), (1, 1))
    assert not any(isinstance(m, nn.MaxPool2d) for m in cifar.modules())
    assert (imagenet.stem[0].kernel_size, imagenet.stem[0].stride, imagenet.stem[0].padding) == (
        (7, 7),
        (2, 2),
        (3, 3),
    )
    pool = imagenet.stem[-1]
    assert isinstance(pool, nn.MaxPool2d) and (pool.kernel_size, pool.stride) == (3, 2)
    # CIFAR: 32 -> 32 -> 16 -> 8 -> 4; ImageNet: 224 -> 112 -> 56 -> 56 -> 28 -> 14 -> 7.
    assert cifar.stages(cifar.stem(torch.randn(1, 3, 32, 32))).shape == (1, 512, 4, 4)
    assert imagenet.stages(imagenet.stem(torch.randn(1, 3, 224, 224))).shape == (1, 512, 7, 7)


def test_resnet_stem_stays_at_64_channels_and_the_first_stage_projects_when_needed():
    for width in (0.25, 1.25):
        model = build("resnet18", width=width, dense=True)
        assert model.stem[0].out_channels == 64
        first = model.stages[0][0]
        assert first.conv1.in_channels == 64 and first.conv1.out_channels == round(64 * width)
        assert isinstance(first.shortcut[0], nn.Conv2d)
        assert first.shortcut[0].stride == (1, 1)
    assert isinstance(build("resnet18", dense=True).stages[0][0].shortcut, nn.Identity)
    # Bottleneck: the first block always projects (64 -> 256 channels at width 1).
    assert isinstance(build("resnet50", dense=True).stages[0][0].shortcut[0], nn.Conv2d)


def test_width_rule_rounds_to_nearest():
    conv6 = build("conv6", width=1.3, dense=True)
    convs = [m.out_channels for m in conv6.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [83, 83, 166, 166, 333, 333]  # 83.2, 166.4, 332.8
    linears = [(m.in_features, m.out_features) for m in conv6.modules() if isinstance(m, nn.Linear)]
    assert linears == [(333 * 16, 333), (333, 333), (333, 10)]
    resnet = build("resnet50", width=0.3, dense=True)
    assert [stage[0].conv1.out_channels for stage in resnet.stages] == [19, 38, 77, 154]
    assert resnet.fc.in_features == 154 * 4
    assert build("conv2", width=1e-3, dense=True).features[0].out_channels == 1


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_narrowest_channels_is_the_narrowest_scaled_layer_of_every_model(name):
    # The configuration rejects widths below the one giving MIN_CHANNELS there, without building a model.
    width = (MIN_CHANNELS - 0.5) / NARROWEST_CHANNELS
    model = build(name, width=width, dense=True)
    widths = [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]
    widths += [m.out_features for m in model.modules() if isinstance(m, nn.Linear)][:-1]  # not the logits
    assert min(widths) == MIN_CHANNELS == scaled_channels(NARROWEST_CHANNELS, width)


def test_conv_networks_have_no_batchnorm_and_pool_after_each_pair():
    for name, pairs in [("conv2", 1), ("conv4", 2), ("conv6", 3), ("conv8", 4)]:
        model = build(name)
        types = [type(m) for m in model.features]
        assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        assert types.count(nn.MaxPool2d) == pairs
        assert sum(is_subnet_layer(m) for m in model.features) == 2 * pairs
        assert sum(is_subnet_layer(m) for m in model.classifier) == 3


def _relu_before_pool(features):
    """The same modules in the textbook order conv - ReLU - conv - ReLU - pool."""
    modules = list(features)
    for i in [i for i, module in enumerate(modules) if isinstance(module, nn.MaxPool2d)]:
        modules[i], modules[i + 1] = modules[i + 1], modules[i]
    return nn.Sequential(*modules)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_conv_networks_pool_before_relu_is_bit_identical_to_relu_before_pool(memory_format):
    torch.manual_seed(0)
    model = build("conv6", width=0.25).to(memory_format=memory_format)
    assert [type(m) for m in model.features[2:5]] == [type(model.features[0]), nn.MaxPool2d, nn.ReLU]
    images = torch.randn(16, 3, 32, 32).contiguous(memory_format=memory_format)
    labels = torch.randint(10, (16,))
    results = []
    for features in (model.features, _relu_before_pool(model.features)):
        model.zero_grad(set_to_none=True)
        logits = nn.Sequential(features, model.classifier)(images)
        nn.functional.cross_entropy(logits, labels).backward()
        results.append([logits.detach()] + [p.grad for p in model.parameters() if p.grad is not None])
    assert len(results[0]) == 1 + 9
    assert all(torch.equal(a, b) for a, b in zip(*results, strict=True))


def _layer_geometry(module):
    if isinstance(module, nn.Conv2d):
        return (module.weight.shape, module.stride, module.padding, module.dilation, module.groups)
    return (module.weight.shape,)


@pytest.mark.parametrize("name", ["conv4", "resnet18", "resnet50"])
def test_dense_and_subnetwork_versions_share_the_architecture(name):
    dense = dict(build(name, width=0.25, dense=True).named_modules())
    subnet = dict(build(name, width=0.25).named_modules())
    assert dense.keys() == subnet.keys()
    prunable = 0
    for key, module in subnet.items():
        counterpart = dense[key]
        if is_subnet_layer(module):
            prunable += 1
            assert type(counterpart) in (nn.Conv2d, nn.Linear) and isinstance(module, type(counterpart))
            assert _layer_geometry(module) == _layer_geometry(counterpart)
            assert module.bias is None and counterpart.bias is None
        elif isinstance(module, nn.BatchNorm2d):
            assert type(counterpart) is nn.BatchNorm2d and module.num_features == counterpart.num_features
            assert not module.affine and counterpart.affine
            assert module.track_running_stats and counterpart.track_running_stats
        else:
            assert type(module) is type(counterpart)
    # Every conv (stem and shortcuts included) and the classifier are prunable.
    assert prunable == sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in dense.values())


@pytest.mark.parametrize("name", ["conv4", "resnet18"])
def test_only_scores_train_in_subnetwork_models_and_weights_train_in_dense_ones(name):
    subnet = build(name, width=0.25)
    trainable = {key for key, p in subnet.named_parameters() if p.requires_grad}
    assert trainable and all(key.endswith("scores") for key in trainable)
    frozen = {key for key, p in subnet.named_parameters() if not p.requires_grad}
    assert frozen == {f"{key}.weight" for key, m in subnet.named_modules() if is_subnet_layer(m)}
    dense = build(name, width=0.25, dense=True)
    assert all(p.requires_grad for p in dense.parameters())
    assert not any(key.endswith("scores") for key, _ in dense.named_parameters())


@pytest.mark.parametrize("name", ["conv2", "resnet18"])
@pytest.mark.parametrize("dense", [False, True])
def test_same_seed_same_model_and_different_seed_different_model(name, dense):
    first = build(name, width=0.25, seed=3, dense=dense).state_dict()
    again = build(name, width=0.25, seed=3, dense=dense).state_dict()
    other = build(name, width=0.25, seed=4, dense=dense).state_dict()
    assert first.keys() == again.keys() == other.keys()
    for key, value in first.items():
        assert torch.equal(value, again[key]), key
    drawn = [key for key in first if key.endswith(("weight", "scores")) and first[key].dim() > 1]
    assert drawn
    for key in drawn:
        assert not torch.equal(first[key], other[key]), key


def test_seed_does_not_depend_on_the_global_rng():
    torch.manual_seed(0)
    first = build("conv2", width=0.25).state_dict()
    torch.manual_seed(1)
    second = build("conv2", width=0.25).state_dict()
    assert all(torch.equal(first[key], second[key]) for key in first)


def test_keyword_shortcuts_build_the_subnet_spec():
    model = build("conv2", width=0.25, init="ku", pruned_fraction=0.6, ranking="abs_score")
    expected = SubnetSpec(weight_init="ku", pruned_fraction=0.6, ranking="abs_score")
    specs = {m.spec for m in model.modules() if is_subnet_layer(m)}
    assert specs == {expected}
    base = SubnetSpec(weight_scale=2.0)
    model = build("conv2", width=0.25, subnet=base, pruned_fraction=0.7)
    assert {m.spec for m in model.modules() if is_subnet_layer(m)} == {
        dataclasses.replace(base, pruned_fraction=0.7)
    }
    assert {m.spec for m in build("conv2", width=0.25).modules() if is_subnet_layer(m)} == {SubnetSpec()}


def test_global_scope_models_run_without_extra_calls():
    model = build("conv2", width=0.25, subnet=SubnetSpec(scope="global"))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_dense_via_flag_or_none_spec():
    for model in (build("conv2", width=0.25, dense=True), build("conv2", width=0.25, subnet=None)):
        assert not any(is_subnet_layer(m) for m in model.modules())
        assert sum(type(m) in (nn.Conv2d, nn.Linear) for m in model.modules()) == 5


def test_name_is_case_insensitive():
    assert type(build("ResNet18", width=0.25)) is type(build("resnet18", width=0.25))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "resnet20"}, "name"),
        ({"name": "vgg11"}, "name"),
        ({"name": "conv6", "width": 0}, "width"),
        ({"name": "conv6", "width": -1.0}, "width"),
        ({"name": "conv6", "width": float("nan")}, "width"),
        ({"name": "conv6", "width": "2"}, "width"),
        ({"name": "conv6", "num_classes": 0}, "num_classes"),
        ({"name": "resnet18", "stem": "tiny"}, "stem"),
        ({"name": "conv6", "stem": "imagenet"}, "stem"),
        ({"name": "conv6", "dense": True, "pruned_fraction": 0.5}, "pruned_fraction"),
        ({"name": "conv6", "subnet": None, "init": "ku"}, "init"),
        ({"name": "conv6", "dense": True, "subnet": SubnetSpec(pruned_fraction=0.6)}, "dense"),
        ({"name": "conv6", "subnet": {"pruned_fraction": 0.6}}, "subnet"),
        ({"name": "conv6", "pruned_fraction": 1.0}, "pruned_fraction"),
        ({"name": "conv6", "init": "xavier"}, "weight_init"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        build(**kwargs)


def test_unknown_name_lists_the_allowed_names():
    with pytest.raises(ValueError) as error:
        build("resnet20")
    assert all(name in str(error.value) for name in MODEL_NAMES)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_imagenet_resnets_have_torchvision_weight_shapes(name):
    # An independent check of the architecture: the same multiset of conv/linear weight shapes as
    # torchvision's ResNet (which has biases in fc only; those are not compared).
    def shapes(model):
        return sorted(tuple(m.weight.shape) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))

    ours = build(name, num_classes=1000, stem="imagenet", dense=True)
    theirs = getattr(torchvision.models, name)(weights=None)
    assert shapes(ours) == shapes(theirs)


def test_package_import_is_lazy_and_reexports():
    code = (
        "import sys, iterand\n"
        "assert 'torch' not in sys.modules\n"
        "from iterand.core.accounting import count_weights\n"
        "assert iterand.count_weights is count_weights and iterand.models.build\n"
        "assert iterand.to_subnet.__module__ == 'iterand.core.convert'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
