"""The paper's experiments (its Fig. 1-3; the official code's ``figure<N>_*`` settings) as named
``TrainConfig`` presets.

Names: ``fig<N>-<model>-<init>-<method>``, init ``sc`` (signed constant) or ``ku`` (Kaiming uniform),
method ``sgd`` (dense baseline), ``edgepopup`` or ``iterand``. Every preset runs width 1 and seed 1;
the sweeps override fields (``python -m iterand train --preset NAME --set width=0.5 --set seed=2``):

- Fig. 1, r sweep on CIFAR-10 (KU): ``fig1-{conv6,resnet18,resnet34}-ku-iterand``, r in
  {0, 0.01, 0.1, 1} (r = 0 is edge-popup; the preset holds the paper's default 0.1).
- Fig. 2, width sweep 0.25..2 on CIFAR-10, seeds 1-3: Conv6, ResNet-18, ResNet-34 with edge-popup and
  IteRand under KU and SC, and the dense SGD baselines (KU).
- Fig. 3, ImageNet: ResNet-34/50/101 edge-popup and IteRand (SC), ResNet-18/34 SGD (KU).

Common settings: SGD momentum 0.9, batch 128. CIFAR-10: 100 epochs of cosine schedule, 10% of the
train set held out for validation, the IteRand code's augmentation. ImageNet: ``epochs=105`` in total =
5 linear warm-up + 95 cosine + 5 fine-tuning epochs at lr 1e-5, 1% validation split, ImageNet stem.
The edge-popup presets carry ``r=0`` (the table's value) although edge-popup ignores it.
"""

from __future__ import annotations

import difflib
from typing import Any

from bookkeeping.errors import InvalidInput
from iterand.core.names import ARCHITECTURES, INIT_ALIASES, METHOD_REGISTRY
from iterand.engine.config import TrainConfig
from iterand.engine.datasets import DATASETS

_CIFAR = TrainConfig(dataset="cifar10", stem="cifar", augmentation="iterand", val_fraction=0.1, epochs=100)
# A ResNet, because the default Conv6 has no ImageNet stem; every ImageNet preset names its model.
_IMAGENET = TrainConfig(
    model="resnet50",
    dataset="imagenet",
    stem="imagenet",
    val_fraction=0.01,
    epochs=105,
    warmup_epochs=5,
    finetune_epochs=5,
    finetune_lr=1e-5,
)
_R = {"edgepopup": 0.0, "iterand": 0.1}
_INIT_TITLES = {"sc": "signed constant", "ku": "Kaiming uniform"}

# Per-model settings of the subnetwork runs (p, lr, wd) and of the SGD baselines (lr, wd), CIFAR-10.
_CIFAR_SUBNET = {
    "conv6": {"pruned_fraction": 0.5, "lr": 0.3, "weight_decay": 1e-4},
    "resnet18": {"pruned_fraction": 0.6, "lr": 0.1, "weight_decay": 5e-4},
    "resnet34": {"pruned_fraction": 0.6, "lr": 0.1, "weight_decay": 5e-4},
}
_CIFAR_SGD = {
    "conv6": {"lr": 0.01, "weight_decay": 1e-4},
    "resnet18": {"lr": 0.1, "weight_decay": 5e-4},
    "resnet34": {"lr": 0.1, "weight_decay": 5e-4},
}
_IMAGENET_SUBNET = {"pruned_fraction": 0.7, "period": 1000, "lr": 0.1, "weight_decay": 1e-4}
_IMAGENET_SGD = {"lr": 0.1, "weight_decay": 1e-4}

_SWEEPS = {
    1: "sweep r over 0, 0.01, 0.1, 1 (--set r=...; r=0 is edge-popup)",
    2: "sweep width 0.25..2 (--set width=...) and seeds 1, 2, 3",
    3: "width 1",
}

__all__ = ["PRESETS", "describe", "get", "names"]


def _preset(
    figure: int, base: TrainConfig, model: str, init: str, method: str, **settings: Any
) -> tuple[str, TrainConfig, str]:
    name = f"fig{figure}-{model}-{init}-{method}"
    subnetwork = METHOD_REGISTRY[method].subnetwork
    if subnetwork:
        settings = {"r": _R[method], **settings}
    config = base.replace(model=model, init=INIT_ALIASES[init], method=method, **settings)
    pruned = f", {config.pruned_fraction:.0%} pruned" if subnetwork else ""
    description = (
        f"Fig. {figure}: {ARCHITECTURES[model].title} on {DATASETS[config.dataset].title}, "
        f"{METHOD_REGISTRY[method].title}, {_INIT_TITLES[init]} weights{pruned}; {_SWEEPS[figure]}"
    )
    return name, config, description


def _all_presets() -> list[tuple[str, TrainConfig, str]]:
    rows = [_preset(1, _CIFAR, model, "ku", "iterand", **_CIFAR_SUBNET[model]) for model in _CIFAR_SUBNET]
    for model in _CIFAR_SUBNET:
        for init in ("ku", "sc"):
            for method in ("edgepopup", "iterand"):
                rows.append(_preset(2, _CIFAR, model, init, method, **_CIFAR_SUBNET[model]))
        rows.append(_preset(2, _CIFAR, model, "ku", "sgd", **_CIFAR_SGD[model]))
    for model in ("resnet34", "resnet50", "resnet101"):
        for method in ("edgepopup", "iterand"):
            rows.append(_preset(3, _IMAGENET, model, "sc", method, **_IMAGENET_SUBNET))
    for model in ("resnet18", "resnet34"):
        rows.append(_preset(3, _IMAGENET, model, "ku", "sgd", **_IMAGENET_SGD))
    return rows


_ROWS = _all_presets()
PRESETS: dict[str, TrainConfig] = {name: config for name, config, _ in _ROWS}
_DESCRIPTIONS = {name: description for name, _, description in _ROWS}


def names() -> list[str]:
    """All preset names, in figure order."""
    return list(PRESETS)


def get(name: str) -> TrainConfig:
    """The preset called ``name``; an unknown name raises ``ValueError`` listing the closest ones."""
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=5, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known presets: {', '.join(PRESETS)}"
        raise InvalidInput(f"unknown preset {name!r}; {hint}")
    return PRESETS[name]


def describe(name: str) -> dict[str, Any]:
    """``{"name", "description" (one line), "config" (every field)}`` of preset ``name``."""
    config = get(name)
    return {"name": name, "description": _DESCRIPTIONS[name], "config": config.to_dict()}
