"""Which CIFAR-10 a notebook or sweep uses when none is named.

The project's machines keep a JPEG copy of CIFAR-10 beside the repository (``../shared/data``). When it
is there it is used, because it needs no internet; elsewhere the official dataset is downloaded into
``default_data_root()`` (``data/`` in the repository) on first use. Either way the choice is announced,
since numbers from the JPEG copy are not on the published test images.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bookkeeping.paths import REPO_ROOT

SHARED_CIFAR_COPY = REPO_ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"

__all__ = ["SHARED_CIFAR_COPY", "default_cifar_source"]


def default_cifar_source(
    report: Callable[[str], None] | None = print, shared_copy: Path = SHARED_CIFAR_COPY
) -> str:
    """The ``data_root`` to use for CIFAR-10: ``shared_copy`` if that file exists, else the download folder.

    ``report`` receives one line saying which source was chosen (None: silent).
    """
    # Imported here: this module is imported by the package's __init__, which defines default_data_root.
    from iterand.engine.data import default_data_root

    if Path(shared_copy).is_file():
        source = str(shared_copy)
        message = (
            f"CIFAR-10: using the JPEG copy {source} found beside the repository (a lossy re-encoding: "
            "accuracies can differ slightly from the official data)"
        )
    else:
        source = str(default_data_root())
        message = (
            f"CIFAR-10: no copy at {shared_copy}; using the official dataset in {source}, downloaded there "
            "on first use (needs internet)"
        )
    if report is not None:
        report(message)
    return source
