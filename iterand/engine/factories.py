"""What a ``TrainConfig`` builds: the subnetwork layers' spec, the model and the periodic weight update.

Everything is read from the method's entry in ``iterand.core.names.METHOD_REGISTRY``; no method is
named here. Kept apart from ``iterand.engine.config`` so that the configuration imports no torch.
"""

from __future__ import annotations

import hashlib

from torch import nn

from iterand.core.layers import SubnetSpec
from iterand.core.models import build
from iterand.core.names import METHOD_REGISTRY
from iterand.core.weight_updates import UPDATES, WeightUpdate, make_weight_update
from iterand.engine.config import TrainConfig

__all__ = ["build_model", "subnet_spec", "weight_update"]


def subnet_spec(config: TrainConfig) -> SubnetSpec | None:
    """The subnetwork layers' spec of ``config``; None for a dense method (``method="sgd"``)."""
    method = METHOD_REGISTRY[config.method]
    if not method.subnetwork:
        return None
    return SubnetSpec(
        pruned_fraction=config.pruned_fraction,
        ranking=config.ranking,
        weight_init=config.init,
        weight_scale=config.weight_scale,
        effective_weight=method.effective_weight,
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
    """The periodic weight update of ``config``'s method, its arguments read from the fields that the
    method's ``update_fields`` name; None for a method without one ("sgd": its weights are trained).

    "edgepopup" and "biprop" get the update that never fires. IteRand's generator is seeded with a
    value derived from ``config.seed`` (a hash), not with ``seed`` itself: ``build_model`` draws the
    scores and weights from a generator seeded with ``seed``, and the re-draws must stay unrelated to
    those draws whatever generators the two use (with one generator and one seed, the selection would
    follow the initial scores and the "fresh" weights would equal the initial ones).
    """
    method = METHOD_REGISTRY[config.method]
    if method.update is None:
        return None
    arguments = {argument: getattr(config, field) for argument, field in method.update_fields.items()}
    if UPDATES[method.update].seeded:
        arguments["seed"] = _derived_seed("weight_update", config.seed)
    return make_weight_update(method.update, **arguments)


def _derived_seed(purpose: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{purpose}:{seed}".encode()).digest()[:8], "big") >> 1
