"""Every notebook runs through papermill with its quick parameters and saves the data behind each figure;
the runner's output folders, parameter checks and messages."""

import os
from pathlib import Path

import pytest
import yaml
from papermill.exceptions import PapermillExecutionError

from bookkeeping import files, paths
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


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_quick_and_saves_figure_data(name, tmp_path):
    if name in NEEDS_CIFAR and not os.environ.get(CIFAR10_ENV):
        pytest.skip(f"trains on CIFAR-10: set ${CIFAR10_ENV} to a copy")
    out_dir = notebooks.execute(name, "quick", root=tmp_path)
    assert paths.executed_notebook(out_dir, name).is_file()
    record = files.read_json(out_dir / paths.PROVENANCE_FILE)
    assert record["parameters"] == notebooks.load_parameters(name, "quick")
    assert record["packages"]["numpy"]
    figures = sorted(out_dir.glob("*.png"))
    assert figures, "every notebook draws at least one figure"
    for png in figures:
        data = [png.with_suffix(".csv"), png.with_suffix(".json")]
        assert any(p.is_file() for p in data), f"{png.name} has no data file beside it"


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


def _fake_papermill(monkeypatch, failure: Exception | None = None) -> list[dict]:
    """papermill.execute_notebook replaced: records its calls, writes the output notebook, may fail."""
    calls = []

    def execute_notebook(source, output, parameters, **kwargs):
        calls.append(parameters)
        Path(output).write_text("{}")
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
        f"error: {params}: 'trails' is not a parameter of notebook theory_network; known: {', '.join(known)}"
    )
    assert calls == []


def test_a_yaml_syntax_error_is_one_line_naming_the_file_and_line(tmp_path, capsys):
    # Issue 10, item 8.
    params = tmp_path / "broken.yaml"
    params.write_text("seed: 0\ntrials: [3\n")
    assert repro_main(["theory_network", "--params", str(params)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {params}, line 3, column 1: not valid YAML")
