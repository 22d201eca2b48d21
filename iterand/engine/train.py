"""The training loop: one run of a ``TrainConfig`` in a run directory, resumable at every epoch.

``train(config, run_dir)`` trains, evaluates and writes the files named in ``bookkeeping.paths``;
re-running it with the same config continues from ``checkpoint.pt`` and ends exactly where an
uninterrupted run ends (on the CPU; GPU kernels are not bitwise deterministic).

Epochs are numbered from 0 everywhere: in the console lines ("epoch 0 (1/100) ..."), ``metrics.jsonl``,
``best.pt`` and ``summary.json``'s ``best_epoch``; the console adds how many epochs are done of how many.
Per epoch ``e``:

1. the learning rate ``iterand.engine.optim.learning_rate(config, e)`` is set (constant within the epoch);
2. an epoch-unit weight update is applied if ``update.due(e)``;
3. for each batch, a step-unit weight update is applied if ``update.due(s)`` for the GLOBAL step ``s``
   (never reset per epoch: the first at ``s = period - 1``), then one optimiser step;
4. validation (if ``val_fraction > 0``); ``best.pt`` when validation accuracy improves (strictly);
5. a line of ``metrics.jsonl`` (the same record also to TensorBoard when ``config.tensorboard``,
   ``iterand.engine.tensorboard_log``), then ``checkpoint.pt``.

At the end the test set is evaluated with the last-epoch model (the paper's reported number) and with
the best-validation model, and ``summary.json`` is written: accuracies (percentages), weight counts, and
the size of the last-epoch model as a compact file beside the float32 size of the dense model of the same
architecture (``iterand.engine.compact.sizes``).

No host synchronisation inside the step loop: loss and accuracy sums accumulate on the device and are
read once per epoch. Only a visible progress bar (rank 0, stdout a terminal) reads them more often,
every ``PROGRESS_EVERY`` steps. A non-finite training loss (or trained parameter) is detected from those
once-per-epoch sums: the run stops with ``TrainingDiverged`` without writing that epoch, so the last
checkpoint stays the last good one.

Only the trained parameters change by gradient: the scores of the subnetwork methods, the weights of
"sgd" (``iterand.engine.optim``). bf16 autocast: ``config.amp`` on CUDA, ``config.cpu_amp`` (off by
default) on the CPU. Channels-last memory (``config.channels_last``) on CUDA, and on the CPU where oneDNN
computes it correctly (``uses_channels_last``), where its channels-last convolutions are faster
(``benchmarks/results/train_cpu.md``); it changes only the order of floating-point sums (masks and
re-draws are computed in logical order, pinned by tests). The CPU process keeps freed memory for reuse
(``iterand.engine.cpu_runtime``). Under ``torchrun`` each rank
trains on its shard of every global batch (``iterand.engine.distributed``); only rank 0 reads and
writes the run directory.

One process per run directory: rank 0 holds its lock (``bookkeeping.locks``) from before it reads the
directory until ``train`` returns; a second process gets ``Locked`` naming the first. A run records the
identity of its data (``iterand.engine.data.data_identity``: the dataset and, for CIFAR-10, whether it is
the JPEG copy) and never continues on other data, whatever path the data is read from.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from bookkeeping import provenance, signals
from bookkeeping.errors import UserError
from bookkeeping.files import (
    append_metrics,
    atomic_path,
    cannot_write,
    read_json,
    truncate_metrics,
    write_json,
)
from bookkeeping.locks import RunLock
from bookkeeping.paths import RunFiles, damaged_summary_advice
from iterand.core.accounting import count_weights
from iterand.engine import checkpoint, compact, cpu_runtime, distributed
from iterand.engine.config import (
    TrainConfig,
    check_trainable,
    experiment_differences,
    load_yaml,
    save_yaml,
)
from iterand.engine.factories import build_model, weight_update
from iterand.engine.optim import learning_rate, make_optimizer, set_learning_rate, trained_parameters
from iterand.engine.tensorboard_log import TensorBoardLog, require_tensorboard

if TYPE_CHECKING:
    from iterand.engine.data import DataBundle

CHECKPOINT_FORMAT = 1
# What a resume reads from checkpoint.pt (``_checkpoint_state``), and what the summary reads from best.pt.
RESUME_KEYS = ("format", "config", "progress", "model", "optimizer", "weight_update", "rng")
BEST_KEYS = ("config", "epoch", "val_acc", "model")
SUMMARY_KEYS = ("parameters", "results")
PROGRESS_EVERY = 50  # steps between progress-bar refreshes, each a host synchronisation

log = logging.getLogger(__name__)

__all__ = [
    "ConfigMismatch",
    "Progress",
    "RunInterrupted",
    "Trainer",
    "TrainingDiverged",
    "evaluate",
    "load_data",
    "onednn_unsafe_convolutions",
    "train",
    "train_step",
    "uses_amp",
    "uses_channels_last",
]


class TrainingDiverged(RuntimeError):
    """The training loss (or a trained parameter) became NaN or infinite."""


class ConfigMismatch(UserError):
    """The run directory holds a run of another configuration, or of other data."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``train``; the message says what the run directory keeps and how to resume."""


