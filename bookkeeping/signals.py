"""Stopping as Ctrl-C does, whichever signal says stop.

A terminal's Ctrl-C sends SIGINT; ``kill``, a scheduler or a container's shut-down send SIGTERM; a closed
terminal sends SIGHUP. A process whose work goes on in other processes (``python -m repro``: a notebook's
kernel; a concurrent sweep: training processes in sessions of their own) must stop them on all three:
killed outright, it leaves them running on, holding their run directories.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

__all__ = ["STOP_SIGNALS", "stop_signals_as_interrupt"]


@contextmanager
def stop_signals_as_interrupt() -> Iterator[None]:
    """Within the block, the first SIGINT, SIGTERM or SIGHUP raises ``KeyboardInterrupt`` and later ones
    are ignored, so that a second signal cannot cut short the stopping the first one began. The previous
    handlers come back when the block ends. Python handles signals in the main thread only: elsewhere the
    block changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        for number in STOP_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    for number in STOP_SIGNALS:
        signal.signal(number, interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
