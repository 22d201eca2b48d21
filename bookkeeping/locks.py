"""One process per run directory: an exclusive lock on a file inside it, held while the process works.

``fcntl.flock`` on ``run.lock`` (``bookkeeping.paths.RunFiles.lock``): the operating system releases the
lock when the process ends in any way, SIGKILL included, so a lock is never left behind. The holder writes
its process id, host and start time into the file, so that a second process can say who holds it. The
file itself stays (removing it would let a third process lock a new file while a second still waits on
the old one); an existing file means nothing, only a held lock does. POSIX only, like ``torchrun``.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import IO, Any

from bookkeeping.errors import UserError

__all__ = ["Locked", "RunLock", "describe_holder", "holder"]

# `holder` probes with a shared lock held for microseconds; a process that meets only such a probe gets
# the lock on a retry a moment later.
_ATTEMPTS = 5
_PAUSE_S = 0.05


class Locked(UserError):
    """Another process holds the lock; the message names it, ``holder`` is what that process wrote about
    itself (as ``holder()`` returns it), for a caller that reports it in its own words."""

    def __init__(self, message: str, holder: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.holder = holder or {}


class RunLock:
    """The lock of one folder's ``lock_file``; ``acquire`` takes it, ``release`` (or the end of the
    process) frees it. Also a context manager."""

    def __init__(self, lock_file: Path) -> None:
        self.path = Path(lock_file)
        self._file: IO[str] | None = None

    def acquire(self) -> RunLock:
        """Take the lock, or raise ``Locked`` naming the process that holds it (never waits)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            file = open(self.path, "a+")  # noqa: SIM115 - held open for as long as the lock is held
        except OSError as error:
            raise UserError(f"cannot write into {self.path.parent} ({error.strerror or error})") from None
        if not _try_lock(file):
            file.close()
            info = _read(self.path)
            raise Locked(
                f"{self.path.parent} is in use by {describe_holder(info)}: only one process may work in a "
                "run directory; wait for that one to end (or stop it), then run this again",
                info,
            ) from None
        file.seek(0)
        file.truncate()
        holder_info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        file.write(json.dumps(holder_info) + "\n")
        file.flush()
        self._file = file
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the only descriptor releases the flock
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_lock(file: IO[str]) -> bool:
    for attempt in range(_ATTEMPTS):
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < _ATTEMPTS:
                time.sleep(_PAUSE_S)
    return False


def holder(lock_file: Path) -> dict[str, Any] | None:
    """What the process holding ``lock_file`` wrote about itself ({} if nothing yet), or None when no
    process holds it. Probes by locking and at once unlocking, so it never blocks."""
    lock_file = Path(lock_file)
    try:
        file = open(lock_file)  # noqa: SIM115 - closed below
    except OSError:
        return None  # no lock file: nobody has ever locked this folder
    with file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(lock_file)
        fcntl.flock(file.fileno(), fcntl.LOCK_UN)
    return None


def describe_holder(info: dict[str, Any] | None) -> str:
    """E.g. "process 4242 on host gpu-3 (since 2025-01-31T09:12:03+00:00)"."""
    if not info:
        return "another process (which has not written its details yet)"
    return f"process {info.get('pid')} on host {info.get('host')} (since {info.get('started')})"


def _read(lock_file: Path) -> dict[str, Any]:
    try:
        info = json.loads(lock_file.read_text())
    except (OSError, ValueError):
        return {}  # the holder is between taking the lock and writing its details
    return info if isinstance(info, dict) else {}