@dataclasses.dataclass
class Progress:
    """The counters a resumed run continues from (saved in every checkpoint)."""

    epochs_done: int = 0
    global_step: int = 0
    weight_updates: int = 0
    best_epoch: int | None = None
    best_val_acc: float | None = None
    last_val_acc: float | None = None
    train_images: int = 0  # summed over ranks
    train_seconds: float = 0.0  # the step loops only
    epoch_seconds: float = 0.0  # whole epochs, evaluation included


def train(config: TrainConfig, run_dir: str | Path, *, data: DataBundle | None = None) -> dict[str, Any]:
    """Train ``config`` in ``run_dir`` (resuming if it holds a checkpoint) and return the summary.

    ``data`` replaces ``iterand.engine.data.load(config, ...)``: a ``DataBundle`` of your own loaders,
    each an iterable of (images, labels) batches with ``len`` and a ``set_epoch(epoch)`` method
    (``iterand.engine.data.Loader``; wrap a ``DataLoader`` to give it one). Its ``description`` is what the
    run records about its data, so give it one that names the data. Under ``torchrun`` the process group
    is joined here and left at the end.
    """
    ctx = distributed.setup(config.device)
    trainer = None
    try:
        trainer = Trainer(config, run_dir, ctx, data=data)
        return trainer.run()
    except KeyboardInterrupt:
        raise RunInterrupted(_interrupted_message(Path(run_dir), trainer)) from None
    finally:
        if trainer is not None:
            trainer.close()
        distributed.cleanup(ctx)


def _autocast(device: torch.device, amp: bool) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)


def uses_amp(config: TrainConfig, device: torch.device) -> bool:
    """Whether ``config`` trains in bf16 autocast on ``device``: ``amp`` on CUDA, ``cpu_amp`` on the CPU."""
    return config.amp if device.type == "cuda" else config.cpu_amp


# oneDNN's x86 1x1 convolution backward-weights kernel writes past its workspace when the input is
# channels-last, the stride is above 1 and there are fewer input channels than its SIMD block (8 floats
# with AVX2, 16 with AVX-512): the process hangs, crashes, or silently gets wrong weight gradients
# (uxlfoundation/oneDNN#6035, open). Seen here with PyTorch 2.14: ResNet-18 at width 1/16 on AVX2 (a
# 4-channel shortcut), ImageNet-stem ResNet-18 at widths 1/16 and 1/8 on AVX-512. The larger block bounds
# both, so the rule does not depend on which kernel the machine picks.
ONEDNN_STRIDED_1X1_MIN_CHANNELS = 16


