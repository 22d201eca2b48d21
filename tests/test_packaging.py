"""pyproject.toml ships every package of the source tree and the notebooks, and its console scripts exist."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _source_folder(package: str) -> Path:
    """Where setuptools takes ``package`` from: its package-dir mapping, else the dotted path."""
    mapping = SETUPTOOLS.get("package-dir", {})
    for prefix, folder in mapping.items():
        if package == prefix or package.startswith(prefix + "."):
            return REPO / folder / Path(*package[len(prefix) :].split(".")[1:])
    return REPO / Path(*package.split("."))


def test_every_package_of_the_source_tree_is_listed():
    top = {package.split(".")[0] for package in SETUPTOOLS["packages"]}
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for name in top
        if (REPO / name).is_dir()
        for init in (REPO / name).rglob("__init__.py")
    }
    assert top == {"bookkeeping", "theory", "iterand", "repro"}
    assert found <= set(SETUPTOOLS["packages"]), (
        f"not listed in pyproject.toml: {sorted(found - set(SETUPTOOLS['packages']))}"
    )
    for package in SETUPTOOLS["packages"]:
        assert _source_folder(package).is_dir(), package


def test_the_notebooks_and_their_parameters_ship():
    assert _source_folder("repro.notebook_sources") == REPO / "notebooks"
    assert list((REPO / "notebooks").glob("*.py")) and list((REPO / "notebooks" / "params").glob("*.yaml"))
    assert SETUPTOOLS["package-data"]["repro.notebook_sources.params"] == ["*.yaml"]


def test_the_console_scripts_name_functions_that_exist():
    assert set(PROJECT["scripts"]) == {"iterand", "iterand-theory", "iterand-repro"}
    for target in PROJECT["scripts"].values():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), target
