"""What the GPU session relies on.

On a CUDA machine: training steps (dense and subnetwork, with IteRand re-randomisations due, batches from
the on-device loader, eager and compiled) and the compiled mask selection run under CUDA's sync-debug
mode "error", so any host synchronisation inside the step raises; IteRand's re-draws have the same bits
on the GPU as on the CPU, so GPU-trained runs export to compact files that rebuild on the CPU.
Everywhere: the session script (``benchmarks/gpu_session.py``) rehearses all its stages on the CPU and
writes the files the device tool brings back.
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
from iterand.core.layers import SubnetSpec, named_subnet_layers
from iterand.core.names import WEIGHT_INITS
from iterand.core.weight_updates import redraw_selection, redrawn_values
from iterand.engine.compact import describe, export_compact
from iterand.engine.config import TrainConfig
from iterand.engine.data import Loader, load
from iterand.engine.factories import build_model, weight_update
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


@cuda
@pytest.mark.parametrize("init", WEIGHT_INITS)
def test_redraws_have_the_same_bits_on_cpu_and_gpu(init):
    # What lets a model trained on a GPU rebuild from its compact file on a CPU.
    spec, index = SubnetSpec(weight_init=init), torch.arange(300_000)
    events = torch.randint(1, 1041, (index.numel(),), generator=torch.Generator().manual_seed(0))
    on_cpu = redrawn_values(77, events, 9, index, spec, 1152, torch.float32)
    on_gpu = redrawn_values(77, events.cuda(), 9, index.cuda(), spec, 1152, torch.float32).cpu()
    assert torch.equal(on_cpu.view(torch.int32), on_gpu.view(torch.int32))
    selected = redraw_selection(77, 5, 9, index, 0.1)
    assert torch.equal(selected, redraw_selection(77, 5, 9, index.cuda(), 0.1).cpu())


@cuda
@pytest.mark.parametrize("init", WEIGHT_INITS)
def test_an_iterand_run_trained_on_the_gpu_rebuilds_on_the_cpu(tmp_path, init):
    # export_compact rebuilds the model on the CPU and refuses to write unless every kept weight has the
    # bits the GPU run gave it.
    config = TrainConfig(
        model="conv2", width=0.25, init=init, dataset="synthetic", device="cuda", epochs=1, steps_per_epoch=8,
        batch_size=32, period=2, r=0.5,
    )  # fmt: skip
    train(config, tmp_path / "run")
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    seed, records = weight_update(config).seed, saved["weight_update"]["last_redraw"]
    model = build_model(config, 10)  # every weight, kept or pruned, recomputed on the CPU
    for position, (name, layer) in enumerate(named_subnet_layers(model)):
        record, trained = records[name].reshape(-1), saved["model"][f"{name}.weight"].reshape(-1)
        index = record.nonzero().squeeze(1)
        assert index.numel() > 0, name
        expected = redrawn_values(
            seed, record[index], position, index, layer.spec, layer.fan_in, torch.float32
        )
        assert torch.equal(trained[index].view(torch.int32), expected.view(torch.int32)), name
    assert describe(export_compact(tmp_path / "run").read_bytes())["compact_bytes"] > 0


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