def onednn_unsafe_convolutions(model: nn.Module) -> list[str]:
    """Names of ``model``'s convolutions whose channels-last backward oneDNN gets wrong on x86 CPUs:
    1x1 kernel, stride above 1, fewer than ``ONEDNN_STRIDED_1X1_MIN_CHANNELS`` input channels."""
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d)
        and module.kernel_size == (1, 1)
        and module.stride != (1, 1)
        and module.in_channels < ONEDNN_STRIDED_1X1_MIN_CHANNELS
    ]


def uses_channels_last(config: TrainConfig, device: torch.device, model: nn.Module) -> bool:
    """Whether ``config`` trains ``model`` in channels-last memory on ``device``: ``channels_last`` on CUDA,
    and on the CPU unless the model has a convolution oneDNN's channels-last backward gets wrong
    (``onednn_unsafe_convolutions``: narrow ResNets). Channels-last was measured faster on the CPU for
    Conv6 (about 1.3x, ``benchmarks/results/train_cpu.md``)."""
    return config.channels_last and (device.type == "cuda" or not onednn_unsafe_convolutions(model))


def train_step(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    sums: torch.Tensor,
    amp: bool,
) -> None:
    """One optimiser step on a batch; adds (loss * n, correct, n) to ``sums`` on the device, no sync."""
    with _autocast(images.device, amp):
        logits = net(images)
        loss = criterion(logits, labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    sums[0] += loss.detach() * labels.shape[0]
    sums[1] += (logits.detach().argmax(dim=1) == labels).sum()
    sums[2] += labels.shape[0]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    ctx: distributed.Context,
    amp: bool,
    channels_last: bool = False,
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy in %) over every batch of every rank.

    The loss is plain cross-entropy, without the label smoothing training may use.
    """
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=ctx.device)
    for images, labels in batches:
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with _autocast(ctx.device, amp):
            logits = model(images)
        sums[0] += F.cross_entropy(logits.float(), labels, reduction="sum")
        sums[1] += (logits.argmax(dim=1) == labels).sum()
        sums[2] += labels.shape[0]
    loss_sum, correct, count = distributed.all_reduce_sum(sums, ctx).tolist()
    if count == 0:
        raise UserError("cannot evaluate on an empty set: check val_fraction and the dataset size")
    return loss_sum / count, 100.0 * correct / count


def load_data(config: TrainConfig, ctx: distributed.Context) -> DataBundle:
    from iterand.engine.data import load, prepare  # the data stack loads only when a run needs it

    if ctx.distributed:
        # One process per node downloads and decodes into the cache; the others wait, then read it. A
        # failure there (data missing, say) reaches every rank, which all stop with its one line instead
        # of the others dying in a broken collective.
        failure = None
        if ctx.local_rank == 0:
            try:
                prepare(config)
            except UserError as error:
                failure = error
        failures = [error for error in distributed.gather_objects(failure, ctx) if error is not None]
        if failures:
            raise failures[0]
    return load(config, ctx.device, rank=ctx.rank, world_size=ctx.world_size)


class Trainer:
    """One run: the model, its optimiser and weight update, the data, and the run directory.

    ``model`` is the plain module (its state is what checkpoints hold); ``net`` is what the training
    step calls (``model`` wrapped in DDP and/or ``torch.compile`` when asked).
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path,
        ctx: distributed.Context,
        *,
        data: DataBundle | None = None,
    ) -> None:
        check_trainable(config)
        self.config = config = _absolute_data_root(config)
        self.files = RunFiles(Path(run_dir))
        self.ctx = ctx
        if config.tensorboard:
            require_tensorboard()  # on every rank, so that all stop together
        self.lock = RunLock(self.files.lock)
        # The run directory first: a directory in use or of another run is reported before any data is
        # loaded. Rank 0 decides; every rank raises the same error.
        state = distributed.broadcast_object(self._open_run_dir() if ctx.is_main else None, ctx)
        if isinstance(state, BaseException):
            self.close()
            raise state
        saved, self._saved_summary = state
        if self._saved_summary is not None:
            self.epochs_saved = config.epochs
            return  # finished: run() returns the summary, with no data, model or checkpoint needed
        self.epochs_saved = 0 if saved is None else saved["progress"]["epochs_done"]
        try:
            self._build(saved, data)
        except BaseException:
            self.close()  # e.g. a data error, or Ctrl-C while the data loads: the directory is free again
            raise

    def _build(self, saved: dict[str, Any] | None, data: DataBundle | None) -> None:
        config, ctx = self.config, self.ctx
        on_gpu = ctx.device.type == "cuda"
        self.amp = uses_amp(config, ctx.device)
        if on_gpu:
            torch.backends.cudnn.benchmark = True
            torch.set_float32_matmul_precision("high")
        else:
            cpu_runtime.keep_freed_memory()  # no page faults per step (see there)
            self.threads_lowered_from = cpu_runtime.fit_threads()
        torch.manual_seed(config.seed)
        self.data = data if data is not None else load_data(config, ctx)
        if saved is not None:
            _check_same_data(saved.get("data"), self._data_identity(), self.files.checkpoint)
        self.model = build_model(config, self.data.num_classes).to(ctx.device)
        self.channels_last = uses_channels_last(config, ctx.device, self.model)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.net = distributed.wrap(self.model, ctx)
        if config.compile:
            self.net = torch.compile(self.net)
        self.optimizer = make_optimizer(config, self.model)
        self.update = weight_update(config)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.progress = Progress()
        if saved is not None:
            self._restore(saved)
        self.show_bar = ctx.is_main and sys.stdout.isatty()
        self.tensorboard: TensorBoardLog | None = None

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Train the remaining epochs, evaluate on the test set, write and return the summary.

        A run whose summary is already written returns that summary without training again.
        """
        if self._saved_summary is not None:
            return self._saved_summary
        progress = self.progress
        if self.ctx.is_main:
            with self._writing("the metrics", self.files.metrics):
                lost = truncate_metrics(self.files.metrics, progress.epochs_done)
            if lost:
                log.warning(
                    "%s has no record of epoch%s %s of the %d done (deleted or edited): their training "
                    "curves are lost; the run goes on, and its results are unaffected",
                    self.files.metrics,
                    "s" if len(lost) > 1 else "",
                    ", ".join(map(str, lost)),
                    progress.epochs_done,
                )
            if not self.files.config.is_file():
                with (
                    self._writing("the configuration", self.files.config),
                    atomic_path(self.files.config) as tmp,
                ):
                    save_yaml(self.config, tmp)
            log.info(
                "run directory %s (%d of %d epochs done)",
                self.files.root,
                progress.epochs_done,
                self.config.epochs,
            )
            if self.ctx.device.type == "cpu":
                lowered = self.threads_lowered_from
                log.info(
                    "CPU: %d threads%s, %d cores available, %s=%s; %s",
                    torch.get_num_threads(),
                    "" if lowered is None else f" (PyTorch's default, {lowered}, lowered to the cores)",
                    cpu_runtime.available_cores(),
                    cpu_runtime.WAIT_POLICY,
                    os.environ.get(cpu_runtime.WAIT_POLICY, "unset"),
                    cpu_runtime.cpu_description(),
                )
            if self.config.tensorboard:
                with self._writing("the TensorBoard record", self.files.tensorboard):
                    self.tensorboard = TensorBoardLog(self.files.tensorboard, progress.epochs_done)
        try:
            for epoch in range(progress.epochs_done, self.config.epochs):
                self._epoch(epoch)
        finally:
            if self.tensorboard is not None:
                self.tensorboard.close()
        summary = self._finish()
        distributed.barrier(self.ctx)
        return summary

    def close(self) -> None:
        """Release the run directory (the end of the process does too)."""
        self.lock.release()

    def _open_run_dir(self) -> UserError | tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Lock the run directory and read it: (checkpoint or None, summary or None), or the error that
        stops the run (the directory is in use, holds another run, or an unreadable checkpoint or summary).

        A written summary means the run is finished, whatever else the directory still holds: its
        checkpoint is then not read (it may have been deleted to save space), so a finished run is never
        trained again and its metrics are never truncated."""
        try:
            self.lock.acquire()
            saved_configs = []
            if self.files.config.is_file():
                saved_configs.append((self.files.config, load_yaml(self.files.config)))
            summary = self._read_summary() if self.files.summary.is_file() else None
            saved = None
            if summary is not None:
                saved_configs.append((self.files.summary, _summary_config(summary, self.files)))
            elif self.files.checkpoint.is_file():
                saved = self._read_checkpoint()
                saved_configs.append((self.files.checkpoint, TrainConfig.from_dict(saved["config"])))
                self._check_best(saved["progress"].get("best_epoch"))
            for path, other in saved_configs:
                message = _mismatch(other, self.config, path)
                if message:
                    raise ConfigMismatch(message)
        except UserError as error:
            return error
        return saved, summary

    def _check_best(self, best_epoch: int | None) -> None:
        """Refuse to resume without a readable best-validation model where the checkpoint counts on one:
        read only after the last epoch, a missing or damaged file would cost every remaining epoch (and
        again at each resume)."""
        if best_epoch is None:
            return
        remedy = f"restore it, or delete {self.files.checkpoint.name} to train the run again from the start"
        if not self.files.best.is_file():
            raise checkpoint.CheckpointError(
                f"{self.files.best} is missing, although {self.files.checkpoint.name} records epoch "
                f"{best_epoch} as the best so far: {remedy}"
            )
        # Its epoch may be later than the one recorded: a run stopped between writing best.pt and the
        # checkpoint of that epoch trains the epoch again and rewrites it.
        checkpoint.load_holding(self.files.best, BEST_KEYS, "best model of this run", remedy)

    def _read_summary(self) -> dict[str, Any]:
        try:
            summary = read_json(self.files.summary)
        except (OSError, ValueError) as error:
            raise UserError(
                f"{self.files.summary} is unreadable ({error}); the run's results are in it: "
                f"{damaged_summary_advice(self.files)}"
            ) from None
        missing = [key for key in SUMMARY_KEYS if not isinstance(summary, dict) or key not in summary]
        if missing:
            raise UserError(
                f"{self.files.summary} lacks {', '.join(missing)}, so it is no run summary this code reads: "
                f"{damaged_summary_advice(self.files)}"
            )
        return summary

    def _read_checkpoint(self) -> dict[str, Any]:
        return checkpoint.load_holding(
            self.files.checkpoint,
            RESUME_KEYS,
            f"checkpoint to resume from ({self.files.best.name} or an exported model copied over it?)",
            "the run cannot resume from it: restore the file, or delete it to train the run again from the "
            "start",
        )

    def _restore(self, saved: dict[str, Any]) -> None:
        if saved.get("format") != CHECKPOINT_FORMAT:
            raise checkpoint.CheckpointError(
                f"{self.files.checkpoint} has format {saved.get('format')!r}, this code reads "
                f"{CHECKPOINT_FORMAT}: start a new run directory"
            )
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        if self.update is not None:
            self.update.load_state_dict(saved["weight_update"])
        checkpoint.restore_rng_states(saved["rng"])
        self.progress = Progress(**saved["progress"])
        saved_world = saved.get("world_size", self.ctx.world_size)  # older checkpoints did not record it
        if saved_world != self.ctx.world_size and self.ctx.is_main:
            log.warning(
                "resuming %s, saved by %d process(es), with %d: every global batch holds the same examples, "
                "but each process takes another share of it and draws its own augmentations",
                self.files.checkpoint,
                saved_world,
                self.ctx.world_size,
            )

    def _data_identity(self) -> dict[str, Any]:
        from iterand.engine.data import data_identity  # loaded already, unless the caller gave the data

        return data_identity(self.data.description)

    def _checkpoint_state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "data": self._data_identity(),
            "progress": dataclasses.asdict(self.progress),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "weight_update": None if self.update is None else self.update.state_dict(),
            "rng": checkpoint.rng_states(),
            "world_size": self.ctx.world_size,
        }

    # -- one epoch -------------------------------------------------------------------------------

    def _epoch(self, epoch: int) -> None:
        config, progress = self.config, self.progress
        started = time.perf_counter()
        lr = learning_rate(config, epoch)
        set_learning_rate(self.optimizer, lr)
        if self.update is not None and self.update.unit == "epoch" and self.update.due(epoch):
            self._apply_update()
        train_loss, train_acc, images, seconds = self._train_loop(epoch)
        val_loss = val_acc = None
        if config.val_fraction > 0:
            distributed.sync_buffers(self.model, self.ctx)
            val_loss, val_acc = self._evaluate(self.data.val)
        progress.epochs_done = epoch + 1
        progress.last_val_acc = val_acc
        progress.train_images += images
        progress.train_seconds += seconds
        improved = val_acc is not None and (progress.best_val_acc is None or val_acc > progress.best_val_acc)
        if improved:
            progress.best_epoch, progress.best_val_acc = epoch, val_acc
        epoch_seconds = time.perf_counter() - started
        progress.epoch_seconds += epoch_seconds
        record = {
            "epoch": epoch,
            "lr": lr,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "images_per_second": images / seconds,
            "seconds": epoch_seconds,
            "global_step": progress.global_step,
            "weight_updates": progress.weight_updates,
        }
        if self.ctx.is_main:
            if improved:
                self._save(self.files.best, self._best_state(epoch, val_acc))
            with self._writing(f"the metrics of epoch {epoch} to", self.files.metrics):
                append_metrics(self.files.metrics, record)
            if self.tensorboard is not None:
                with self._writing(f"the TensorBoard record of epoch {epoch} to", self.files.tensorboard):
                    self.tensorboard.write(record)
            self._save(self.files.checkpoint, self._checkpoint_state())
            log.info(_epoch_line(record, config.epochs))
        self.epochs_saved = progress.epochs_done

    def _save(self, path: Path, state: dict[str, Any]) -> None:
        try:
            checkpoint.save(path, state)
        except checkpoint.CheckpointError as error:
            raise checkpoint.CheckpointError(self._refused(str(error))) from None

    @contextmanager
    def _writing(self, what: str, path: Path) -> Iterator[None]:
        """A run file the disk refuses to write (full, say) stops the run in one line, as checkpoints do."""
        try:
            yield
        except OSError as error:
            raise UserError(self._refused(cannot_write(what, path, error))) from None

    def _refused(self, message: str) -> str:
        """``message`` (a write the disk refused), then what the run directory keeps and how to go on.

        Every file is written so that the same command can continue: whole files atomically, and a torn
        metrics line is dropped when the run resumes (``truncate_metrics``)."""
        done, epochs = self.epochs_saved, self.config.epochs
        then = _what_the_same_command_does(done, epochs)
        return (
            f"{message}; {self.files.root} keeps {done} of {epochs} epochs, and the same command {then} "
            "once the file can be written"
        )

    def _train_loop(self, epoch: int) -> tuple[float, float, int, float]:
        """Train one epoch; (mean loss, accuracy %, images over all ranks, seconds)."""
        loader, update = self.data.train, self.update
        step_update = update is not None and update.unit == "step"
        loader.set_epoch(epoch)
        self.net.train()
        sums = torch.zeros(3, dtype=torch.float64, device=self.ctx.device)
        bar = tqdm(
            total=len(loader), desc=f"epoch {epoch}", leave=False, disable=not self.show_bar, file=sys.stdout
        )
        started = time.perf_counter()
        for images, labels in loader:
            signals.raise_pending_stop()
            if step_update and update.due(self.progress.global_step):
                self._apply_update()
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            train_step(self.net, self.optimizer, self.criterion, images, labels, sums, self.amp)
            self.progress.global_step += 1
            bar.update()
            if self.show_bar and bar.n % PROGRESS_EVERY == 0:
                bar.set_postfix_str(_bar_text(sums, time.perf_counter() - started))
        bar.close()
        finite = torch.stack([p.detach().isfinite().all() for p in trained_parameters(self.model)]).all()
        totals = torch.cat([sums, (~finite).to(sums.dtype).unsqueeze(0)])
        loss_sum, correct, count, non_finite = distributed.all_reduce_sum(totals, self.ctx).tolist()
        seconds = time.perf_counter() - started
        if count == 0:
            raise UserError(f"the training loader yielded no batch in epoch {epoch}: is the dataset empty?")
        loss = loss_sum / count
        if not math.isfinite(loss) or non_finite:
            raise TrainingDiverged(self._diverged_message(epoch, loss))
        return loss, 100.0 * correct / count, int(count), seconds

    def _diverged_message(self, epoch: int, loss: float) -> str:
        done = self.progress.epochs_done
        kept = (
            f"the last good checkpoint {self.files.checkpoint} ({done} epoch(s) done) is kept"
            if done
            else "no checkpoint was written (the first epoch diverged)"
        )
        return (
            f"training diverged in epoch {epoch}: mean training loss {loss}, or a trained parameter is "
            f"NaN/inf; {kept}. Try a lower {_lr_field(self.config, epoch)} or another seed."
        )

    def _apply_update(self) -> None:
        self.update.apply(self.model)
        self.progress.weight_updates += 1

    def _evaluate(self, loader: Any, model: nn.Module | None = None) -> tuple[float, float]:
        # The plain module, not DDP: ranks may hold different numbers of evaluation batches.
        return evaluate(model or self.model, loader, self.ctx, self.amp, self.channels_last)

    def _best_state(self, epoch: int, val_acc: float) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "epoch": epoch,
            "val_acc": val_acc,
            "model": self.model.state_dict(),
            "weight_update": None if self.update is None else self.update.state_dict(),  # IteRand's record
        }

    # -- the end ---------------------------------------------------------------------------------

    def _finish(self) -> dict[str, Any]:
        config, progress = self.config, self.progress
        distributed.sync_buffers(self.model, self.ctx)
        test_loss, test_acc = self._evaluate(self.data.test)
        last_metrics = {"test_loss_last": test_loss, "test_acc_last": test_acc}
        best_metrics: dict[str, Any] = dict.fromkeys(
            ("best_epoch", "val_acc_best", "test_loss_best", "test_acc_best")
        )
        if progress.best_epoch is not None:
            best = distributed.broadcast_object(
                checkpoint.load(self.files.best) if self.ctx.is_main else None, self.ctx
            )
            best_model = copy.deepcopy(self.model)
            best_model.load_state_dict(best["model"])
            best_test_loss, best_test_acc = self._evaluate(self.data.test, best_model)
            best_metrics = {
                "best_epoch": best["epoch"],
                "val_acc_best": best["val_acc"],
                "test_loss_best": best_test_loss,
                "test_acc_best": best_test_acc,
            }
        counts = count_weights(self.model)
        results = {
            "epochs": config.epochs,
            "global_steps": progress.global_step,
            "weight_updates": progress.weight_updates,
            **last_metrics,
            "val_acc_last": progress.last_val_acc,
            **best_metrics,
            "weights_total": counts.total,
            "weights_kept": counts.kept,
            **compact.sizes(
                self.model,
                config,
                self.data.num_classes,
                None if self.update is None else self.update.state_dict(),
            ),
            "train_seconds": progress.train_seconds,
            "wall_seconds": progress.epoch_seconds,
            "images_per_second": progress.train_images / progress.train_seconds,
        }
        summary = provenance.collect(
            config.to_dict(),
            config.seed,
            run_name=self.files.root.name,
            results=results,
            device=_device_name(self.ctx.device),
            world_size=self.ctx.world_size,
            cpu=cpu_runtime.cpu_description(),
            cpu_threads=torch.get_num_threads(),
            torch=torch.__version__,
            data=self.data.description,
        )
        if self.ctx.is_main:
            with self._writing("the summary", self.files.summary):
                write_json(self.files.summary, summary)
            best_text = (
                "no validation set"
                if best_metrics["test_acc_best"] is None
                else f"{best_metrics['test_acc_best']:.2f}% with the model of the best validation epoch, "
                f"{best_metrics['best_epoch']}"
            )
            log.info("test accuracy %.2f%% with the last epoch's model; %s", test_acc, best_text)
        return summary


