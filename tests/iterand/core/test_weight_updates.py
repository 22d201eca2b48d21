"""Weight updates: IteRand re-randomisation, weight recycling, edge-popup, the period rule, the registry."""

from __future__ import annotations

import copy
import inspect
import math

import pytest
import torch
from torch import nn

from iterand.core import masks
from iterand.core.layers import SubnetSpec, kept_masks, layer_factory, named_subnet_layers
from iterand.core.names import METHOD_REGISTRY, WEIGHT_INITS
from iterand.core.weight_updates import (
    UPDATES,
    EdgePopup,
    IteRand,
    WeightRecycling,
    make_weight_update,
    recycled_count,
    redrawn_values,
)

Z = 6.0


def model_with(spec: SubnetSpec, seed: int = 0) -> nn.Module:
    factory = layer_factory(spec, torch.Generator().manual_seed(seed))
    return nn.Sequential(factory.conv(3, 16, 3), nn.ReLU(), nn.Flatten(), factory.linear(16, 1000)).double()


def snapshot(model):
    return {
        name: (layer.weight.clone(), layer.scores.detach().clone())
        for name, layer in named_subnet_layers(model)
    }


def assert_binomial(successes: int, trials: int, probability: float):
    se = math.sqrt(probability * (1 - probability) / trials)
    assert abs(successes / trials - probability) < Z * se + 1e-12


def test_due_first_at_period_minus_one_then_every_period():
    update = IteRand(r=0.1, period=300)
    due = [step for step in range(1000) if update.due(step)]
    assert due == [299, 599, 899]
    assert [s for s in range(10) if IteRand(period=3).due(s)] == [2, 5, 8]
    assert all(IteRand(period=1).due(s) for s in range(5))
    assert WeightRecycling(period=10).unit == "epoch" and IteRand().unit == "step"
    with pytest.raises(ValueError, match="counter"):
        update.due(-1)


def test_edgepopup_never_due_and_never_changes_weights():
    model = model_with(SubnetSpec())
    before = snapshot(model)
    for name in ("edgepopup", "none"):
        update = make_weight_update(name)
        assert isinstance(update, EdgePopup) and not any(update.due(s) for s in range(1000))
        update.apply(model)
    assert all(torch.equal(before[n][0], layer.weight) for n, layer in named_subnet_layers(model))


@pytest.mark.parametrize("ranking", masks.RANKINGS)
def test_iterand_redraws_pruned_weights_with_probability_r(ranking):
    model = model_with(SubnetSpec(weight_init="kaiming_uniform", ranking=ranking, pruned_fraction=0.6))
    pruned = {name: ~kept for name, kept in kept_masks(model).items()}
    before = snapshot(model)
    IteRand(r=0.3, seed=1).apply(model)
    changed_total = trials = 0
    for name, layer in named_subnet_layers(model):
        weight_before, scores_before = before[name]
        assert torch.equal(layer.scores, scores_before)  # every score untouched, bit for bit
        assert torch.equal(layer.weight[~pruned[name]], weight_before[~pruned[name]])  # kept untouched
        changed = layer.weight != weight_before
        assert not bool((changed & ~pruned[name]).any())
        changed_total += int(changed[pruned[name]].sum())
        trials += int(pruned[name].sum())
        bound = math.sqrt(6 / layer.fan_in)
        assert float(layer.weight[changed].abs().max()) <= bound  # new values come from KU
    assert_binomial(changed_total, trials, 0.3)


def test_iterand_new_values_follow_the_layer_distribution():
    model = model_with(SubnetSpec(weight_init="signed_constant", weight_scale=2.0, pruned_fraction=0.5))
    before = snapshot(model)
    IteRand(r=1.0, seed=3).apply(model)
    layer = model[3]
    pruned = ~layer.kept_mask()
    # the model was drawn in float32 and then cast; the re-drawn values are float64 draws of the same law
    constant = math.sqrt(2 / layer.fan_in) * 2.0
    assert torch.equal(
        layer.weight[pruned].abs(), torch.full((int(pruned.sum()),), constant, dtype=torch.float64)
    )
    # a fresh SC draw flips the sign half the time
    flipped = (layer.weight.sign() != before["3"][0].sign())[pruned]
    assert_binomial(int(flipped.sum()), int(pruned.sum()), 0.5)


