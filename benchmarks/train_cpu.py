"""CPU training speed: images/s of the training step alone and of whole epochs with data, per thread count.

Rows: each model x method x thread count (``--threads 1,2``), each number the min / median / max over
``--repeats`` (3) repetitions, measured the way the Trainer trains on the CPU (``iterand.engine.train``):
the config's channels-last memory, freed memory kept (``iterand.engine.cpu_runtime``), the preset's
settings. ``--without channels_last,keep_memory`` leaves out the two CPU changes that are settings
(contiguous memory, glibc's default malloc), one at a time or both; freed memory, once kept, is kept for
the whole process, so each setting is its own invocation. The later changes are exact rewrites with no
switch (mask selection, pool order, crop), so the code as it was before all the CPU work is measured
from a checkout of commit de07172 with ``--without channels_last,keep_memory``.

- ``step``: ``--steps`` training steps on one fixed batch (no data pipeline), after ``--warmup``; IteRand
  adds its re-randomisation once per ``period`` steps, measured apart and amortised, as the epoch does.
- ``epoch``: one whole epoch through ``iterand.engine.train.train`` (the training loop on the device-resident
  loader with its augmentation, IteRand's re-draws, then the validation pass), in a temporary run
  directory: ``train img/s`` is the training loop's rate, ``epoch s`` the epoch with its validation (the
  numbers of ``metrics.jsonl``). Models listed in ``--per-iteration`` (ResNet-18 by default: an epoch is
  many minutes on two cores) get ``--iteration-steps`` loader-fed steps instead of an epoch (and fewer
  fixed-batch steps), and no ``epoch s``.

``others %`` is the CPU time other processes used while the row was measured, in % of the cores this
process may use (from ``/proc/stat``): the load the numbers were measured under. The CPU is often
shared; measure when it is near 0 and say so.

``OMP_WAIT_POLICY`` is as set in the environment (libgomp's default when unset; the table says which).

    python benchmarks/train_cpu.py --data ../shared/data/cifar10-jpeg.tar.gz --out results/train_cpu.md
    python benchmarks/train_cpu.py --data synthetic --models conv6 --threads 1 --repeats 1 --steps 2 \\
        --warmup 1 --per-iteration conv6 --iteration-steps 2 --iteration-warmup 1      # a quick look
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from train_step import SYNTHETIC, emit, envelope, fixed_batches, loader_batches

from bookkeeping.files import read_metrics
from iterand.engine import cpu_runtime
from iterand.engine.config import TrainConfig
from iterand.engine.data import DataBundle, load
from iterand.engine.factories import build_model, weight_update
from iterand.engine.optim import make_optimizer
from iterand.engine.train import train, train_step, uses_amp, uses_channels_last
from iterand.experiments import presets

CPU = torch.device("cpu")
WIDTHS = {"conv6": 0.25, "resnet18": 1.0}
METHODS = ("edgepopup", "iterand")
WITHOUT = ("channels_last", "keep_memory")


@dataclass(frozen=True)
class Row:
    model: str
    width: float
    method: str
    threads: int
    step: list[float]  # images/s per repeat, fixed batch
    data: list[float]  # images/s per repeat: the epoch's training loop, or loader-fed steps
    epoch_seconds: list[float] | None  # per repeat, the epoch with validation (None: per-iteration rows)
    others: float  # % of the cores used by other processes meanwhile


class OtherLoad:
    """CPU time of other processes over a block, as % of this process's cores (None off Linux)."""

    def __enter__(self) -> OtherLoad:
        self.start = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        self.end = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        except OSError:
            return None
        busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return busy, usage.ru_utime + usage.ru_stime, time.monotonic()

    @property
    def percent(self) -> float:
        if self.start is None or self.end is None:
            return float("nan")
        busy, own, wall = (b - a for a, b in zip(self.start, self.end, strict=True))
        return max(0.0, 100 * (busy - own) / (wall * cpu_runtime.available_cores()))


