"""SIGTERM and SIGHUP stop a block as Ctrl-C does, once, and the handlers before the block come back; a stop
whose KeyboardInterrupt Python dropped is raised by the next ``raise_pending_stop``."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from dropped_signals import lose_an_interrupt

from bookkeeping.signals import (
    STOP_SIGNALS,
    interrupt_on_sigint,
    raise_pending_stop,
    stop_received,
    stop_signals_as_interrupt,
)


@pytest.mark.parametrize("number", STOP_SIGNALS)
def test_a_stop_signal_interrupts_once_then_the_old_handlers_return(number):
    before = {n: signal.getsignal(n) for n in STOP_SIGNALS}
    with pytest.raises(KeyboardInterrupt), stop_signals_as_interrupt():
        os.kill(os.getpid(), number)
        pytest.fail("the signal did not interrupt the block")
    assert {n: signal.getsignal(n) for n in STOP_SIGNALS} == before
    assert stop_received()  # after the block too: what the stop ended may report its end late


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


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped interrupt
def test_a_dropped_sigint_is_raised_once_by_the_next_check():
    previous = signal.getsignal(signal.SIGINT)
    interrupt_on_sigint()
    try:
        raise_pending_stop()  # nothing pending yet
        lose_an_interrupt(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            raise_pending_stop()
        raise_pending_stop()  # raised once: the process that goes on is not stopped again
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped interrupt
def test_a_block_leaves_no_stop_pending_for_what_runs_after_it():
    # A notebook kernel goes on after a stopped sweep: its next training must not stop at its first step.
    with stop_signals_as_interrupt():
        lose_an_interrupt(signal.SIGTERM)
    try:
        raise_pending_stop()
    except KeyboardInterrupt:
        pytest.fail("the block's stop was still pending after it")
