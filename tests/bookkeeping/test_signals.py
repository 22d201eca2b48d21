"""SIGTERM and SIGHUP stop a block as Ctrl-C does, once, and the handlers before the block come back."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from bookkeeping.signals import STOP_SIGNALS, stop_signals_as_interrupt


@pytest.mark.parametrize("number", STOP_SIGNALS)
def test_a_stop_signal_interrupts_once_then_the_old_handlers_return(number):
    before = {n: signal.getsignal(n) for n in STOP_SIGNALS}
    with pytest.raises(KeyboardInterrupt), stop_signals_as_interrupt():
        os.kill(os.getpid(), number)
        pytest.fail("the signal did not interrupt the block")
    assert {n: signal.getsignal(n) for n in STOP_SIGNALS} == before


def test_a_second_signal_does_not_cut_short_the_stopping():
    stopped = []
    with stop_signals_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except KeyboardInterrupt:
            os.kill(os.getpid(), signal.SIGINT)  # ignored: the stopping goes on to its end
            stopped.append(True)
    assert stopped == [True]


def test_outside_the_main_thread_the_block_changes_no_handler():
    before = {n: signal.getsignal(n) for n in STOP_SIGNALS}
    seen = []

    def inside() -> None:
        with stop_signals_as_interrupt():
            seen.append({n: signal.getsignal(n) for n in STOP_SIGNALS})

    thread = threading.Thread(target=inside)
    thread.start()
    thread.join()
    assert seen == [before]