def preset_config(model: str, method: str, args: argparse.Namespace) -> TrainConfig:
    """The Fig. 2 signed-constant preset of ``model`` and ``method`` on the CPU, one epoch."""
    config = presets.get(f"fig2-{model}-sc-{method}")
    real = args.data != SYNTHETIC
    return config.replace(
        width=WIDTHS[model],
        device="cpu",
        epochs=1,
        dataset="cifar10" if real else SYNTHETIC,
        data_root=args.data if real else None,
        channels_last="channels_last" not in args.without,
    )


def step_rate(config: TrainConfig, batches: Iterator[tuple], steps: int, warmup: int) -> float:
    """Images/s of ``steps`` training steps (after ``warmup``) on ``batches``, re-draws amortised."""
    torch.manual_seed(config.seed)
    model = build_model(config, 10)
    memory_format = torch.channels_last if uses_channels_last(config, CPU, model) else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = make_optimizer(config, model)
    criterion = nn.CrossEntropyLoss()
    sums = torch.zeros(3, dtype=torch.float64)
    model.train()
    amp = uses_amp(config, CPU)

    def step() -> None:
        images, labels = next(batches)
        train_step(model, optimizer, criterion, images, labels, sums, amp)

    seconds = _seconds(step, steps, warmup) / steps
    update = weight_update(config)
    if update is not None and update.unit == "step":
        seconds += _seconds(lambda: update.apply(model), 1, 0) / update.period
    return config.batch_size / seconds


