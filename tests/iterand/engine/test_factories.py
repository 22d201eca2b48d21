"""What a TrainConfig builds: the subnetwork spec, the seeded model and the method's weight update."""

import pytest
import torch

from iterand.core.layers import SubnetSpec, is_subnet_layer
from iterand.core.weight_updates import EdgePopup, IteRand, WeightRecycling
from iterand.engine.config import TrainConfig
from iterand.engine.factories import build_model, subnet_spec, weight_update


@pytest.mark.parametrize(
    ("method", "effective_weight"),
    [("edgepopup", "masked"), ("iterand", "masked"), ("recycling", "masked"), ("biprop", "biprop")],
)
def test_subnet_spec_carries_the_subnetwork_fields(method, effective_weight):
    config = TrainConfig(
        method=method, init="kn", pruned_fraction=0.7, ranking="abs_score", scope="global", weight_scale=2.0,
        rate=0.2,
    )  # fmt: skip
    assert subnet_spec(config) == SubnetSpec(
        pruned_fraction=0.7,
        ranking="abs_score",
        weight_init="kaiming_normal",
        weight_scale=2.0,
        effective_weight=effective_weight,
        scope="global",
    )


def test_sgd_has_no_subnet_spec_and_no_weight_update():
    config = TrainConfig(method="sgd")
    assert subnet_spec(config) is None and weight_update(config) is None


def test_iterand_update_gets_every_field():
    config = TrainConfig(
        r=0.3,
        period=7,
        period_unit="epoch",
        rate=0.5,
        rerandomize_mode="manual",
        rerandomize_lambda=0.25,
        rerandomize_mu=0.75,
    )
    update = weight_update(config)
    assert isinstance(update, IteRand)
    assert (update.r, update.period, update.unit, update.rate, update.mode, update.lam, update.mu) == (
        0.3,
        7,
        "epoch",
        0.5,
        "manual",
        0.25,
        0.75,
    )


def test_iterand_seed_follows_the_run_seed_but_is_not_equal_to_it():
    seeds = {s: weight_update(TrainConfig(seed=s)).seed for s in (1, 2)}
    assert seeds[1] == weight_update(TrainConfig(seed=1)).seed
    assert seeds[1] != seeds[2] and seeds[1] != 1 and seeds[2] != 2


def test_iterand_selection_is_independent_of_the_initial_scores():
    # With the model's seed reused, the first layer's selection uniforms would equal its score draws, so
    # almost every pruned weight (low score = low uniform) would be re-drawn instead of a fraction r.
    config = TrainConfig(model="conv2", width=0.25, init="ku", r=0.5, seed=0)
    model = build_model(config, num_classes=10)
    layer = next(m for m in model.modules() if is_subnet_layer(m))
    pruned, before = ~layer.kept_mask(), layer.weight.clone()
    weight_update(config).apply(model)
    redrawn = (layer.weight != before)[pruned].float().mean().item()
    assert redrawn == pytest.approx(0.5, abs=0.1)


def test_other_methods_get_their_updates():
    recycling = weight_update(TrainConfig(method="recycling", rate=0.2, period=10, period_unit="epoch"))
    assert isinstance(recycling, WeightRecycling)
    assert (recycling.rate, recycling.period, recycling.unit) == (0.2, 10, "epoch")
    for method in ("edgepopup", "biprop"):
        update = weight_update(TrainConfig(method=method, ranking="abs_score"))
        assert isinstance(update, EdgePopup) and not any(update.due(step) for step in range(1000))


def test_build_model_is_seeded_and_dense_for_sgd():
    config = TrainConfig(model="conv2", width=0.25)
    first, second = build_model(config, 10), build_model(config, 10)
    other = build_model(config.replace(seed=2), 10)
    for (name, a), b, c in zip(
        first.state_dict().items(), second.state_dict().values(), other.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
        if name.endswith(("weight", "scores")):
            assert not torch.equal(a, c), name
    dense = build_model(config.replace(method="sgd"), 10)
    assert not any(is_subnet_layer(m) for m in dense.modules())
    assert all(p.requires_grad for p in dense.parameters())
    assert dense(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
