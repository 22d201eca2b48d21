"""What a training command says on the console, in one place: ``python -m iterand train`` and each
training process of a concurrent sweep (``launcher.child_main``) log the same lines, report a diverged
run the same way and end with the same results."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from iterand.engine.train import TrainingDiverged

EXIT_DIVERGED = 1

__all__ = ["EXIT_DIVERGED", "ConsoleHandler", "log_to_stdout", "print_diverged", "print_results"]


class ConsoleHandler(logging.StreamHandler):
    """Log records to stdout. A closed pipe (``python -m iterand train ... | head -1``) ends the command as
    it ends a ``print``: ``run_command`` exits silently with status 141. Logging's own handling printed a
    traceback per record and trained on. Training logs each epoch after its checkpoint is written, so the
    run stops at a saved state and the same command resumes it."""

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, BrokenPipeError):
            raise error
        super().handleError(record)


def log_to_stdout() -> None:
    """The training log (run directory, one line per epoch) on stdout, message only."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[ConsoleHandler(sys.stdout)])


def print_results(summary: dict[str, Any]) -> None:
    """A finished run's results, the last thing its command prints."""
    print(json.dumps(summary["results"], indent=2))


def print_diverged(error: TrainingDiverged) -> int:
    """Say why the run stopped (its message names the epoch and what to change); the exit status."""
    print(f"error: {error}", file=sys.stderr)
    return EXIT_DIVERGED
