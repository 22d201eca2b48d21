"""Every notebook runs through papermill with its quick parameters and saves the data behind each figure;
the runner's output folders, parameter checks and messages."""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from nbclient.exceptions import DeadKernelError
from papermill.exceptions import PapermillExecutionError

from bookkeeping import files, locks, paths, signals
from bookkeeping.locks import Locked
from iterand.engine.data import CIFAR10_ENV
from repro import notebooks
from repro.__main__ import main as repro_main

NOTEBOOKS = notebooks.available()
# Their quick sets train on real CIFAR-10, found through $ITERAND_CIFAR10 (`make test` sets it when the
# project's copy is there); the machines that run the tests have no internet for the official download.
NEEDS_CIFAR = ("walkthrough", "fig1_r_sweep", "fig2_width")


def test_there_are_notebooks():
    assert {"theory_subset_sums", "theory_resampling", "theory_network", "theory_symbolic"} <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameter_files_match_the_parameters_cell(name):
    declared = notebooks.declared_parameters(name)
    assert set(notebooks.INJECTED) <= set(declared), "the parameters cell must declare out_dir"
    expected = set(declared) - set(notebooks.INJECTED)
    sets = notebooks.parameter_sets(name)
    assert "quick" in sets
    for set_name, values in sets.items():
        assert set(values) == expected, f"{name}: parameter set {set_name!r} differs from the notebook's cell"


def test_the_notebooks_that_need_cifar_exist():
    assert set(NEEDS_CIFAR) <= set(NOTEBOOKS)


def test_the_runner_knows_which_notebooks_read_cifar():
    # The runner imports no iterand: it lists them itself, for the output folder's data label.
    assert set(NEEDS_CIFAR) <= set(notebooks.CIFAR10_NOTEBOOKS) <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_quick_and_saves_figure_data(name, tmp_path):
    if name in NEEDS_CIFAR and not os.environ.get(CIFAR10_ENV):
        pytest.skip(f"trains on CIFAR-10: set ${CIFAR10_ENV} to a copy")
    out_dir = notebooks.execute(name, "quick", root=tmp_path)
    assert paths.executed_notebook(out_dir, name).is_file()
    record = files.read_json(out_dir / paths.PROVENANCE_FILE)
    assert record["status"] == "succeeded"
    expected = notebooks.effective_parameters(name, notebooks.load_parameters(name, "quick"))
    if "runs_dir" in expected:  # a figure's runs: in the folder all its sets share
        expected["runs_dir"] = str(paths.notebook_runs_dir(name, root=tmp_path))
    assert record["parameters"] == expected
    assert record["packages"]["numpy"]
    figures = sorted(out_dir.glob("*.png"))
    assert figures, "every notebook draws at least one figure"
    for png in figures:
        data = [png.with_suffix(".csv"), png.with_suffix(".json")]
        assert any(p.is_file() for p in data), f"{png.name} has no data file beside it"


def test_after_a_stop_the_dead_kernel_it_caused_is_not_reported(monkeypatch, caplog):
    # Under load, a stop shut the kernel down while its cell's reply was awaited: nbclient then logged
    # "Kernel died while waiting ..." and asyncio a DeadKernelError traceback around the one line.
    def report() -> list[str]:
        caplog.clear()
        logging.getLogger("papermill").error("Kernel died while waiting for execute reply.")
        dead = DeadKernelError("Kernel died")
        never_retrieved = "Task exception was never retrieved"
        logging.getLogger("asyncio").error(never_retrieved, exc_info=(DeadKernelError, dead, None))
        logging.getLogger("papermill").error("something else")
        return [record.getMessage() for record in caplog.records]

    monkeypatch.setattr(signals, "_received", False)
    assert len(report()) == 3  # a kernel that dies by itself is news
    monkeypatch.setattr(signals, "_received", True)
    assert report() == ["something else"]


def test_unknown_parameter_set_is_rejected():
    with pytest.raises(ValueError, match="params must be one of"):
        notebooks.load_parameters(NOTEBOOKS[0], "gigantic")


def test_unknown_notebook_is_rejected():
    with pytest.raises(ValueError, match="notebook must be one of"):
        notebooks.select(["no_such_notebook"])