def _seconds(call: Callable[[], None], repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        call()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return time.perf_counter() - start


def epoch_rates(config: TrainConfig, data: DataBundle) -> tuple[float, float]:
    """(training-loop images/s, epoch seconds with validation) of one epoch through ``train``."""
    with tempfile.TemporaryDirectory(prefix="train-cpu-") as folder:
        train(config, folder, data=data)
        (record,) = read_metrics(Path(folder) / "metrics.jsonl")
    return record["images_per_second"], record["seconds"]


def measure(model: str, method: str, threads: int, data: DataBundle, args: argparse.Namespace) -> Row:
    torch.set_num_threads(threads)
    config = preset_config(model, method, args)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    per_iteration = model in args.per_iteration
    steps, warmup = (
        (args.iteration_steps, args.iteration_warmup) if per_iteration else (args.steps, args.warmup)
    )
    step, rates, seconds = [], [], []
    with OtherLoad() as load_meter:
        for _ in range(args.repeats):
            fixed = fixed_batches(model, config.batch_size, CPU, memory_format)
            step.append(step_rate(config, fixed, steps, warmup))
            if per_iteration:
                rates.append(step_rate(config, loader_batches(data, memory_format), steps, warmup))
            else:
                rate, epoch_seconds = epoch_rates(config, data)
                rates.append(rate)
                seconds.append(epoch_seconds)
    width = WIDTHS[model]
    return Row(
        model, width, method, threads, step, rates, None if per_iteration else seconds, load_meter.percent
    )


def spread(values: list[float], digits: int = 0) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{low:,.{digits}f} / {mid:,.{digits}f} / {high:,.{digits}f}"


def environment(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "machine": cpu_runtime.cpu_description(),
        "cores_available": cpu_runtime.available_cores(),
        "torch": torch.__version__,
        "omp_wait_policy": os.environ.get(cpu_runtime.WAIT_POLICY, "unset (libgomp's default)"),
        "settings": _settings(args),
        "python": sys.version.split()[0],
    }


def table(rows: list[Row], args: argparse.Namespace, env: dict[str, Any]) -> str:
    per_iteration = ", ".join(args.per_iteration) or "none"
    header = [
        f"CPU training on {env['machine']} ({env['cores_available']} cores available), torch {env['torch']},",
        f"OMP_WAIT_POLICY={env['omp_wait_policy']}, threads set with torch.set_num_threads. Presets",
        f"fig2-<model>-sc-<method> (batch 128, p = 0.5), data {args.data}, {_settings(args)}.",
        f"Each cell: min / median / max over {args.repeats} repeats. step: {args.steps} steps on one fixed",
        f"batch after {args.warmup}, IteRand's re-draw amortised over its period. epoch: one epoch through",
        "iterand.engine.train.train (loader, augmentation, re-draws); epoch s adds validation on 5,000",
        "images.",
        f"{per_iteration}: {args.iteration_steps} steps after {args.iteration_warmup}, fixed-batch and",
        f"loader-fed, instead of {args.steps} and an epoch. others %: CPU time of other processes while the",
        "row was measured, in % of the cores.",
    ]
    lines = [
        " ".join(header),
        "",
        "| model | method | threads | step images/s | epoch train images/s | epoch s (train + val) "
        "| others % |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        seconds = "per iteration only" if row.epoch_seconds is None else spread(row.epoch_seconds, 1)
        data = spread(row.data) + (" (loader-fed steps)" if row.epoch_seconds is None else "")
        lines.append(
            f"| {row.model} x{row.width:g} | {row.method} | {row.threads} | {spread(row.step)} | {data} "
            f"| {seconds} | {row.others:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _settings(args: argparse.Namespace) -> str:
    memory = "contiguous memory" if "channels_last" in args.without else "channels-last"
    freed = "glibc's default malloc" if "keep_memory" in args.without else "freed memory kept"
    return f"{memory}, {freed}"


def add_row_options(parser: argparse.ArgumentParser) -> None:
    """The rows a CPU benchmark measures (models x methods x thread counts) and its repeats; shared with
    ``published_cpu.py``, whose table is compared row by row with this one's."""
    parser.add_argument("--models", default="conv6,resnet18", help=f"comma-separated, from {tuple(WIDTHS)}")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {METHODS}")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeats", type=int, default=3)


def chosen_rows(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[list[str], list[str], list[int]]:
    """(models, methods, thread counts) of ``add_row_options``, each name checked."""
    models, methods = args.models.split(","), args.methods.split(",")
    for name, allowed in (*((m, tuple(WIDTHS)) for m in models), *((m, METHODS) for m in methods)):
        if name not in allowed:
            parser.error(f"{name!r} is not one of {allowed}")
    return models, methods, [int(t) for t in args.threads.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", required=True, help="a CIFAR-10 location (iterand.data.load), or 'synthetic'"
    )
    add_row_options(parser)
    parser.add_argument("--steps", type=int, default=30, help="timed fixed-batch steps per repeat")
    parser.add_argument("--warmup", type=int, default=25, help="untimed steps first (the heap settles)")
    parser.add_argument(
        "--per-iteration", default="resnet18", help="models timed per iteration, not per epoch"
    )
    parser.add_argument(
        "--iteration-steps", type=int, default=5, help="their timed steps, fixed and loader-fed"
    )
    parser.add_argument("--iteration-warmup", type=int, default=2, help="their untimed steps first")
    parser.add_argument(
        "--without",
        default="",
        help=f"comma-separated CPU settings to leave out, from {WITHOUT}",
    )
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    parser.add_argument("--json", type=Path, help="also write the numbers and the environment as JSON")
    args = parser.parse_args()
    models, methods, threads = chosen_rows(parser, args)
    args.per_iteration = [m for m in args.per_iteration.split(",") if m]
    args.without = [w for w in args.without.split(",") if w]
    for name in args.without:
        if name not in WITHOUT:
            parser.error(f"--without {name!r} is not one of {WITHOUT}")
    if "keep_memory" in args.without:
        cpu_runtime.keep_freed_memory = lambda: False  # the Trainer's call too: glibc's default malloc
    else:
        cpu_runtime.keep_freed_memory()  # as the Trainer does on the CPU
    rows = []
    for model in models:
        data = load(preset_config(model, methods[0], args), CPU)
        rows += [measure(model, method, n, data, args) for method in methods for n in threads]
    env = environment(args)
    record = envelope("train_cpu", [asdict(row) for row in rows], args, env)
    emit(table(rows, args, env), record, args)


if __name__ == "__main__":
    main()
