"""Stopping as Ctrl-C does, whichever signal says stop.

A terminal's Ctrl-C sends SIGINT; ``kill``, a scheduler or a container's shut-down send SIGTERM; a closed
terminal sends SIGHUP. A process whose work goes on in other processes (``python -m repro``: a notebook's
kernel; a concurrent sweep: training processes in sessions of their own) must stop them on all three:
killed outright, it leaves them running on, holding their run directories.

Python can lose the ``KeyboardInterrupt`` a signal raises: raised while a weakref callback, a ``__del__``
method or another finaliser runs, it is printed as "Exception ignored" and dropped. A training process of a
concurrent sweep, stopped during its imports, lost its SIGINT that way and trained on, orphaned when the
notebook kernel that ran the sweep was shut down. So the handlers here also remember the stop, and a long
loop calls ``raise_pending_stop`` to honour one that was lost.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

__all__ = [
    "STOP_SIGNALS",
    "interrupt_on_sigint",
    "raise_pending_stop",
    "stop_received",
    "stop_signals_as_interrupt",
]

_pending = False  # a stop signal arrived and its KeyboardInterrupt has not been raised by raise_pending_stop
_received = False  # a stop signal arrived in this process; never cleared


def _remember_and_interrupt(signum: int, frame: Any) -> None:
    global _pending, _received
    _pending = _received = True
    raise KeyboardInterrupt


def stop_received() -> bool:
    """Whether a stop signal handled by this module has arrived in this process. Unlike the pending stop,
    it stays true: what the stop ended (a notebook's kernel) may report its end as late as the process's."""
    return _received


def interrupt_on_sigint() -> None:
    """SIGINT raises ``KeyboardInterrupt`` (also where the process inherited it ignored) and is remembered
    for ``raise_pending_stop``. Main thread only, as every ``signal.signal``."""
    signal.signal(signal.SIGINT, _remember_and_interrupt)


def raise_pending_stop() -> None:
    """Raise ``KeyboardInterrupt`` if a stop signal arrived since the last call: cheap enough for every
    training step, and a no-op unless a handler of this module is installed. Where the signal's own
    exception propagated, the process is stopping already and never calls this again."""
    global _pending
    if _pending:
        _pending = False
        raise KeyboardInterrupt


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
        _remember_and_interrupt(signum, frame)

    global _pending
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    for number in STOP_SIGNALS:
        signal.signal(number, interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        # The block's code has dealt with its stop (its loops raised one that was lost): a process that goes
        # on, such as a notebook kernel, must not find it pending in its next training.
        _pending = False
