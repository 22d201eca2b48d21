import dataclasses
import math
import re

import pytest

from iterand.core.names import ignored_fields
from iterand.engine.config import (
    EXECUTION_FIELDS,
    METHODS,
    TrainConfig,
    apply_overrides,
    check_trainable,
    describe_fields,
    experiment_dict,
    format_fields,
    load_yaml,
    run_name,
    save_yaml,
)

FIELDS = [field.name for field in dataclasses.fields(TrainConfig)]

# One valid non-default value per field; the run-name test needs every field here, so adding a field to
# TrainConfig without deciding whether it changes results fails that test.
ALTERNATIVES = {
    "model": "resnet18",
    "width": 0.5,
    "stem": "imagenet",
    "method": "edgepopup",
    "init": "kaiming_normal",
    "pruned_fraction": 0.6,
    "ranking": "abs_score",
    "scope": "global",
    "weight_scale": 2.0,
    "r": 0.5,
    "period": 10,
    "period_unit": "epoch",
    "rate": 0.5,
    "rerandomize_mode": "manual",
    "rerandomize_lambda": 0.5,
    "rerandomize_mu": 0.5,
    "dataset": "synthetic",
    "data_root": "/data/cifar",
    "augmentation": "standard",
    "val_fraction": 0.2,
    "split_seed": 1,
    "epochs": 50,
    "batch_size": 256,
    "lr": 0.3,
    "momentum": 0.5,
    "weight_decay": 5e-4,
    "nesterov": True,
    "warmup_epochs": 2,
    "finetune_epochs": 3,
    "finetune_lr": 1e-4,
    "label_smoothing": 0.1,
    "seed": 2,
    "device": "cuda:1",
    "amp": False,
    "cpu_amp": True,
    "channels_last": False,
    "compile": True,
    "workers": 0,
    "steps_per_epoch": 5,
    "eval_batch_size": 100,
    "tensorboard": True,
}


def test_defaults_are_the_conv6_iterand_setting():
    config = TrainConfig()
    assert (config.model, config.method, config.init, config.pruned_fraction) == (
        "conv6",
        "iterand",
        "signed_constant",
        0.5,
    )
    assert (config.r, config.period, config.period_unit, config.split_seed) == (0.1, 300, "step", 777)


def test_values_are_stored_in_canonical_form():
    config = TrainConfig(model="ResNet18", init="ku", lr=1, width=2)
    assert (config.model, config.init) == ("resnet18", "kaiming_uniform")
    assert type(config.lr) is float and type(config.width) is float
    assert config == TrainConfig(model="resnet18", init="kaiming_uniform", lr=1.0, width=2.0)
    assert run_name(config) == run_name(
        TrainConfig(model="resnet18", init="kaiming_uniform", lr=1.0, width=2.0)
    )


def test_integral_floats_are_stored_as_integers():
    # The shared integer rule (bookkeeping.validation): 2.0 is the integer 2, so it names the same run.
    config = TrainConfig(seed=2.0, period=10.0)
    assert (type(config.seed), type(config.period)) == (int, int)
    assert config == TrainConfig(seed=2, period=10) and run_name(config) == run_name(
        TrainConfig(seed=2, period=10)
    )


@pytest.mark.parametrize(
    "field",
    [
        "pruned_fraction", "r", "rerandomize_lambda", "rerandomize_mu", "val_fraction", "momentum",
        "weight_decay", "label_smoothing",
    ],
)  # fmt: skip
def test_negative_zero_is_stored_as_zero(field):
    # -0.0 == 0.0, but the run name printed "p-0" and hashed "-0.0": the same run under another name.
    for given in (-0.0, "-0", "-0.0"):
        config = TrainConfig.from_dict({field: given})
        assert math.copysign(1.0, getattr(config, field)) == 1.0
        assert run_name(config) == run_name(TrainConfig(**{field: 0.0}))


