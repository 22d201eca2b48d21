"""Shared by every test: off-screen figures, one intra-op thread, and a second process that holds a run
directory's lock."""

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
