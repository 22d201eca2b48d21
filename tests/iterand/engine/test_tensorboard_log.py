"""TensorBoard: the scalars are the per-epoch records of metrics.jsonl; without the extra, a clear error."""

from __future__ import annotations

import sys

import pytest

from bookkeeping.files import read_metrics
from bookkeeping.paths import RunFiles
from iterand.engine.config import TrainConfig
from iterand.engine.tensorboard_log import TAGS
from iterand.engine.train import train

CONFIG = {
    "model": "conv2", "width": 0.0625, "dataset": "synthetic", "epochs": 3, "steps_per_epoch": 2,
    "batch_size": 32, "device": "cpu", "period": 1, "eval_batch_size": 500,
}  # fmt: skip


def test_the_scalars_are_the_metrics_records(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra (make setup installs it)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = RunFiles(tmp_path)
    train(TrainConfig.from_dict({**CONFIG, "tensorboard": True}), tmp_path)
    records = read_metrics(files.metrics)
    events = EventAccumulator(str(files.tensorboard)).Reload()
    numbers = [key for key, value in records[0].items() if key != "epoch" and isinstance(value, float | int)]
    assert {"train_loss", "val_acc", "lr", "images_per_second"} <= set(numbers)
    assert sorted(events.Tags()["scalars"]) == sorted(TAGS.get(key, key) for key in numbers)
    for key in numbers:
        logged = events.Scalars(TAGS.get(key, key))
        assert [event.step for event in logged] == [record["epoch"] for record in records]
        assert [event.value for event in logged] == pytest.approx([r[key] for r in records], rel=1e-6)


def test_off_by_default_writes_nothing(tmp_path):
    train(TrainConfig.from_dict({**CONFIG, "epochs": 1}), tmp_path)
    assert not RunFiles(tmp_path).tensorboard.exists()


def test_without_the_package_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    with pytest.raises(ValueError, match=r"pip install 'iterand\[tensorboard\]'"):
        train(TrainConfig.from_dict({**CONFIG, "tensorboard": True}), tmp_path)
    assert not RunFiles(tmp_path).metrics.exists()  # refused before training
