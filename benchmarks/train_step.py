"""Training-step throughput of dense SGD, edge-popup and IteRand on CIFAR-shaped synthetic batches.

Times ``iterand.train.train_step`` (the loop's own step: forward, loss, backward, SGD update, device-side
sums) for Conv6 and ResNet-18 on the available device, plus, for the subnetwork methods, the mask
selection of all layers alone and one IteRand re-randomisation. The IteRand step column adds the
re-randomisation amortised over its period (``--period``, 300 in the paper): the step itself is the
edge-popup step.

    python benchmarks/train_step.py                                   # defaults: batch 128, 20 steps
    python benchmarks/train_step.py --amp --channels-last --compile --steps 50 --out train_step.md
    python benchmarks/train_step.py --models conv6 --steps 3 --warmup 1   # a quick look on a CPU
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from iterand.config import TrainConfig, build_model, weight_update
from iterand.distributed import resolve_device
from iterand.layers import kept_masks
from iterand.optim import make_optimizer
from iterand.train import train_step

METHODS = ("sgd", "edgepopup", "iterand")
MODELS = ("conv6", "resnet18")
NUM_CLASSES = 10


@dataclass(frozen=True)
class Row:
    model: str
    method: str
    step_ms: float
    batch: int
    mask_ms: float | None
    rerandomize_ms: float | None
    period: int

    @property
    def images_per_second(self) -> float:
        return self.batch / (self.effective_step_ms / 1000)

    @property
    def effective_step_ms(self) -> float:
        if self.method == "iterand":
            return self.step_ms + self.rerandomize_ms / self.period
        return self.step_ms


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _mean_ms(call: Callable[[], None], repeats: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        call()
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    _synchronize(device)
    return 1000 * (time.perf_counter() - start) / repeats


def measure(model_name: str, method: str, args: argparse.Namespace, device: torch.device) -> Row:
    config = TrainConfig(
        model=model_name, method=method, width=args.width, batch_size=args.batch, period=args.period, seed=1
    )
    model = build_model(config, NUM_CLASSES).to(device)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    net = torch.compile(model) if args.compile else model
    optimizer = make_optimizer(config, model)
    criterion = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, 32, 32, generator=generator).to(device, memory_format=memory_format)
    labels = torch.randint(NUM_CLASSES, (args.batch,), generator=generator).to(device)
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    net.train()

    def step() -> None:
        train_step(net, optimizer, criterion, images, labels, sums, args.amp)

    step_ms = _mean_ms(step, args.steps, args.warmup, device)
    mask_ms = rerandomize_ms = None
    if method != "sgd":
        mask_ms = _mean_ms(lambda: kept_masks(model), args.steps, args.warmup, device)
        update = weight_update(config)
        if method == "iterand":
            rerandomize_ms = _mean_ms(lambda: update.apply(model), args.steps, args.warmup, device)
    return Row(model_name, method, step_ms, args.batch, mask_ms, rerandomize_ms, args.period)


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(rows: list[Row], args: argparse.Namespace, device: torch.device) -> str:
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    threads = "" if device.type == "cuda" else f", {torch.get_num_threads()} threads"
    lines = [
        f"Training step on {device_name}{threads}, torch {torch.__version__}: CIFAR shapes, synthetic data, "
        f"batch {args.batch}, width {args.width:g}, amp={args.amp}, channels_last={args.channels_last}, "
        f"compile={args.compile}, {args.steps} timed steps after {args.warmup} warm-up. IteRand's step "
        f"includes one re-randomisation per {args.period} steps.",
        "",
        "| model | method | ms/step | images/s | mask selection ms | re-randomisation ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.model} | {row.method} | {row.effective_step_ms:.1f} | {row.images_per_second:.0f} "
            f"| {_cell(row.mask_ms, 2)} | {_cell(row.rerandomize_ms, 2)} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {MODELS}")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {METHODS}")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=20, help="timed steps (and repeats of mask/re-draw)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation, caches)")
    parser.add_argument("--period", type=int, default=300, help="IteRand's re-randomisation period K_per")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = [
        measure(model, method, args, device)
        for model in args.models.split(",")
        for method in args.methods.split(",")
    ]
    text = table(rows, args, device)
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