def test_iterand_new_values_have_the_init_moments():
    model = model_with(SubnetSpec(weight_init="kaiming_normal", pruned_fraction=0.9))
    IteRand(r=1.0, seed=4).apply(model)
    layer = model[3]
    fresh = layer.weight[~layer.kept_mask()]
    variance = 2 / layer.fan_in
    assert abs(float(fresh.square().mean()) - variance) < Z * math.sqrt(2 * variance**2 / fresh.numel())


def test_r_zero_changes_nothing():
    model = model_with(SubnetSpec())
    before = snapshot(model)
    IteRand(r=0.0, seed=0).apply(model)
    assert all(torch.equal(before[n][0], layer.weight) for n, layer in named_subnet_layers(model))


def test_draws_ignore_global_rng_and_data_order():
    """Same scores and seed, different global RNG use in between: same new weights; global RNG not used."""
    results = []
    for global_seed, consumed in ((0, 0), (99, 12345)):
        model = model_with(SubnetSpec(weight_init="kaiming_uniform"), seed=5)
        torch.manual_seed(global_seed)
        torch.rand(consumed)  # stands for a different data order / augmentation stream
        state = torch.get_rng_state()
        IteRand(r=0.5, seed=11).apply(model)
        assert torch.equal(torch.get_rng_state(), state)
        results.append([layer.weight.clone() for _, layer in named_subnet_layers(model)])
    assert all(torch.equal(a, b) for a, b in zip(*results, strict=True))
    other_seed = model_with(SubnetSpec(weight_init="kaiming_uniform"), seed=5)
    IteRand(r=0.5, seed=12).apply(other_seed)
    assert not torch.equal(other_seed[3].weight, results[0][1])


@pytest.mark.parametrize("updates_before_save", [0, 1, 2])
def test_state_dict_round_trip_reproduces_the_next_draws(updates_before_save):
    model = model_with(SubnetSpec(weight_init="kaiming_uniform"))
    update = IteRand(r=0.5, seed=21)
    for _ in range(updates_before_save):
        update.apply(model)
    state = copy.deepcopy(update.state_dict())
    resumed_model = copy.deepcopy(model)
    update.apply(model)
    update.apply(model)
    resumed = IteRand(r=0.5, seed=21)
    resumed.load_state_dict(state)
    resumed.apply(resumed_model)
    resumed.apply(resumed_model)
    assert all(
        torch.equal(a.weight, b.weight)
        for (_, a), (_, b) in zip(named_subnet_layers(model), named_subnet_layers(resumed_model), strict=True)
    )
    assert (
        state["events"] == updates_before_save and resumed.events == update.events == updates_before_save + 2
    )
    assert update.last_redraw.keys() == resumed.last_redraw.keys() == dict(named_subnet_layers(model)).keys()
    assert all(torch.equal(update.last_redraw[n], resumed.last_redraw[n]) for n in update.last_redraw)


def test_load_state_dict_rejects_other_seed_and_the_generator_state_of_earlier_versions():
    update = IteRand(seed=1)
    with pytest.raises(ValueError, match="seed"):
        update.load_state_dict(IteRand(seed=2).state_dict())
    earlier = {"seed": 1, "device_type": "cpu", "generator_state": torch.Generator().get_state()}
    with pytest.raises(ValueError, match="earlier version.*start a new run directory"):
        update.load_state_dict(earlier)


@pytest.mark.parametrize("init", WEIGHT_INITS)
def test_last_redraw_and_the_seed_fix_every_weight(init):
    """What a compact file relies on: each weight is its initial draw (record 0) or ``redrawn_values`` of
    the update its record names, computed for that weight alone."""
    spec = SubnetSpec(weight_init=init, pruned_fraction=0.6, weight_scale=1.5)
    model = model_with(spec).float()
    initial = snapshot(model)
    update = IteRand(r=0.4, seed=9)
    for step in range(4):
        for _, layer in named_subnet_layers(model):  # the scores move between updates
            layer.scores.data.copy_(
                torch.randn(layer.scores.shape, generator=torch.Generator().manual_seed(step))
            )
        update.apply(model)
    for position, (name, layer) in enumerate(named_subnet_layers(model)):
        record = update.last_redraw[name]
        assert record.dtype == torch.int32 and set(record.unique().tolist()) == {0, 1, 2, 3, 4}
        never = record == 0
        assert torch.equal(layer.weight[never], initial[name][0][never])
        index = (~never).reshape(-1).nonzero().squeeze(1)
        expected = redrawn_values(
            9, record.reshape(-1)[index], position, index, spec, layer.fan_in, torch.float32
        )
        assert torch.equal(layer.weight.reshape(-1)[index], expected)


