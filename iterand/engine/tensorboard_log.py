"""The per-epoch records as TensorBoard scalars (``TrainConfig.tensorboard``), an optional extra.

The training loop hands each record it appends to ``metrics.jsonl`` to ``TensorBoardLog.write`` as well,
so the two show the same numbers: every number of the record but ``epoch`` becomes a scalar at step
``epoch`` (0-based) in ``<run dir>/tensorboard/`` (``tensorboard --logdir runs/train`` shows all runs).
Losses and accuracies are grouped as ``loss/train``, ``loss/val``, ``accuracy/train``, ``accuracy/val``;
the other keys keep their names. Global rank 0 writes. A resumed run purges the events of the epochs it
trains again, as it truncates ``metrics.jsonl``.

A write the disk refuses raises its ``OSError`` from ``TensorBoardLog`` or ``write`` (TensorBoard writes in a
thread of its own and hands its error to the next flush, which ``write`` does at once), and that thread
stays silent about it: the caller says it once.

``torch.utils.tensorboard`` needs the ``tensorboard`` package, which is not a dependency:
``pip install "iterand[tensorboard]"``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from bookkeeping.errors import InvalidInput

TAGS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "train_acc": "accuracy/train",
    "val_acc": "accuracy/val",
}

__all__ = ["TAGS", "TensorBoardLog", "require_tensorboard"]


def require_tensorboard() -> None:
    """Raise ValueError, saying how to install it, unless TensorBoard's writer can be imported."""
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError as error:
        raise InvalidInput(
            f"tensorboard is true but the TensorBoard package is missing ({error}); install it with "
            "pip install 'iterand[tensorboard]' (or pip install tensorboard), or set tensorboard=false"
        ) from None


class TensorBoardLog:
    """A TensorBoard writer into ``folder`` for a run whose next epoch is ``first_epoch``."""

    def __init__(self, folder: Path, first_epoch: int = 0) -> None:
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self._previous_hook = threading.excepthook
        threading.excepthook = self._quiet_writer_thread
        # purge_step hides the events of a killed attempt from the epoch the run resumes at.
        try:
            self.writer = SummaryWriter(str(folder), purge_step=first_epoch or None)
        except BaseException:
            threading.excepthook = self._previous_hook
            raise

    def write(self, record: dict[str, Any]) -> None:
        """One epoch's record, as appended to ``metrics.jsonl``; flushed at once."""
        for key, value in record.items():
            if key != "epoch" and isinstance(value, int | float) and not isinstance(value, bool):
                self.writer.add_scalar(TAGS.get(key, key), value, record["epoch"])
        self.writer.flush()

    def close(self) -> None:
        """Flush and close; after a refused write, only close: that error is the one to report."""
        try:
            self.writer.close()
        except OSError:
            # close() flushes again what the disk refused (write flushes each record, so nothing else is
            # pending); raised here it would replace the error the run stops with.
            pass
        finally:
            threading.excepthook = self._previous_hook

    def _quiet_writer_thread(self, args: threading.ExceptHookArgs) -> None:
        # TensorBoard's writer thread keeps its OSError for the next flush and re-raises it, which would
        # print a second traceback beside the caller's one line.
        if not (
            isinstance(args.exc_value, OSError) and type(args.thread).__module__.startswith("tensorboard.")
        ):
            self._previous_hook(args)
