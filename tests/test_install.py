"""A non-editable install, used the way a researcher would: from another directory, through the console
scripts, writing only where the user works and never into the installation.

Offline and quick: the fresh virtual environment has no pip of its own and sees the current environment's
packages (torch and the rest) through a .pth file, so nothing is downloaded; the project is built from a
copy of its sources (so that no build files land in the checkout) with --no-deps --no-build-isolation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "bookkeeping", "theory", "iterand", "repro", "notebooks")
# The package's own variables: unset, so that the defaults (the working directory) are what is tested.
VARIABLES = ("ITERAND_RUNS", "ITERAND_DATA", "ITERAND_DATA_CACHE", "ITERAND_CIFAR10", "PYTHONPATH")
TINY = [
    "--preset", "fig2-conv6-sc-iterand", "--set", "dataset=synthetic", "--set", "model=conv2",
    "--set", "width=0.0625", "--set", "epochs=1", "--set", "steps_per_epoch=2", "--set", "batch_size=32",
    "--set", "device=cpu", "--set", "eval_batch_size=500",
]  # fmt: skip


def _site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(
        subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    )


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("pip", reason="the install test builds the package with this environment's pip")
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    environment = root / "venv"
    venv.create(environment, with_pip=False)
    bin_dir = environment / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    site = _site_packages(python)
    # This environment's packages, after the new environment's own (a .pth line is appended to sys.path).
    outer = [path for path in sys.path if Path(path).name in ("site-packages", "dist-packages")]
    (site / "_outer_environment.pth").write_text("\n".join([sysconfig.get_paths()["purelib"], *outer]) + "\n")
    install = [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    done = subprocess.run([*install, str(source)], capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    work = root / "work"
    work.mkdir()
    return {"bin": bin_dir, "python": python, "site": site, "work": work, "environment": environment}


def _run(installed, *command, check=True) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in VARIABLES}
    env["PATH"] = f"{installed['bin']}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(command, capture_output=True, text=True, cwd=installed["work"], env=env)
    assert not check or done.returncode == 0, f"{command}: {done.stderr[-3000:]}"
    return done


def test_train_evaluate_export_and_theory_from_another_directory(installed):
    before = _snapshot(installed["environment"])
    work, python = installed["work"], str(installed["python"])

    where = _run(installed, python, "-c", "import iterand, repro; print(iterand.__file__)").stdout
    assert Path(where.strip()).is_relative_to(installed["site"]), "the installed copy must be the one used"

    _run(installed, "iterand", "train", *TINY)
    (run_dir,) = (work / "runs" / "train").iterdir()  # below the working directory
    assert (run_dir / "summary.json").is_file()
    evaluated = json.loads(_run(installed, "iterand", "eval", str(run_dir)).stdout)
    assert 0 <= evaluated["test_acc"] <= 100
    exported = json.loads(_run(installed, "iterand", "export", str(run_dir), "--out", "exported").stdout)
    assert exported["files"] == ["model.safetensors", "masks.safetensors"]
    code = "from iterand.engine.posthoc import load_trained; m, c = load_trained('exported'); print(c.model)"
    assert _run(installed, python, "-c", code).stdout.strip() == "conv2"
    assert "fig2-conv6-sc-iterand" in _run(installed, python, "-m", "iterand", "presets").stdout

    assert _run(installed, "iterand-theory", "worst-case", "0.31", "-0.72", "0.05", "0.9").stdout
    _run(installed, "iterand-theory", "experiment", "network", "--params", "quick")  # parameters ship
    assert (work / "runs" / "theory" / "network" / "quick" / "provenance.json").is_file()
    listed = _run(installed, "iterand-repro", "--list").stdout
    assert "walkthrough" in listed and "theory_network" in listed  # the notebooks ship with it

    assert _snapshot(installed["environment"]) == before, "something was written into the installation"
    assert sorted(path.name for path in work.iterdir()) == ["exported", "runs"]


def test_errors_of_the_console_scripts_are_one_line_with_status_2(installed):
    done = _run(installed, "iterand", "export", "no-such-run", check=False)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    done = _run(installed, "iterand-theory", "worst-case", "0.5", "--t", "-1", check=False)
    assert done.returncode == 2 and done.stderr.strip() == "error: t must be a finite number > 0, got -1.0"
