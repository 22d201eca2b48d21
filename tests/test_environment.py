"""environment.yml (for conda users) must list exactly pyproject.toml's dependencies with the same bounds,
from conda-forge alone."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name where they differ


def _split(requirement: str) -> tuple[str, str]:
    name, bound = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", requirement.strip()).groups()
    return name.lower(), bound.replace(" ", "")


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _environment() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text())


def test_environment_yml_mirrors_pyproject():
    project = _project()
    wanted = [
        *project["dependencies"],
        *(d for extra in project["optional-dependencies"].values() for d in extra),
    ]
    expected = {CONDA_NAMES.get(n, n): b for n, b in map(_split, wanted)}

    env = _environment()
    conda = dict(_split(d) for d in env["dependencies"] if isinstance(d, str))
    conda.pop("pip")
    conda.pop("python")

    assert conda == expected
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section, "environment.yml must install this package itself"


def test_conda_forge_is_the_only_channel():
    # "nodefaults" is no channel: it keeps a user's configured defaults out.
    assert _environment()["channels"] == ["conda-forge", "nodefaults"]


def test_python_bound_matches():
    assert f"python{_project()['requires-python']}" in _environment()["dependencies"]
