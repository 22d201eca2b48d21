"""The configuration of one training run: a frozen, validated ``TrainConfig`` and the helpers around it.

Typical use (what ``python -m iterand train`` does)::

    config = presets.get("fig2-conv6-sc-iterand")                # or TrainConfig() / load_yaml(path)
    config = load_yaml("my.yaml", base=config)                   # fields in the file win
    config = apply_overrides(config, ["width=0.5", "seed=2"])    # --set key=value, coerced by type
    out_dir = Path("runs/train") / run_name(config)              # one directory per experiment

What a config builds (the model, the weight update) is ``iterand.engine.factories``. This module imports
no torch: a configuration is read, validated and saved without building anything.

Every field is typed and documented (``describe_fields``, ``python -m iterand train --set help``): its
metadata holds its help text and its ``Rule``, which both checks a value and says in words what is
allowed. Every value is checked when a ``TrainConfig`` is created (also by ``replace`` and ``from_dict``);
an invalid one raises ``bookkeeping.errors.InvalidInput`` (a ``ValueError``) naming the field and what is
allowed. A few rules say what is worth training, not what can be read, and stay out of these checks so
that every saved run still loads: ``check_trainable``, which every run passes before it trains.
Canonical forms are stored, so equal settings give equal configs and equal run names: ``init``
aliases become full names ("sc" -> "signed_constant"), ``model`` is lower-case, integers given for float
fields become floats, -0.0 becomes 0.0.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import textwrap
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bookkeeping import validation as check
from bookkeeping.errors import InvalidInput
from bookkeeping.files import read_yaml
from iterand.core.names import (
    ARCHITECTURES,
    INIT_ALIASES,
    ITERAND_MODES,
    METHOD_REGISTRY,
    METHODS,
    MIN_CHANNELS,
    MODEL_NAMES,
    NARROWEST_CHANNELS,
    RANKINGS,
    SCOPES,
    STEMS,
    UNITS,
    WEIGHT_INITS,
    canonical_init,
    ignored_fields,
    init_alias,
    scaled_channels,
)
from iterand.engine.datasets import DATASETS

AUGMENTATIONS = ("iterand", "standard")
# Fields that say how a run executes, not what it computes: two configs differing only here describe the
# same experiment (up to floating-point rounding, which `device` changes as well), so they share a run
# name and a run directory. `data_root` says where the files are read from, not which data set they hold
# (`dataset`, and the data's own identity that a run records and checks on resume). `amp` is NOT here:
# bf16 autocast changes the arithmetic materially.
EXECUTION_FIELDS = (
    "device",
    "workers",
    "eval_batch_size",
    "channels_last",
    "compile",
    "data_root",
    "tensorboard",
)
# Run names were first hashed with `data_root` among the fields; it stays in the hashed dict, as none, so
# that the name of every run started without a data_root (the default) stays what it was.
_NAME_PLACEHOLDERS = {"data_root": None}
# Fields added after runs were named, with the value those runs had: left out of the hashed dict at that
# value, so that adding them renamed no run directory.
_LATER_FIELDS = {"cpu_amp": False}
_BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_NONE_WORDS = ("none", "null")
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")

__all__ = [
    "AUGMENTATIONS",
    "DATASETS",
    "EXECUTION_FIELDS",
    "METHODS",
    "Rule",
    "TrainConfig",
    "apply_overrides",
    "check_trainable",
    "describe_fields",
    "experiment_dict",
    "experiment_differences",
    "format_fields",
    "load_yaml",
    "run_name",
    "save_yaml",
]


@dataclasses.dataclass(frozen=True)
class Rule:
    """How a field's value is checked: ``check(field, value)`` returns it in canonical form or raises
    ``ValueError``; ``allowed`` says the same in words, for the field list."""

    allowed: str
    check: Callable[[str, Any], Any]


def _choice(values: Iterable[str]) -> Rule:
    values = tuple(values)
    return Rule(", ".join(values), lambda field, value: check.choice(field, value, values))


def _fraction(low_open: bool = False, high_open: bool = False) -> Rule:
    interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
    return Rule(
        f"a number in {interval}",
        lambda field, value: check.fraction(field, value, low_open=low_open, high_open=high_open),
    )


def _at_least(minimum: int) -> Rule:
    return Rule(
        f"an integer >= {minimum}", lambda field, value: check.integer_at_least(field, value, minimum)
    )


def _seed(maximum: int, why: str) -> Rule:
    def check_seed(field: str, value: Any) -> int:
        try:
            seed = check.integer_at_least(field, value, 0)
        except InvalidInput:
            seed = None
        if seed is None or seed > maximum:
            raise InvalidInput(f"{field} must be an integer from 0 to {maximum} ({why}), got {value!r}")
        return seed

    return Rule(f"an integer from 0 to {maximum}", check_seed)


def _at_most(base: Rule, maximum: float, why: str) -> Rule:
    """``base``, and at most ``maximum``: a value above it is finite but breaks what the run builds."""
    allowed = f"{base.allowed} and at most {maximum:g}"

    def check_at_most(field: str, value: Any) -> float:
        try:
            number = base.check(field, value)
        except InvalidInput:
            number = None
        if number is None or number > maximum:
            raise InvalidInput(f"{field} must be {allowed} ({why}), got {value!r}")
        return number

    return Rule(allowed, check_at_most)


def _optional_at_least(minimum: int) -> Rule:
    rule = _at_least(minimum)
    return Rule(
        f"{rule.allowed}, or none",
        lambda field, value: None if value is None else rule.check(field, value),
    )


def _optional_text(field: str, value: Any) -> str | None:
    if value is not None and not (isinstance(value, str) and value):
        raise InvalidInput(f"{field} must be a non-empty string or none, got {value!r}")
    return value


def _device(field: str, value: Any) -> str:
    if not (isinstance(value, str) and _DEVICE.fullmatch(value)):
        raise InvalidInput(f"{field} must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {value!r}")
    return value


_POSITIVE = Rule("a finite number > 0", check.positive)
_NON_NEGATIVE = Rule("a finite number >= 0", check.non_negative)
# The optimiser turns its hyper-parameters into float32 scalars; torch refuses a larger one at the first
# step, with a traceback.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_SGD_POSITIVE = _at_most(_POSITIVE, _FLOAT32_MAX, "float32's largest; SGD computes in float32")
_SGD_NON_NEGATIVE = _at_most(_NON_NEGATIVE, _FLOAT32_MAX, "float32's largest; SGD computes in float32")
# At width 64 the smallest network, Conv6, has 9.3e9 weights, as many scores, gradients and momenta: more
# than one machine holds. Far wider, a layer's channel count overflows.
_MAX_WIDTH = 64
_NUMBER = Rule("a finite number", check.number)
_BOOLEAN = Rule("true or false", check.boolean)
_MODEL = Rule(
    ", ".join(MODEL_NAMES) + " (any case)",
    lambda field, value: check.choice(field, value.lower() if isinstance(value, str) else value, MODEL_NAMES),
)
_INIT = Rule(
    ", ".join(WEIGHT_INITS) + " (or " + ", ".join(INIT_ALIASES) + ")",
    lambda field, value: canonical_init(value, field=field),
)


def _field(default: Any, rule: Rule, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"rule": rule, "help": help})


def _methods_help() -> str:
    return "; ".join(f"{m.name}: {m.summary}" for m in METHOD_REGISTRY.values())


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Defaults: Conv6 IteRand on CIFAR-10 at the IteRand code's
    settings (p = 0.5, r = 0.1, a re-draw every 300 steps, 10% of the train set held out).

    Ignored fields: a method reads every field but those ``iterand.core.names.ignored_fields`` lists for it
    (``--set help`` shows them): the dense baseline (``method="sgd"``) ignores ``init`` (always Kaiming
    uniform), ``pruned_fraction``, ``ranking``, ``scope`` and ``weight_scale``, and every method the
    weight-update fields it does not use (``r`` and ``rerandomize_*`` matter only to "iterand",
    ``period``/``period_unit``/``rate`` to "iterand" and "recycling"); ``augmentation`` matters only to
    CIFAR-shaped data.

    Epoch budget: ``epochs`` is the TOTAL number of epochs. The first ``warmup_epochs`` warm the learning
    rate up linearly, the last ``finetune_epochs`` train at ``finetune_lr``, and the cosine schedule from
    ``lr`` spans the ``epochs - warmup_epochs - finetune_epochs`` epochs between them (at least one). The
    ImageNet presets: epochs=105 = 5 warm-up + 95 cosine + 5 fine-tuning at 1e-5.
    """

    # model
    model: str = _field("conv6", _MODEL, "the network: Conv2-8 (CIFAR-sized inputs only) or a ResNet")
    width: float = _field(
        1.0,
        _at_most(_POSITIVE, _MAX_WIDTH, "Conv6 alone then has 9.3e9 weights"),
        "width factor: every channel count c becomes max(1, round(c * width)) (Fig. 2's x axis)",
    )
    stem: str = _field(
        "cifar",
        _choice(STEMS),
        "ResNet input stem: 3x3 conv (cifar) or 7x7 stride-2 conv and max-pool (imagenet)",
    )
    method: str = _field("iterand", _choice(METHODS), _methods_help())
    init: str = _field(
        "signed_constant",
        _INIT,
        "distribution of the frozen random weights (the official code's init_mode); scores always start "
        "Kaiming uniform",
    )
    pruned_fraction: float = _field(
        0.5,
        _fraction(high_open=True),
        "p, the fraction of each layer's weights PRUNED: round(p * (numel - 1)) of them (the official "
        "code's conv_sparsity)",
    )
    ranking: str = _field(
        "score",
        _choice(RANKINGS),
        "what the top-k mask ranks: raw scores (the IteRand code) or |score| (the edge-popup code)",
    )
    scope: str = _field(
        "layer", _choice(SCOPES), "top-k in each layer (the paper's) or one threshold over all layers"
    )
    weight_scale: float = _field(
        1.0, _POSITIVE, "factor on every drawn weight (the official code's init_scale)"
    )
    # re-randomisation (iterand) and recycling
    r: float = _field(
        0.1,
        _fraction(),
        "IteRand: probability that a pruned weight is re-drawn at each update (the paper's r; the official "
        "code's rerand_lambda); 0 is edge-popup; unused in manual mode, which updates every eligible "
        "pruned weight",
    )
    period: int = _field(
        300,
        _at_least(1),
        "updates happen before step (or epoch) c when (c + 1) % period == 0, c counting from 0 over the "
        "whole run (the paper's K_per; the official code's rerand_freq)",
    )
    period_unit: str = _field("step", _choice(UNITS), "what period counts: optimiser steps or epochs")
    rate: float = _field(
        1.0,
        _fraction(low_open=True),
        "IteRand: re-draw only among the lowest-ranked p * rate of each layer (the official code's "
        "rerand_rate); recycling: the fraction of each layer overwritten",
    )
    rerandomize_mode: str = _field(
        "resample",
        _choice(ITERAND_MODES),
        "IteRand: a fresh draw with probability r (the paper's; the official code's 'bernoulli') or "
        "lambda * w + mu * w_new for every eligible pruned weight (its 'manual')",
    )
    rerandomize_lambda: float = _field(0.0, _NUMBER, "manual mode: lambda of lambda * w + mu * w_new")
    rerandomize_mu: float = _field(1.0, _NUMBER, "manual mode: mu of lambda * w + mu * w_new")
    # data
    dataset: str = _field(
        "cifar10", _choice(DATASETS), "the data; synthetic: seeded random images, for smoke runs"
    )
    data_root: str | None = _field(
        None,
        Rule("a non-empty string, or none", _optional_text),
        "where the data is (folder or archive); none: the dataset's default location",
    )
    augmentation: str = _field(
        "iterand",
        _choice(AUGMENTATIONS),
        "CIFAR-shaped data: RandomResizedCrop after zero-padding 4 (the IteRand code) or RandomCrop(32, "
        "padding=4) (the edge-popup code), both with horizontal flips",
    )
    val_fraction: float = _field(
        0.1,
        _fraction(high_open=True),
        "share of the train set held out for validation (the official code's train_val_split: CIFAR 0.1, "
        "ImageNet 0.01)",
    )
    split_seed: int = _field(
        777,
        _seed(2**32 - 1, "NumPy's RandomState draws the split"),
        "seed of the validation split, independent of seed (777 in the official code)",
    )
    # optimisation
    epochs: int = _field(100, _at_least(1), "total epochs, warm-up and fine-tuning included")
    batch_size: int = _field(128, _at_least(1), "the GLOBAL batch, split across DDP processes")
    lr: float = _field(0.1, _SGD_POSITIVE, "initial learning rate of the cosine schedule")
    momentum: float = _field(0.9, _fraction(high_open=True), "SGD momentum")
    weight_decay: float = _field(
        1e-4,
        _SGD_NON_NEGATIVE,
        "on whatever trains: the scores (subnetwork methods) or the weights (sgd)",
    )
    nesterov: bool = _field(False, _BOOLEAN, "Nesterov momentum")
    warmup_epochs: int = _field(0, _at_least(0), "first epochs of linear learning-rate warm-up (ImageNet: 5)")
    finetune_epochs: int = _field(0, _at_least(0), "last epochs, at finetune_lr (ImageNet: 5)")
    finetune_lr: float = _field(1e-5, _SGD_POSITIVE, "learning rate of the fine-tuning epochs")
    label_smoothing: float = _field(
        0.0, _fraction(high_open=True), "label smoothing of the cross-entropy loss"
    )
    # run
    seed: int = _field(
        1,
        _seed(2**63 - 1, "torch.manual_seed's range"),
        "seeds the weights and scores, the data order and the augmentation",
    )
    device: str = _field(
        "auto", Rule("auto, cpu, cuda or cuda:N", _device), "auto: cuda when available, else cpu"
    )
    amp: bool = _field(True, _BOOLEAN, "bf16 autocast on the GPU")
    cpu_amp: bool = _field(
        False, _BOOLEAN, "bf16 autocast on the CPU (off by default: it changes the arithmetic)"
    )
    channels_last: bool = _field(
        True, _BOOLEAN, "channels-last memory format (on the CPU not for narrow ResNets: uses_channels_last)"
    )
    compile: bool = _field(False, _BOOLEAN, "torch.compile the model")
    workers: int = _field(4, _at_least(0), "DataLoader workers of the streamed datasets (ImageNet)")
    steps_per_epoch: int | None = _field(
        None, _optional_at_least(1), "cap on training steps per epoch (smoke runs); none: the full epoch"
    )
    eval_batch_size: int = _field(1000, _at_least(1), "batch size of evaluation")
    tensorboard: bool = _field(
        False, _BOOLEAN, "also write the per-epoch records for TensorBoard (the tensorboard extra)"
    )

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            rule: Rule = field.metadata["rule"]
            value = rule.check(field.name, getattr(self, field.name))
            if type(value) is float:
                value += 0.0  # -0.0 becomes 0.0: equal to it, it must give the same run name too
            object.__setattr__(self, field.name, value)
        _check_consistency(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """A config from a mapping of fields (missing ones keep their defaults).

        Unknown keys raise ``InvalidInput`` naming them; strings given for non-string fields are parsed by
        the field's type (as ``--set key=value`` and YAML files give them, e.g. ``1e-4``).
        """
        if not isinstance(values, Mapping):
            raise InvalidInput(
                f"a training configuration must be a mapping of fields, got {type(values).__name__}"
            )
        unknown = [key for key in values if key not in _field_types()]
        if unknown:
            raise InvalidInput(
                "; ".join(check.unknown_key(key, "a TrainConfig field", _field_types()) for key in unknown)
            )
        return cls(**{key: _coerce(key, value) for key, value in values.items()})

    def to_dict(self) -> dict[str, Any]:
        """All fields, in declaration order, as plain Python values."""
        return dataclasses.asdict(self)

    def replace(self, **overrides: Any) -> TrainConfig:
        """A copy with ``overrides`` applied, validated like ``from_dict``."""
        return TrainConfig.from_dict({**self.to_dict(), **overrides})


def describe_fields() -> list[dict[str, Any]]:
    """Every field of ``TrainConfig`` in declaration order: ``name``, ``type``, ``default``, ``allowed``
    (in words), ``help``, and ``ignored_by`` (the methods that do not read it)."""
    return [
        {
            "name": field.name,
            "type": _type_name(_field_types()[field.name]),
            "default": field.default,
            "allowed": field.metadata["rule"].allowed,
            "help": field.metadata["help"],
            "ignored_by": [m for m in METHODS if field.name in ignored_fields(m)],
        }
        for field in dataclasses.fields(TrainConfig)
    ]


def format_fields() -> str:
    """``describe_fields`` as text, one block per field (what ``--set help`` prints)."""
    blocks = []
    for item in describe_fields():
        default = "none" if item["default"] is None else item["default"]
        lines = [f"{item['name']} ({item['type']}, default {default}): {item['allowed']}"]
        lines.append(textwrap.fill(item["help"], 100, initial_indent="    ", subsequent_indent="    "))
        if item["ignored_by"]:
            lines.append(f"    ignored by: {', '.join(item['ignored_by'])}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _type_name(hint: Any) -> str:
    if isinstance(hint, types.UnionType):
        return " | ".join("none" if arg is type(None) else arg.__name__ for arg in typing.get_args(hint))
    return hint.__name__


def _check_consistency(c: TrainConfig) -> None:
    narrowest = scaled_channels(NARROWEST_CHANNELS, c.width)
    if narrowest < MIN_CHANNELS:
        smallest = (MIN_CHANNELS - 0.5) / NARROWEST_CHANNELS  # round half to even: 1.5 -> 2
        raise InvalidInput(
            f"width must be at least {smallest:g}, got {c.width:g}: the narrowest layers of {c.model} "
            f"({NARROWEST_CHANNELS} channels at width 1) would have {narrowest} channel"
        )
    architecture, dataset, method = ARCHITECTURES[c.model], DATASETS[c.dataset], METHOD_REGISTRY[c.method]
    if c.stem not in architecture.stems:
        raise InvalidInput(
            f"stem must be {_either(architecture.stems)} when model is {c.model!r} ({architecture.title} "
            f"has no {c.stem} stem), got {c.stem!r}"
        )
    if c.stem not in dataset.stems:
        raise InvalidInput(
            f"stem must be {_either(dataset.stems)} when dataset is {c.dataset!r}, got {c.stem!r}"
        )
    if method.ranking is not None and c.ranking != method.ranking:
        # Not silently switched: SubnetSpec rejects biprop with raw-score ranking for the same reason.
        raise InvalidInput(
            f"ranking must be {method.ranking!r} when method is {c.method!r}, got {c.ranking!r}"
        )
    if c.nesterov and c.momentum == 0:
        raise InvalidInput("momentum must be > 0 when nesterov is true (Nesterov momentum needs momentum)")
    if c.warmup_epochs + c.finetune_epochs >= c.epochs:
        raise InvalidInput(
            f"warmup_epochs + finetune_epochs must be < epochs (at least one cosine epoch), got "
            f"{c.warmup_epochs} + {c.finetune_epochs} with epochs {c.epochs}"
        )


def check_trainable(config: TrainConfig) -> None:
    """Refuse to train ``config`` where it is valid to read but pointless to train: ``InvalidInput``
    naming the field. Not part of ``TrainConfig``'s own checks, because runs saved before a rule was added
    must still load (results, export, compact files); every run starts through ``Trainer``, which calls it.
    """
    if config.method == "recycling" and config.rate == 1:
        # The k = numel lowest positions would receive the k highest's weights in the same order: their own.
        raise InvalidInput(
            "rate must be < 1 when method is 'recycling' (the fraction of each layer overwritten; at 1 every "
            "weight is overwritten by itself, so nothing would be recycled), got 1; the recycling paper's "
            "Conv-6 setting: --set rate=0.2 --set period=10 --set period_unit=epoch"
        )


def _either(values: Iterable[str]) -> str:
    return " or ".join(repr(v) for v in values)


@functools.cache
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _coerce(field: str, value: Any) -> Any:
    """Parse a string given for a non-string field by the field's type; other values pass unchanged."""
    if not isinstance(value, str):
        return value
    hint = _field_types()[field]
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    if optional:
        if value.strip().lower() in _NONE_WORDS:
            return None
        (hint,) = (arg for arg in typing.get_args(hint) if arg is not type(None))
    text = value.strip()
    if hint is bool:
        if text.lower() not in _BOOL_WORDS:
            raise InvalidInput(f"{field} must be true or false (also 1/0, yes/no), got {value!r}")
        return _BOOL_WORDS[text.lower()]
    if hint is int or hint is float:
        try:
            return hint(text)
        except ValueError:
            kind = "an integer" if hint is int else "a number"
            none = " or none" if optional else ""
            raise InvalidInput(f"{field} must be {kind}{none}, got {value!r}") from None
    return value


def load_yaml(path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
    """The config in YAML file ``path``: its fields replace those of ``base`` (default ``TrainConfig()``).

    The file holds the fields, or what ``python -m iterand presets NAME`` prints (its ``config`` holds
    them), so that a preset can be saved, edited and given back with ``--config``."""
    path = Path(path)
    values = read_yaml(path) or {}
    if not isinstance(values, dict):
        raise InvalidInput(f"{path}: expected a mapping of TrainConfig fields, got {type(values).__name__}")
    if isinstance(values.get("config"), dict) and set(values) <= _PRESET_KEYS:
        values = values["config"]
    try:
        return (base or TrainConfig()).replace(**values)
    except InvalidInput as error:
        raise InvalidInput(f"{path}: {error}") from None


# The keys of a preset as ``python -m iterand presets NAME`` prints it.
_PRESET_KEYS = {"name", "description", "config"}


def save_yaml(config: TrainConfig, path: str | Path) -> None:
    """Write every field of ``config`` to ``path`` so that ``load_yaml(path)`` gives it back."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))


def apply_overrides(config: TrainConfig, overrides: Iterable[str]) -> TrainConfig:
    """``config`` with ``key=value`` overrides applied in order (the last of a repeated key wins)."""
    values: dict[str, str] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"an override must look like key=value, got {item!r}")
        values[key.strip()] = value.strip()
    return config.replace(**values)


def experiment_dict(config: TrainConfig) -> dict[str, Any]:
    """The fields that decide what a run computes: ``to_dict()`` without ``EXECUTION_FIELDS``.

    Two configs with equal experiment dicts are the same experiment (same run name; a run may resume
    from the other's checkpoint).
    """
    return {k: v for k, v in config.to_dict().items() if k not in EXECUTION_FIELDS}


def experiment_differences(saved: TrainConfig, requested: TrainConfig) -> str | None:
    """The experiment fields in which ``saved`` differs from ``requested``, each as "field: saved X,
    requested Y", joined; None when they are the same experiment (``experiment_dict``)."""
    old, new = experiment_dict(saved), experiment_dict(requested)
    differing = [key for key in new if old.get(key) != new[key]]
    return ", ".join(f"{key}: saved {old.get(key)!r}, requested {new[key]!r}" for key in differing) or None


def run_name(config: TrainConfig) -> str:
    """A directory name unique to the experiment, e.g. ``conv6-w0.25-iterand-sc-p0.5-s1-<8 hex digits>``.

    Form: ``<model>-w<width>-<method>-<init>[-p<pruned_fraction>]-s<seed>-<hash>``. The readable part
    names the usual sweep axes (the init by its alias, "ku" for a dense method such as sgd, which always
    uses it; ``p`` only for the subnetwork methods). The hash is the first 8 hex digits of a SHA-256 of
    ``experiment_dict(config)``: every field that changes what the run computes changes the name, the
    ``EXECUTION_FIELDS`` (device, workers, eval_batch_size, channels_last, compile, data_root, tensorboard)
    do not: the same experiment gets the same name however its data path is spelled and on whichever
    device it runs.
    """
    subnetwork = METHOD_REGISTRY[config.method].subnetwork
    init = init_alias(config.init) if subnetwork else "ku"
    pruned = f"-p{config.pruned_fraction:g}" if subnetwork else ""
    hashed = {**experiment_dict(config), **_NAME_PLACEHOLDERS}
    for field, value in _LATER_FIELDS.items():
        if hashed[field] == value:
            del hashed[field]
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()
    return f"{config.model}-w{config.width:g}-{config.method}-{init}{pruned}-s{config.seed}-{digest[:8]}"
