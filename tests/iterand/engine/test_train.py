"""The training loop on in-memory data (``fake_runs``): schedule, what trains, when weights are re-drawn,
files, NaN stop."""

from __future__ import annotations

import json
import logging
import math
import signal
from pathlib import Path

import pytest
import torch
import yaml
from dropped_signals import lose_an_interrupt
from fake_runs import NUM_CLASSES, fake_data, tiny_config

from bookkeeping import signals
from bookkeeping.errors import InvalidInput, UserError
from bookkeeping.files import read_metrics
from bookkeeping.paths import RunFiles
from iterand.core.accounting import count_weights
from iterand.core.layers import named_subnet_layers
from iterand.engine import cpu_runtime, distributed
from iterand.engine import train as train_module
from iterand.engine.config import TrainConfig
from iterand.engine.factories import build_model
from iterand.engine.optim import learning_rate, make_optimizer, trained_parameters
from iterand.engine.posthoc import load_trained
from iterand.engine.train import ConfigMismatch, RunInterrupted, Trainer, TrainingDiverged, train


def single_process() -> distributed.Context:
    return distributed.Context(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


def test_learning_rate_follows_warmup_cosine_and_finetune():
    config = tiny_config(epochs=8, lr=0.4, warmup_epochs=2, finetune_epochs=2, finetune_lr=1e-3)
    cosine = [0.4 * (1 + math.cos(math.pi * j / 4)) / 2 for j in range(4)]
    expected = [0.2, 0.4, *cosine, 1e-3, 1e-3]
    assert [learning_rate(config, e) for e in range(8)] == pytest.approx(expected, rel=1e-12)
    assert learning_rate(tiny_config(epochs=1, lr=0.3), 0) == 0.3  # a 1-epoch run trains at the initial rate
    plain = tiny_config(epochs=4, lr=0.1)
    assert [learning_rate(plain, e) for e in range(4)] == pytest.approx(
        [0.1, 0.0853553390593, 0.05, 0.0146446609407], rel=1e-9
    )
    with pytest.raises(ValueError, match="epoch must be in"):
        learning_rate(plain, 4)


def test_the_loop_sets_the_rate_once_per_epoch_before_the_epoch(tmp_path, monkeypatch):
    config = tiny_config(epochs=4, lr=0.2)
    trainer = Trainer(config, tmp_path, single_process(), data=fake_data())
    seen: list[float] = []
    step = trainer.optimizer.step

    def recording_step(*args, **kwargs):
        seen.append(trainer.optimizer.param_groups[0]["lr"])
        return step(*args, **kwargs)

    monkeypatch.setattr(trainer.optimizer, "step", recording_step)
    trainer.run()
    steps_per_epoch = 128 // 32
    expected = [learning_rate(config, e) for e in range(4) for _ in range(steps_per_epoch)]
    assert seen == expected
    assert [m["lr"] for m in read_metrics(RunFiles(tmp_path).metrics)] == [
        learning_rate(config, e) for e in range(4)
    ]


def test_a_few_epochs_lower_the_loss_and_beat_chance(tmp_path):
    summary = train(tiny_config(epochs=4, lr=0.2), tmp_path, data=fake_data())
    metrics = read_metrics(RunFiles(tmp_path).metrics)
    assert metrics[-1]["train_loss"] < 0.8 * metrics[0]["train_loss"]
    assert summary["results"]["test_acc_last"] > 100 / NUM_CLASSES + 25


@pytest.mark.parametrize("unit, period, expected", [("step", 3, [2, 5, 8, 11, 14]), ("epoch", 2, [1, 3])])
def test_weight_updates_fire_on_the_global_counter(tmp_path, unit, period, expected):
    # 160 examples / batch 32 = 5 steps per epoch: a step counter reset per epoch would fire at 2 only.
    epochs = 3 if unit == "step" else 5
    config = tiny_config(method="iterand", period=period, period_unit=unit, epochs=epochs)
    trainer = Trainer(config, tmp_path, single_process(), data=fake_data(n_train=160))
    fired: list[int] = []
    apply = trainer.update.apply

    def recording_apply(model):
        progress = trainer.progress
        fired.append(progress.global_step if unit == "step" else progress.epochs_done)
        apply(model)

    trainer.update.apply = recording_apply
    summary = trainer.run()
    assert fired == expected
    assert summary["results"]["weight_updates"] == len(expected)
    per_epoch = [m["weight_updates"] for m in read_metrics(RunFiles(tmp_path).metrics)]
    if unit == "step":
        assert per_epoch == [1, 3, 5]  # steps 2 | 5, 8 | 11, 14


@pytest.mark.parametrize(
    "unit, period, epochs, expected",
    [
        # 5 steps per epoch; forward of global step s sees the updates due at steps <= s
        ("step", 3, 1, [(0, 0, 0), (0, 1, 0), (0, 2, 1), (0, 3, 1), (0, 4, 1)]),
        ("epoch", 2, 2, [(0, s, 0) for s in range(5)] + [(1, s, 1) for s in range(5, 10)]),
    ],
)
def test_weight_updates_come_before_the_forward_pass_they_are_due_at(
    tmp_path, unit, period, epochs, expected
):
    config = tiny_config(method="iterand", period=period, period_unit=unit, epochs=epochs)
    trainer = Trainer(config, tmp_path, single_process(), data=fake_data(n_train=160))
    seen: list[tuple[int, int, int]] = []

    def record(module, inputs):
        if module.training:  # not the evaluation passes
            progress = trainer.progress
            seen.append((progress.epochs_done, progress.global_step, progress.weight_updates))

    trainer.model.register_forward_pre_hook(record)
    trainer.run()
    assert seen == expected


def _weights_and_scores(model):
    layers = dict(named_subnet_layers(model))
    return (
        {name: layer.weight.detach().clone() for name, layer in layers.items()},
        {name: layer.scores.detach().clone() for name, layer in layers.items()},
    )


@pytest.mark.parametrize(
    "method, period, weights_change",
    [("edgepopup", 300, False), ("iterand", 300, False), ("iterand", 2, True)],
)
def test_subnet_methods_train_only_the_scores(tmp_path, method, period, weights_change):
    config = tiny_config(method=method, period=period, r=0.5, epochs=1)
    initial_weights, initial_scores = _weights_and_scores(build_model(config, NUM_CLASSES))
    trainer = Trainer(config, tmp_path, single_process(), data=fake_data())
    assert {id(p) for g in trainer.optimizer.param_groups for p in g["params"]} == {
        id(layer.scores) for _, layer in named_subnet_layers(trainer.model)
    }
    trainer.run()
    weights, scores = _weights_and_scores(trainer.model)
    assert all(not torch.equal(scores[name], initial_scores[name]) for name in scores)
    same = [torch.equal(weights[name], initial_weights[name]) for name in weights]
    assert not any(same) if weights_change else all(same)


def test_sgd_trains_every_weight_with_weight_decay(tmp_path):
    config = tiny_config(method="sgd", model="resnet18", width=0.0625, epochs=1, weight_decay=5e-4)
    initial = build_model(config, NUM_CLASSES).state_dict()
    trainer = Trainer(config, tmp_path, single_process(), data=fake_data(n_train=64))
    (group,) = trainer.optimizer.param_groups
    assert group["weight_decay"] == 5e-4 and group["momentum"] == 0.9
    assert {id(p) for p in group["params"]} == {id(p) for p in trainer.model.parameters()}  # BN affine too
    trainer.run()
    trained = trainer.model.state_dict()
    for name, _ in trainer.model.named_parameters():
        assert not torch.equal(trained[name], initial[name]), name


@pytest.mark.parametrize("method", ["edgepopup", "iterand"])
def test_weight_decay_shrinks_the_scores_of_subnetwork_models(method):
    config = tiny_config(method=method, weight_decay=5e-4, lr=0.1, momentum=0.9)
    model = build_model(config, NUM_CLASSES).double()  # float32 would round away most of a 5e-5 change
    optimizer = make_optimizer(config, model)
    (group,) = optimizer.param_groups
    assert group["weight_decay"] == 5e-4
    before = [layer.scores.detach().clone() for _, layer in named_subnet_layers(model)]
    for _, layer in named_subnet_layers(model):
        layer.scores.grad = torch.zeros_like(layer.scores)  # only the decay moves them
    optimizer.step()
    for score, (_, layer) in zip(before, named_subnet_layers(model), strict=True):
        # the first momentum step is the gradient itself: wd * s
        assert torch.allclose(layer.scores.detach(), score - 0.1 * (5e-4 * score), rtol=1e-12, atol=0)


def test_subnet_model_refuses_extra_trainable_parameters():
    model = build_model(tiny_config(), NUM_CLASSES)
    model.features[0].bias = torch.nn.Parameter(torch.zeros(model.features[0].out_channels))
    with pytest.raises(ValueError, match="features.0.bias"):
        trained_parameters(model)


def test_options_reach_the_optimiser_and_loss(tmp_path):
    config = tiny_config(nesterov=True, momentum=0.8, label_smoothing=0.1)
    trainer = Trainer(config, tmp_path, single_process(), data=fake_data())
    assert trainer.optimizer.param_groups[0]["nesterov"] is True
    assert trainer.optimizer.param_groups[0]["momentum"] == 0.8
    assert trainer.criterion.label_smoothing == 0.1
    assert trainer.amp is False  # GPU-only, default on
    assert trainer.channels_last is True  # default on, CPU included


def test_cpu_amp_trains_and_evaluates_in_bf16_on_the_cpu(tmp_path):
    trainer = Trainer(tiny_config(cpu_amp=True, epochs=1), tmp_path, single_process(), data=fake_data())
    assert trainer.amp is True
    dtypes = set()
    trainer.model.register_forward_hook(lambda module, inputs, output: dtypes.add(output.dtype))
    trainer.run()
    assert dtypes == {torch.bfloat16}


def test_run_files_hold_config_metrics_best_and_summary(tmp_path):
    config = tiny_config(method="iterand", period=4, epochs=3)
    summary = train(config, tmp_path, data=fake_data())
    files = RunFiles(tmp_path)
    assert TrainConfig.from_dict(yaml.safe_load(files.config.read_text())) == config
    metrics = read_metrics(files.metrics)
    assert [m["epoch"] for m in metrics] == [0, 1, 2]
    assert set(metrics[0]) == {
        "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "images_per_second", "seconds",
        "global_step", "weight_updates",
    }  # fmt: skip
    assert [m["global_step"] for m in metrics] == [4, 8, 12]
    assert json.loads(files.summary.read_text()) == json.loads(json.dumps(summary, default=str))
    results = summary["results"]
    val_accs = [m["val_acc"] for m in metrics]
    best_epoch = val_accs.index(max(val_accs))
    assert results["best_epoch"] == best_epoch and results["val_acc_best"] == max(val_accs)
    assert results["val_acc_last"] == val_accs[-1]
    assert torch.load(files.best, weights_only=True)["epoch"] == best_epoch
    counts = count_weights(build_model(config, NUM_CLASSES))
    assert (results["weights_total"], results["weights_kept"]) == (counts.total, counts.kept)
    assert results["weight_updates"] == 3 and results["global_steps"] == 12  # before steps 3, 7, 11
    assert 0 <= results["test_acc_last"] <= 100 and 0 <= results["test_acc_best"] <= 100
    assert summary["parameters"] == config.to_dict()
    assert summary["device"] == "cpu" and summary["torch"] == torch.__version__
    assert summary["cpu"] == cpu_runtime.cpu_description()
    assert "commit" in summary["git"] and summary["data"] == {"source": "in-memory test data"}


def test_best_model_is_evaluated_separately_from_the_last(tmp_path, monkeypatch):
    # The test accuracy of best.pt must come from best.pt's weights: make best.pt's model a constant one.
    config = tiny_config(epochs=2)
    trainer = Trainer(config, tmp_path, single_process(), data=fake_data())
    best_state = trainer._best_state

    def zeroed_best_state(epoch, val_acc):
        state = best_state(epoch, val_acc)
        state["model"] = {k: torch.zeros_like(v) for k, v in state["model"].items()}
        return state

    monkeypatch.setattr(trainer, "_best_state", zeroed_best_state)
    results = trainer.run()["results"]
    labels = trainer.data.test.labels
    # All-zero scores and weights give all-zero logits: argmax picks class 0 for every example.
    assert results["test_acc_best"] == pytest.approx(100 * (labels == 0).float().mean().item())


def test_no_validation_means_no_best_checkpoint(tmp_path):
    summary = train(tiny_config(val_fraction=0.0, epochs=1), tmp_path, data=fake_data())
    results = summary["results"]
    assert results["val_acc_last"] is None and results["test_acc_best"] is None
    assert not RunFiles(tmp_path).best.exists()
    assert read_metrics(RunFiles(tmp_path).metrics)[0]["val_acc"] is None


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    config = tiny_config(epochs=4)
    with pytest.raises(TrainingDiverged, match=r"epoch 2: .*2 epoch\(s\) done.*lower lr \(now 0\.1\)"):
        train(config, tmp_path, data=fake_data(nan_from_epoch=2))
    files = RunFiles(tmp_path)
    saved = torch.load(files.checkpoint, weights_only=True)
    assert saved["progress"]["epochs_done"] == 2
    assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())
    assert [m["epoch"] for m in read_metrics(files.metrics)] == [0, 1]
    assert not files.summary.exists()


