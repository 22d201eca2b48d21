"""TensorBoard: the scalars are the per-epoch records of metrics.jsonl; without the extra, a clear error."""

from __future__ import annotations

import errno
import os
import re
import sys

import pytest

from bookkeeping.files import read_metrics
from bookkeeping.paths import RunFiles
from iterand.engine import train as train_module
from iterand.engine.config import TrainConfig, run_name, save_yaml
from iterand.engine.tensorboard_log import TAGS
from iterand.engine.train import train
from iterand.experiments.cli import main

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


@pytest.mark.parametrize("refused_from", ["the start", "epoch 1"])
def test_a_full_disk_at_the_record_stops_the_run_in_one_line_and_it_resumes(
    tmp_path, monkeypatch, capsys, refused_from
):
    # A refused TensorBoard write ended the run on two tracebacks: the writer thread's and the caller's.
    pytest.importorskip("tensorboard", reason="the tensorboard extra (make setup installs it)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.summary.writer.record_writer import RecordWriter

    full = {"now": refused_from == "the start", "after_epoch": None if refused_from == "the start" else 1}
    real_write, real_append = RecordWriter.write, train_module.append_metrics

    def disk_write(self, data):  # runs in TensorBoard's writer thread
        if full["now"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(self, data)

    def append_then_fill(path, record):
        real_append(path, record)
        full["now"] = full["now"] or record["epoch"] == full["after_epoch"]

    monkeypatch.setattr(RecordWriter, "write", disk_write)
    monkeypatch.setattr(train_module, "append_metrics", append_then_fill)
    config = TrainConfig.from_dict({**CONFIG, "tensorboard": True})
    save_yaml(config, tmp_path / "config.yaml")
    argv = ["train", "--config", str(tmp_path / "config.yaml"), "--out", str(tmp_path)]
    run_dir = tmp_path / run_name(config)
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    where, kept = ("", 0) if refused_from == "the start" else (" of epoch 1 to", 1)
    assert err[-1] == (
        f"error: cannot write the TensorBoard record{where} {run_dir}/tensorboard: No space left on device "
        f"(ENOSPC); {run_dir} keeps {kept} of 3 epochs, and the same command resumes from there once the "
        "file can be written"
    ), err
    assert not any(re.match("Traceback|Exception in thread", line) for line in err), err
    full.update(now=False, after_epoch=None)
    assert main(argv) == 0
    assert [record["epoch"] for record in read_metrics(RunFiles(run_dir).metrics)] == [0, 1, 2]
    events = EventAccumulator(str(RunFiles(run_dir).tensorboard)).Reload()
    assert [event.step for event in events.Scalars("loss/train")] == [0, 1, 2]
