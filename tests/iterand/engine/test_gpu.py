"""What the GPU session relies on.

On a CUDA machine: training steps (dense and subnetwork, with IteRand re-randomisations due, batches from
the on-device loader, eager and compiled) and the compiled mask selection run under CUDA's sync-debug
mode "error", so any host synchronisation inside the step raises. Everywhere: the session script
(``benchmarks/gpu_session.py``) rehearses all its stages on the CPU and writes the files the device tool
brings back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest
import torch

from iterand.core import masks
from iterand.engine.config import TrainConfig
from iterand.engine.data import Loader, load
from iterand.engine.train import train

REPO = Path(__file__).resolve().parents[3]
SESSION = REPO / "benchmarks" / "gpu_session.py"
OUT_FILES = {"bench.md", "runs.tar.gz", "session.json", "session.log"}
MAX_OUT_FILES = 8  # the device tool brings back at most 8 files

cuda = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs a CUDA GPU: run on the GPU machine (benchmarks/README.md), where the bench stage runs it",
)

WARMUP_BATCHES = 3  # first-use work (cuDNN autotuning, compilation, the IteRand generator) may sync
STEPS = 12
PERIOD = 3  # IteRand re-randomises before steps 2, 5, 8, 11: three of them inside the checked steps


class SyncChecked:
    """A training loader whose iteration, from batch ``after`` on, runs with the sync-debug mode "error":
    the Trainer's loop body between two batches (weight update, step) is checked, and the mode is back to
    "default" before the loop's end-of-epoch reduction reads the sums (a deliberate sync)."""

    def __init__(self, loader: Loader, after: int) -> None:
        self.loader, self.after = loader, after

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        batches = iter(self.loader)
        try:
            for index in count():
                if index == self.after:
                    torch.cuda.set_sync_debug_mode("error")
                batch = next(batches, None)
                if batch is None:
                    return
                yield batch
        finally:
            torch.cuda.set_sync_debug_mode("default")


@cuda
@pytest.mark.parametrize(
    "model, method, compile",
    [
        ("conv6", "sgd", False),
        ("conv6", "edgepopup", False),
        ("conv6", "iterand", False),
        ("resnet18", "iterand", False),
        ("conv6", "iterand", True),
    ],
)
def test_training_steps_never_synchronise_with_the_host(tmp_path, model, method, compile):
    config = TrainConfig(
        model=model,
        method=method,
        width=0.25,
        dataset="synthetic",
        device="cuda",
        epochs=1,
        steps_per_epoch=STEPS,
        batch_size=64,
        period=PERIOD,
        compile=compile,
    )
    data = load(config, "cuda")
    data.train = SyncChecked(data.train, after=WARMUP_BATCHES)
    results = train(config, tmp_path / "run", data=data)["results"]
    assert results["global_steps"] == STEPS
    assert results["weight_updates"] == (STEPS // PERIOD if method == "iterand" else 0)


@cuda
def test_compiled_mask_selection_is_exact_and_never_synchronises():
    generator = torch.Generator(device="cuda").manual_seed(0)
    scores = torch.randn(64, 32, 3, 3, device="cuda", generator=generator)
    scores[:8] = 0.25  # a block of ties at the threshold's side of the order
    n_pruned = masks.pruned_count(scores.numel(), 0.5)
    expected = masks.kept_mask(scores, n_pruned)
    compiled = torch.compile(masks.kept_mask, fullgraph=True)
    compiled(scores, n_pruned)  # compilation may synchronise; the calls after it may not
    torch.cuda.set_sync_debug_mode("error")
    try:
        kept = compiled(scores, n_pruned)
        eager = masks.kept_mask(scores, n_pruned)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.equal(kept, expected) and torch.equal(eager, expected)
    assert int(kept.sum()) == scores.numel() - n_pruned


def _session(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OUT": str(out)}
    stages = ["conv6-rate", "bench", "fig2-w025", "--dense-seeds", "1"]
    command = [sys.executable, str(SESSION), *stages, "--tiny", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_tiny_session_runs_every_stage_and_writes_compact_results(tmp_path):
    out = tmp_path / "out"
    done = _session(out)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert {path.name for path in out.iterdir()} == OUT_FILES
    report = json.loads((out / "session.json").read_text())
    items = {item["name"]: item for item in report["items"]}
    expected = {"step-eager-amp-cl", "e2e-eager-amp-cl", "data-pipeline", "profile-worst-ratio"}
    sweeps = {"fig2-conv6-sc-w025", "fig2-conv6-ku-sgd-w025"}
    assert expected | {"conv6-rate"} | sweeps == set(items)
    assert all(item["status"] == "ok" for item in items.values()), items
    for name in ("step-eager-amp-cl", "e2e-eager-amp-cl"):
        rows = items[name]["result"]["rows"]
        assert [row["method"] for row in rows] == ["sgd", "edgepopup", "iterand"]
        assert all(row["images_per_second"] > 0 for row in rows)
    assert [row["data"] for row in items["e2e-eager-amp-cl"]["result"]["rows"]] == ["synthetic loader"] * 3
    profiled = items["profile-worst-ratio"]["result"]["rows"]
    assert all(row["profile"] and "Name" in row["profile"] for row in profiled)
    targets = " ".join(report["targets"])
    assert "subnetwork step / dense step" in targets and "100 epochs would take" in targets
    assert items["conv6-rate"]["result"]["epochs"] == 2
    # Edge-popup and IteRand for seeds 1-3 and dense SGD for seed 1, every one finished once.
    runs = [run for name in sweeps for run in items[name]["runs"]]
    assert sorted((run["method"], run["seed"]) for run in runs) == [
        *[("edgepopup", seed) for seed in (1, 2, 3)],
        *[("iterand", seed) for seed in (1, 2, 3)],
        ("sgd", 1),
    ]
    assert all(
        run["status"] == "finished" and run["epochs_done"] == 1 and run["width"] == 0.25 for run in runs
    )
    with tarfile.open(out / "runs.tar.gz") as tar:
        names = tar.getnames()
    assert not [name for name in names if name.endswith(".pt")]
    assert {f"{run['name']}/summary.json" for run in runs} <= set(names)
    assert "results.csv" in names
    assert "## Targets" in (out / "bench.md").read_text()


def test_session_out_of_budget_skips_everything_and_still_writes_its_files(tmp_path):
    out = tmp_path / "out"
    done = _session(out, "--budget", "0")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    files = {path.name for path in out.iterdir()}
    assert files == OUT_FILES and len(files) <= MAX_OUT_FILES
    items = json.loads((out / "session.json").read_text())["items"]
    assert items and all(item["status"] == "skipped" for item in items)
