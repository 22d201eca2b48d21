"""environment.yml (for conda users) must list exactly pyproject.toml's dependencies with the same bounds."""

import re
import tomllib

import yaml

from bookkeeping import paths

CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda name where they differ


def _split(requirement: str) -> tuple[str, str]:
    name, bound = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", requirement.strip()).groups()
    return name.lower(), bound.replace(" ", "")


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())["project"]
    wanted = [
        *project["dependencies"],
        *(d for extra in project["optional-dependencies"].values() for d in extra),
    ]
    expected = {CONDA_NAMES.get(n, n): b for n, b in map(_split, wanted)}

    env = yaml.safe_load((paths.REPO_ROOT / "environment.yml").read_text())
    conda = dict(_split(d) for d in env["dependencies"] if isinstance(d, str))
    conda.pop("pip")
    conda.pop("python")

    assert conda == expected
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section, "environment.yml must install this package itself"


def test_python_bound_matches():
    project = tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((paths.REPO_ROOT / "environment.yml").read_text())
    assert f"python{project['requires-python']}" in env["dependencies"]