def test_a_diverging_fine_tuning_epoch_names_finetune_lr(tmp_path):
    # Issue 10, item 12: the hint named `lr` whatever learning rate the diverging epoch used.
    config = tiny_config(method="sgd", epochs=2, finetune_epochs=1, finetune_lr=1e30, lr=0.01)
    with pytest.raises(TrainingDiverged, match=r"epoch 1: .*lower finetune_lr \(now 1e\+30; epoch 1 is a"):
        train(config, tmp_path, data=fake_data(n_train=64))


def test_epochs_are_numbered_from_0_in_the_console_and_every_file(tmp_path, caplog):
    # Issue 10, item 12: summary.json's best_epoch counted from 0 while the console counted from 1.
    with caplog.at_level(logging.INFO, logger="iterand"):
        summary = train(tiny_config(epochs=3), tmp_path, data=fake_data(n_train=64))
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("epoch ")]
    assert [line.split()[:3] for line in lines] == [["epoch", "0", "(1/3)"], ["epoch", "1", "(2/3)"],
                                                     ["epoch", "2", "(3/3)"]]  # fmt: skip
    metrics = read_metrics(RunFiles(tmp_path).metrics)
    best = summary["results"]["best_epoch"]
    assert [m["epoch"] for m in metrics] == [0, 1, 2]
    val_accs = [m["val_acc"] for m in metrics]
    assert val_accs[best] == summary["results"]["val_acc_best"] == max(val_accs)
    assert f"best validation epoch, {best}" in caplog.records[-1].getMessage()