INVALID = [
    ("model", "vgg16"),
    ("width", 0.0),
    ("width", float("inf")),
    ("width", 1e308),  # overflowed computing channel counts
    ("width", 65.0),
    ("stem", "tiny"),
    ("method", "lottery"),
    ("init", "xavier"),
    ("pruned_fraction", 1.0),
    ("pruned_fraction", -0.1),
    ("ranking", "magnitude"),
    ("scope", "network"),
    ("weight_scale", 0.0),
    ("r", 1.5),
    ("r", -0.01),
    ("period", 0),
    ("period", 1.5),
    ("period_unit", "batch"),
    ("rate", 0.0),
    ("rate", 1.01),
    ("rerandomize_mode", "mix"),
    ("rerandomize_lambda", float("nan")),
    ("rerandomize_mu", "1"),
    ("dataset", "mnist"),
    ("data_root", ""),
    ("augmentation", "autoaugment"),
    ("val_fraction", 1.0),
    ("val_fraction", -0.1),
    ("split_seed", -1),
    ("epochs", 0),
    ("batch_size", 0),
    ("lr", 0.0),
    ("lr", -0.1),
    ("lr", True),
    ("lr", 1e300),  # overflowed at the first step: the optimiser computes in float32
    ("momentum", 1.0),
    ("momentum", -0.5),
    ("weight_decay", -1e-4),
    ("weight_decay", 1e300),
    ("nesterov", 1),
    ("warmup_epochs", -1),
    ("finetune_epochs", -1),
    ("finetune_lr", 0.0),
    ("finetune_lr", 1e300),
    ("label_smoothing", 1.0),
    ("label_smoothing", -0.1),
    ("seed", -1),
    ("seed", 1.5),
    ("device", "gpu"),
    ("device", "cuda:x"),
    ("amp", "yes"),
    ("cpu_amp", "no"),
    ("channels_last", None),
    ("compile", 0),
    ("workers", -1),
    ("steps_per_epoch", 0),
    ("eval_batch_size", 0),
    ("tensorboard", "yes"),
]


@pytest.mark.parametrize(("field", "value"), INVALID)
def test_invalid_value_is_rejected_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^{field} must be .*, got {re.escape(repr(value))}$"):
        TrainConfig(**{field: value})


def test_every_field_has_an_invalid_value_test():
    assert {field for field, _ in INVALID} == set(FIELDS)


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"model": "conv6", "stem": "imagenet"}, ("stem", "model")),
        ({"model": "resnet50", "dataset": "imagenet", "stem": "cifar"}, ("stem", "dataset")),
        ({"method": "biprop", "ranking": "score"}, ("ranking", "method")),
        ({"epochs": 10, "warmup_epochs": 10}, ("warmup_epochs", "epochs")),
        (
            {"epochs": 10, "warmup_epochs": 5, "finetune_epochs": 5},
            ("warmup_epochs", "finetune_epochs", "epochs"),
        ),
        # torch's SGD refused it only at the first step, with a traceback.
        ({"nesterov": True, "momentum": 0.0}, ("momentum", "nesterov")),
    ],
)
def test_inconsistent_fields_are_rejected_naming_all_of_them(fields, names):
    with pytest.raises(ValueError) as error:
        TrainConfig(**fields)
    for name in names:
        assert name in str(error.value)


def test_consistent_neighbours_of_the_rejected_combinations_are_accepted():
    TrainConfig(model="resnet50", dataset="imagenet", stem="imagenet")
    TrainConfig(method="biprop", ranking="abs_score")
    TrainConfig(epochs=11, warmup_epochs=5, finetune_epochs=5)
    TrainConfig(model="resnet18", stem="imagenet")  # CIFAR data through the ImageNet stem is allowed
    TrainConfig(method="recycling", rate=0.2, period=10, period_unit="epoch")


def test_recycling_at_rate_1_loads_but_is_not_trainable():
    # At the default rate 1 recycling copies every weight onto itself: edge-popup under another name. Runs
    # saved so before the rule existed must still load (results, export), so only training refuses it.
    saved = TrainConfig.from_dict({"method": "recycling", "rate": 1})
    with pytest.raises(
        ValueError, match=r"^rate must be < 1 when method is 'recycling' .*--set rate=0.2 --set period=10"
    ):
        check_trainable(saved)
    check_trainable(saved.replace(rate=0.2, period=10, period_unit="epoch"))
    check_trainable(TrainConfig(method="iterand", rate=1))


def test_unknown_keys_are_rejected_naming_them_and_the_allowed_ones():
    with pytest.raises(
        ValueError, match=r"'learning_rate' is not a TrainConfig field.*allowed: model, width"
    ):
        TrainConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(ValueError, match=r"'wieght_decay'.*did you mean 'weight_decay'"):
        TrainConfig().replace(wieght_decay=0.1)


