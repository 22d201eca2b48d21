"""``python -m iterand`` and the ``iterand`` command: see ``iterand.experiments.cli`` for the commands (one
GPU, torchrun, multi-node)."""

import sys

from bookkeeping import signals
from bookkeeping.errors import EXIT_INTERRUPTED


def main() -> int:
    # A process started in the background by a non-interactive shell inherits SIGINT ignored; a concurrent
    # sweep stops its training processes with SIGINT all the same, so it must always mean "save and stop",
    # even where Python drops the KeyboardInterrupt (the training loop then raises it at its next step).
    signals.interrupt_on_sigint()
    try:
        from iterand.experiments.cli import main as command_line
    except KeyboardInterrupt:
        # Importing torch takes seconds; a Ctrl-C (or a stopping sweep's SIGINT) then ends in one line too.
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return command_line()


if __name__ == "__main__":
    sys.exit(main())
