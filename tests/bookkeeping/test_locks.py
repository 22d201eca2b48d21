"""Run-directory locks between real processes: the second process is told who holds the lock, and a
SIGKILLed holder leaves no stale lock."""

from __future__ import annotations

import json
import os
import pickle
import signal

import pytest

from bookkeeping.locks import Locked, RunLock, holder


def test_a_held_lock_names_its_holder_and_sigkill_leaves_none(tmp_path, held_elsewhere):
    lock_file = tmp_path / "run" / "run.lock"
    with held_elsewhere(lock_file) as process:
        info = holder(lock_file)
        assert info["pid"] == process.pid and info["host"] and info["started"]
        with pytest.raises(Locked, match=rf"run is in use by process {process.pid} on host ") as refused:
            RunLock(lock_file).acquire()
        # For a caller's own words; it survives pickling, as DDP ranks receive rank 0's error pickled.
        assert refused.value.holder == info == pickle.loads(pickle.dumps(refused.value)).holder
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert holder(lock_file) is None  # the operating system released it with the process
    with RunLock(lock_file):
        assert json.loads(lock_file.read_text())["pid"] == os.getpid()
        assert holder(lock_file)["pid"] == os.getpid()
    assert holder(lock_file) is None and lock_file.exists()


def test_a_folder_never_locked_has_no_holder(tmp_path):
    assert holder(tmp_path / "run.lock") is None