def test_from_dict_to_dict_round_trip_and_partial_dicts():
    config = TrainConfig(**{k: v for k, v in ALTERNATIVES.items() if k not in ("stem", "model", "method")})
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert list(config.to_dict()) == FIELDS
    assert TrainConfig.from_dict({"lr": 0.5}) == TrainConfig(lr=0.5)
    with pytest.raises(ValueError, match="mapping"):
        TrainConfig.from_dict([("lr", 0.5)])


def test_replace_validates_and_leaves_the_original_alone():
    config = TrainConfig()
    assert config.replace(lr=0.2).lr == 0.2 and config.lr == 0.1
    with pytest.raises(ValueError, match="^lr must be"):
        config.replace(lr=-1.0)


@pytest.mark.parametrize(
    ("override", "field", "expected"),
    [
        ("lr=1e-3", "lr", 0.001),
        ("lr=2", "lr", 2.0),
        ("epochs=5", "epochs", 5),
        ("amp=no", "amp", False),
        ("amp=0", "amp", False),
        ("amp=FALSE", "amp", False),
        ("nesterov=yes", "nesterov", True),
        ("nesterov=1", "nesterov", True),
        ("nesterov=True", "nesterov", True),
        ("steps_per_epoch=none", "steps_per_epoch", None),
        ("steps_per_epoch=null", "steps_per_epoch", None),
        ("steps_per_epoch=7", "steps_per_epoch", 7),
        ("data_root=None", "data_root", None),
        ("data_root=/data/x=y", "data_root", "/data/x=y"),
        ("init=ku", "init", "kaiming_uniform"),
        ("device=cuda:0", "device", "cuda:0"),
        (" width = 0.25 ", "width", 0.25),
    ],
)
def test_overrides_are_parsed_by_the_field_type(override, field, expected):
    value = getattr(apply_overrides(TrainConfig(), [override]), field)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("epochs=1.5", "^epochs must be an integer, got '1.5'"),
        ("epochs=many", "^epochs must be an integer"),
        ("steps_per_epoch=all", "^steps_per_epoch must be an integer or none"),
        ("lr=fast", "^lr must be a number, got 'fast'"),
        ("amp=maybe", "^amp must be true or false"),
        ("lr=-1", "^lr must be a finite number > 0"),
        ("r=nan", "^r must be a number in"),
        ("learning_rate=0.1", "'learning_rate' is not a TrainConfig field"),
        ("lr", "key=value"),
        ("=0.1", "key=value"),
    ],
)
def test_bad_overrides_are_rejected_naming_the_field(override, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(TrainConfig(), [override])


def test_the_last_of_repeated_overrides_wins_and_none_is_a_no_op():
    assert apply_overrides(TrainConfig(), ["seed=2", "seed=3"]).seed == 3
    assert apply_overrides(TrainConfig(), []) == TrainConfig()


def test_yaml_round_trip(tmp_path):
    config = TrainConfig(
        model="resnet18", lr=0.3, weight_decay=5e-4, finetune_lr=1e-5, data_root="/x", amp=False
    )
    save_yaml(config, tmp_path / "config.yaml")
    assert load_yaml(tmp_path / "config.yaml") == config


def test_yaml_fields_override_the_base_and_strings_are_coerced(tmp_path):
    # PyYAML reads "1e-4" (no dot) as a string; the config must still take it as a number.
    (tmp_path / "partial.yaml").write_text("lr: 1e-4\nepochs: 3\nsteps_per_epoch: null\n")
    base = TrainConfig(seed=5, steps_per_epoch=2)
    config = load_yaml(tmp_path / "partial.yaml", base=base)
    assert (config.lr, config.epochs, config.steps_per_epoch, config.seed) == (1e-4, 3, None, 5)
    (tmp_path / "empty.yaml").write_text("")
    assert load_yaml(tmp_path / "empty.yaml", base=base) == base


@pytest.mark.parametrize(
    ("text", "message"),
    [("- lr\n", "expected a mapping"), ("lr: 0.1\nbatch: 3\n", "'batch' is not a TrainConfig field")],
)
def test_bad_yaml_files_are_rejected_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"bad\.yaml: .*{message}"):
        load_yaml(path)


def test_run_name_is_readable_and_pinned():
    # Pinned: a changed hash renames every existing run directory, so resuming old runs stops working.
    assert run_name(TrainConfig()) == "conv6-w1-iterand-sc-p0.5-s1-a8e15c08"
    assert run_name(TrainConfig(width=0.25, init="ku", seed=3)).startswith("conv6-w0.25-iterand-ku-p0.5-s3-")
    assert run_name(TrainConfig(model="resnet18", method="sgd")).startswith("resnet18-w1-sgd-ku-s1-")


