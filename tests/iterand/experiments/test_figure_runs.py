"""What ``figures.train_or_read`` does with runs the launcher did not train: a figure is never drawn while one
of its runs is still training in another process."""

from __future__ import annotations

from pathlib import Path

import pytest

from bookkeeping import locks
from bookkeeping.errors import UserError
from bookkeeping.paths import RunFiles
from iterand.engine.config import run_name
from iterand.experiments import figures, launcher, planning, presets, sweeps
from tests.iterand.experiments.test_results import _write_run

SUBSET = {"models": ["conv6"], "methods": ["iterand"], "inits": ["sc"]}
GRID = {"width": [0.0625], "seed": [1]}
OVERRIDES = {"dataset": "synthetic", "device": "cpu", "epochs": 1, "steps_per_epoch": 1, "batch_size": 8}


def _train(tmp_path: Path) -> Path:
    return figures.train_or_read(
        "train", "fig2", tmp_path / "runs", tmp_path / "out" / "results.csv", grid=GRID, overrides=OVERRIDES,
        **SUBSET,
    )  # fmt: skip


def _run_dir(tmp_path: Path) -> Path:
    overrides = [f"{key}={value}" for key, value in OVERRIDES.items()]
    (config,) = planning.runs(sweeps.subset("fig2", **SUBSET), overrides, GRID)
    return tmp_path / "runs" / run_name(config)


def test_a_run_held_by_another_process_is_named_instead_of_left_out(tmp_path):
    # Seen: the launcher skipped a run whose directory another process held, and the notebook drew its
    # figure without that run and said it succeeded.
    with locks.RunLock(RunFiles(_run_dir(tmp_path)).lock), pytest.raises(UserError) as held:
        _train(tmp_path)
    message = str(held.value)
    assert message.startswith(f"1 of 1 runs of the grid are not finished, the first: {_run_dir(tmp_path)}, "
                              "which is held by another process")  # fmt: skip
    assert "once that process has ended" in message and "\n" not in message
    assert not (tmp_path / "out" / "results.csv").exists()


def test_a_held_run_finished_by_the_time_of_drawing_is_drawn(tmp_path, monkeypatch):
    # The other process may finish the run while this one trains the rest: its summary is then there to draw.
    run_dir = _run_dir(tmp_path)
    config = presets.get("fig2-conv6-sc-iterand").replace(width=0.0625, seed=1, **OVERRIDES)

    def finished_elsewhere(*args, **kwargs):
        _write_run(run_dir.parent, config, 42.0)
        return [{"dir": str(run_dir), "status": "new", "outcome": "skipped"}]

    monkeypatch.setattr(launcher, "run", finished_elsewhere)
    assert run_name(config) == run_dir.name
    assert _train(tmp_path) == tmp_path / "out" / "results.csv"


def test_a_run_stopped_alone_is_named_instead_of_left_out(tmp_path, monkeypatch):
    # Seen: a concurrent sweep's training process got a SIGTERM of its own; the sweep went on, and the
    # figure was drawn without that run.
    def one_stopped(*args, **kwargs):
        return [{"dir": str(_run_dir(tmp_path)), "status": "pending", "outcome": "interrupted"}]

    monkeypatch.setattr(launcher, "run", one_stopped)
    with pytest.raises(UserError, match="which was stopped before it finished: run this again to resume it"):
        _train(tmp_path)