def _lr_field(config: TrainConfig, epoch: int) -> str:
    """The field that set epoch ``epoch``'s learning rate, with its value (``iterand.engine.optim``)."""
    if epoch >= config.epochs - config.finetune_epochs:
        return f"finetune_lr (now {config.finetune_lr}; epoch {epoch} is a fine-tuning epoch)"
    return f"lr (now {config.lr})"


def _check_same_data(saved: dict[str, Any] | None, current: dict[str, Any], path: Path) -> None:
    # Checkpoints written before runs recorded their data carry none: nothing to compare.
    if saved is not None and saved != current:
        raise ConfigMismatch(
            f"the run in {path.parent} was trained on other data than this ({path.name} records {saved}, "
            f"the data given now is {current}); give the data it was trained on (--data-root), or another "
            "--out to train a new run on this data"
        )


def _what_the_same_command_does(done: int, epochs: int) -> str:
    # Every epoch saved: only the test evaluation and the summary are left.
    return "finishes the run without training again" if done == epochs else "resumes from there"


def _interrupted_message(run_dir: Path, trainer: Trainer | None) -> str:
    if trainer is None:
        return f"interrupted before training started: {run_dir} is as it was; the same command starts again"
    if trainer.epochs_saved == 0:
        return f"interrupted before a first epoch was saved in {run_dir}; the same command starts the run"
    done, epochs = trainer.epochs_saved, trainer.config.epochs
    then = _what_the_same_command_does(done, epochs)
    return (
        f"interrupted: {run_dir} keeps {done} of {epochs} epochs "
        f"({trainer.files.checkpoint.name}); the same command {then}"
    )


