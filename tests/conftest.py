"""Shared by every test: off-screen figures, one intra-op thread, a private decoded-data cache, a
worker per available core under ``pytest -n auto``, and a second process that holds a run directory's
lock."""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

# Figures render off-screen in tests and notebooks alike.
os.environ.setdefault("MPLBACKEND", "Agg")
# One intra-op thread in this process and in every process a test starts (tests about threads set
# their own), unless the caller chose. The tests' tensors are small, so a second thread buys little,
# and OpenMP threads that wait for each other at every operation crawl on a loaded machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
# pytest-xdist names each worker process in this variable; the controller and a serial run have none.
XDIST_WORKER = "PYTEST_XDIST_WORKER"
XDIST_AUTO = "PYTEST_XDIST_AUTO_NUM_WORKERS"


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: absent without it
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: a worker per core this process may use. xdist's own count is the machine's
    physical cores, which overcounts under a CPU affinity mask or a container's CPU limit. Its variable
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides when set (None leaves the choice to xdist)."""
    if os.environ.get(XDIST_AUTO):
        return None
    from iterand.engine.cpu_runtime import available_cores

    return available_cores()


@pytest.fixture(scope="session", autouse=True)
def private_data_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``$ITERAND_DATA_CACHE`` for every test: a temporary folder, so that no test writes decoded data into
    the repository's ``data/``. The workers of one ``-n`` run share it (their temporary folders sit in one
    session folder), so a worker reads what another decoded; the cache writes whole files by rename, so
    two workers decoding at once do no harm."""
    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if os.environ.get(XDIST_WORKER) else base) / "data-cache"
    cache.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ITERAND_DATA_CACHE", str(cache))
        yield cache


# Takes the lock, says so on stdout, and holds it until its stdin closes (or it is killed).
_HOLDER = (
    "import sys; from pathlib import Path; from bookkeeping.locks import RunLock; "
    "lock = RunLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); sys.stdin.read()"
)


@contextmanager
def _held_by_another_process(lock_file: Path) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(lock_file)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline() == "locked\n"  # no timing: the holder reports
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture
def held_elsewhere() -> Callable[[Path], AbstractContextManager[subprocess.Popen]]:
    """``with held_elsewhere(lock_file) as process:`` another real process holds ``lock_file``."""
    return _held_by_another_process
