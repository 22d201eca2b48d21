"""The suite's own set-up (tests/conftest.py): every test has a private decoded-data cache, and
``pytest -n auto`` (``make test``) starts a worker per core this process may use."""

import os
from pathlib import Path

from iterand.engine import cpu_runtime

REPO = Path(__file__).resolve().parents[1]


def test_every_test_decodes_data_into_a_private_cache_outside_the_repository():
    # It was set by the iterand tests' conftest alone: a notebook test run by itself, or first in a
    # worker, decoded CIFAR-10 into the repository's data/.
    cache = Path(os.environ["ITERAND_DATA_CACHE"])
    assert cache.is_dir()
    assert not cache.resolve().is_relative_to(REPO)


def test_auto_workers_are_the_cores_this_process_may_use(pytestconfig, monkeypatch):
    # xdist's own count is the machine's physical cores, which a container's CPU limit does not lower.
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    monkeypatch.setattr(cpu_runtime, "available_cores", lambda: 3)
    assert pytestconfig.hook.pytest_xdist_auto_num_workers(config=pytestconfig) == 3


def test_xdists_variable_still_chooses_the_number_of_workers(pytestconfig, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "5")
    monkeypatch.setattr(cpu_runtime, "available_cores", lambda: 3)
    assert pytestconfig.hook.pytest_xdist_auto_num_workers(config=pytestconfig) == 5
