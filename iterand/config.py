"""The configuration of one training run: a frozen, validated ``TrainConfig`` and the helpers around it.

Typical use (what ``python -m iterand train`` does)::

    config = presets.get("fig2-conv6-sc-iterand")                # or TrainConfig() / load_yaml(path)
    config = load_yaml("my.yaml", base=config)                   # fields in the file win
    config = apply_overrides(config, ["width=0.5", "seed=2"])    # --set key=value, coerced by type
    model = build_model(config, num_classes=10)
    update = weight_update(config)                               # None for the dense baseline
    out_dir = Path("runs/train") / run_name(config)              # one directory per experiment

Every value is checked when a ``TrainConfig`` is created (also by ``replace`` and ``from_dict``); an invalid
one raises ``ValueError`` naming the field and what is allowed. Canonical forms are stored, so equal
settings give equal configs and equal run names: ``init`` aliases become full names ("sc" ->
"signed_constant"), ``model`` is lower-case, integers given for float fields become floats.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from iterand import validation as check
from iterand.init import INIT_ALIASES, canonical_init
from iterand.layers import SCOPES, SubnetSpec
from iterand.masks import RANKINGS
from iterand.models import MODEL_NAMES, STEMS, build
from iterand.weight_updates import ITERAND_MODES, UNITS, WeightUpdate, make_weight_update

METHODS = ("sgd", "edgepopup", "iterand", "recycling", "biprop")
DATASETS = ("cifar10", "imagenet", "synthetic")
AUGMENTATIONS = ("iterand", "standard")
CONV_MODELS = tuple(name for name in MODEL_NAMES if name.startswith("conv"))
# Fields that say how a run executes, not what it computes: two configs differing only here describe the
# same experiment (up to floating-point rounding, which `device` changes as well), so they share a run
# name and a run directory. `amp` is NOT here: bf16 autocast changes the arithmetic materially.
EXECUTION_FIELDS = ("device", "workers", "eval_batch_size", "channels_last", "compile")
# Fields added after runs were named, with the default those runs had: left out of `experiment_dict` at
# that default, so that adding them renamed no run directory.
_LATER_FIELDS = {"cpu_amp": False}
_BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_NONE_WORDS = ("none", "null")
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")

__all__ = [
    "AUGMENTATIONS",
    "DATASETS",
    "EXECUTION_FIELDS",
    "METHODS",
    "TrainConfig",
    "apply_overrides",
    "build_model",
    "experiment_dict",
    "load_yaml",
    "run_name",
    "save_yaml",
    "subnet_spec",
    "weight_update",
]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Defaults: Conv6 IteRand on CIFAR-10 (spec section 5).

    Ignored fields: the dense baseline (``method="sgd"``) ignores ``init`` (always Kaiming uniform),
    ``pruned_fraction``, ``ranking``, ``scope`` and ``weight_scale``; the re-randomisation fields ``r``,
    ``rerandomize_*`` matter only to "iterand", ``period``/``period_unit``/``rate`` only to "iterand" and
    "recycling"; ``augmentation`` only to CIFAR-shaped data.

    Epoch budget: ``epochs`` is the TOTAL number of epochs. The first ``warmup_epochs`` warm the learning
    rate up linearly, the last ``finetune_epochs`` train at ``finetune_lr``, and the cosine schedule from
    ``lr`` spans the ``epochs - warmup_epochs - finetune_epochs`` epochs between them (at least one). The
    ImageNet presets: epochs=105 = 5 warm-up + 95 cosine + 5 fine-tuning at 1e-5.
    """

    # model
    model: str = "conv6"  # one of iterand.models.MODEL_NAMES
    width: float = 1.0
    stem: str = "cifar"  # "cifar" | "imagenet"; the Conv networks only have the CIFAR form
    method: str = "iterand"  # METHODS; "sgd" is the dense baseline, "biprop" has no weight update
    init: str = "signed_constant"  # weight init of the subnetwork methods; aliases sc/ku/kn/u accepted
    pruned_fraction: float = 0.5  # p, the fraction PRUNED in each layer
    ranking: str = "score"  # "score" | "abs_score" ("biprop" requires "abs_score")
    scope: str = "layer"  # "layer" | "global"
    weight_scale: float = 1.0
    # re-randomisation (iterand) and recycling
    r: float = 0.1
    period: int = 300
    period_unit: str = "step"  # "step" | "epoch"
    rate: float = 1.0
    rerandomize_mode: str = "resample"  # "resample" | "manual"
    rerandomize_lambda: float = 0.0  # manual mode: pruned w <- lambda * w + mu * w_new
    rerandomize_mu: float = 1.0
    # data
    dataset: str = "cifar10"  # DATASETS
    data_root: str | None = None  # None: the dataset's default location
    augmentation: str = "iterand"  # "iterand" (IteRand code) | "standard" (edge-popup code)
    val_fraction: float = 0.1  # CIFAR 0.1 (45k/5k), ImageNet 0.01
    split_seed: int = 777  # picks the validation split, independent of `seed`
    # optimisation
    epochs: int = 100  # total, including warm-up and fine-tuning epochs
    batch_size: int = 128  # GLOBAL batch, split across DDP ranks
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4  # on whatever trains: scores (subnetwork methods) or weights (sgd)
    nesterov: bool = False
    warmup_epochs: int = 0
    finetune_epochs: int = 0
    finetune_lr: float = 1e-5
    label_smoothing: float = 0.0
    # run
    seed: int = 1
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    amp: bool = True  # bf16 autocast, GPU only
    cpu_amp: bool = False  # bf16 autocast on the CPU (off by default: it changes the arithmetic)
    channels_last: bool = True  # GPU and CPU
    compile: bool = False  # torch.compile the model
    workers: int = 4  # DataLoader workers (streamed datasets)
    steps_per_epoch: int | None = None  # cap on training steps per epoch (smoke runs); None = full epoch
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        for name, value in _checked_fields(self).items():
            object.__setattr__(self, name, value)
        _check_consistency(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """A config from a mapping of fields (missing ones keep their defaults).

        Unknown keys raise ``ValueError`` naming them; strings given for non-string fields are parsed by
        the field's type (as ``--set key=value`` and YAML files give them, e.g. ``1e-4``).
        """
        if not isinstance(values, Mapping):
            raise ValueError(
                f"a training configuration must be a mapping of fields, got {type(values).__name__}"
            )
        unknown = [key for key in values if key not in _field_types()]
        if unknown:
            raise ValueError("; ".join(_unknown_field_message(key) for key in unknown))
        return cls(**{key: _coerce(key, value) for key, value in values.items()})

    def to_dict(self) -> dict[str, Any]:
        """All fields, in declaration order, as plain Python values."""
        return dataclasses.asdict(self)

    def replace(self, **overrides: Any) -> TrainConfig:
        """A copy with ``overrides`` applied, validated like ``from_dict``."""
        return TrainConfig.from_dict({**self.to_dict(), **overrides})


def _checked_fields(config: TrainConfig) -> dict[str, Any]:
    c = config
    model = c.model.lower() if isinstance(c.model, str) else c.model
    return {
        "model": check.choice("model", model, MODEL_NAMES),
        "width": check.positive("width", c.width),
        "stem": check.choice("stem", c.stem, STEMS),
        "method": check.choice("method", c.method, METHODS),
        "init": canonical_init(c.init, field="init"),
        "pruned_fraction": check.fraction("pruned_fraction", c.pruned_fraction, high_open=True),
        "ranking": check.choice("ranking", c.ranking, RANKINGS),
        "scope": check.choice("scope", c.scope, SCOPES),
        "weight_scale": check.positive("weight_scale", c.weight_scale),
        "r": check.fraction("r", c.r),
        "period": check.integer_at_least("period", c.period, 1),
        "period_unit": check.choice("period_unit", c.period_unit, UNITS),
        "rate": check.fraction("rate", c.rate, low_open=True),
        "rerandomize_mode": check.choice("rerandomize_mode", c.rerandomize_mode, ITERAND_MODES),
        "rerandomize_lambda": check.number("rerandomize_lambda", c.rerandomize_lambda),
        "rerandomize_mu": check.number("rerandomize_mu", c.rerandomize_mu),
        "dataset": check.choice("dataset", c.dataset, DATASETS),
        "data_root": _optional_text("data_root", c.data_root),
        "augmentation": check.choice("augmentation", c.augmentation, AUGMENTATIONS),
        "val_fraction": check.fraction("val_fraction", c.val_fraction, high_open=True),
        "split_seed": check.integer_at_least("split_seed", c.split_seed, 0),
        "epochs": check.integer_at_least("epochs", c.epochs, 1),
        "batch_size": check.integer_at_least("batch_size", c.batch_size, 1),
        "lr": check.positive("lr", c.lr),
        "momentum": check.fraction("momentum", c.momentum, high_open=True),
        "weight_decay": check.non_negative("weight_decay", c.weight_decay),
        "nesterov": check.boolean("nesterov", c.nesterov),
        "warmup_epochs": check.integer_at_least("warmup_epochs", c.warmup_epochs, 0),
        "finetune_epochs": check.integer_at_least("finetune_epochs", c.finetune_epochs, 0),
        "finetune_lr": check.positive("finetune_lr", c.finetune_lr),
        "label_smoothing": check.fraction("label_smoothing", c.label_smoothing, high_open=True),
        "seed": check.integer_at_least("seed", c.seed, 0),
        "device": _device(c.device),
        "amp": check.boolean("amp", c.amp),
        "cpu_amp": check.boolean("cpu_amp", c.cpu_amp),
        "channels_last": check.boolean("channels_last", c.channels_last),
        "compile": check.boolean("compile", c.compile),
        "workers": check.integer_at_least("workers", c.workers, 0),
        "steps_per_epoch": (
            None
            if c.steps_per_epoch is None
            else check.integer_at_least("steps_per_epoch", c.steps_per_epoch, 1)
        ),
        "eval_batch_size": check.integer_at_least("eval_batch_size", c.eval_batch_size, 1),
    }


def _optional_text(field: str, value: Any) -> str | None:
    if value is not None and not (isinstance(value, str) and value):
        raise ValueError(f"{field} must be a non-empty string or none, got {value!r}")
    return value


def _device(value: Any) -> str:
    if not (isinstance(value, str) and _DEVICE.fullmatch(value)):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {value!r}")
    return value


def _check_consistency(c: TrainConfig) -> None:
    if c.model in CONV_MODELS and c.stem != "cifar":
        raise ValueError(
            f"stem must be 'cifar' when model is {c.model!r} (the Conv networks take 32x32 inputs), "
            f"got {c.stem!r}"
        )
    if c.dataset == "imagenet" and c.stem != "imagenet":
        raise ValueError(f"stem must be 'imagenet' when dataset is 'imagenet', got {c.stem!r}")
    if c.method == "biprop" and c.ranking != "abs_score":
        # Not silently switched: SubnetSpec rejects biprop with raw-score ranking for the same reason.
        raise ValueError(
            f"ranking must be 'abs_score' when method is 'biprop' (biprop keeps the top-k by |score|), "
            f"got {c.ranking!r}"
        )
    if c.warmup_epochs + c.finetune_epochs >= c.epochs:
        raise ValueError(
            f"warmup_epochs + finetune_epochs must be < epochs (at least one cosine epoch), got "
            f"{c.warmup_epochs} + {c.finetune_epochs} with epochs {c.epochs}"
        )


@functools.cache
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _unknown_field_message(key: Any) -> str:
    close = difflib.get_close_matches(str(key), list(_field_types()), n=3)
    hint = f"did you mean {', '.join(repr(m) for m in close)}? " if close else ""
    return f"{key!r} is not a TrainConfig field; {hint}allowed: {', '.join(_field_types())}"


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
            raise ValueError(f"{field} must be true or false (also 1/0, yes/no), got {value!r}")
        return _BOOL_WORDS[text.lower()]
    if hint is int or hint is float:
        try:
            return hint(text)
        except ValueError:
            kind = "an integer" if hint is int else "a number"
            none = " or none" if optional else ""
            raise ValueError(f"{field} must be {kind}{none}, got {value!r}") from None
    return value


def load_yaml(path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
    """The config in YAML file ``path``: its fields replace those of ``base`` (default ``TrainConfig()``)."""
    path = Path(path)
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of TrainConfig fields, got {type(values).__name__}")
    try:
        return (base or TrainConfig()).replace(**values)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def save_yaml(config: TrainConfig, path: str | Path) -> None:
    """Write every field of ``config`` to ``path`` so that ``load_yaml(path)`` gives it back."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))


def apply_overrides(config: TrainConfig, overrides: Iterable[str]) -> TrainConfig:
    """``config`` with ``key=value`` overrides applied in order (the last of a repeated key wins)."""
    values: dict[str, str] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"an override must look like key=value, got {item!r}")
        values[key.strip()] = value.strip()
    return config.replace(**values)


def experiment_dict(config: TrainConfig) -> dict[str, Any]:
    """The fields that decide what a run computes: ``to_dict()`` without ``EXECUTION_FIELDS``.

    Two configs with equal experiment dicts are the same experiment (same run name; a run may resume
    from the other's checkpoint).
    """
    values = {k: v for k, v in config.to_dict().items() if k not in EXECUTION_FIELDS}
    for field, default in _LATER_FIELDS.items():
        if values[field] == default:
            del values[field]  # the experiments named before the field existed keep their names
    return values


def run_name(config: TrainConfig) -> str:
    """A directory name unique to the experiment, e.g. ``conv6-w0.25-iterand-sc-p0.5-s1-<8 hex digits>``.

    Form: ``<model>-w<width>-<method>-<init>[-p<pruned_fraction>]-s<seed>-<hash>``. The readable part
    names the usual sweep axes (the init by its alias, "ku" for sgd, which always uses it; ``p`` only
    for the subnetwork methods). The hash is the first 8 hex digits of a SHA-256 of
    ``experiment_dict(config)``: every field that changes what the run computes changes the name, the
    ``EXECUTION_FIELDS`` (device, workers, eval_batch_size, channels_last, compile) do not.
    """
    init = "ku" if config.method == "sgd" else _alias(config.init)
    pruned = "" if config.method == "sgd" else f"-p{config.pruned_fraction:g}"
    digest = hashlib.sha256(json.dumps(experiment_dict(config), sort_keys=True).encode()).hexdigest()
    return f"{config.model}-w{config.width:g}-{config.method}-{init}{pruned}-s{config.seed}-{digest[:8]}"


def _alias(init: str) -> str:
    return next(alias for alias, full in INIT_ALIASES.items() if full == init)


def subnet_spec(config: TrainConfig) -> SubnetSpec | None:
    """The subnetwork layers' spec of ``config``; None for the dense baseline (``method="sgd"``)."""
    if config.method == "sgd":
        return None
    return SubnetSpec(
        pruned_fraction=config.pruned_fraction,
        ranking=config.ranking,
        weight_init=config.init,
        weight_scale=config.weight_scale,
        effective_weight="biprop" if config.method == "biprop" else "masked",
        scope=config.scope,
    )


def build_model(config: TrainConfig, num_classes: int) -> nn.Module:
    """``iterand.models.build`` for ``config``, drawn from a generator seeded with ``config.seed``."""
    spec = subnet_spec(config)
    return build(
        config.model,
        config.width,
        num_classes,
        stem=config.stem,
        subnet=spec,
        seed=config.seed,
        dense=spec is None,
    )


def weight_update(config: TrainConfig) -> WeightUpdate | None:
    """The periodic weight update of ``config``'s method; None for "sgd" (its weights are trained).

    "edgepopup" and "biprop" get the update that never fires. IteRand's generator is seeded with a
    value derived from ``config.seed``, not with ``seed`` itself: ``build_model`` draws the scores and
    weights from a CPU generator seeded with ``seed``, and on the CPU the same seed would replay those
    draws, so the selection would follow the initial scores and the "fresh" weights would equal the
    initial ones.
    """
    if config.method == "sgd":
        return None
    if config.method == "iterand":
        return make_weight_update(
            "iterand",
            r=config.r,
            period=config.period,
            unit=config.period_unit,
            rate=config.rate,
            mode=config.rerandomize_mode,
            lam=config.rerandomize_lambda,
            mu=config.rerandomize_mu,
            seed=_derived_seed("weight_update", config.seed),
        )
    if config.method == "recycling":
        return make_weight_update(
            "recycling", rate=config.rate, period=config.period, unit=config.period_unit
        )
    return make_weight_update("edgepopup")


def _derived_seed(purpose: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{purpose}:{seed}".encode()).digest()[:8], "big") >> 1