def test_ctrl_c_after_the_last_epoch_says_the_run_finishes_without_training_again(tmp_path, monkeypatch):
    # It said "resumes from there" of a run that kept all its epochs, as if some were left to train.
    def interrupted_summary(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "write_json", interrupted_summary)
    with pytest.raises(RunInterrupted) as stopped:
        train(tiny_config(epochs=2), tmp_path, data=fake_data(n_train=64))
    assert str(stopped.value) == (
        f"interrupted: {tmp_path} keeps 2 of 2 epochs (checkpoint.pt); the same command finishes the run "
        "without training again"
    )


def _interrupt_at_step(patch: pytest.MonkeyPatch, stop: int) -> None:
    """Ctrl-C at training step ``stop`` (counted from 1) of this process."""
    steps = []
    original_step = train_module.train_step

    def interrupted_step(*args):
        steps.append(1)
        if len(steps) == stop:
            raise KeyboardInterrupt
        return original_step(*args)

    patch.setattr(train_module, "train_step", interrupted_step)


def test_ctrl_c_says_where_the_run_resumes_from(tmp_path, monkeypatch):
    # Issue 10, item 9: Ctrl-C in the middle of an epoch; the run directory keeps the epochs saved before.
    _interrupt_at_step(monkeypatch, 4)  # 2 steps per epoch: in the second epoch
    with pytest.raises(RunInterrupted) as stopped:
        train(tiny_config(epochs=3), tmp_path, data=fake_data(n_train=64))
    assert isinstance(stopped.value, KeyboardInterrupt)
    assert str(stopped.value) == (
        f"interrupted: {tmp_path} keeps 1 of 3 epochs (checkpoint.pt); the same command resumes from there"
    )
    monkeypatch.undo()
    assert train(tiny_config(epochs=3), tmp_path, data=fake_data(n_train=64))["results"]["epochs"] == 3


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped interrupt
def test_a_sigint_python_dropped_still_stops_the_run_at_its_next_step(tmp_path, monkeypatch):
    # A sweep's SIGINT that reached a training process while a weakref callback ran (during its imports) was
    # printed as "Exception ignored" and lost: the process trained on, orphaned by the notebook kernel's
    # shut-down. Its handler remembers the stop, and the training loop raises it at the next step.
    steps = []

    def step_that_loses_a_sigint(*args):
        steps.append(1)
        if len(steps) == 3:  # the first step of the second epoch
            lose_an_interrupt(signal.SIGINT)
        return original_step(*args)

    original_step = train_module.train_step
    monkeypatch.setattr(train_module, "train_step", step_that_loses_a_sigint)
    previous = signal.getsignal(signal.SIGINT)
    signals.interrupt_on_sigint()
    try:
        with pytest.raises(RunInterrupted) as stopped:
            train(tiny_config(epochs=3), tmp_path, data=fake_data(n_train=64))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(steps) == 3, "the step after the lost SIGINT did not run"
    assert str(stopped.value).startswith(f"interrupted: {tmp_path} keeps 1 of 3 epochs")