@pytest.mark.parametrize("name", [n for n in NOTEBOOKS if n.startswith("fig")])
def test_figure_notebooks_are_parameters_calls_and_prose(name):
    # The figure logic lives in iterand.experiments (plots, figures, results); a notebook that grows past
    # about 60 lines of code has started to hold it again.
    lines = paths.notebook_source(name).read_text().splitlines()
    code = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert len(code) <= 60, f"{name}: {len(code)} lines of code"


def _fake_papermill(
    monkeypatch,
    failure: BaseException | None = None,
    writes: dict[str, str] | None = None,
    during: Callable[[Path], None] | None = None,
) -> list[dict]:
    """papermill.execute_notebook replaced: records its calls, calls ``during`` with the output folder,
    writes the output notebook and ``writes`` (file name -> text) into it, may fail."""
    calls = []

    def execute_notebook(source, output, parameters, **kwargs):
        calls.append(parameters)
        if during is not None:
            during(Path(parameters["out_dir"]))
        Path(output).write_text("{}")
        for file_name, text in (writes or {}).items():
            (Path(parameters["out_dir"]) / file_name).write_text(text)
        if failure is not None:
            raise failure

    monkeypatch.setattr(notebooks.papermill, "execute_notebook", execute_notebook)
    return calls


def test_a_parameter_file_gets_a_folder_of_its_own(tmp_path, monkeypatch):
    # Issue 10, item 2: `--params some/dir/quick.yaml` overwrote the built-in `quick` set's outputs, and two
    # files of one name overwrote each other.
    _fake_papermill(monkeypatch)
    name = "theory_network"
    quick = notebooks.load_parameters(name, "quick")
    files_ = []
    for folder, seed in (("a", 0), ("b", 1)):
        path = tmp_path / folder / "quick.yaml"
        path.parent.mkdir()
        path.write_text(yaml.safe_dump({**quick, "seed": seed}))
        files_.append(path)
    built_in = notebooks.execute(name, "quick", root=tmp_path / "runs")
    first, second = (notebooks.execute(name, str(path), root=tmp_path / "runs") for path in files_)
    assert built_in.name == "quick" and len({built_in, first, second}) == 3
    assert first.name.startswith("quick-") and second.name.startswith("quick-")
    # the same parameters give the same folder, whatever the file is called or how it is written
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump({**quick, "seed": 0}, default_flow_style=True))
    assert (
        notebooks.set_label(str(again), notebooks.load_parameters(name, str(again))).split("-")[1]
        == (first.name.split("-")[1])
    )


def test_how_a_parameter_file_runs_does_not_move_its_folder(tmp_path):
    # Two runs at a time instead of one, or reading what an earlier execution trained, retrained every run
    # into a new folder: the hash covered concurrent and mode.
    name = "fig2_width"
    cpu = notebooks.load_parameters(name, "cpu")
    labels = {}
    for stem, changes in [
        ("same", {}),
        ("same", {"concurrent": 1, "mode": "read"}),
        ("same", {"seeds": [1]}),
    ]:
        path = tmp_path / str(len(labels)) / f"{stem}.yaml"
        path.parent.mkdir()
        path.write_text(yaml.safe_dump({**cpu, **changes}))
        labels[len(labels)] = notebooks.output_label(
            name, str(path), notebooks.load_parameters(name, str(path))
        )
    assert labels[0] == labels[1] != labels[2]
    assert set(notebooks.EXECUTION_ONLY) <= {
        key for notebook in notebooks.available() for key in notebooks.declared_parameters(notebook)
    }