@pytest.mark.parametrize("init", WEIGHT_INITS)
def test_redrawn_values_do_not_depend_on_which_other_values_are_computed(init):
    # torch's CPU loops run vectorised over most of a tensor and scalar over the rest: both must agree.
    spec = SubnetSpec(weight_init=init)
    index = torch.arange(1000)
    whole = redrawn_values(3, 7, 2, index, spec, 27, torch.float32)
    one_by_one = torch.cat(
        [redrawn_values(3, 7, 2, index[i : i + 1], spec, 27, torch.float32) for i in range(0, 1000, 37)]
    )
    assert torch.equal(one_by_one, whole[::37])
    assert torch.equal(redrawn_values(3, torch.full((1000,), 7), 2, index, spec, 27, torch.float32), whole)
    assert not torch.equal(redrawn_values(3, 8, 2, index, spec, 27, torch.float32), whole)
    assert not torch.equal(redrawn_values(3, 7, 1, index, spec, 27, torch.float32), whole)
    assert not torch.equal(redrawn_values(4, 7, 2, index, spec, 27, torch.float32), whole)


def selections(update, model):
    """What one more update selects in each layer (its entries of ``last_redraw``)."""
    update.apply(model)
    return {name: record == update.events for name, record in update.last_redraw.items()}


def test_iterand_selection_differs_between_events_and_between_layers():
    factory = layer_factory(SubnetSpec(weight_init="kaiming_uniform"))
    model = nn.Sequential(factory.linear(8, 8), factory.linear(8, 8)).double()
    scores = torch.arange(64, dtype=torch.float64).reshape(8, 8)
    for _, layer in named_subnet_layers(model):
        layer.scores.data.copy_(scores)  # same pruned set in both layers, at every event
    pruned = ~kept_masks(model)["0"]
    update = IteRand(r=0.5, seed=7)
    first, second = selections(update, model), selections(update, model)
    for selected in (first["0"], first["1"], second["0"]):
        assert bool(selected.any()) and not bool((selected & ~pruned).any())
    assert not torch.equal(first["0"], second["0"])  # the event number enters the draw
    assert not torch.equal(first["0"], first["1"])  # and so does the layer's position


def test_manual_mode_keeps_no_record():
    model = model_with(SubnetSpec(weight_init="kaiming_uniform"))
    update = IteRand(r=0.5, mode="manual", seed=1)
    update.apply(model)
    assert update.events == 1 and update.last_redraw == {}


# rate 0.5 alone could not tell kept_masks(model, rate) from kept_masks(model, 1 - rate).
@pytest.mark.parametrize("rate", [0.25, 0.75])
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_rate_only_touches_the_lowest_fraction(scope, rate):
    p = 0.6
    model = model_with(SubnetSpec(weight_init="kaiming_uniform", pruned_fraction=p, scope=scope))
    before = snapshot(model)
    lowest = {name: ~kept for name, kept in kept_masks(model, rate).items()}
    IteRand(r=1.0, rate=rate, seed=0).apply(model)
    total_lowest = total = 0
    for name, layer in named_subnet_layers(model):
        changed = layer.weight != before[name][0]
        assert torch.equal(changed, lowest[name])  # r = 1: exactly the eligible ones, all of them
        ranked = before[name][1]
        if scope == "layer":
            assert int(changed.sum()) == masks.pruned_count(ranked.numel(), p * rate)
            assert ranked[changed].max() < ranked[~changed].min()
        total_lowest += int(changed.sum())
        total += ranked.numel()
    if scope == "global":
        assert total_lowest == masks.pruned_count(total, p * rate)


