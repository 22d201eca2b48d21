"""What a ``TrainConfig`` builds: the subnetwork layers' spec, the model and the periodic weight update.

Kept apart from ``iterand.engine.config`` so that the configuration imports no torch.
"""

from __future__ import annotations

import hashlib

from torch import nn

from iterand.core.layers import SubnetSpec
from iterand.core.models import build
from iterand.core.weight_updates import WeightUpdate, make_weight_update
from iterand.engine.config import TrainConfig

__all__ = ["build_model", "subnet_spec", "weight_update"]


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
    """``iterand.core.models.build`` for ``config``, drawn from a generator seeded with ``config.seed``."""
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
    value derived from ``config.seed`` (a hash), not with ``seed`` itself: ``build_model`` draws the
    scores and weights from a generator seeded with ``seed``, and the re-draws must stay unrelated to
    those draws whatever generators the two use (with one generator and one seed, the selection would
    follow the initial scores and the "fresh" weights would equal the initial ones).
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