def test_run_name_is_deterministic():
    assert run_name(TrainConfig(lr=0.3)) == run_name(TrainConfig.from_dict({"lr": "0.3"}))


@pytest.mark.parametrize("field", FIELDS)
def test_run_name_changes_exactly_with_the_result_relevant_fields(field):
    base = TrainConfig(model="resnet18") if field == "stem" else TrainConfig()
    changed = base.replace(**{field: ALTERNATIVES[field]})
    if field in EXECUTION_FIELDS:
        assert run_name(changed) == run_name(base)
        assert experiment_dict(changed) == experiment_dict(base)
    else:
        assert run_name(changed) != run_name(base)


@pytest.mark.parametrize("width", [1e-9, 0.02])
def test_a_width_that_leaves_one_channel_layers_is_rejected(width):
    # Issue 10, item 12: width=1e-9 used to train a network of 1-channel layers without a word.
    with pytest.raises(ValueError, match=rf"width must be at least 0\.0234375, got {width:g}: .*1 channel"):
        TrainConfig(model="resnet18", width=width)
    assert TrainConfig(width=0.0234375).width == 0.0234375  # 2 channels in the narrowest layers


def test_execution_fields_are_the_documented_ones():
    assert set(EXECUTION_FIELDS) == {
        "device", "workers", "eval_batch_size", "channels_last", "compile", "data_root",
        "tensorboard",
    }  # fmt: skip


def test_every_field_is_described_with_type_default_allowed_values_and_help():
    described = describe_fields()
    assert [item["name"] for item in described] == FIELDS
    defaults = TrainConfig().to_dict()
    for item in described:
        assert item["default"] == defaults[item["name"]], item["name"]
        assert item["type"] in ("str", "int", "float", "bool", "str | none", "int | none"), item
        assert item["allowed"] and len(item["help"]) > 10, item["name"]
    by_name = {item["name"]: item for item in described}
    assert by_name["method"]["allowed"] == ", ".join(METHODS)
    assert by_name["r"]["ignored_by"] == ["sgd", "edgepopup", "recycling", "biprop"]
    assert by_name["lr"]["ignored_by"] == []


@pytest.mark.parametrize(("field", "value"), INVALID)
def test_the_allowed_words_are_those_of_the_error(field, value):
    # The field list and the error message come from the same rule.
    allowed = {item["name"]: item["allowed"] for item in describe_fields()}[field]
    with pytest.raises(ValueError) as error:
        TrainConfig(**{field: value})
    filler = ("a", "an", "or", "none", "any", "case")
    words = [word.strip("'(),") for word in allowed.split() if word.strip("'(),") not in filler]
    assert all(word in str(error.value) for word in words), (allowed, str(error.value))


def test_format_fields_has_one_block_per_field():
    text = format_fields()
    assert [line.split(" ")[0] for line in text.splitlines() if not line.startswith(" ")] == FIELDS


def test_ignored_fields_are_fields():
    for method in METHODS:
        assert set(ignored_fields(method)) <= set(FIELDS), method


def test_the_data_path_is_not_part_of_the_run_identity(tmp_path, monkeypatch):
    # Issue 10, item 1: one experiment reached by an absolute path, a relative one, from another working
    # directory, or with the default location, is one run directory. The names of runs without a
    # data_root are those hashed before (pinned above), so existing run folders stay valid.
    monkeypatch.chdir(tmp_path)
    spellings = [None, str(tmp_path / "cifar10.tar.gz"), "cifar10.tar.gz", "./data/../cifar10.tar.gz"]
    names = {run_name(TrainConfig(seed=3, data_root=root)) for root in spellings}
    assert names == {run_name(TrainConfig(seed=3))}
    assert run_name(TrainConfig(data_root="/elsewhere/cifar")) == "conv6-w1-iterand-sc-p0.5-s1-a8e15c08"


@pytest.mark.parametrize(("field", "largest"), [("seed", 2**63 - 1), ("split_seed", 2**32 - 1)])
def test_seeds_stay_in_the_range_their_generator_takes(field, largest):
    # 2**64 crashed in torch.manual_seed and 2**32 in NumPy's RandomState, after the run directory existed.
    TrainConfig(**{field: largest})
    with pytest.raises(ValueError, match=f"{field} must be an integer from 0 to {largest}"):
        TrainConfig(**{field: largest + 1})
