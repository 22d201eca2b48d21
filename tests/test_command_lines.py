"""What every command line (``python -m iterand``, ``theory``, ``repro``) does with what ends it: an error
the user can act on is one line and status 2, anything else keeps its traceback, Ctrl-C is one line and
status 130, a closed output pipe is silent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bookkeeping.errors import (
    EXIT_CLOSED_PIPE,
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    InvalidInput,
    UserError,
    run_command,
)
from iterand.engine import train as train_module
from iterand.engine.config import run_name
from iterand.experiments.cli import build_config
from iterand.experiments.cli import main as iterand_main
from repro import notebooks
from repro.__main__ import main as repro_main
from theory.cli import main as theory_main

REPO = Path(__file__).resolve().parents[1]
PRESET = "fig2-conv6-sc-iterand"
OVERRIDES = [
    "dataset=synthetic", "model=conv2", "width=0.0625", "device=cpu", "epochs=3", "steps_per_epoch=2",
    "batch_size=32",
]  # fmt: skip
TINY = ["train", "--preset", PRESET, *(arg for item in OVERRIDES for arg in ("--set", item))]


def test_only_user_errors_become_one_line(capsys):
    def fails(error: BaseException):
        def command():
            raise error

        return command

    assert run_command(fails(UserError("the folder x is missing"))) == EXIT_USER_ERROR
    assert capsys.readouterr().err == "error: the folder x is missing\n"
    assert isinstance(InvalidInput("lr"), ValueError)  # library callers may still catch ValueError
    with pytest.raises(ValueError, match="a bug"):
        run_command(fails(ValueError("a bug")))
    assert run_command(fails(KeyboardInterrupt())) == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "interrupted\n"
    # A theory experiment with 1e11 inputs ended on numpy's MemoryError traceback.
    asked = "Unable to allocate 1.46 TiB for an array with shape (100000000000, 2) and data type float64"
    assert run_command(fails(MemoryError(asked))) == EXIT_USER_ERROR
    assert capsys.readouterr().err == f"error: out of memory: {asked}; lower the sizes asked for\n"


@pytest.mark.parametrize(
    ("main", "argv", "help_of"),
    [
        (theory_main, ["bogus"], "python -m theory"),
        (theory_main, ["worst-case"], "python -m theory worst-case"),  # a subcommand's own parser
        (theory_main, ["estimate", "--n", "x", "--eps", "0.1"], "python -m theory estimate"),
        (repro_main, ["--bogus"], "python -m repro"),
        (iterand_main, ["bogus"], "python -m iterand"),
    ],
)
def test_a_usage_error_is_one_line_with_status_2(capsys, main, argv, help_of):
    # theory and repro printed argparse's usage block (several lines) above the message.
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == EXIT_USER_ERROR
    assert err.count("\n") == 1 and err.startswith("error: ") and err.endswith(f"(see {help_of} --help)\n")


def test_a_value_error_inside_training_keeps_its_traceback(tmp_path, monkeypatch):
    # Issue 9 (moved to issue 10): every ValueError became `error: ...` and exit 2, hiding real bugs.
    def broken_step(*args):
        raise ValueError("shapes (3,) and (4,) do not match")

    monkeypatch.setattr(train_module, "train_step", broken_step)
    with pytest.raises(ValueError, match="shapes"):
        iterand_main([*TINY, "--out", str(tmp_path)])


def test_ctrl_c_is_one_line_saying_where_to_resume_and_status_130(tmp_path, monkeypatch, capsys):
    # Issue 10, item 9: Ctrl-C printed a KeyboardInterrupt traceback.
    steps = []
    original = train_module.train_step

    def interrupted(*args):
        steps.append(1)
        if len(steps) == 3:  # 2 steps per epoch: in the second epoch
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(train_module, "train_step", interrupted)
    assert iterand_main([*TINY, "--out", str(tmp_path)]) == EXIT_INTERRUPTED
    run_dir = tmp_path / run_name(build_config(PRESET, overrides=OVERRIDES))
    assert capsys.readouterr().err == (
        f"interrupted: {run_dir} keeps 1 of 3 epochs (checkpoint.pt); the same command resumes from there\n"
    )


def test_a_closed_output_pipe_is_silent():
    # Issue 10, item 9: `python -m iterand presets | head -2` printed a BrokenPipeError traceback. The
    # reading end is closed before the command writes, so the pipe is closed whatever the timing.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        for command in (["iterand", "presets"], ["repro", "--list"], ["theory", "worst-case", "0.5"]):
            done = subprocess.run(
                [sys.executable, "-m", *command],
                cwd=REPO,
                stdout=write_end,
                stderr=subprocess.PIPE,
                timeout=120,
            )
            assert done.stderr == b"" and done.returncode == EXIT_CLOSED_PIPE, (command, done.stderr[-500:])
    finally:
        os.close(write_end)


def test_a_warning_is_one_line_without_the_source_location():
    # theory experiment printed "/…/theory/cli.py:178: UserWarning: …" and the source line below it.
    code = (
        "import warnings; from bookkeeping.errors import run_command; "
        "run_command(lambda: warnings.warn('a chosen width has no runs'))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stderr == "warning: a chosen width has no runs\n"


def test_a_path_starting_with_a_tilde_is_in_the_home_folder(tmp_path, monkeypatch):
    # `--out=~/x` (no shell expands it there) and `runs_dir: ~/x` made a folder named "~" in the working
    # directory; $ITERAND_RUNS=~/x was expanded.
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert iterand_main([*TINY, "--out=~/runs"]) == 0
    assert [path.name for path in (home / "runs").iterdir()] == [
        run_name(build_config(PRESET, overrides=OVERRIDES))
    ]
    assert theory_main(["estimate", "--n", "2", "--eps", "0.1", "--trials", "5", "--out=~/p.csv"]) == 0
    assert (home / "p.csv").is_file()
    assert notebooks.resolve_runs("~/runs/train") == str(home / "runs" / "train")
    assert list(work.iterdir()) == []
