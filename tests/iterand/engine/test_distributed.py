"""DDP on the CPU (gloo): two torchrun ranks re-randomise identically and match one process.

The two ranks run this file as their script (``torchrun ... test_distributed.py OUT``); each trains the
same tiny IteRand run on its half of every global batch and saves its final model, its weight-update
steps and its results. Conv networks have no BatchNorm, so DDP (gradients averaged over the two
halves) must give the single-process run with the same global batch, up to float rounding.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fake_runs import NUM_CLASSES, fake_data, tiny_config

from iterand.core.layers import named_subnet_layers
from iterand.engine import distributed
from iterand.engine.factories import build_model
from iterand.engine.train import Trainer

HERE = Path(__file__).resolve()
REPO = HERE.parents[3]
SUPPORT = REPO / "tests" / "support"  # fake_runs, for the torchrun workers
TORCHRUN_TIMEOUT_S = 300


def _config():
    # 128 examples / global batch 32 = 4 steps per epoch; period 2 re-draws before steps 1, 3, 5, 7.
    return tiny_config(method="iterand", period=2, r=0.5, epochs=2, batch_size=32)


def _run(run_dir: Path, ctx: distributed.Context) -> dict:
    data = fake_data(n_train=128, rank=ctx.rank, world_size=ctx.world_size)
    trainer = Trainer(_config(), run_dir, ctx, data=data)
    fired: list[int] = []
    apply = trainer.update.apply

    def recording_apply(model):
        fired.append(trainer.progress.global_step)
        apply(model)

    trainer.update.apply = recording_apply
    results = trainer.run()["results"]
    return {"state": trainer.model.state_dict(), "fired": fired, "results": results}


def _worker(out: Path) -> None:
    ctx = distributed.setup("cpu")
    try:
        torch.save(_run(out / "run", ctx), out / f"rank{ctx.rank}.pt")
    finally:
        distributed.cleanup(ctx)


def _run_killing_on_timeout(command: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, **kwargs
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # torchrun and both of its workers
        process.communicate()
        pytest.fail(f"torchrun did not finish within {timeout} s")
    return subprocess.CompletedProcess(command, process.returncode, output)


def _outcome(run: dict) -> dict:
    """What must agree between runs (timings do not)."""
    keys = (
        "test_acc_last",
        "test_acc_best",
        "val_acc_last",
        "weights_kept",
        "weight_updates",
        "global_steps",
    )
    return {key: run["results"][key] for key in keys}


def test_two_ranks_rerandomise_identically_and_match_one_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, (REPO, SUPPORT))), "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command = [*torchrun, str(HERE), str(tmp_path)]
    finished = _run_killing_on_timeout(command, TORCHRUN_TIMEOUT_S, cwd=REPO, env=env)
    assert finished.returncode == 0, finished.stdout[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for rank in ranks:
        assert rank["fired"] == [1, 3, 5, 7]
    names = ranks[0]["state"].keys()
    for name in names:
        assert torch.equal(ranks[0]["state"][name], ranks[1]["state"][name]), name
    assert _outcome(ranks[0]) == _outcome(ranks[1])
    single = _run(tmp_path / "single", distributed.Context(0, 1, 0, torch.device("cpu")))
    assert single["fired"] == [1, 3, 5, 7]
    model = build_model(_config(), NUM_CLASSES)
    initial = {name: layer.weight.clone() for name, layer in named_subnet_layers(model)}
    for name in names:
        torch.testing.assert_close(ranks[0]["state"][name], single["state"][name], rtol=1e-4, atol=1e-5)
        if name.endswith(".weight"):  # the re-draws happened, and alike in both runs
            assert not torch.equal(ranks[0]["state"][name], initial[name.removesuffix(".weight")]), name
    assert _outcome(ranks[0]) == _outcome(single)
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)  # written by rank 0 alone
    assert saved["progress"]["global_step"] == 8


def _torchrun_train(*arguments: str) -> subprocess.CompletedProcess:
    """``python -m iterand train --preset fig2-conv6-sc-iterand ARGUMENTS`` under torchrun, two ranks."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command = [*torchrun, "-m", "iterand", "train", "--preset", "fig2-conv6-sc-iterand", *arguments]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return _run_killing_on_timeout(command, TORCHRUN_TIMEOUT_S, cwd=REPO, env=env)


def test_the_command_line_under_torchrun(tmp_path):
    # The real entry point: process group from torchrun's environment, data via iterand.engine.data, rank 0
    # writes and prints alone.
    overrides = [
        "dataset=synthetic",
        "model=conv2",
        "width=0.0625",
        "device=cpu",
        "epochs=1",
        "steps_per_epoch=2",
    ]
    finished = _torchrun_train(
        *(arg for item in overrides for arg in ("--set", item)), "--out", str(tmp_path)
    )
    assert finished.returncode == 0, finished.stdout[-4000:]
    (run_dir,) = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["results"]["global_steps"] == 2
    assert finished.stdout.count('"test_acc_last"') == 1


def test_missing_data_stops_every_rank_with_its_one_line(tmp_path):
    # Rank 0 said so in one line; rank 1 died in the broken barrier with a gloo traceback.
    nowhere = tmp_path / "nowhere"
    finished = _torchrun_train(
        "--set",
        "model=conv2",
        "--set",
        "device=cpu",
        "--data-root",
        str(nowhere),
        "--out",
        str(tmp_path / "out"),
    )
    assert finished.returncode != 0
    assert finished.stdout.count(f"error: CIFAR-10 data root {nowhere} does not exist") == 2
    assert "[rank1]: Traceback" not in finished.stdout and "exitcode  : 2" in finished.stdout


def test_single_process_context_from_an_empty_environment(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    ctx = distributed.setup("cpu")
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.distributed) == (0, 1, True, False)
    values = torch.tensor([1.0, 2.0])
    assert distributed.all_reduce_sum(values, ctx) is values and values.tolist() == [1.0, 2.0]
    assert distributed.broadcast_object({"a": 1}, ctx) == {"a": 1}


@pytest.mark.parametrize(
    "env, message",
    [
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE must be an integer"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "0 <= RANK"),
    ],
)
def test_malformed_environment_is_named(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        distributed.setup("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_request_without_cuda_is_refused():
    with pytest.raises(ValueError, match="CUDA is not available"):
        distributed.resolve_device("cuda")
    assert distributed.resolve_device("auto") == torch.device("cpu")


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
