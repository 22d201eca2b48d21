"""Errors a user can act on, and how every command line of the project reports what ends it.

``UserError`` is the one base class of the errors whose message alone tells a user what to do: which
field, file or folder is wrong, what is allowed, where the program looked. ``InvalidInput`` is the
``UserError`` of a value outside what is allowed; it is also a ``ValueError``, so library callers that
catch ``ValueError`` for bad arguments keep working.

``run_command`` is how ``python -m theory``, ``python -m repro`` and ``python -m iterand`` end, and
``CommandParser`` is the argument parser of all three (a usage error is one line too):

- a ``UserError``: one line ``error: MESSAGE`` on stderr, status 2;
- Ctrl-C (``KeyboardInterrupt``): one line, the exception's message when it has one (a training run
  says where it can be resumed from), status 130;
- a closed output pipe (``... | head``): silent, status 141 (what a process killed by SIGPIPE reports);
- memory refused (``MemoryError``: numpy asked for an array of the sizes given, say a theory experiment's
  ``inputs``): one line with what was asked for, status 2; the sizes are the user's to lower;
- anything else is a bug, or a failure the program cannot explain: its traceback is kept.

Warnings (``warnings.warn``: say, a figure's chosen width without runs) are one line ``warning: MESSAGE``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from typing import NoReturn

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a process ended by Ctrl-C
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_USER_ERROR",
    "CommandParser",
    "InvalidInput",
    "UserError",
    "run_command",
]


class UserError(Exception):
    """An error the user can act on; its message names what is wrong and what to do."""


class InvalidInput(UserError, ValueError):
    """A value (argument, field, parameter) outside what is allowed; the message names it."""


def run_command(command: Callable[[], int | None]) -> int:
    """Run ``command`` (a command line's body) and return its exit status, reporting as the module says."""
    warnings.formatwarning = _warning_line
    try:
        return command() or 0
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except MemoryError as error:
        # Raised where a size the user gave meets the allocator, far from the parameter that set it.
        print(
            f"error: out of memory: {error or 'an allocation failed'}; lower the sizes asked for",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    except KeyboardInterrupt as error:
        print(str(error) or "interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away: nothing more can be said to it. Point stdout at /dev/null so that the
        # interpreter's final flush does not raise (and print) the same error again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_CLOSED_PIPE


class CommandParser(argparse.ArgumentParser):
    """argparse's parser with a usage error said as every other error: one line ``error: MESSAGE (see
    PROG --help)``, status 2, not argparse's usage block above the message. Pass it as ``parser_class``
    to ``add_subparsers`` too: each subcommand's parser reports its own errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"error: {message} (see {self.prog} --help)\n")


def _warning_line(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line=None
) -> str:
    # A warning of a command line is said to its user: one line, not the source location that raised it.
    return f"warning: {message}\n"