def test_a_run_never_continues_on_other_data(tmp_path):
    with pytest.raises(TrainingDiverged):  # stops the run after its first epoch
        train(tiny_config(epochs=2), tmp_path, data=fake_data(n_train=64, nan_from_epoch=1))
    other = fake_data(n_train=64)
    other.description = {"source": "elsewhere", "dataset": "cifar10", "lossy_jpeg": True}
    with pytest.raises(ConfigMismatch, match="trained on other data than this"):
        train(tiny_config(epochs=2), tmp_path, data=other)
    moved = fake_data(n_train=64)
    moved.description = {"source": "moved: only the location differs"}
    assert train(tiny_config(epochs=2), tmp_path, data=moved)["results"]["epochs"] == 2


def test_a_finished_run_returns_its_summary_without_training(tmp_path, monkeypatch):
    config = tiny_config(epochs=1)
    first = train(config, tmp_path, data=fake_data())
    monkeypatch.setattr(Trainer, "_epoch", lambda *a: pytest.fail("a finished run trained again"))
    assert train(config, tmp_path, data=fake_data()) == json.loads(json.dumps(first, default=str))


def test_a_finished_run_without_its_checkpoint_keeps_its_results_and_needs_no_data(tmp_path, monkeypatch):
    # Deleting checkpoint.pt to save space used to retrain the run from scratch, emptying metrics.jsonl.
    config = tiny_config(epochs=2)
    first = train(config, tmp_path, data=fake_data())
    files = RunFiles(tmp_path)
    metrics = files.metrics.read_bytes()
    files.checkpoint.unlink()
    monkeypatch.setattr(train_module, "load_data", lambda *a: pytest.fail("a finished run loaded its data"))
    monkeypatch.setattr(Trainer, "_epoch", lambda *a: pytest.fail("a finished run trained again"))
    assert train(config, tmp_path) == json.loads(json.dumps(first, default=str))
    assert files.metrics.read_bytes() == metrics


