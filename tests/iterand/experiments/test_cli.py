"""``python -m iterand``: presets, train and eval on synthetic data, sweeps and results, and one-line errors
with status 2."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fake_runs import fake_data, tiny_config

from bookkeeping.errors import EXIT_CLOSED_PIPE, EXIT_INTERRUPTED
from bookkeeping.files import read_json
from bookkeeping.paths import RunFiles
from iterand.engine import checkpoint
from iterand.engine.config import TrainConfig, run_name
from iterand.engine.train import RunInterrupted, train
from iterand.experiments import console, launcher, planning, presets, results, sweeps
from iterand.experiments.cli import EXIT_RUN_FAILED, EXIT_USAGE, build_config, main

REPO = Path(__file__).resolve().parents[3]
PRESET = "fig2-conv6-sc-iterand"
OVERRIDES = [
    "dataset=synthetic", "model=conv2", "width=0.0625", "device=cpu", "epochs=3", "steps_per_epoch=2",
    "batch_size=32", "period=3", "seed=2",
]  # fmt: skip
TINY = ["train", "--preset", PRESET, *(arg for item in OVERRIDES for arg in ("--set", item))]


def _status(argv: list[str]) -> int:
    """main's return value, or the status argparse exits with."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def test_presets_lists_every_preset_and_shows_one(capsys):
    assert main(["presets"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == presets.names()
    assert main(["presets", "fig2-conv6-sc-iterand"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert TrainConfig.from_dict(shown["config"]) == presets.get("fig2-conv6-sc-iterand")


@pytest.mark.parametrize(
    "argv, named",
    [
        (["presets", "fig2-conv7"], "fig2-conv7"),
        (["train", "--preset", "nope"], "nope"),
        (["train", "--preset", "fig2-conv6-sc-iterand", "--set", "lr=-1"], "lr"),
        (["train", "--preset", "fig2-conv6-sc-iterand", "--set", "learning_rate=0.1"], "learning_rate"),
        (["train", "--preset", "fig2-conv6-sc-iterand", "--set", "width"], "key=value"),
        (["train"], "--preset"),
        (["train", "--config", "missing.yaml"], "missing.yaml"),
        (["eval", "no-such-run"], "no-such-run"),
        (["eval", "x", "--checkpoint", "first"], "--checkpoint"),
        (["fly"], "fly"),
        (["train", "--preset"], "--preset"),
        (["sweep", "fig9"], "allowed: fig1, fig2-conv6"),
        (["sweep"], "name"),
        (["sweep", "fig1", "--shard", "3/2"], "shard must"),
        (["sweep", "fig1", "--shard", "two"], "shard must"),
        (["sweep", "fig1", "--grid", "width"], "--grid"),
        (["sweep", "fig1", "--grid", "widht=1,2"], "widht"),
        (["sweep", "fig1", "--set", "r=1"], "--grid r="),
        (["sweep", "fig1", "--concurrent", "0"], "concurrent"),
        (["sweep", "fig1", "--concurrent", "two"], "--concurrent"),
        (["results", "--out", "no-such-folder"], "no-such-folder"),
        # An empty path was the current folder (a script's unset variable): runs, exports and tables
        # landed there, and `results --table ""` ended in a traceback.
        (["results", "--table", ""], "--table: the path is empty"),
        (["train", "--preset", "fig2-conv6-sc-iterand", "--out", ""], "--out: the path is empty"),
        (["export", "", "--out", "x"], "run_dir: the path is empty"),
        (["sweep", "fig1", "--out", " "], "--out: the path is empty"),
    ],
)
def test_invalid_input_is_one_error_line_with_status_2(capsys, monkeypatch, tmp_path, argv, named):
    monkeypatch.chdir(tmp_path)
    assert _status(argv) == EXIT_USAGE
    assert named in _error_line(capsys)
    assert not any(tmp_path.iterdir()), "a refused command left folders behind (sweep fig9 made runs/train)"


@pytest.mark.parametrize("command", [["train"], ["sweep", "fig1"]])
def test_set_help_lists_every_field_and_runs_nothing(command, capsys, tmp_path):
    assert main([*command, "--out", str(tmp_path), "--set", "help"]) == 0
    out = capsys.readouterr().out
    for field in TrainConfig.__dataclass_fields__:
        assert f"\n{field} (" in f"\n{out}", field
    assert not any(tmp_path.iterdir())


def test_config_file_fields_sit_between_preset_and_set(tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text("lr: 0.05\nwidth: 0.5\n")
    config = build_config("fig2-conv6-sc-iterand", config_file, "/data/c10", ["width=0.25"])
    expected = presets.get("fig2-conv6-sc-iterand").replace(lr=0.05, width=0.25, data_root="/data/c10")
    assert config == expected
    config_file.write_text("lr: [0.05\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        build_config(None, config_file)
    config_file.write_text("lr: fast\n")
    with pytest.raises(ValueError, match="run.yaml: lr"):
        build_config(None, config_file)


@pytest.mark.parametrize("which", ["last", "best"])
def test_a_model_file_of_another_run_is_neither_evaluated_nor_exported(tmp_path, capsys, which):
    # Copied in (say, restoring a file from the wrong backup), it was evaluated and exported under this
    # run's name and configuration.
    assert main([*TINY, "--out", str(tmp_path)]) == 0
    assert main([*TINY, "--set", "seed=3", "--out", str(tmp_path)]) == 0
    config = build_config(PRESET, overrides=OVERRIDES)  # seed 2
    ours, theirs = (RunFiles(tmp_path / run_name(config.replace(seed=seed))) for seed in (2, 3))
    ours.model_checkpoint(which).write_bytes(theirs.model_checkpoint(which).read_bytes())
    capsys.readouterr()
    export = ["export", str(ours.root), "--checkpoint", which]
    commands = [
        ["eval", str(ours.root), "--checkpoint", which],
        [*export, "--out", str(tmp_path / "dense")],
        [*export, "--format", "compact", "--out", str(tmp_path / "c")],
    ]
    refused = f"is not the model of the run in {ours.config} (seed: saved 3, requested 2)"
    for argv in commands:
        assert main(argv) == EXIT_USAGE, argv
        assert refused in _error_line(capsys)
    assert not (tmp_path / "dense").exists() and not (tmp_path / "c").exists()


def test_train_then_eval_last_and_best(tmp_path, capsys):
    assert main([*TINY, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out[out.index("{\n") :])  # after any log lines
    config = build_config(PRESET, overrides=OVERRIDES)
    run_dir = tmp_path / run_name(config)
    summary = read_json(RunFiles(run_dir).summary)
    assert printed == summary["results"]
    results = summary["results"]
    assert results["best_epoch"] == 0 and results["test_loss_best"] != results["test_loss_last"]
    for which in ("last", "best"):
        assert main(["eval", str(run_dir), "--checkpoint", which]) == 0
        evaluated = json.loads(capsys.readouterr().out)
        assert evaluated["test_loss"] == results[f"test_loss_{which}"]
        assert evaluated["test_acc"] == results[f"test_acc_{which}"]
    assert evaluated["weights_kept"] == results["weights_kept"]


def test_a_diverging_run_exits_with_status_1(tmp_path, capsys):
    argv = [*TINY, "--set", "method=sgd", "--set", "lr=1e30", "--out", str(tmp_path)]
    assert main(argv) == console.EXIT_DIVERGED
    assert "training diverged in epoch 0" in _error_line(capsys)


def test_train_into_a_closed_pipe_is_silent_with_status_141(tmp_path):
    # `train ... | head -1` printed logging's traceback for every record (about 80 lines) and trained on.
    # The reading end is closed before the command writes, so the pipe is closed whatever the timing.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "iterand", *TINY, "--out", str(tmp_path)],
            cwd=REPO,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (EXIT_CLOSED_PIPE, b"")
    assert main([*TINY, "--out", str(tmp_path)]) == 0  # the run directory was left free


# The command line with its third training step replaced by the signal: the stop comes mid-epoch whatever
# the timing.
_SIGNAL_AT_STEP_3 = """
import os, signal, sys
from iterand.engine import train
from iterand.experiments.cli import main

steps, original = [], train.train_step

def step(*args):
    steps.append(1)
    if len(steps) == 3:
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    return original(*args)

train.train_step = step
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_train_stopped_by_sigterm_or_sighup_says_what_it_keeps_as_on_ctrl_c(tmp_path, name):
    # It died silently with status 143 or 129.
    argv = [*TINY, "--out", str(tmp_path)]  # 2 steps per epoch: step 3 is in the second epoch
    done = subprocess.run(
        [sys.executable, "-c", _SIGNAL_AT_STEP_3, name, *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    run_dir = tmp_path / run_name(build_config(PRESET, overrides=OVERRIDES))
    assert done.returncode == EXIT_INTERRUPTED, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"interrupted: {run_dir} keeps 1 of 3 epochs (checkpoint.pt); the same command resumes from there"
    )
    assert main(argv) == 0


class _PipeClosedAt(io.StringIO):
    """stdout whose reader goes away when a line starting with ``prefix`` is written."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def write(self, text: str) -> int:
        if text.startswith(self.prefix):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        return super().write(text)


def test_a_pipe_closed_mid_run_stops_it_at_a_checkpoint_it_resumes_from(tmp_path, caplog):
    config = tiny_config(epochs=3)
    caplog.set_level(logging.INFO, logger="iterand")
    handler = console.ConsoleHandler(_PipeClosedAt("epoch 1 "))
    logger = logging.getLogger("iterand")
    logger.addHandler(handler)
    try:
        with pytest.raises(BrokenPipeError):
            train(config, tmp_path / "stopped", data=fake_data())
    finally:
        logger.removeHandler(handler)
    files = RunFiles(tmp_path / "stopped")
    assert checkpoint.load(files.checkpoint)["progress"]["epochs_done"] == 2  # saved before its line
    resumed = train(config, files.root, data=fake_data())["results"]
    uninterrupted = train(config, tmp_path / "whole", data=fake_data())["results"]
    assert resumed["test_acc_last"] == uninterrupted["test_acc_last"]
    assert resumed["test_loss_last"] == uninterrupted["test_loss_last"]


def test_a_pipe_closed_during_a_sweep_stops_it_without_a_failed_run(tmp_path):
    # `sweep ... | head -1` recorded the run as failed (a BrokenPipeError traceback in its train.log)
    # before the sweep stopped.
    handler = console.ConsoleHandler(_PipeClosedAt("epoch 1 "))
    logger = logging.getLogger("iterand")
    logger.addHandler(handler)
    sweep = sweeps.Sweep("one", (PRESET,), {"seed": (2,)}, "one run")
    try:
        with pytest.raises(BrokenPipeError):
            launcher.run(sweep, tmp_path, overrides=[o for o in OVERRIDES if not o.startswith("seed=")])
    finally:
        logger.removeHandler(handler)
    (run,) = tmp_path.iterdir()
    assert "BrokenPipeError" not in (run / "train.log").read_text()
    assert checkpoint.load(RunFiles(run).checkpoint)["progress"]["epochs_done"] == 2


def test_sweep_dry_run_lists_the_runs_of_its_shard(tmp_path, capsys):
    assert main(["sweep", "fig2-conv6", "--dry-run", "--shard", "2/4", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = planning.shard(planning.runs("fig2-conv6"), 2, 4)
    assert [line.split()[:2] for line in lines] == [
        ["pending", str(tmp_path / run_name(c))] for c in expected
    ]


def test_a_sweep_with_a_failed_run_goes_on_and_exits_with_status_1(tmp_path, monkeypatch, capsys):
    attempts = []

    def failing_train(config, run_dir):
        attempts.append(config.model)
        raise RuntimeError("no GPU here")

    monkeypatch.setattr(launcher, "train", failing_train)
    monkeypatch.setattr(planning, "check_runnable", lambda configs: None)  # no run reads data here
    argv = ["sweep", "fig1", "--grid", "r=0", "--grid", "seed=1", "--out", str(tmp_path)]
    assert main(argv) == EXIT_RUN_FAILED
    assert attempts == ["conv6", "resnet18", "resnet34"]
    failed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAILED ")]
    assert len(failed) == 3 and all("RuntimeError: no GPU here (log: " in line for line in failed)


def test_a_sweep_with_a_run_stopped_alone_lists_it_and_exits_with_status_1(tmp_path, monkeypatch, capsys):
    # A training process of a concurrent sweep that got a signal of its own left its run unfinished, and the
    # sweep still exited 0: `sweep && python -m repro ...` drew an incomplete grid.
    def stopped_alone(config, record, *args):
        record["outcome"] = "interrupted"

    monkeypatch.setattr(launcher, "_train_subprocess", stopped_alone)
    monkeypatch.setattr(planning, "check_runnable", lambda configs: None)  # no run reads data here
    argv = ["sweep", "fig1", "--grid", "r=0", "--grid", "seed=1", "--concurrent", "2", "--out", str(tmp_path)]
    assert main(argv) == EXIT_RUN_FAILED
    listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("INTERRUPTED ")]
    assert len(listed) == 3 and all(line.endswith("(resumes when the sweep runs again)") for line in listed)


def test_results_checks_every_table_before_writing_any_and_a_refused_write_is_one_line(
    tmp_path, monkeypatch, capsys
):
    # A folder where results-epochs.csv goes, or a full disk, gave a traceback after some tables were written.
    runs, table = tmp_path / "runs", tmp_path / "tables" / "results.csv"
    assert main([*TINY, "--out", str(runs)]) == 0
    (tmp_path / "tables" / "results-epochs.csv").mkdir(parents=True)
    capsys.readouterr()
    assert main(["results", "--out", str(runs), "--table", str(table)]) == EXIT_USAGE
    assert (
        _error_line(capsys)
        == f"error: --table: {table.with_name('results-epochs.csv')} is a folder; give a file name\n"
    )
    assert [path.name for path in table.parent.iterdir()] == ["results-epochs.csv"]

    def full_disk(rows, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results, "write_table", full_disk)
    other = tmp_path / "other.csv"
    assert main(["results", "--out", str(runs), "--table", str(other)]) == EXIT_USAGE
    assert _error_line(capsys).startswith(
        f"error: cannot write the tables of {other}: No space left on device (ENOSPC); those written may mix"
    )


def test_results_refuses_a_table_that_is_not_a_csv_file(tmp_path, capsys):
    # --table RUN/summary.json replaced the run's summary (and with it the result) by the CSV table.
    runs = tmp_path / "runs"
    assert main([*TINY, "--out", str(runs)]) == 0
    (run_dir,) = runs.iterdir()
    before = {path.name: path.read_bytes() for path in run_dir.iterdir() if path.is_file()}
    for name in ("summary.json", "config.yaml", "tables"):
        capsys.readouterr()
        assert main(["results", "--out", str(runs), "--table", str(run_dir / name)]) == EXIT_USAGE
        refused = (
            f"error: --table must name a .csv file (the companion tables go beside it), got {run_dir / name}"
        )
        assert _error_line(capsys) == refused + "\n"
    assert {path.name: path.read_bytes() for path in run_dir.iterdir() if path.is_file()} == before


def test_results_prints_and_writes_the_aggregated_table(tmp_path, capsys):
    runs, table = tmp_path / "runs", tmp_path / "tables" / "results.csv"
    runs.mkdir()
    assert main(["results", "--out", str(runs), "--table", str(table)]) == EXIT_USAGE
    assert _error_line(capsys) == f"error: no finished runs below {runs}: the table {table} was not written\n"
    assert not table.exists()
    assert main([*TINY, "--out", str(runs)]) == 0
    capsys.readouterr()
    assert main(["results", "--out", str(runs), "--table", str(table)]) == 0
    printed = capsys.readouterr().out.splitlines()
    (row,) = results.read_table(table)
    assert row == results.aggregate(results.collect(runs))[0]
    assert (row["model"], row["method"], row["seeds"], row["count"]) == ("conv2", "iterand", "2", 1)
    assert printed[0].split()[:3] == ["model", "width", "method"]
    assert printed[1].split()[:3] == ["conv2", "0.0625", "iterand"]
    assert printed[-4:] == [f"wrote {table}", f"wrote {table.with_name('results-runs.csv')}",
                            f"wrote {table.with_name('results-reference.csv')}",
                            f"wrote {table.with_name('results-epochs.csv')}"]  # fmt: skip
    # the per-epoch table a figure notebook redraws its learning curves from, given this table
    assert {item["epoch"] for item in results.read_table(table.with_name("results-epochs.csv"))} == {1, 2, 3}


def test_help_shows_the_single_gpu_torchrun_and_multi_node_commands():
    result = subprocess.run(
        [sys.executable, "-m", "iterand", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert "python -m iterand train --preset" in result.stdout
    assert "torchrun --standalone --nproc_per_node=8 -m iterand train" in result.stdout
    assert "--nnodes=2" in result.stdout and "--rdzv-endpoint=" in result.stdout
    assert "CUDA_VISIBLE_DEVICES=$((k - 1)) python -m iterand sweep fig2 --shard $k/4" in result.stdout
    assert "sbatch --array=1-16 scripts/slurm_sweep.sh fig2" in result.stdout
    assert "python -m iterand results [--out DIR] [--table FILE]" in result.stdout


def test_a_run_directory_in_use_stops_a_second_train_and_a_sweep_skips_it(
    tmp_path, capsys, monkeypatch, held_elsewhere
):
    # Issue 10, item 3: two processes on one run directory both trained and appended to metrics.jsonl.
    files = RunFiles(tmp_path / run_name(build_config(PRESET, overrides=OVERRIDES)))
    with held_elsewhere(files.lock) as holder:
        assert main([*TINY, "--out", str(tmp_path)]) == EXIT_USAGE
        line = _error_line(capsys)
    assert f"{files.root} is in use by process {holder.pid} on host " in line
    assert not files.metrics.exists() and not files.config.exists()

    trained = []
    monkeypatch.setattr(launcher, "train", lambda config, run_dir: trained.append(Path(run_dir)))
    monkeypatch.setattr(planning, "check_runnable", lambda configs: None)  # no run reads data here
    first, *rest = planning.runs("fig1", grid={"r": ["0"], "seed": ["1"]})
    with held_elsewhere(RunFiles(planning.run_dir(first, tmp_path)).lock) as holder:
        assert planning.status(first, tmp_path) == "running"
        assert main(["sweep", "fig1", "--grid", "r=0", "--grid", "seed=1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"skipped     {planning.run_dir(first, tmp_path)}  preset=" in out
    assert f"(in use by process {holder.pid} on host " in out
    assert trained == [planning.run_dir(config, tmp_path) for config in rest]


@pytest.mark.parametrize(
    "argv_tail, named",
    [
        (["--out", "{file}"], "--out: {file} is a file, not a folder"),
        (["--out", "{file}/runs"], "--out: {file} is a file, not a folder"),
    ],
)
def test_an_unwritable_out_is_one_line_before_any_data_is_read(
    tmp_path, capsys, monkeypatch, argv_tail, named
):
    # Issue 10, item 7: a traceback, and for train only after the data set was loaded.
    file = tmp_path / "a-file"
    file.write_text("")

    def no_data(*args, **kwargs):
        raise AssertionError("the data was loaded before --out was checked")

    monkeypatch.setattr("iterand.engine.train.load_data", no_data)
    argv = [arg.format(file=file) for arg in argv_tail]
    assert main([*TINY, *argv]) == EXIT_USAGE
    assert named.format(file=file) in _error_line(capsys)
    assert main(["sweep", "fig1", "--grid", "r=0", *argv]) == EXIT_USAGE
    assert named.format(file=file) in _error_line(capsys)
    assert main(["results", "--out", str(tmp_path), "--table", f"{file}/results.csv"]) == EXIT_USAGE
    assert f"--table: {file} is a file, not a folder" in _error_line(capsys)
    assert main(["results", "--out", str(tmp_path), "--table", str(tmp_path)]) == EXIT_USAGE
    assert f"--table: {tmp_path} is a folder; give a file name" in _error_line(capsys)


def test_eval_messages_fit_eval(tmp_path, capsys):
    # Issue 10, item 11: eval told to delete a damaged checkpoint.pt (a finished run's model) and, for a
    # missing best.pt of a trained run, to "train the run first".
    assert main([*TINY, "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    files = RunFiles(tmp_path / run_name(build_config(PRESET, overrides=OVERRIDES)))
    files.checkpoint.write_bytes(b"damaged")
    assert main(["eval", str(files.root)]) == EXIT_USAGE
    line = _error_line(capsys)
    assert f"cannot read the checkpoint {files.checkpoint}" in line and "delete" not in line
    assert "restore the file from a copy; or evaluate best.pt with --checkpoint best" in line
    files.best.unlink()
    assert main(["eval", str(files.root), "--checkpoint", "best"]) == EXIT_USAGE
    line = _error_line(capsys)
    assert f"{files.root} has no best.pt although 3 epoch(s) finished" in line and "train" not in line


def test_eval_reads_an_exported_folder_and_says_where_moved_data_was_looked_for(tmp_path, capsys):
    assert main([*TINY, "--out", str(tmp_path)]) == 0
    run_dir = tmp_path / run_name(build_config(PRESET, overrides=OVERRIDES))
    results = read_json(RunFiles(run_dir).summary)["results"]
    assert main(["export", str(run_dir)]) == 0
    capsys.readouterr()
    # It said "not a run directory (no config.yaml) nor an exported model (no config.json)".
    assert main(["eval", str(run_dir / "export" / "dense-last")]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["checkpoint"] == "export"
    assert evaluated["test_acc"] == pytest.approx(results["test_acc_last"], abs=1e-9)
    # A compact file was "not a run directory (no config.yaml) nor an exported model".
    assert main(["export", str(run_dir), "--format", "compact"]) == 0
    (ticket,) = run_dir.glob("*.ticket")
    capsys.readouterr()
    assert main(["eval", str(ticket)]) == EXIT_USAGE
    assert (
        f"is a compact file (seed and masks), which eval does not read: rebuild its model in Python with "
        f"iterand.load_compact('{ticket}')" in _error_line(capsys)
    )
    # --checkpoint best was ignored: the exported model was evaluated and said "export".
    assert main(["eval", str(run_dir / "export" / "dense-last"), "--checkpoint", "best"]) == EXIT_USAGE
    assert "is an exported model, which holds one model" in _error_line(capsys)
    # The dense model read back has no masks: every weight was counted kept.
    assert (evaluated["weights_total"], evaluated["weights_kept"]) == (
        results["weights_total"],
        results["weights_kept"],
    )
    # A CIFAR-10 run whose data moved: made from this one, its checkpoint saying so too (eval refuses a
    # model file that another configuration wrote).
    files = RunFiles(run_dir)
    text = files.config.read_text().replace("dataset: synthetic", "dataset: cifar10")
    files.config.write_text(re.sub(r"(?m)^data_root: .*$", "data_root: /moved", text))
    saved = checkpoint.load(files.checkpoint)
    saved["config"]["dataset"] = "cifar10"
    checkpoint.save(files.checkpoint, saved)
    assert main(["eval", str(run_dir)]) == EXIT_USAGE
    assert "/moved does not exist" in (line := _error_line(capsys)) and "give eval --data-root PATH" in line


def test_under_torchrun_rank_0_alone_says_where_an_interrupted_run_resumes(monkeypatch, capsys, tmp_path):
    # Every rank printed the same "interrupted: ... keeps 9 of 30 epochs" line.
    monkeypatch.chdir(tmp_path)  # train makes its default --out, runs/train, in the working directory

    def interrupted(config, run_dir):
        raise RunInterrupted("interrupted: the run keeps 1 of 3 epochs")

    monkeypatch.setattr("iterand.experiments.cli.train", interrupted)
    for rank, said in (("1", ""), ("0", "interrupted: the run keeps 1 of 3 epochs\n")):
        monkeypatch.setenv("RANK", rank)
        assert main(TINY) == EXIT_INTERRUPTED
        assert capsys.readouterr().err == said


def test_a_preset_as_presets_prints_it_is_a_config_file(tmp_path, capsys):
    # Its name/description/config wrapping was refused, listing every field three times.
    assert main(["presets", PRESET]) == 0
    printed = capsys.readouterr().out
    lr = presets.get(PRESET).lr
    assert f"  lr: {lr}\n" in printed
    saved = tmp_path / "mine.yaml"
    saved.write_text(printed.replace(f"  lr: {lr}\n", "  lr: 0.05\n"))
    assert build_config(None, saved) == presets.get(PRESET).replace(lr=0.05)
