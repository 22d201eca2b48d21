"""A stop signal whose ``KeyboardInterrupt`` Python drops, as it does for one raised in a weakref callback
(shared by the signal-handling and training tests)."""

from __future__ import annotations

import signal
import weakref


def lose_an_interrupt(number: int) -> None:
    """Run the handler installed for ``number`` where Python drops its exception: in a weakref callback.
    Prints "Exception ignored ... KeyboardInterrupt" (pytest turns it into a warning) and raises nothing."""

    class Garbage:
        pass

    garbage = Garbage()
    handler = signal.getsignal(number)
    dropped = weakref.ref(garbage, lambda ref: handler(number, None))  # noqa: F841
    del garbage