def test_a_finished_run_of_another_configuration_is_refused_by_its_summary(tmp_path):
    train(tiny_config(epochs=1), tmp_path, data=fake_data())
    RunFiles(tmp_path).checkpoint.unlink()
    RunFiles(tmp_path).config.unlink()
    with pytest.raises(ConfigMismatch, match="summary.json differs in lr"):
        train(tiny_config(epochs=1, lr=0.5), tmp_path, data=fake_data())


def test_recycling_at_rate_1_is_refused_before_the_run_directory_is_touched(tmp_path):
    # TrainConfig loads it (runs saved so must stay readable); training it would be edge-popup renamed.
    config = tiny_config(method="recycling", ranking="abs_score", rate=1.0)
    with pytest.raises(InvalidInput, match=r"^rate must be < 1 when method is 'recycling'"):
        train(config, tmp_path / "run", data=fake_data())
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("damage", ['{"parameters": ', "{}"])
def test_a_damaged_summary_is_named_and_nothing_is_retrained(tmp_path, damage):
    config = tiny_config(epochs=1)
    train(config, tmp_path, data=fake_data())
    files = RunFiles(tmp_path)
    files.summary.write_text(damage)
    metrics = files.metrics.read_bytes()
    with pytest.raises(UserError, match="summary.json .*restore the file, or delete it"):
        train(config, tmp_path, data=fake_data())
    assert files.metrics.read_bytes() == metrics
    # Without a checkpoint, deleting the summary would train the run again from scratch: not advised.
    files.checkpoint.unlink()
    with pytest.raises(UserError, match=r"restore the file \(the run has no checkpoint.pt") as caught:
        train(config, tmp_path, data=fake_data())
    assert "delete" not in str(caught.value)


