"""Sweeps: the paper's grids, deterministic shards, skip/resume of real tiny runs, dry runs, concurrent
training processes with a failing run, and the Slurm array script."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from bookkeeping import locks
from bookkeeping.errors import EXIT_INTERRUPTED, EXIT_USER_ERROR, UserError
from bookkeeping.files import read_metrics
from bookkeeping.locks import RunLock
from bookkeeping.paths import RunFiles
from iterand.engine import cpu_runtime
from iterand.engine.config import run_name, save_yaml
from iterand.engine.train import Trainer
from iterand.experiments import cli, figures, launcher, planning, presets, results, sweeps
from iterand.experiments.sweeps import Sweep

REPO = Path(__file__).resolve().parents[3]
TINY = [
    "dataset=synthetic", "model=conv2", "width=0.0625", "device=cpu", "epochs=2", "steps_per_epoch=2",
    "batch_size=32",
]  # fmt: skip
ALIAS = {"kaiming_uniform": "ku", "signed_constant": "sc"}


def _key(config) -> tuple:
    return config.model, config.method, ALIAS[config.init], config.width, config.seed


@pytest.mark.parametrize(
    "name, count",
    [
        ("fig1", 36),
        ("fig2-conv6", 60),
        ("fig2-resnet18", 60),
        ("fig2-resnet34", 60),
        ("fig2", 180),
        ("fig3", 8),
    ],
)
def test_named_sweeps_have_the_papers_number_of_distinct_runs(name, count):
    configs = planning.runs(name)
    assert len(configs) == count
    assert len({run_name(c) for c in configs}) == count


@pytest.mark.parametrize("model", sweeps.FIG2_MODELS)
def test_fig2_sweeps_every_method_and_init_over_widths_and_seeds(model):
    configs = planning.runs(f"fig2-{model}")
    expected = {
        (model, method, init, width, seed)
        for method, init in [("edgepopup", "ku"), ("edgepopup", "sc"), ("iterand", "ku"), ("iterand", "sc"),
                             ("sgd", "ku")]
        for width in (0.25, 0.5, 1.0, 2.0)
        for seed in (1, 2, 3)
    }  # fmt: skip
    assert {_key(c) for c in configs} == expected
    # every other field comes from the run's preset
    for config in configs:
        preset = presets.get(f"fig2-{model}-{ALIAS[config.init]}-{config.method}")
        assert config == preset.replace(width=config.width, seed=config.seed)


def test_fig2_is_the_union_of_the_three_model_sweeps_in_model_order():
    union = planning.runs("fig2")
    assert union == [c for model in sweeps.FIG2_MODELS for c in planning.runs(f"fig2-{model}")]


def test_fig1_sweeps_r_and_seeds_of_the_ku_iterand_presets():
    configs = planning.runs("fig1")
    models = ("conv6", "resnet18", "resnet34")
    assert {(c.model, c.r, c.seed) for c in configs} == set(
        itertools.product(models, (0.0, 0.01, 0.1, 1.0), (1, 2, 3))
    )
    assert {(c.method, c.init, c.width) for c in configs} == {("iterand", "kaiming_uniform", 1.0)}
    assert {c.model: c.pruned_fraction for c in configs} == {"conv6": 0.5, "resnet18": 0.6, "resnet34": 0.6}


def test_fig3_runs_every_imagenet_preset_once_with_seed_1():
    configs = planning.runs("fig3")
    assert configs == [presets.get(name) for name in presets.names() if name.startswith("fig3-")]
    assert {(c.dataset, c.seed) for c in configs} == {("imagenet", 1)}


def test_order_is_presets_then_grid_with_the_last_field_fastest():
    configs = planning.runs("fig2-conv6")
    first = [(c.method, ALIAS[c.init], c.width, c.seed) for c in configs[:7]]
    assert first == [
        ("edgepopup", "ku", 0.25, 1), ("edgepopup", "ku", 0.25, 2), ("edgepopup", "ku", 0.25, 3),
        ("edgepopup", "ku", 0.5, 1), ("edgepopup", "ku", 0.5, 2), ("edgepopup", "ku", 0.5, 3),
        ("edgepopup", "ku", 1.0, 1),
    ]  # fmt: skip
    assert planning.runs("fig2-conv6") == configs


def test_overrides_apply_to_every_run_and_grid_replaces_or_adds_fields():
    configs = planning.runs(
        "fig2-conv6", ["epochs=1", "data_root=/data/c10"], {"width": ("0.5",), "lr": (0.2, 0.3)}
    )
    assert len(configs) == 5 * 1 * 3 * 2  # presets x width x seed x lr
    assert {(c.epochs, c.data_root, c.width) for c in configs} == {(1, "/data/c10", 0.5)}
    assert [(c.seed, c.lr) for c in configs[:4]] == [(1, 0.2), (1, 0.3), (2, 0.2), (2, 0.3)]


def test_identical_configs_appear_once():
    # "0.5" and 0.5 are one width, "1" and 1 one seed: the same experiments.
    configs = planning.runs("fig2-conv6", grid={"width": (0.5, "0.5"), "seed": (1, "1")})
    assert [c.width for c in configs] == [0.5] * 5 and [c.seed for c in configs] == [1] * 5


def test_fields_a_method_ignores_keep_the_presets_value_so_no_run_is_repeated(tmp_path):
    # --set period=2 once renamed the edge-popup and SGD runs (which ignore it): all retrained, counted twice.
    grid = {"seed": (1,), "width": (0.5,)}
    plain = {item.preset: run_name(item.config) for item in planning.plan("fig2-conv6", grid=grid)}
    changed = {item.preset: item for item in planning.plan("fig2-conv6", ["period=2"], grid)}
    assert changed.keys() == plain.keys() and len(plain) == 5
    for preset, item in changed.items():
        if item.config.method == "iterand":
            assert item.config.period == 2 and run_name(item.config) != plain[preset] and item.kept == ()
        else:
            assert run_name(item.config) == plain[preset] and item.kept == ("period",)
    swept = planning.runs("fig2-conv6", grid={"seed": (1,), "width": (0.5,), "period": (100, 300)})
    assert sorted(c.method for c in swept).count("edgepopup") == 2  # ku and sc, not one per period
    lines: list[str] = []
    launcher.run("fig2-conv6", tmp_path, overrides=["period=2"], dry_run=True, progress=lines.append)
    assert lines[0] == (
        "period: kept at the preset's value in fig2-conv6-ku-edgepopup, fig2-conv6-sc-edgepopup, "
        "fig2-conv6-ku-sgd, whose method ignores it"
    )


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"sweep": "fig4"}, "fig1, fig2-conv6, fig2-resnet18, fig2-resnet34, fig2, fig3"),
        ({"sweep": "fig2-conv6", "overrides": ["seed=1"]}, "--grid seed="),
        ({"sweep": "fig2-conv6", "grid": {"width": ()}}, "'width' has no values"),
        ({"sweep": "fig2-conv6", "grid": {"widht": (1,)}}, "widht"),
        ({"sweep": "fig2-conv6", "grid": {"width": (-1,)}}, "width"),
    ],
)
def test_invalid_sweeps_raise_naming_the_problem(kwargs, named):
    with pytest.raises(ValueError, match=named.replace("(", r"\(")):
        planning.runs(**kwargs)


@pytest.mark.parametrize("n", range(1, 8))
def test_shards_are_disjoint_cover_the_sweep_and_are_balanced(n):
    names = [run_name(c) for c in planning.runs("fig2-conv6")]
    parts = [planning.shard(names, k, n) for k in range(1, n + 1)]
    assert sorted(itertools.chain(*parts)) == sorted(names)
    assert len(set(itertools.chain(*parts))) == len(names)  # pairwise disjoint
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert parts == [
        planning.shard([run_name(c) for c in planning.runs("fig2-conv6")], k, n) for k in range(1, n + 1)
    ]
    # each shard keeps the sweep's order
    for part in parts:
        assert part == [name for name in names if name in part]


def test_shard_k_of_n_is_round_robin_from_1():
    assert planning.shard(list("abcdefg"), 1, 3) == ["a", "d", "g"]
    assert planning.shard(list("abcdefg"), 3, 3) == ["c", "f"]
    assert planning.parse_shard("2/4") == (2, 4) and planning.parse_shard(" 1 / 1 ") == (1, 1)


@pytest.mark.parametrize("k, n", [(0, 3), (4, 3), (1, 0), (-1, 2), (1.0, 2), (True, 1)])
def test_invalid_shards_raise_naming_shard(k, n):
    with pytest.raises(ValueError, match="shard must be K/N"):
        planning.shard([1, 2, 3], k, n)


@pytest.mark.parametrize("text", ["2", "a/b", "3/2", "0/2", "1/2/3", ""])
def test_invalid_shard_text_raises_naming_shard(text):
    with pytest.raises(ValueError, match="shard must"):
        planning.parse_shard(text)


def test_parse_grid():
    assert planning.parse_grid(["width=0.25, 0.5", "seed=1"]) == {"width": ("0.25", "0.5"), "seed": ("1",)}
    for bad in ("width", "=1", "width=", "width=,"):
        with pytest.raises(ValueError, match="--grid must look like key=v1,v2"):
            planning.parse_grid([bad])


TINY_SWEEP = Sweep("tiny", ("fig2-conv6-sc-iterand",), {"seed": (1, 2)}, "two tiny runs")


def test_skip_finished_resume_interrupted_and_a_rerun_trains_nothing(tmp_path, monkeypatch):
    trained_epochs: list[tuple[int, int]] = []
    crash = True
    real_epoch = Trainer._epoch

    def crashing_epoch(self, epoch):
        if crash and self.config.seed == 2 and epoch == 1:
            raise RuntimeError("simulated crash")
        trained_epochs.append((self.config.seed, epoch))
        real_epoch(self, epoch)

    monkeypatch.setattr(Trainer, "_epoch", crashing_epoch)
    lines: list[str] = []
    first = launcher.run(TINY_SWEEP, tmp_path, overrides=TINY, progress=lines.append)
    assert [(r["status"], r["outcome"]) for r in first] == [("pending", "trained"), ("pending", "failed")]
    assert trained_epochs == [(1, 0), (1, 1), (2, 0)]
    crashed = first[1]
    assert crashed["error"] == "RuntimeError: simulated crash"
    assert (
        "Traceback" in Path(crashed["log"]).read_text()
        and "simulated crash" in Path(crashed["log"]).read_text()
    )
    assert any(line.startswith(f"FAILED {crashed['dir']}") and crashed["log"] in line for line in lines)
    configs = planning.runs(TINY_SWEEP, TINY)
    assert [planning.status(c, tmp_path) for c in configs] == ["finished", "interrupted"]
    assert (
        "epoch 1 (2/2)" in Path(first[0]["log"]).read_text()
    )  # the in-process run's log went to its train.log

    # Resuming trains only the missing epoch of the interrupted run.
    trained_epochs.clear()
    crash = False
    second = launcher.run(TINY_SWEEP, tmp_path, overrides=TINY, progress=lines.append)
    assert [(r["status"], r["outcome"]) for r in second] == [
        ("finished", "skipped"),
        ("interrupted", "trained"),
    ]
    assert trained_epochs == [(2, 1)]
    assert [m["epoch"] for m in read_metrics(RunFiles(Path(second[1]["dir"])).metrics)] == [0, 1]

    # A finished sweep trains nothing: `train` is not even called.
    calls = []
    monkeypatch.setattr(launcher, "train", lambda *args, **kwargs: calls.append(args))
    third = launcher.run(TINY_SWEEP, tmp_path, overrides=TINY, progress=lines.append)
    assert calls == [] and [r["outcome"] for r in third] == ["skipped", "skipped"]
    assert lines[-1] == "tiny shard 1/1: 2 runs, 0 trained, 2 skipped, 0 failed"


def test_dry_run_prints_one_line_per_run_and_touches_nothing(tmp_path):
    lines: list[str] = []
    records = launcher.run("fig2-conv6", tmp_path / "runs", shard=(2, 7), dry_run=True, progress=lines.append)
    configs = planning.shard(planning.runs("fig2-conv6"), 2, 7)
    assert len(lines) == len(records) == len(configs) == 9
    for line, record, config in zip(lines, records, configs, strict=True):
        directory = tmp_path / "runs" / run_name(config)
        assert record["dir"] == str(directory) and record["outcome"] == "planned"
        assert line.split() == [
            "pending",
            str(directory),
            f"preset={record['preset']}",
            f"width={config.width:g}",
            f"seed={config.seed}",
        ]
    assert not (tmp_path / "runs").exists()


def test_a_dry_run_warns_of_a_setting_the_sweep_would_stop_on(tmp_path, monkeypatch):
    # --dry-run listed every run as pending, silently, where the sweep itself stops before its first run.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for settings, named in [
        (["method=recycling"], "rate must be < 1 when method is 'recycling'"),
        (["device=cuda"], "device is 'cuda' but CUDA is not available here"),
    ]:
        lines: list[str] = []
        with pytest.warns(UserWarning) as warned:
            records = launcher.run(
                TINY_SWEEP,
                tmp_path / "runs",
                overrides=[*TINY, *settings],
                dry_run=True,
                progress=lines.append,
            )
        assert [record["outcome"] for record in records] == ["planned", "planned"] and len(lines) == 2
        (warning,) = warned
        assert str(warning.message).startswith("the sweep would stop before its first run: ")
        assert named in str(warning.message)
    assert not (tmp_path / "runs").exists()


def test_concurrent_subprocesses_train_and_report_a_failing_run(tmp_path, monkeypatch):
    # Dense SGD at lr 1e30 diverges in its first epoch: the sweep reports it and trains the other run.
    sweep = Sweep("pair", ("fig2-conv6-ku-sgd",), {"lr": (0.01, 1e30)}, "one good run, one diverging run")
    overrides = [*TINY, "epochs=1"]  # the last of a repeated key wins
    real_wait = launcher._Children.wait

    def another_process_logs_last(self, child):
        # Another sweep's process may write into a run's log too: the error shown must be this run's own.
        code = real_wait(self, child)
        for log in tmp_path.glob("*/train.log"):
            with log.open("a") as f:
                f.write("error: a line of another process\n")
        return code

    monkeypatch.setattr(launcher._Children, "wait", another_process_logs_last)
    lines: list[str] = []
    records = launcher.run(sweep, tmp_path, overrides=overrides, concurrent=2, progress=lines.append)
    good, bad = records
    assert (good["outcome"], bad["outcome"]) == ("trained", "failed")
    assert RunFiles(Path(good["dir"])).summary.is_file() and "test accuracy" in Path(good["log"]).read_text()
    assert bad["error"].startswith("TrainingDiverged: training diverged")
    assert "training diverged" in Path(bad["log"]).read_text()
    assert lines[-2] == "pair shard 1/1: 2 runs, 1 trained, 0 skipped, 1 failed"
    assert lines[-1] == f"FAILED {bad['dir']}: {bad['error']} (log: {bad['log']})"


def test_an_interrupted_concurrent_sweep_stops_its_runs_and_starts_no_more(tmp_path, monkeypatch):
    # Ctrl-C once let the queued runs start anyway and counted the stopped ones as failed.
    started = tmp_path / "started"
    started.mkdir()
    # The child takes SIGINT as `python -m iterand` does (iterand/__main__.py), whatever it inherited.
    child = (
        "import os, pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        f"pathlib.Path({str(started)!r}, str(os.getpid())).touch()\n"
        "try:\n    time.sleep(120)\nexcept KeyboardInterrupt:\n    sys.exit(130)\n"
    )
    monkeypatch.setattr(launcher, "_train_command", lambda *files: [sys.executable, "-c", child])
    monkeypatch.setattr(cpu_runtime, "available_cores", lambda: 2)

    def interrupt_once_two_run() -> None:
        while len(list(started.iterdir())) < 2:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_two_run, daemon=True).start()
    sweep = Sweep("four", ("fig2-conv6-ku-sgd",), {"lr": (0.01, 0.02, 0.03, 0.04)}, "four runs")
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt, match="resume when the same sweep runs again"):
        launcher.run(sweep, tmp_path / "runs", overrides=TINY, concurrent=2, progress=lines.append)
    assert len(list(started.iterdir())) == 2
    assert sum(line.startswith("interrupted ") for line in lines) == 2
    assert lines[-3] == "four shard 1/1: 4 runs, 0 trained, 0 skipped, 0 failed, 2 interrupted, 2 not started"
    assert all(line.startswith("INTERRUPTED ") for line in lines[-2:])  # listed, as failed runs are


@pytest.mark.parametrize(
    ("concurrent", "cores", "plan"),
    [(2, 2, (2, 1)), (4, 2, (2, 1)), (1, 2, (1, 2)), (2, 4, (2, 2)), (3, 8, (3, 2)), (5, 1, (1, 1))],
)
def test_cpu_plan_never_oversubscribes_the_cores(concurrent, cores, plan):
    at_once, threads = launcher.cpu_plan(concurrent, cores)
    assert (at_once, threads) == plan
    assert at_once * threads <= cores


def test_concurrent_cpu_runs_split_the_available_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu_runtime, "available_cores", lambda: 4)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # replaced for the runs: runs x threads = cores
    sweep = Sweep("pair", ("fig2-conv6-ku-sgd",), {"seed": (1, 2)}, "two runs")
    lines: list[str] = []
    overrides = [*TINY, "epochs=1"]
    records = launcher.run(sweep, tmp_path, overrides=overrides, concurrent=2, progress=lines.append)
    assert "CPU runs: 2 at a time x 2 thread(s) = 4 of 4 available cores" in lines
    for record in records:
        assert record["outcome"] == "trained"
        assert json.loads(RunFiles(Path(record["dir"])).summary.read_text())["cpu_threads"] == 2
        log = Path(record["log"]).read_text()
        assert "CPU: 2 threads, " in log  # the child counts its own cores


def test_concurrent_must_be_a_positive_integer(tmp_path):
    with pytest.raises(ValueError, match="concurrent must be an integer >= 1"):
        launcher.run("fig1", tmp_path, concurrent=0)


def test_slurm_script_runs_the_array_tasks_shard(tmp_path):
    # An array numbered from 0: task 0 of 4 is shard 1/4.
    env = {
        **os.environ,
        "SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "4",
        "SLURM_SUBMIT_DIR": str(REPO), "PYTHON": sys.executable,
    }  # fmt: skip
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "slurm_sweep.sh"), "fig2-conv6", "--dry-run", "--out", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    dirs = [line.split()[1] for line in result.stdout.splitlines()]
    assert dirs == [str(tmp_path / run_name(c)) for c in planning.shard(planning.runs("fig2-conv6"), 1, 4)]
    del env["SLURM_ARRAY_TASK_ID"]
    outside = subprocess.run(["bash", str(REPO / "scripts" / "slurm_sweep.sh"), "fig2"], env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert outside.returncode == 2 and "array job" in outside.stderr


def test_subset_keeps_the_presets_of_the_chosen_models_methods_and_inits():
    chosen = sweeps.subset("fig2", models=["resnet34", "conv6"], methods=["sgd", "iterand"], inits=["sc"])
    # the dense baseline stays although inits names SC only: it always starts from KU
    assert chosen.presets == (
        "fig2-conv6-sc-iterand", "fig2-conv6-ku-sgd", "fig2-resnet34-sc-iterand", "fig2-resnet34-ku-sgd",
    )  # fmt: skip
    assert chosen.grid == sweeps.get("fig2").grid
    kept = {
        (model, method, init)
        for model in ("conv6", "resnet34")
        for method, init in [("sgd", "ku"), ("iterand", "sc")]
    }
    assert planning.runs(chosen) == [c for c in planning.runs("fig2") if _key(c)[:3] in kept]
    assert sweeps.subset("fig1").presets == sweeps.get("fig1").presets
    by_full_name = sweeps.subset("fig3", models=["resnet50"], inits=["signed_constant"])
    assert by_full_name.presets == ("fig3-resnet50-sc-edgepopup", "fig3-resnet50-sc-iterand")


@pytest.mark.parametrize(
    "sweep, kwargs, named",
    [
        ("fig2", {"models": ["conv6", "conv4"]}, "no preset of sweep fig2 has model 'conv4'"),
        ("fig2", {"methods": ["adam"]}, "has method 'adam'"),
        ("fig2", {"inits": ["sc", "kn"]}, "has init 'kaiming_normal'"),
        ("fig2", {"inits": ["zz"]}, "inits must be one of"),
        ("fig3", {"models": ["resnet18"], "methods": ["iterand"]}, "no preset of sweep fig3 has model in"),
    ],
)
def test_subset_refuses_values_no_preset_has_and_an_empty_subset(sweep, kwargs, named):
    with pytest.raises(ValueError, match=named):
        sweeps.subset(sweep, **kwargs)


def test_train_or_read_trains_the_subset_then_reads_without_training(tmp_path, monkeypatch, capsys):
    tiny = dict(item.split("=") for item in TINY if not item.startswith("width="))
    grid = {"width": [0.0625], "seed": [1, 2]}
    subset = {"models": ["conv6"], "methods": ["iterand"], "inits": ["sc"]}
    runs_dir, table = tmp_path / "runs", tmp_path / "out" / "results.csv"
    sources: list[str] = []

    def data_source() -> str:
        sources.append(str(tmp_path / "data"))
        return sources[-1]

    written = figures.train_or_read(
        "train", "fig2", runs_dir, table, grid=grid, overrides=tiny, data_root=data_source, **subset
    )
    assert written == table and table.with_name("results-runs.csv").is_file()
    assert "fig2 (subset) shard 1/1: 2 runs, 2 trained, 0 skipped, 0 failed" in capsys.readouterr().out
    assert len(sources) == 1
    planned = planning.runs(
        sweeps.subset("fig2", **subset),
        [f"data_root={sources[0]}", *(f"{k}={v}" for k, v in tiny.items())],
        grid,
    )
    assert sorted(p.name for p in runs_dir.iterdir()) == sorted(run_name(c) for c in planned)
    (row,) = results.read_table(table)
    assert (row["model"], row["method"], row["init"]) == ("conv2", "iterand", "sc")
    assert (row["count"], row["seeds"]) == (2, "1 2")

    # read mode: no training, no data source chosen, the same table collected again
    monkeypatch.setattr(launcher, "train", lambda *args, **kwargs: pytest.fail("read mode trained"))
    again = figures.train_or_read(
        "read",
        "fig2",
        runs_dir,
        tmp_path / "again.csv",
        grid=grid,
        overrides=tiny,
        data_root=data_source,
        **subset,
    )
    assert results.read_table(again) == results.read_table(table) and len(sources) == 1
    # runs of other settings than the grid's (here all of them) are not drawn
    other = figures.train_or_read("read", "fig2", runs_dir, tmp_path / "other.csv", grid=grid, **subset)
    assert results.read_table(other) == []
    # a given table is read as it is, and nothing is collected
    given = figures.train_or_read("read", "fig2", tmp_path / "none", tmp_path / "x.csv", results_table=table)
    assert given == table and not (tmp_path / "x.csv").exists()


def test_train_or_read_names_a_failed_run_instead_of_drawing_without_it(tmp_path, monkeypatch):
    # Seen: both runs of a fig2 grid failed on a missing data root, and the notebook's error said only "no
    # finished run of this grid ...: train it first".
    tiny = dict(item.split("=") for item in TINY if not item.startswith("width="))
    runs_dir = tmp_path / "runs"

    def crash(config, run_dir):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(launcher, "train", crash)
    with pytest.raises(UserError) as failed:
        figures.train_or_read(
            "train", "fig2", runs_dir, tmp_path / "results.csv", grid={"width": [0.0625], "seed": [1, 2]},
            overrides=tiny, models=["conv6"], methods=["iterand"], inits=["sc"],
        )  # fmt: skip
    message = str(failed.value)
    assert message.startswith(f"2 of 2 runs of the grid failed; the first: {runs_dir}")
    assert "RuntimeError: simulated crash" in message and "(log: " in message
    assert f"mode 'read' and runs_dir {runs_dir}" in message
    assert not (tmp_path / "results.csv").exists()

    # A missing data root, which every run would fail on, is said once before any run starts.
    tiny = dict(item.split("=") for item in TINY if not item.startswith(("width=", "dataset=")))  # CIFAR-10
    with pytest.raises(UserError, match="no-data does not exist") as failed:
        figures.train_or_read(
            "train", "fig2", tmp_path / "elsewhere", tmp_path / "results.csv",
            grid={"width": [0.0625], "seed": [1, 2]}, overrides=tiny, data_root=str(tmp_path / "no-data"),
            models=["conv6"], methods=["iterand"], inits=["sc"],
        )  # fmt: skip
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "results.csv").exists()


def test_train_or_read_refuses_an_unknown_mode_and_a_missing_runs_folder(tmp_path):
    with pytest.raises(ValueError, match="mode must be 'train' or 'read', got 'plot'"):
        figures.train_or_read("plot", "fig2", tmp_path, tmp_path / "t.csv")
    # A FileNotFoundError: python -m repro reported the notebook failed in a cell, without saying that a
    # changed parameter file looks for its runs in another folder.
    with pytest.raises(UserError, match="no runs folder .*or set runs_dir to the folder holding the runs"):
        figures.train_or_read("read", "fig2", tmp_path / "missing", tmp_path / "t.csv")


def test_train_or_read_refuses_a_results_table_that_is_not_aggregated(tmp_path):
    # A table without test_acc_last_mean stopped the figure in a later cell on KeyError; a per-run table
    # was taken for several settings of one point.
    lacking, per_run = tmp_path / "lacking.csv", tmp_path / "results-runs.csv"
    lacking.write_text("model,method,count\nconv6,iterand,3\n")
    per_run.write_text("run_name,model,method,seed,test_acc_last\na,conv6,iterand,1,80.0\n")
    with pytest.raises(UserError, match=f"results_table {lacking} has no column test_acc_last_mean; python"):
        figures.train_or_read("read", "fig2", tmp_path, tmp_path / "t.csv", results_table=lacking)
    with pytest.raises(UserError, match="has no column test_acc_last_mean: it is a per-run table"):
        figures.train_or_read("read", "fig2", tmp_path, tmp_path / "t.csv", results_table=per_run)


def _figure_parameters(tmp_path: Path, table: Path, **figure) -> dict:
    common = {
        "mode": "read", "out_dir": str(tmp_path / "out"), "runs_dir": None, "results_table": str(table),
        "seeds": [1], "epochs": 100, "steps_per_epoch": None, "overrides": {}, "data_root": None,
    }  # fmt: skip
    return {**common, **figure}


def test_figure_rows_reads_the_figures_grid_from_the_notebook_parameters(tmp_path):
    base = {"model": "conv6", "init": "ku", "pruned_fraction": 0.5, "dataset": "cifar10", "epochs": 100}
    table = [
        {**base, "width": w, "method": "iterand", "r": r, "steps_per_epoch": s, "test_acc_last_mean": 80.0}
        for w in (0.25, 1.0)
        for r in (0.0, 0.1, 1.0)
        for s in (None, 5)
    ]
    path = results.write_table(table, tmp_path / "table.csv")
    fig1 = _figure_parameters(tmp_path, path, models=["conv6"], width=1.0, r_values=[0.0, 0.1])
    shown = figures.rows("fig1", fig1)
    # the fixed width, the swept r values and the full-epoch budget of the parameters, one row per point
    assert [(row["width"], row["r"], row["steps_per_epoch"]) for row in shown] == [
        (1.0, 0.0, None),
        (1.0, 0.1, None),
    ]
    with pytest.raises(ValueError, match="no finished run of this grid"):
        figures.rows("fig1", {**fig1, "epochs": 50})


def test_concurrent_runs_start_longest_first(tmp_path, monkeypatch):
    # With two slots, x1/8 x1/8 x1/4 x1/4 in plan order would leave one x1/4 run alone at the end.
    started: list[float] = []
    monkeypatch.setattr(
        launcher, "_train_subprocess", lambda config, record, *args: started.append(config.width)
    )
    sweep = Sweep("widths", ("fig2-conv6-sc-edgepopup",), {"width": (0.125, 0.25), "seed": (1, 2)}, "four")
    overrides = ["dataset=synthetic", "device=cpu"]  # nothing trains: the runs are only started
    launcher.run(sweep, tmp_path, overrides=overrides, concurrent=2, progress=lambda line: None)
    assert sorted(started[:2]) == [0.25, 0.25] and sorted(started[2:]) == [0.125, 0.125]


ONE_RUN = Sweep("one", ("fig2-conv6-ku-sgd",), {"seed": (1,)}, "one run")


def test_a_run_another_process_takes_after_the_look_is_skipped_naming_it_never_failed(tmp_path, monkeypatch):
    # Two identical sweeps at once: the other one's process takes the run between this sweep's look and its
    # training process's start, and may let it go before that process ends. Looking again at the lock then
    # found nobody, and the run was reported FAILED with the last line of the log both processes write.
    lock_file = RunFiles(planning.run_dir(planning.runs(ONE_RUN, TINY)[0], tmp_path)).lock
    monkeypatch.setattr(locks, "holder", lambda path: None)  # every look at the lock finds it free
    lines: list[str] = []
    with RunLock(lock_file):  # this test's process is the other sweep
        (record,) = launcher.run(ONE_RUN, tmp_path, overrides=TINY, concurrent=2, progress=lines.append)
    assert record["outcome"] == "skipped" and record["error"] is None
    assert f"(in use by process {os.getpid()} on host " in lines[-2]
    assert lines[-1] == "one shard 1/1: 1 runs, 0 trained, 1 skipped, 0 failed"


def test_a_run_another_process_finished_meanwhile_counts_as_finished(tmp_path, monkeypatch):
    config = planning.runs(ONE_RUN, TINY)[0]
    files = RunFiles(planning.run_dir(config, tmp_path))
    monkeypatch.setattr(locks, "holder", lambda path: None)
    real_wait = launcher._Children.wait

    def other_process_finishes(self, child):  # while this sweep's process was refused the run
        code = real_wait(self, child)
        files.summary.write_text("{}")
        return code

    monkeypatch.setattr(launcher._Children, "wait", other_process_finishes)
    lines: list[str] = []
    with RunLock(files.lock):
        (record,) = launcher.run(ONE_RUN, tmp_path, overrides=TINY, concurrent=2, progress=lines.append)
    assert record["outcome"] == "skipped"
    assert lines[-2].endswith("(finished by another process)")


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (["device=cuda"], "device is 'cuda' but CUDA is not available here: use device=cpu or auto"),
        (["data_root={missing}"], "CIFAR-10 data root {missing} does not exist"),
        (
            ["model=resnet18", "dataset=imagenet", "stem=imagenet", "data_root={missing}"],
            "ImageNet data root {missing} does not exist",
        ),
        (["method=recycling"], "rate must be < 1 when method is 'recycling'"),
    ],
)
@pytest.mark.parametrize("concurrent", [1, 2])
def test_a_setting_no_run_can_start_with_is_one_error_before_any_run_starts(
    tmp_path, monkeypatch, capsys, settings, named, concurrent
):
    # Each run failed in turn with the same error, and the sweep ended with one FAILED line per run.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    started = []
    monkeypatch.setattr(launcher, "train", lambda *args, **kwargs: started.append(args))
    monkeypatch.setattr(launcher, "_train_subprocess", lambda *args: started.append(args))
    missing = tmp_path / "missing"
    settings = [setting.format(missing=missing) for setting in settings]
    overrides = [*TINY, "dataset=cifar10", *settings]
    with pytest.raises(UserError, match=re.escape(named.format(missing=missing))):
        launcher.run(TINY_SWEEP, tmp_path / "runs", overrides=overrides, concurrent=concurrent)
    assert started == [] and not (tmp_path / "runs").exists()
    argv = [
        "sweep",
        "fig1",
        "--grid",
        "r=0,1",
        "--out",
        str(tmp_path / "runs"),
        *(arg for setting in settings for arg in ("--set", setting)),
    ]
    assert cli.main(argv) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and named.format(missing=missing) in err
    assert started == [] and list((tmp_path / "runs").iterdir()) == []  # --out is made, no run directory


def test_a_runs_process_saves_and_stops_once_its_sweep_is_gone(tmp_path):
    # A sweep killed outright (SIGKILL: no handler of its own runs) left its training processes training on.
    # The pipe a sweep gives them is closed when it ends in any way: here it is closed from the start.
    config = planning.runs(ONE_RUN, [*TINY, "epochs=100000"])[0]
    config_file, status_file = tmp_path / "config.yaml", tmp_path / "status.json"
    save_yaml(config, config_file)
    command = launcher._train_command(config_file, tmp_path / "runs", status_file)
    ended = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert json.loads(status_file.read_text()) == {"outcome": "interrupted"}, ended.stdout + ended.stderr
    assert ended.returncode == EXIT_INTERRUPTED


def test_a_training_process_killed_by_a_signal_is_said_so():
    # It was reported as "ended with exit status -9".
    assert launcher._ended(-signal.SIGKILL) == "killed by signal 9 (SIGKILL)"
    assert launcher._ended(1) == "ended with exit status 1"
