"""Checkpoints: atomic writes, readable errors, refusal of another run's directory, and exact resume
after a real SIGKILL of ``python -m iterand train``."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from bookkeeping.errors import EXIT_USER_ERROR, UserError
from bookkeeping.files import atomic_path, read_json, read_metrics
from bookkeeping.paths import RunFiles
from iterand.engine import checkpoint
from iterand.engine import train as train_module
from iterand.engine.config import run_name
from iterand.engine.train import ConfigMismatch, train
from iterand.experiments.cli import build_config, main

REPO = Path(__file__).resolve().parents[3]
PRESET = "fig2-conv6-sc-iterand"
# 3 steps per epoch and period 2: re-draws before global steps 1, 3, 5, ... straddle the epoch boundaries.
# 30 epochs leave seconds of work after the first checkpoint: the kill lands mid-run even on a busy machine.
OVERRIDES = [
    "dataset=synthetic", "model=conv2", "width=0.0625", "device=cpu", "epochs=30", "steps_per_epoch=3",
    "batch_size=32", "period=2", "r=0.5", "seed=5",
]  # fmt: skip
TIMING_KEYS = {"images_per_second", "seconds", "train_seconds", "wall_seconds"}
RUN_TIMEOUT_S = 240


DISK_FULL = "No space left on device (ENOSPC)"


def test_save_is_atomic_and_one_line_when_the_disk_is_full(tmp_path, monkeypatch):
    # A full disk was a raw torch traceback with status 1.
    path = tmp_path / "checkpoint.pt"
    checkpoint.save(path, {"epoch": 1})

    def failing_save(state, file):
        file.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(checkpoint.CheckpointError) as caught:
        checkpoint.save(path, {"epoch": 2})
    assert str(caught.value) == f"cannot write the checkpoint {path}: {DISK_FULL}"
    assert checkpoint.load(path) == {"epoch": 1}
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full, a device that is always full")
def test_a_really_full_device_is_named_not_torchs_runtime_error(tmp_path):
    # Given a path, torch's writer reported a full disk as "RuntimeError: ... unexpected pos".
    path = tmp_path / "checkpoint.pt"
    (tmp_path / ".checkpoint.pt.tmp").symlink_to("/dev/full")  # where atomic_path writes first
    with pytest.raises(checkpoint.CheckpointError, match=re.escape(f"{path}: {DISK_FULL}")):
        checkpoint.save(path, {"weights": torch.zeros(100_000)})
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_stops_training_in_one_line_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    overrides = [*OVERRIDES, "epochs=3"]
    argv = [
        "train",
        "--preset",
        PRESET,
        *(a for o in overrides for a in ("--set", o)),
        "--out",
        str(tmp_path),
    ]
    saves = []
    real_save = torch.save

    def full_after_epoch_0(state, file):
        saves.append(file)
        if len(saves) > 2:  # best.pt and checkpoint.pt of epoch 0 fit
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(state, file)

    monkeypatch.setattr(torch, "save", full_after_epoch_0)
    assert main(argv) == EXIT_USER_ERROR
    run_dir = tmp_path / run_name(build_config(PRESET, overrides=overrides))
    error = capsys.readouterr().err
    assert re.fullmatch(
        rf"error: cannot write the checkpoint {re.escape(str(run_dir))}/(best|checkpoint)\.pt: "
        rf"{re.escape(DISK_FULL)}; {re.escape(str(run_dir))} keeps 1 of 3 epochs, and the same command "
        r"resumes from there once the file can be written\n",
        error,
    ), error
    monkeypatch.setattr(torch, "save", real_save)
    assert main(argv) == 0
    assert [m["epoch"] for m in read_metrics(RunFiles(run_dir).metrics)] == [0, 1, 2]


def _full_disk() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _torn_metrics_line(path, record):
    with open(path, "a") as f:  # as far as a disk that fills up mid-line gets
        f.write(json.dumps(record)[:20])
    raise _full_disk()


def _half_a_summary(path, data):
    with atomic_path(path) as tmp:
        tmp.write_text("{")
        raise _full_disk()


@pytest.mark.parametrize(
    ("writer", "failing", "file", "what", "kept", "then"),
    [
        (
            "append_metrics", _torn_metrics_line, "metrics.jsonl", "the metrics of epoch 1 to", 1,
            "resumes from there",
        ),
        (
            "write_json", _half_a_summary, "summary.json", "the summary", 3,
            "finishes the run without training again",
        ),
    ],
)  # fmt: skip
def test_a_full_disk_at_the_metrics_or_summary_stops_in_one_line_and_the_run_completes(
    tmp_path, monkeypatch, capsys, writer, failing, file, what, kept, then
):
    # Both were a raw OSError traceback with status 1, where a checkpoint was one line with status 2.
    overrides = [*OVERRIDES, "epochs=3"]

    def argv(out):
        return ["train", "--preset", PRESET, *(a for o in overrides for a in ("--set", o)), "--out", str(out)]

    assert main(argv(tmp_path / "whole")) == 0
    name = run_name(build_config(PRESET, overrides=overrides))
    whole, run_dir = RunFiles(tmp_path / "whole" / name), tmp_path / "full" / name
    files = RunFiles(run_dir)
    capsys.readouterr()
    real_writer = getattr(train_module, writer)

    def full_after_epoch_0(path, data):  # epoch 0's metrics line fits; no summary does
        written = kept == 1 and not files.metrics.exists()
        return (real_writer if written else failing)(path, data)

    monkeypatch.setattr(train_module, writer, full_after_epoch_0)
    assert main(argv(tmp_path / "full")) == EXIT_USER_ERROR
    error = capsys.readouterr().err
    assert error == (
        f"error: cannot write {what} {run_dir}/{file}: {DISK_FULL}; {run_dir} keeps {kept} of 3 epochs, and "
        f"the same command {then} once the file can be written\n"
    )
    assert not files.summary.exists() and not list(run_dir.glob(".*.tmp"))
    assert [m["epoch"] for m in read_metrics(files.metrics)] == list(range(kept))  # a torn line is no record

    monkeypatch.setattr(train_module, writer, real_writer)
    if kept == 3:  # only the summary is missing: no epoch is trained again
        monkeypatch.setattr(train_module.Trainer, "_epoch", lambda *_: pytest.fail("trained again"))
    assert main(argv(tmp_path / "full")) == 0
    results, whole_results = read_json(files.summary)["results"], read_json(whole.summary)["results"]
    assert _without_timings(results) == _without_timings(whole_results)
    metrics, whole_metrics = read_metrics(files.metrics), read_metrics(whole.metrics)
    assert [_without_timings(m) for m in metrics] == [_without_timings(m) for m in whole_metrics]
    assert files.metrics.read_text().count("\n") == 3  # the torn line is gone, not only skipped


def test_a_full_disk_when_a_run_resumes_is_one_line_too(tmp_path, monkeypatch):
    # Resuming rewrites metrics.jsonl without the epochs it trains again: on a disk still full, a traceback.
    config = _config("epochs=2")
    monkeypatch.setattr(train_module, "write_json", _half_a_summary)
    with pytest.raises(UserError, match="cannot write the summary"):
        train(config, tmp_path)

    def truncate_on_a_full_disk(path, epochs_done):
        raise _full_disk()

    monkeypatch.setattr(train_module, "truncate_metrics", truncate_on_a_full_disk)
    with pytest.raises(UserError) as caught:
        train(config, tmp_path)
    assert str(caught.value) == (
        f"cannot write the metrics {tmp_path}/metrics.jsonl: {DISK_FULL}; {tmp_path} keeps 2 of 2 epochs, "
        "and the same command finishes the run without training again once the file can be written"
    )


def test_a_full_disk_at_a_runs_first_configuration_is_one_line(tmp_path, monkeypatch):
    # config.yaml, written once when a run starts, was the last run file a full disk turned into a traceback.
    def save_on_a_full_disk(config, path):
        raise _full_disk()

    monkeypatch.setattr(train_module, "save_yaml", save_on_a_full_disk)
    with pytest.raises(UserError) as caught:
        train(_config("epochs=2"), tmp_path)
    assert str(caught.value) == (
        f"cannot write the configuration {tmp_path}/config.yaml: {DISK_FULL}; {tmp_path} keeps 0 of 2 "
        "epochs, and the same command resumes from there once the file can be written"
    )
    assert not (tmp_path / "config.yaml").exists()


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint at .*missing.pt"):
        checkpoint.load(tmp_path / "missing.pt")
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="damaged.pt: damaged, or not written by iterand"):
        checkpoint.load(damaged)


def test_rng_states_round_trip():
    states = checkpoint.rng_states()
    first = torch.rand(5)
    torch.rand(3)
    checkpoint.restore_rng_states(states)
    assert torch.equal(torch.rand(5), first)


def _config(*extra: str):
    return build_config(PRESET, overrides=[*OVERRIDES, "epochs=1", *extra])


def test_a_directory_of_another_run_is_refused_naming_the_fields(tmp_path):
    config = _config()
    train(config, tmp_path)
    with pytest.raises(ConfigMismatch, match=r"lr: saved 0\.3, requested 0\.2.*seed: saved 5, requested 6"):
        train(config.replace(lr=0.2, seed=6), tmp_path)
    files = RunFiles(tmp_path)
    edited = yaml.safe_load(files.config.read_text()) | {"weight_decay": 0.001}
    files.config.write_text(yaml.safe_dump(edited))
    with pytest.raises(ConfigMismatch, match="config.yaml differs in weight_decay"):
        train(config, tmp_path)


def test_execution_fields_may_change_on_resume(tmp_path):
    config = _config()
    first = train(config, tmp_path)
    assert train(config.replace(eval_batch_size=7, workers=0), tmp_path) == first


def _command(out: Path) -> list[str]:
    sets = [arg for item in OVERRIDES for arg in ("--set", item)]
    return [sys.executable, "-m", "iterand", "train", "--preset", PRESET, *sets, "--out", str(out)]


def _run_to_end(out: Path) -> None:
    result = subprocess.run(_command(out), cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def _kill_after_first_checkpoint(out: Path, run_dir: Path) -> None:
    process = subprocess.Popen(
        _command(out), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not RunFiles(run_dir).checkpoint.exists():
            assert process.poll() is None, "the run ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.01)
        assert process.poll() is None, "the run finished before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL


def _without_timings(record: dict) -> dict:
    return {key: value for key, value in record.items() if key not in TIMING_KEYS}


def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    config = build_config(PRESET, overrides=OVERRIDES)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    _run_to_end(whole)
    resumed_dir = killed / run_name(config)
    _kill_after_first_checkpoint(killed, resumed_dir)
    interrupted = checkpoint.load(RunFiles(resumed_dir).checkpoint)["progress"]["epochs_done"]
    assert 1 <= interrupted < config.epochs and not RunFiles(resumed_dir).summary.exists()
    _run_to_end(killed)

    a, b = RunFiles(whole / run_name(config)), RunFiles(resumed_dir)
    results_a, results_b = read_json(a.summary)["results"], read_json(b.summary)["results"]
    assert _without_timings(results_a) == _without_timings(results_b)
    assert results_a["weight_updates"] == 45  # before steps 1, 3, 5, ..., 89 of 90
    metrics_a, metrics_b = read_metrics(a.metrics), read_metrics(b.metrics)
    assert [_without_timings(m) for m in metrics_a] == [_without_timings(m) for m in metrics_b]
    saved_a, saved_b = checkpoint.load(a.checkpoint), checkpoint.load(b.checkpoint)
    assert saved_a["model"].keys() == saved_b["model"].keys()
    for name, tensor in saved_a["model"].items():
        assert torch.equal(tensor, saved_b["model"][name]), name
    update_a, update_b = saved_a["weight_update"], saved_b["weight_update"]
    assert update_a["events"] == update_b["events"] == 45
    assert update_a["last_redraw"].keys() == update_b["last_redraw"].keys()
    for name, record in update_a["last_redraw"].items():
        assert torch.equal(record, update_b["last_redraw"][name]), name
        assert int(record.max()) > 1, name  # re-draws after the resume were recorded
    momentum_a = [s["momentum_buffer"] for s in saved_a["optimizer"]["state"].values()]
    momentum_b = [s["momentum_buffer"] for s in saved_b["optimizer"]["state"].values()]
    assert all(torch.equal(x, y) for x, y in zip(momentum_a, momentum_b, strict=True))
