"""Which CIFAR-10 is used when none is named (no ``--data-root``, no ``data_root`` in the configuration).

``$ITERAND_CIFAR10`` names a local copy: an archive or folder of class folders, or the folder holding the
official ``cifar-10-batches-py/``. Without it the official dataset is downloaded into the data folder
(``bookkeeping.paths.data_root()``: ``$ITERAND_DATA``, else ``data/`` in the working directory) on first
use. The package knows no machine's folders; the project's Makefile sets the variable when the copy that
sits beside the repository on the project's machines is there.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from bookkeeping.paths import CIFAR10_ENV, data_root

__all__ = ["CIFAR10_ENV", "configured_cifar", "default_cifar_source"]


def configured_cifar() -> str | None:
    """The CIFAR-10 location set in ``$ITERAND_CIFAR10`` (None when unset or empty)."""
    return os.environ.get(CIFAR10_ENV) or None


def default_cifar_source(report: Callable[[str], None] | None = print) -> str:
    """The ``data_root`` to use for CIFAR-10 when none is given: ``$ITERAND_CIFAR10``, else the folder the
    official dataset is downloaded into. ``report`` receives one line saying which (None: silent)."""
    configured = configured_cifar()
    if configured is not None:
        source = configured
        # Whether it is a lossy JPEG copy is found when it is read, and recorded in each run's summary.
        message = f"CIFAR-10: using {source} (from ${CIFAR10_ENV})"
    else:
        source = str(data_root())
        message = (
            f"CIFAR-10: ${CIFAR10_ENV} is not set; using the official dataset in {source}, downloaded there "
            "on first use (needs internet)"
        )
    if report is not None:
        report(message)
    return source