def test_train_accepts_a_path_or_string(tmp_path):
    run_dir = Path(tmp_path) / "nested" / "run"
    train(tiny_config(epochs=1), str(run_dir), data=fake_data(n_train=64))
    assert RunFiles(run_dir).checkpoint.is_file()


def test_load_trained_returns_the_saved_model_and_config(tmp_path):
    config = tiny_config(method="iterand", period=2, epochs=2)
    train(config, tmp_path, data=fake_data())
    saved = torch.load(RunFiles(tmp_path).checkpoint, weights_only=True)["model"]
    model, loaded_config = load_trained(tmp_path)  # the number of classes comes from the checkpoint
    assert loaded_config == config
    state = model.state_dict()
    assert state.keys() == saved.keys() and all(torch.equal(state[k], saved[k]) for k in saved)
    # IteRand re-drew weights during training: the loaded weights are the trained ones, not the initial draw
    initial = build_model(config, NUM_CLASSES).state_dict()
    assert any(not torch.equal(state[k], initial[k]) for k in saved if k.endswith(".weight"))
    with pytest.raises(ValueError, match="checkpoint must be one of"):
        load_trained(tmp_path, "first")
    with pytest.raises(ValueError, match="not a run directory"):
        load_trained(tmp_path / "elsewhere")


def test_channels_last_on_the_cpu_except_where_onednn_gets_the_backward_wrong():
    # oneDNN#6035: a strided 1x1 convolution with fewer than 16 input channels (ResNet-18's shortcuts
    # below width 1/4) hangs, crashes or gets wrong weight gradients in channels-last on x86 CPUs.
    cpu, gpu = torch.device("cpu"), torch.device("cuda")

    def model_and_decision(device, **fields):
        config = TrainConfig(dataset="synthetic", **fields)
        model = build_model(config, NUM_CLASSES)
        return train_module.onednn_unsafe_convolutions(model), train_module.uses_channels_last(
            config, device, model
        )

    for stem in ("cifar", "imagenet"):
        narrow = {"model": "resnet18", "stem": stem, "width": 0.125}
        assert model_and_decision(cpu, **narrow) == (["stages.1.0.shortcut.0"], False)  # 8 channels in
        assert model_and_decision(gpu, **narrow)[1]
        assert model_and_decision(cpu, model="resnet18", stem=stem, width=0.25) == ([], True)  # 16 in
    assert model_and_decision(cpu, model="conv6") == ([], True)
    assert model_and_decision(cpu, model="conv6", channels_last=False) == ([], False)


def test_a_narrow_resnet_trains_in_contiguous_memory_on_the_cpu(tmp_path):
    # Width 1/16 has 4-channel shortcuts: in channels-last this process would hang or crash on AVX2.
    config = tiny_config(model="resnet18", width=0.0625, epochs=1)
    trainer = Trainer(config, tmp_path, single_process(), data=fake_data(n_train=64))
    assert not trainer.channels_last and trainer.model.stem[0].weight.is_contiguous()
    assert trainer.run()["results"]["global_steps"] == 2


def test_a_relative_data_root_is_saved_absolute(tmp_path, monkeypatch):
    # Saved as typed ("../shared/..."), eval from another directory looked for the data elsewhere.
    monkeypatch.chdir(tmp_path)
    train(tiny_config(epochs=1, data_root="data/c10"), tmp_path / "run", data=fake_data())
    saved = yaml.safe_load(RunFiles(tmp_path / "run").config.read_text())
    assert saved["data_root"] == str(tmp_path / "data" / "c10")