def test_global_scope_redraws_the_globally_pruned_weights():
    model = model_with(SubnetSpec(weight_init="kaiming_uniform", pruned_fraction=0.5, scope="global"))
    before = snapshot(model)
    IteRand(r=1.0, seed=0).apply(model)
    changed = torch.cat([(m.weight != before[n][0]).reshape(-1) for n, m in named_subnet_layers(model)])
    scores = torch.cat([before[n][1].reshape(-1) for n in before])
    assert int(changed.sum()) == masks.pruned_count(scores.numel(), 0.5)
    assert scores[changed].max() < scores[~changed].min()


def test_manual_mode_updates_every_pruned_weight_whatever_r():
    # The official code's manual mode draws no Bernoulli mask: pruned w <- lambda * w + mu * w_new.
    lam, mu = 0.5, 2.0
    manual_model = model_with(SubnetSpec(weight_init="kaiming_uniform"))
    resample_model = copy.deepcopy(manual_model)
    before = snapshot(manual_model)
    pruned = {name: ~kept for name, kept in kept_masks(manual_model).items()}
    IteRand(r=0.1, mode="manual", lam=lam, mu=mu, seed=8).apply(manual_model)
    IteRand(r=1.0, mode="resample", seed=8).apply(resample_model)  # every pruned weight gets its w_new
    for (name, manual), (_, resampled) in zip(
        named_subnet_layers(manual_model), named_subnet_layers(resample_model), strict=True
    ):
        old = before[name][0]
        assert torch.equal(resampled.weight != old, pruned[name])
        expected = torch.where(pruned[name], lam * old + mu * resampled.weight, old)
        assert torch.equal(manual.weight, expected)


def test_weight_recycling_copies_top_abs_scores_onto_bottom():
    scores = torch.tensor([0.5, -3.0, 0.1, 2.0, -0.2, 1.0, 0.0, -4.0, 0.3, 0.7], dtype=torch.float64)
    model = nn.Sequential(layer_factory(SubnetSpec()).linear(5, 2)).double()
    model[0].scores.data.copy_(scores.reshape(2, 5))
    weight = torch.arange(10, dtype=torch.float64).reshape(2, 5) + 100
    model[0].weight.data.copy_(weight)
    WeightRecycling(rate=0.3, period=1).apply(model)  # k = floor(3.0) = 3
    # |s| ascending: 6 (0.0), 2 (0.1), 4 (0.2) ... top three ascending: 3 (2.0), 1 (3.0), 7 (4.0)
    expected = weight.reshape(-1).clone()
    expected[[6, 2, 4]] = weight.reshape(-1)[[3, 1, 7]]
    assert torch.equal(model[0].weight.reshape(-1), expected)
    assert torch.equal(model[0].scores.detach().reshape(-1), scores)


def test_weight_recycling_count_and_untouched_positions():
    model = model_with(SubnetSpec(weight_init="kaiming_uniform"))
    before = snapshot(model)
    WeightRecycling(rate=0.2).apply(model)
    for name, layer in named_subnet_layers(model):
        numel = layer.weight.numel()
        k = recycled_count(numel, 0.2)
        assert k == math.floor(0.2 * numel)
        changed = layer.weight != before[name][0]
        assert int(changed.sum()) == k  # continuous init: every overwritten value differs
        magnitude = before[name][1].abs()
        assert magnitude[changed].max() <= magnitude[~changed].min()
        assert torch.equal(layer.scores, before[name][1])


def test_weight_recycling_at_rate_1_copies_every_weight_onto_itself():
    # Why TrainConfig refuses method "recycling" with rate 1 (its default rate, IteRand's rerand_rate).
    model = model_with(SubnetSpec(weight_init="kaiming_uniform"))
    before = snapshot(model)
    WeightRecycling(rate=1.0, period=1).apply(model)
    for name, layer in named_subnet_layers(model):
        assert torch.equal(layer.weight, before[name][0])


def linear_with(scores):
    """A one-layer model with ``scores`` (out x in) and weights 100, 101, ... in flat order, so that each
    value names the position it came from."""
    scores = torch.tensor(scores, dtype=torch.float64)
    model = nn.Sequential(layer_factory(SubnetSpec()).linear(scores.shape[1], scores.shape[0])).double()
    model[0].scores.data.copy_(scores)
    model[0].weight.data.copy_(torch.arange(scores.numel(), dtype=torch.float64).reshape(scores.shape) + 100)
    return model


