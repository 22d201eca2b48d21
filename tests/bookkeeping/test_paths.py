"""Output and data locations follow the working directory or the user's variables, never the installation;
the code version is the checkout's only when the packages run from a checkout's root."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bookkeeping import paths, provenance


def test_runs_and_data_default_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.RUNS_ENV, raising=False)
    monkeypatch.setenv(paths.DATA_ENV, "")  # empty counts as unset
    monkeypatch.chdir(tmp_path)
    assert paths.runs_root() == tmp_path / "runs" and paths.data_root() == tmp_path / "data"
    assert paths.default_out() == tmp_path / "runs" / "train"
    assert paths.notebook_output_dir("walkthrough", "quick") == tmp_path / "runs/notebooks/walkthrough/quick"


def test_the_variables_win(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "r"))
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "d"))
    assert paths.runs_root() == tmp_path / "r" and paths.data_root() == tmp_path / "d"


def test_the_notebooks_are_found_beside_the_packages():
    assert paths.NOTEBOOK_SOURCES.is_dir() and paths.notebook_params("walkthrough").is_file()


def test_a_folder_inside_another_repository_reports_no_commit_of_it(tmp_path, monkeypatch):
    # An installed package in a virtual environment inside some project's repository.
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    inner = tmp_path / ".venv" / "site-packages"
    inner.mkdir(parents=True)
    monkeypatch.setattr(provenance, "_installed_commit", lambda: None)
    assert provenance.git_commit(inner) == {"commit": None, "dirty": None}


def test_a_checkout_reports_its_head(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "file").write_text("x")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "file"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert provenance.git_commit(Path(tmp_path)) == {"commit": head, "dirty": False}


def test_run_commits_reads_per_run_tables_old_and_new(tmp_path):
    (tmp_path / "results-runs.csv").write_text(
        "run_name,git_commit,git_dirty,dataset,lossy_jpeg\n"
        "a,abc,True,cifar10,True\nb,def,,cifar10,False\nc,def,,cifar10,True\nd,def,,synthetic,\n"
    )
    (tmp_path / "figure.csv").write_text("x,y\n1,2\n")
    # A figure's runs, reused from a folder all its parameter sets share, may have read another copy of
    # CIFAR-10 than the one the figure's execution names as its data source.
    lossy = "cifar10 (lossy JPEG copy)"
    assert provenance.run_commits(tmp_path) == [
        {"commit": "abc", "dirty": True, "data": lossy, "tables": ["results-runs.csv"], "rows": 1},
        {"commit": "def", "dirty": None, "data": "cifar10", "tables": ["results-runs.csv"], "rows": 1},
        {"commit": "def", "dirty": None, "data": lossy, "tables": ["results-runs.csv"], "rows": 1},
        {"commit": "def", "dirty": None, "data": "synthetic", "tables": ["results-runs.csv"], "rows": 1},
    ]
    # a table written before the rows carried git_dirty: its commits, dirtiness unknown
    older = tmp_path / "older"
    older.mkdir()
    (older / "results-runs.csv").write_text("run_name,git_commit\na,abc\nb,abc\n")
    assert provenance.run_commits(older) == [
        {"commit": "abc", "dirty": None, "data": None, "tables": ["results-runs.csv"], "rows": 2}
    ]


def test_a_root_is_named_by_its_variable_when_set_else_by_its_default(monkeypatch):
    monkeypatch.setenv(paths.DATA_ENV, "/somewhere")
    monkeypatch.delenv(paths.RUNS_ENV, raising=False)
    assert paths.root_origin(paths.DATA_ENV) == "$ITERAND_DATA"
    assert paths.root_origin(paths.RUNS_ENV) == "runs/ in the working directory ($ITERAND_RUNS unset)"
