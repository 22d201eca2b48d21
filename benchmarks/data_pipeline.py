"""Images/s of the on-device CIFAR-10 loaders alone, without a model: the ceiling the data puts on training.

For each training augmentation (``iterand``: pad + RandomResizedCrop + flip; ``standard``: RandomCrop +
flip) it times one epoch's ``set_epoch`` (the epoch's order and augmentation parameters, drawn on the CPU
and copied to the device) and the iteration over the epoch's batches (gather, augment, normalise on the
device); the ``epoch`` column counts both. The evaluation loader (normalisation only) is timed on the test
set. The loaders are those of ``iterand.engine.data.load``, so the numbers are what the Trainer gets.

    python benchmarks/data_pipeline.py --data data/cifar10-jpeg.tar.gz --out data_pipeline.md
    python benchmarks/data_pipeline.py --data synthetic --batches 5 --device cpu    # a quick look
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from train_step import SYNTHETIC, emit, envelope, environment, environment_line, mean_ms

from iterand.engine.config import TrainConfig
from iterand.engine.data import DataBundle, Loader, load
from iterand.engine.data.augment import AUGMENTATIONS
from iterand.engine.distributed import resolve_device


@dataclass(frozen=True)
class Row:
    loader: str
    augmentation: str
    batch: int
    batches: int  # timed per pass
    epoch_batches: int
    set_epoch_ms: float | None
    batch_ms: float

    @property
    def images_per_second(self) -> float:
        return self.batch / (self.batch_ms / 1000)

    @property
    def epoch_images_per_second(self) -> float:
        """A whole epoch's batches plus its set_epoch, per image: what a training epoch can get at most."""
        seconds = (self.epoch_batches * self.batch_ms + (self.set_epoch_ms or 0.0)) / 1000
        return self.batch * self.epoch_batches / seconds


def time_batches(loader: Loader, batches: int, repeats: int, device: torch.device) -> float:
    """Mean ms per batch over ``repeats`` passes of the first ``batches`` batches (after one pass to warm)."""

    def one_pass() -> None:
        for _ in zip(range(batches), loader, strict=False):
            pass

    return mean_ms(one_pass, repeats, 1, device) / batches


def measure_train(data: DataBundle, augmentation: str, args: argparse.Namespace, device: torch.device) -> Row:
    loader = data.train
    batches = min(args.batches or len(loader), len(loader))
    epochs = itertools.count(1)  # a new epoch per call, as in training
    set_epoch_ms = mean_ms(lambda: loader.set_epoch(next(epochs)), args.repeats, 1, device)
    batch_ms = time_batches(loader, batches, args.repeats, device)
    return Row("train", augmentation, args.batch, batches, len(loader), set_epoch_ms, batch_ms)


def measure(args: argparse.Namespace, device: torch.device) -> list[Row]:
    real = args.data != SYNTHETIC
    rows = []
    for augmentation in AUGMENTATIONS:
        config = TrainConfig(
            dataset="cifar10" if real else SYNTHETIC,
            data_root=args.data if real else None,
            augmentation=augmentation,
            batch_size=args.batch,
            eval_batch_size=args.eval_batch,
        )
        data = load(config, device)
        rows.append(measure_train(data, augmentation, args, device))
    # Evaluation batches are only normalised: the same for either augmentation's bundle.
    test_batches = len(data.test)
    test_ms = time_batches(data.test, test_batches, args.repeats, device)
    rows.append(Row("test (eval)", "none", args.eval_batch, test_batches, test_batches, None, test_ms))
    return rows


def table(rows: list[Row], args: argparse.Namespace, env: dict[str, Any]) -> str:
    lines = [
        f"On-device CIFAR loaders on {environment_line(env)}: data {args.data}, mean of {args.repeats} "
        "passes after one warm-up.",
        "",
        "| loader | augmentation | batch | batches timed / epoch | set_epoch ms | ms/batch "
        "| images/s (batches) | images/s (epoch) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        set_epoch = "-" if row.set_epoch_ms is None else f"{row.set_epoch_ms:.1f}"
        lines.append(
            f"| {row.loader} | {row.augmentation} | {row.batch} | {row.batches} / {row.epoch_batches} "
            f"| {set_epoch} "
            f"| {row.batch_ms:.3f} | {row.images_per_second:.0f} | {row.epoch_images_per_second:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=SYNTHETIC, help="a CIFAR-10 location, or 'synthetic'")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--eval-batch", type=int, default=1000)
    parser.add_argument("--batches", type=int, help="train batches timed per pass (default: the epoch)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (and set_epoch calls)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    parser.add_argument("--json", type=Path, help="also write the numbers and the environment as JSON")
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = measure(args, device)
    env = environment(device)
    records = [
        {
            **asdict(row),
            "images_per_second": row.images_per_second,
            "epoch_images_per_second": row.epoch_images_per_second,
        }
        for row in rows
    ]
    emit(table(rows, args, env), envelope("data_pipeline", records, args, env), args)


if __name__ == "__main__":
    main()