def test_a_committed_set_outside_a_checkout_says_it_needs_one(tmp_path, monkeypatch, capsys):
    # The installed package lists cpu-committed, whose table lies in the checkout's results/: run from
    # anywhere else, the notebook started and failed with status 1 and a traceback in the executed notebook.
    calls = _fake_papermill(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert repro_main(["fig2_width", "--params", "cpu-committed"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "error: cpu-committed: results_table results/fig2_width-cpu/results.csv is not a file"
    )
    assert "checkout" in line and not calls


def test_a_failed_notebook_names_the_folder_it_really_is_in(tmp_path, monkeypatch, capsys):
    # Issue 10, item 10: after a failure repro named a folder below the parameter file's path.
    monkeypatch.setenv("ITERAND_RUNS", str(tmp_path / "runs"))
    failure = PapermillExecutionError(3, 2, "source", "TypeError", "unsupported operand", [])
    _fake_papermill(monkeypatch, failure)
    params = tmp_path / "params" / "mine.yaml"
    params.parent.mkdir()
    params.write_text("trials: '3'\n")
    assert repro_main(["theory_network", "--params", str(params)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: notebook theory_network failed in cell 2: TypeError: unsupported operand"
    executed = notebooks.output_dir("theory_network", str(params)) / "theory_network.ipynb"
    assert err[1] == f"the executed notebook with the traceback is {executed}"
    assert executed.is_file() and str(tmp_path / "runs") in err[1]


def test_an_unknown_parameter_is_rejected_listing_the_known_ones(tmp_path, monkeypatch, capsys):
    # Issue 10, item 10: an unknown parameter only got papermill's warning, and exit status 0.
    calls = _fake_papermill(monkeypatch)
    params = tmp_path / "typo.yaml"
    params.write_text("seed: 0\ntrails: 3\n")
    assert repro_main(["theory_network", "--params", str(params)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    known = [key for key in notebooks.declared_parameters("theory_network") if key != "out_dir"]
    assert line == (
        f"error: {params}: 'trails' is not a parameter of notebook theory_network; did you mean 'trials'? "
        f"allowed: {', '.join(known)}"
    )
    assert calls == []


def test_a_yaml_syntax_error_is_one_line_naming_the_file_and_line(tmp_path, capsys):
    # Issue 10, item 8.
    params = tmp_path / "broken.yaml"
    params.write_text("seed: 0\ntrials: [3\n")
    assert repro_main(["theory_network", "--params", str(params)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {params}, line 3, column 1: not valid YAML")


def _provenance(out_dir: Path) -> dict:
    return files.read_json(out_dir / paths.PROVENANCE_FILE)


def test_a_failed_execution_never_shows_the_last_successful_outputs_as_its_own(tmp_path, monkeypatch):
    # A failed run left the previous run's figures and provenance beside its failed notebook, unmarked.
    name, root = "theory_network", tmp_path / "runs"
    _fake_papermill(monkeypatch, writes={"figure.png": "first", "runs_note.txt": "x"})
    out_dir = notebooks.execute(name, "quick", root=root)
    (out_dir / "runs").mkdir()
    (out_dir / "runs" / "summary.json").write_text("{}")
    assert _provenance(out_dir)["status"] == "succeeded"
    failure = PapermillExecutionError(3, 2, "source", "OSError", "no CIFAR-10", [])
    _fake_papermill(monkeypatch, failure, writes={"partial.csv": "second"})
    with pytest.raises(PapermillExecutionError):
        notebooks.execute(name, "quick", root=root)
    previous = notebooks.previous_dir(out_dir)
    record = _provenance(out_dir)
    assert record["status"] == "failed" and record["last_success"] == str(previous)
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "partial.csv",
        paths.PROVENANCE_FILE,
        "runs",
        f"{name}.ipynb",
    ]
    assert (out_dir / "runs" / "summary.json").is_file(), "training runs are reused, never set aside"
    assert (previous / "figure.png").read_text() == "first" and notebooks.succeeded(previous)
    # a second failure keeps the same last success; a success replaces it
    with pytest.raises(PapermillExecutionError):
        notebooks.execute(name, "quick", root=root)
    assert (previous / "figure.png").read_text() == "first"
    _fake_papermill(monkeypatch, writes={"figure.png": "third"})
    notebooks.execute(name, "quick", root=root)
    assert not previous.exists() and (out_dir / "figure.png").read_text() == "third"
    assert not (out_dir / "partial.csv").exists() and _provenance(out_dir)["status"] == "succeeded"


def test_while_a_notebook_runs_its_folder_holds_no_provenance_and_no_old_outputs(tmp_path, monkeypatch):
    # A run killed after its cells but before its provenance left new tables under the old provenance.
    name, root = "theory_network", tmp_path / "runs"
    _fake_papermill(monkeypatch, writes={"figure.png": "first"})
    notebooks.execute(name, "quick", root=root)
    seen = []
    _fake_papermill(monkeypatch, during=lambda folder: seen.append(sorted(p.name for p in folder.iterdir())))
    notebooks.execute(name, "quick", root=root)
    assert seen == [[f"{name}.source.ipynb"]]


def test_an_interrupted_execution_says_so_in_its_provenance(tmp_path, monkeypatch):
    name, root = "theory_network", tmp_path / "runs"
    _fake_papermill(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        notebooks.execute(name, "quick", root=root)
    out_dir = paths.notebook_output_dir(name, "quick", root)
    assert _provenance(out_dir)["status"] == "interrupted" and not notebooks.succeeded(out_dir)


def test_a_failure_names_the_folder_holding_the_last_success(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ITERAND_RUNS", str(tmp_path / "runs"))
    _fake_papermill(monkeypatch)
    assert repro_main(["theory_network"]) == 0
    _fake_papermill(monkeypatch, PapermillExecutionError(3, 2, "source", "ValueError", "bad", []))
    assert repro_main(["theory_network"]) == 1
    out_dir = notebooks.output_dir("theory_network", "quick")
    assert capsys.readouterr().err.splitlines()[2] == (
        f"the last successful outputs are in {notebooks.previous_dir(out_dir)}"
    )


def _trained_network_folder(tmp_path, monkeypatch, cifar: str | None) -> Path:
    if cifar is None:
        monkeypatch.delenv(CIFAR10_ENV, raising=False)
    else:
        monkeypatch.setenv(CIFAR10_ENV, cifar)
    _fake_papermill(monkeypatch)
    return notebooks.execute("theory_trained_network", "quick", root=tmp_path / "runs")


def test_runs_on_other_data_get_a_folder_of_their_own_and_name_their_data(tmp_path, monkeypatch):
    # With and without $ITERAND_CIFAR10 both runs wrote runs/notebooks/theory_trained_network/quick, and
    # the provenance said data_root null both times.
    archive = tmp_path / "cifar.tar.gz"
    archive.write_bytes(b"")
    synthetic = _trained_network_folder(tmp_path, monkeypatch, None)
    cifar = _trained_network_folder(tmp_path, monkeypatch, str(archive))
    assert synthetic.name == "quick" and cifar.name == "quick-cifar10"
    assert _provenance(synthetic)["data_source"] == "synthetic"
    assert _provenance(cifar)["data_source"] == str(archive.resolve())
    assert _provenance(synthetic)["status"] == _provenance(cifar)["status"] == "succeeded"
    assert notebooks.output_dir("theory_trained_network", "quick", tmp_path / "runs") == cifar


def test_the_data_folder_label_ignores_cifar_for_notebooks_that_do_not_read_it(monkeypatch):
    monkeypatch.setenv(CIFAR10_ENV, "/somewhere/cifar.tar.gz")
    for name in ("fig3_imagenet", "theory_network"):
        assert notebooks.output_label(name, "quick", notebooks.load_parameters(name, "quick")) == "quick"
    fig2 = notebooks.load_parameters("fig2_width", "quick")
    assert notebooks.output_label("fig2_width", "quick", fig2) == "quick"  # CIFAR-10 either way
    assert notebooks.output_label("fig2_width", "paper", fig2 | {"mode": "read"}) == "paper"
    trained = notebooks.load_parameters("theory_trained_network", "quick")
    assert notebooks.output_label("theory_trained_network", "quick", trained) == "quick-cifar10"
    assert (
        notebooks.output_label("theory_trained_network", "quick", trained | {"data_root": "synthetic"})
        == "quick"
    )
    assert notebooks.output_label("fig3_imagenet", "quick", {"data_root": "synthetic"}) == "quick-synthetic"


def test_the_provenance_records_every_parameter_used_and_the_ones_given(tmp_path, monkeypatch):
    # A partial parameter file recorded only its own keys ({} for an empty file).
    calls = _fake_papermill(monkeypatch)
    defaults = {k: v for k, v in notebooks.declared_parameters("theory_network").items() if k != "out_dir"}
    for text, given in (("trials: 400\n", {"trials": 400}), ("", {})):
        params = tmp_path / "partial.yaml"
        params.write_text(text)
        record = _provenance(notebooks.execute("theory_network", str(params), root=tmp_path / "runs"))
        assert record["parameters"] == {**defaults, **given} and record["given_parameters"] == given
        assert {k: v for k, v in calls[-1].items() if k != "out_dir"} == record["parameters"]


def test_the_paper_sets_read_the_runs_where_the_sweep_trains_them(tmp_path, monkeypatch):
    # paper hard-coded runs/train, ignoring $ITERAND_RUNS, where `python -m iterand sweep` trains.
    monkeypatch.setenv("ITERAND_RUNS", str(tmp_path / "elsewhere"))
    calls = _fake_papermill(monkeypatch)
    for name in ("fig1_r_sweep", "fig2_width", "fig3_imagenet"):
        notebooks.execute(name, "paper", root=tmp_path / "out")
        assert calls[-1]["runs_dir"] == str(paths.default_out()) == str(tmp_path / "elsewhere" / "train")
    assert notebooks.resolve_runs("{runs}") == str(tmp_path / "elsewhere")
    assert notebooks.resolve_runs("x/{runs}/train") == "x/{runs}/train"


def test_the_provenance_names_the_commits_and_dirtiness_of_the_runs_drawn(tmp_path, monkeypatch):
    # A figure drawn from runs trained on a modified tree said dirty: false (its own checkout's state).
    runs_table = "run_name,git_commit,git_dirty\na,c0ffee,True\nb,c0ffee,True\nc,c0ffee,False\n"
    _fake_papermill(monkeypatch, writes={"results-runs.csv": runs_table})
    record = _provenance(notebooks.execute("fig2_width", "cpu-committed", root=tmp_path / "runs"))
    drawn = [entry for entry in record["runs"] if entry["commit"] == "c0ffee"]
    assert drawn == [
        {"commit": "c0ffee", "dirty": True, "data": None, "tables": ["results-runs.csv"], "rows": 2},
        {"commit": "c0ffee", "dirty": False, "data": None, "tables": ["results-runs.csv"], "rows": 1},
    ]


@pytest.mark.parametrize("fails", [False, True])
def test_the_warnings_a_notebook_printed_are_said_after_it_and_kept_in_its_provenance(
    tmp_path, monkeypatch, capsys, fails
):
    # A figure that left out a width, or averaged fewer seeds than chosen, said so only inside the
    # executed notebook: the command said "done" and the provenance "succeeded". A notebook that failed
    # after a warning (a mean that is not a number, then a plot stopped on it) said only the error.
    stderr = (
        "/tmp/ipykernel_1/2.py:6: UserWarning: no finished run for width 0.125: the figure leaves it out\n"
        '  shown = figures.rows("fig2", globals())\n'
        "/tmp/ipykernel_1/2.py:6: UserWarning: no finished run for width 0.125: the figure leaves it out\n"
        "epoch 1 of 2\n"
    )
    cells = [{"outputs": [{"output_type": "stream", "name": "stderr", "text": stderr}]}]
    failure = (
        PapermillExecutionError(3, 2, "source", "TypeError", "unsupported operand", []) if fails else None
    )
    _fake_papermill(monkeypatch, failure, writes={"theory_network.ipynb": json.dumps({"cells": cells})})
    monkeypatch.setenv("ITERAND_RUNS", str(tmp_path / "runs"))
    assert notebooks.run_batch(["theory_network"], "quick") == int(fails)
    out_dir = notebooks.output_dir("theory_network", "quick")
    message = "no finished run for width 0.125: the figure leaves it out"
    assert capsys.readouterr().err.splitlines()[-1] == f"warning: {message} (theory_network)"
    assert _provenance(out_dir)["warnings"] == [message]


def test_a_figure_drawn_from_a_results_table_names_the_commits_of_its_runs(tmp_path, monkeypatch):
    # With results_table the figure writes no per-run table of its own: "runs" was empty.
    _fake_papermill(monkeypatch)
    table = tmp_path / "committed" / "results.csv"
    table.parent.mkdir()
    table.write_text("model\nconv6\n")
    (table.parent / "results-runs.csv").write_text("run_name,git_commit\na,abc\n")
    params = tmp_path / "committed.yaml"
    params.write_text(f"mode: read\nresults_table: {table}\n")
    record = _provenance(notebooks.execute("fig2_width", str(params), root=tmp_path / "runs"))
    assert record["runs"] == [
        {"commit": "abc", "dirty": None, "data": None, "tables": ["results-runs.csv"], "rows": 1}
    ]


def test_a_parameter_file_switched_to_read_mode_reads_the_folder_it_trained(tmp_path):
    # Read mode dropped the data kind from the folder name: a file trained on synthetic data (or, for
    # Fig. 3, on a named ImageNet folder) and then set to mode "read" looked for its runs in another folder.
    imagenet = tmp_path / "imagenet"
    imagenet.mkdir()
    for name, given in [
        ("fig2_width", {"overrides": {"dataset": "synthetic"}}),
        ("fig3_imagenet", {"data_root": str(imagenet)}),
    ]:
        labels = set()
        for mode in ("train", "read"):
            path = tmp_path / mode / name / "mine.yaml"
            path.parent.mkdir(parents=True)
            path.write_text(yaml.safe_dump({**given, "mode": mode}))
            labels.add(notebooks.output_label(name, str(path), notebooks.load_parameters(name, str(path))))
        assert len(labels) == 1 and labels.pop().endswith(("-synthetic", "-data"))


def test_a_figure_trained_on_synthetic_data_says_so(monkeypatch):
    monkeypatch.delenv(CIFAR10_ENV, raising=False)
    fig2 = notebooks.load_parameters("fig2_width", "quick")
    synthetic = fig2 | {"overrides": {**fig2["overrides"], "dataset": "synthetic"}}
    assert notebooks.output_label("fig2_width", "quick", synthetic) == "quick-synthetic"
    assert notebooks.data_source("fig2_width", notebooks.effective_parameters("fig2_width", synthetic)) == (
        "synthetic"
    )


def test_a_second_execution_of_the_same_set_is_refused_while_the_first_runs(tmp_path, monkeypatch):
    # It cleared the first one's folder, outputs in flight included.
    # Its message named the notebook's folder, where every other set runs freely, as "a run directory".
    def second(out_dir: Path) -> None:
        said = f"^{re.escape(str(out_dir))} is being written by process {os.getpid()} "
        with pytest.raises(Locked, match=said):
            notebooks.execute("theory_network", "quick", root=tmp_path / "runs")

    _fake_papermill(monkeypatch, during=second)
    assert _provenance(notebooks.execute("theory_network", "quick", root=tmp_path / "runs"))["status"] == (
        "succeeded"
    )


def test_a_number_in_exponent_form_is_a_float(tmp_path):
    # PyYAML (YAML 1.1) read 1e-2 as the string '1e-2', which the notebook then refused.
    params = tmp_path / "exp.yaml"
    params.write_text("eps: 1e-2\n")
    assert notebooks.load_parameters("theory_symbolic", str(params)) == {"eps": 0.01}


def _kernels_of(pid: int) -> list[int]:
    """The kernels a process started that are still alive (jupyter_client marks them JPY_PARENT_PID)."""
    kernels = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"JPY_PARENT_PID={pid}\0".encode() in environ.read_bytes():
                kernels.append(int(environ.parent.name))
        except OSError:
            pass
    return kernels


def _running_cell(notebook: Path, text: str) -> bool:
    """Whether papermill has saved ``notebook`` with the code cell containing ``text`` started."""
    try:
        cells = files.read_json(notebook)["cells"]
    except (OSError, ValueError, KeyError):
        return False
    return any(
        text in "".join(cell["source"]) and cell["metadata"].get("papermill", {}).get("status") == "running"
        for cell in cells
    )


@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="finds kernels through /proc")
@pytest.mark.parametrize(
    ("command", "stop"),
    [
        (["repro", "theory_subset_sums"], signal.SIGINT),
        (["repro", "theory_subset_sums"], signal.SIGTERM),
        (["theory", "figures", "subset_sums"], signal.SIGTERM),
    ],
    ids=["ctrl-c", "sigterm", "theory-figures-sigterm"],
)
def test_a_stop_in_a_running_cell_is_one_line_status_130_and_leaves_no_kernel(tmp_path, command, stop):
    # Ctrl-C printed the kernel's ZMQError traceback ("Socket operation on non-socket") before the line.
    # SIGTERM killed repro alone (and `python -m theory figures` still): its kernel, and the training
    # processes of a figure's sweep, ran on.
    params = tmp_path / "long.yaml"
    params.write_text("trials: 1000000\n")  # minutes of Monte Carlo: the cell is still running at Ctrl-C
    env = {**os.environ, "ITERAND_RUNS": str(tmp_path / "runs"), "MPLBACKEND": "Agg"}
    repro = subprocess.Popen(
        [sys.executable, "-m", *command, "--params", str(params)],
        cwd=paths.SOURCE_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a child of a non-interactive shell may inherit SIGINT ignored; a terminal's Ctrl-C is not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        out_dir = notebooks.output_dir("theory_subset_sums", str(params), tmp_path / "runs")
        deadline = time.monotonic() + 120
        while not _running_cell(paths.executed_notebook(out_dir, "theory_subset_sums"), "experiments.run("):
            assert repro.poll() is None and time.monotonic() < deadline, repro.communicate()
            time.sleep(0.2)
        time.sleep(1)  # into the cell: the kernel replies on a closed socket when it is stopped
        assert _kernels_of(repro.pid), "the kernel is found through /proc"
        repro.send_signal(stop)
        out, err = repro.communicate(timeout=60)
    finally:
        if repro.poll() is None:
            repro.kill()
    assert repro.returncode == 130
    assert err.splitlines() == [f"interrupted: notebook theory_subset_sums did not finish ({out_dir})"]
    assert files.read_json(out_dir / paths.PROVENANCE_FILE)["status"] == "interrupted"
    assert _kernels_of(repro.pid) == []


def test_every_parameter_set_of_a_figure_trains_into_one_runs_folder(tmp_path, monkeypatch):
    # A parameter file whose plotting-only values (x_axis), seeds or widths changed got a new folder with an
    # empty runs/: train mode retrained the whole grid and read mode found nothing.
    calls = _fake_papermill(monkeypatch)
    cpu = notebooks.load_parameters("fig2_width", "cpu")
    given = {"x_axis": "bytes", "seeds": [1, 2, 3, 4], "widths": [0.25], "mode": "read"}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({**cpu, **given}))
    root = tmp_path / "runs"
    shared = root / "notebooks" / "fig2_width" / "runs"
    for param_set in ("quick", "cpu", str(path)):
        out_dir = notebooks.execute("fig2_width", param_set, root=root)
        assert calls[-1]["runs_dir"] == _provenance(out_dir)["parameters"]["runs_dir"] == str(shared)
        assert _provenance(out_dir)["given_parameters"].get("runs_dir") is None
    # Runs on another kind of data share another folder; a runs_dir given is used as it is.
    synthetic = tmp_path / "synthetic.yaml"
    synthetic.write_text(yaml.safe_dump({"overrides": {"dataset": "synthetic"}}))
    notebooks.execute("fig2_width", str(synthetic), root=root)
    assert calls[-1]["runs_dir"] == str(shared.with_name("runs-synthetic"))
    notebooks.execute("fig2_width", "paper", root=root)
    assert calls[-1]["runs_dir"] == str(paths.default_out())
    # No output folder of a built-in set can be the shared one.
    assert all(
        not label.startswith(paths.NOTEBOOK_RUNS)
        for name in ("fig1_r_sweep", "fig2_width", "fig3_imagenet")
        for label in notebooks.parameter_sets(name)
    )


def test_runs_an_earlier_version_trained_into_a_sets_folder_move_to_the_shared_one(
    tmp_path, monkeypatch, capsys
):
    # Before the shared folder, each set trained into its own SET/runs/: those runs must not be trained again.
    calls = _fake_papermill(monkeypatch)
    root = tmp_path / "runs"
    old = root / "notebooks" / "fig2_width" / "cpu" / "runs"
    shared = old.parent.parent / "runs"
    for run in ("a", "b", "held"):
        files.write_json(paths.RunFiles(old / run).summary, {"run": run})
    files.write_json(paths.RunFiles(shared / "b").summary, {"run": "b, trained since"})
    with locks.RunLock(paths.RunFiles(old / "held").lock):
        notebooks.execute("fig2_width", "cpu", root=root)
    assert calls[-1]["runs_dir"] == str(shared)
    assert files.read_json(paths.RunFiles(shared / "a").summary) == {"run": "a"}
    assert files.read_json(paths.RunFiles(shared / "b").summary) == {"run": "b, trained since"}
    assert sorted(p.name for p in old.iterdir()) == ["b", "held"]  # kept, not lost, and named
    assert not (shared / "held").exists()
    said = capsys.readouterr()
    assert said.out == f"moved 1 runs from {old} to {shared}, which every parameter set shares\n"
    assert said.err.startswith(f"warning: 2 runs stayed in {old} (b, held): one of that name is in {shared}")
    # A runs/ that links elsewhere (a larger disk) is left where it points, and said so.
    disk = tmp_path / "disk"
    files.write_json(paths.RunFiles(disk / "c").summary, {"run": "c"})
    linked = root / "notebooks" / "fig2_width" / "quick" / "runs"
    linked.parent.mkdir(parents=True)
    linked.symlink_to(disk)
    notebooks.execute("fig2_width", "quick", root=root)
    assert (disk / "c").is_dir() and not (shared / "c").exists()
    assert capsys.readouterr().err.startswith(f"warning: {linked} is a link to {disk}, whose runs were not")