def test_weight_recycling_count_is_the_floor():
    assert recycled_count(9, 0.2) == 1  # 1.8: rounding would give 2
    model = linear_with([[0.5, -3.0, 0.1], [2.0, -0.2, 1.0], [0.0, -4.0, 0.3]])
    WeightRecycling(rate=0.2, period=1).apply(model)
    expected = torch.arange(9, dtype=torch.float64) + 100
    expected[6] = 107  # the lowest |score| (0.0) receives the highest (-4.0)
    assert torch.equal(model[0].weight.reshape(-1), expected)


def test_weight_recycling_of_a_layer_below_one_recycled_weight_changes_nothing():
    model = linear_with([[0.4, -0.1], [0.3, 0.2]])
    assert recycled_count(4, 0.2) == 0
    WeightRecycling(rate=0.2, period=1).apply(model)
    assert torch.equal(model[0].weight.reshape(-1), torch.arange(4, dtype=torch.float64) + 100)


def test_weight_recycling_breaks_ties_by_flat_index():
    # 20 weights: torch's unstable CPU sort reorders equal values from 17 on (below, it is stable anyway)
    model = linear_with([[0.5, -0.5, 0.5, -0.5, 0.5]] * 4)  # every |score| equal
    WeightRecycling(rate=0.3, period=1).apply(model)
    # ascending order 0..19, k = 6: the six lowest (0..5) get the six highest (14..19), in that order
    expected = torch.arange(20, dtype=torch.float64) + 100
    expected[:6] = torch.arange(14, 20, dtype=torch.float64) + 100
    assert torch.equal(model[0].weight.reshape(-1), expected)


@pytest.mark.parametrize(
    ("method", "fields", "field"),
    [
        ("sgd", {}, "method"),
        ("iterand", {"r": -0.1}, "r"),
        ("iterand", {"r": 1.5}, "r"),
        ("iterand", {"period": 0}, "period"),
        ("iterand", {"period": 2.5}, "period"),
        ("iterand", {"rate": 0.0}, "rate"),
        ("iterand", {"rate": 1.2}, "rate"),
        ("iterand", {"unit": "batch"}, "unit"),
        ("iterand", {"mode": "bernoulli"}, "mode"),
        ("iterand", {"lam": float("nan")}, "lam"),
        ("iterand", {"k_per": 300}, "k_per"),
        ("recycling", {"rate": 0.0}, "rate"),
        ("recycling", {"period": -1}, "period"),
        ("recycling", {"r": 0.1}, "r"),
        ("edgepopup", {"period": 3}, "period"),
    ],
)
def test_make_weight_update_rejects_bad_input_naming_the_field(method, fields, field):
    with pytest.raises(ValueError, match=field):
        make_weight_update(method, **fields)


def test_make_weight_update_builds_each_method():
    assert set(UPDATES) == {"edgepopup", "none", "iterand", "recycling"}
    iterand = make_weight_update("iterand", r=0.1, period=300, seed=2)
    assert isinstance(iterand, IteRand) and (iterand.r, iterand.period, iterand.seed) == (0.1, 300, 2)
    recycling = make_weight_update("recycling", rate=0.2, period=10)
    assert isinstance(recycling, WeightRecycling) and recycling.unit == "epoch"


def test_updates_refuse_a_model_without_subnetwork_layers():
    dense = nn.Sequential(layer_factory(None).linear(3, 3))
    for update in (IteRand(), WeightRecycling()):
        with pytest.raises(ValueError, match="subnetwork"):
            update.apply(dense)


def test_every_method_names_a_registered_update_and_its_arguments():
    for method in METHOD_REGISTRY.values():
        if method.update is None:
            assert not method.subnetwork, f"{method.name}: a subnetwork method needs an update"
            continue
        cls = UPDATES[method.update]
        arguments = set(inspect.signature(cls).parameters) - {"seed"}
        assert set(method.update_fields) == arguments, method.name
        assert ("seed" in inspect.signature(cls).parameters) == cls.seeded, method.name
