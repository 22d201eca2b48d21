"""Every notebook runs through papermill with its quick parameters and saves the data behind each figure."""

import os

import pytest

from bookkeeping import files, paths
from iterand.engine.data import CIFAR10_ENV
from repro import notebooks

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