def _absolute_data_root(config: TrainConfig) -> TrainConfig:
    """``config`` with a relative ``data_root`` made absolute: saved as typed, it would name another place
    for ``eval`` run from another directory."""
    if config.data_root is None or Path(config.data_root).expanduser().is_absolute():
        return config
    return config.replace(data_root=str(Path(config.data_root).resolve()))


def _summary_config(summary: dict[str, Any], files: RunFiles) -> TrainConfig:
    try:
        return TrainConfig.from_dict(summary["parameters"])
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(
            f"{files.summary} does not hold a run summary this code reads ({error}): "
            f"{damaged_summary_advice(files)}"
        ) from None


def _mismatch(saved: TrainConfig, requested: TrainConfig, path: Path) -> str | None:
    """A message naming the differing fields, if ``saved`` is another experiment than ``requested``."""
    details = experiment_differences(saved, requested)
    if details is None:
        return None
    return (
        f"the run directory {path.parent} holds a run of another configuration ({path.name} differs in "
        f"{details}); choose another --out or remove that directory"
    )


def _bar_text(sums: torch.Tensor, seconds: float) -> str:
    loss_sum, correct, count = sums.tolist()
    return f"loss {loss_sum / count:.4f} acc {100 * correct / count:.2f}% {count / seconds:.0f} img/s"


def _epoch_line(record: dict[str, Any], epochs: int) -> str:
    val = "" if record["val_acc"] is None else f" val acc {record['val_acc']:.2f}%"
    return (
        f"epoch {record['epoch']} ({record['epoch'] + 1}/{epochs}) lr {record['lr']:.4g} "
        f"loss {record['train_loss']:.4f} "
        f"acc {record['train_acc']:.2f}%{val} {record['images_per_second']:.0f} img/s "
        f"{record['seconds']:.1f}s"
    )


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