def test_a_missing_best_model_is_reported_before_training_resumes(tmp_path, monkeypatch):
    # It was found only after all remaining epochs had trained, and again at every resume.
    train(tiny_config(epochs=1), tmp_path, data=fake_data())
    files = RunFiles(tmp_path)
    files.summary.unlink()
    files.best.unlink()
    monkeypatch.setattr(Trainer, "_epoch", lambda *a: pytest.fail("trained without best.pt"))
    with pytest.raises(UserError, match="best.pt is missing, although checkpoint.pt records epoch 0"):
        train(tiny_config(epochs=1), tmp_path, data=fake_data())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda best: best.write_bytes(best.read_bytes()[:1000]), "cannot read the checkpoint .*best.pt"),
        (lambda best: torch.save({"model": {}}, best), "best.pt lacks config, epoch, val_acc, so"),
    ],
)
def test_a_damaged_best_model_is_reported_before_training_resumes(tmp_path, monkeypatch, damage, message):
    # A truncated best.pt was found only when the summary read it, after every remaining epoch.
    config = tiny_config(epochs=2)
    with monkeypatch.context() as patch:
        _interrupt_at_step(patch, 3)  # 2 steps per epoch: the first of the second epoch
        with pytest.raises(RunInterrupted):
            train(config, tmp_path, data=fake_data(n_train=64))
    files = RunFiles(tmp_path)
    damage(files.best)
    monkeypatch.setattr(Trainer, "_epoch", lambda *a: pytest.fail("trained with a damaged best.pt"))
    with pytest.raises(UserError, match=message) as caught:
        train(config, tmp_path, data=fake_data(n_train=64))
    remedy = "restore it, or delete checkpoint.pt to train the run again from the start"
    assert str(caught.value).endswith(remedy)


def test_a_resume_names_the_epochs_whose_metrics_were_lost(tmp_path, caplog):
    # metrics.jsonl deleted before a resume: the finished run's curve lacked epoch 0, and nothing said so.
    train(tiny_config(epochs=1), tmp_path, data=fake_data(n_train=64))
    files = RunFiles(tmp_path)
    files.summary.unlink()
    files.metrics.unlink()
    with caplog.at_level(logging.WARNING, logger=train_module.__name__):
        train(tiny_config(epochs=1), tmp_path, data=fake_data(n_train=64))
    warned = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warned == [
        f"{files.metrics} has no record of epoch 0 of the 1 done (deleted or edited): their training curves "
        "are lost; the run goes on, and its results are unaffected"
    ]


def test_a_best_model_copied_over_the_checkpoint_is_named_not_a_key_error(tmp_path):
    config = tiny_config(epochs=1)
    train(config, tmp_path, data=fake_data())
    files = RunFiles(tmp_path)
    files.summary.unlink()
    files.checkpoint.write_bytes(files.best.read_bytes())
    with pytest.raises(UserError, match=r"checkpoint.pt lacks progress, optimizer, rng, so it is no "):
        train(config, tmp_path, data=fake_data())


def test_a_summary_without_its_results_is_named_not_a_key_error(tmp_path):
    config = tiny_config(epochs=1)
    train(config, tmp_path, data=fake_data())
    files = RunFiles(tmp_path)
    summary = json.loads(files.summary.read_text())
    del summary["results"]
    files.summary.write_text(json.dumps(summary))
    with pytest.raises(UserError, match="summary.json lacks results, so it is no run summary .* delete it"):
        train(config, tmp_path, data=fake_data())


def test_a_cpu_run_lowers_pytorchs_default_threads_to_the_cores_and_says_so(tmp_path, caplog, monkeypatch):
    before = torch.get_num_threads()
    for variable in cpu_runtime.THREAD_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(cpu_runtime, "available_cores", lambda: 1)  # e.g. a container's CPU limit
    try:
        torch.set_num_threads(2)
        with caplog.at_level(logging.INFO, logger="iterand"):
            Trainer(tiny_config(epochs=1), tmp_path, single_process(), data=fake_data()).run()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert "CPU: 1 threads (PyTorch's default, 2, lowered to the cores), 1 cores available" in caplog.text


def test_resuming_with_another_number_of_processes_says_so(tmp_path, caplog):
    # It resumed silently, and the summary then named only the last world size.
    train(tiny_config(epochs=1), tmp_path, data=fake_data())
    files = RunFiles(tmp_path)
    saved = torch.load(files.checkpoint, weights_only=False)
    saved["world_size"] = 2
    torch.save(saved, files.checkpoint)
    files.summary.unlink()
    with caplog.at_level(logging.WARNING, logger="iterand"):
        train(tiny_config(epochs=1), tmp_path, data=fake_data())
    assert "saved by 2 process(es), with 1" in caplog.text
