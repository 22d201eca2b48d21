"""Training-step throughput of dense SGD, edge-popup and IteRand: Conv6 and ResNet-18 at CIFAR shapes,
ResNet-50 at ImageNet shapes (224x224, 1000 classes).

Times ``iterand.engine.train.train_step`` (the loop's own step: forward, loss, backward, SGD update,
device-side sums) on the available device, plus, for the subnetwork methods, the mask selection of all
layers alone and one IteRand re-randomisation. The IteRand step column adds the re-randomisation amortised
over its period (``--period``, 300 in the paper): the step itself is the edge-popup step. ``x dense`` is the
step time over the dense SGD step of the same model in the same table (target on a GPU: <= 1.15).

Data: by default every step reuses one synthetic batch already on the device, so the table shows the
model alone. ``--data ROOT`` (a CIFAR-10 archive or folder, see ``iterand.engine.data.load``) or
``--data synthetic`` (the seeded synthetic set) instead takes every batch from the on-device training
loader the Trainer uses (gather, augmentation, normalisation, a new epoch's order when one ends), and
converts it to channels-last as the Trainer does: the end-to-end step. Give ``--steps`` more than an epoch
(351 batches of 128 on CIFAR-10) so that the per-epoch work is counted too. ResNet-50 takes only
``--data synthetic`` (the ImageNet-shaped synthetic set).

``--profile`` adds a ``torch.profiler`` table of the top operators (by device time on a GPU, CPU time
otherwise) over ``--profile-steps`` further steps of each row; ``--json FILE`` writes every number, the
device and the software versions.

    python benchmarks/train_step.py                                   # defaults: batch 128, 20 steps
    python benchmarks/train_step.py --amp --channels-last --compile --steps 50 --out train_step.md
    python benchmarks/train_step.py --models resnet18 --data data/cifar10-jpeg.tar.gz --steps 400 --amp
    python benchmarks/train_step.py --models conv6 --steps 3 --warmup 1   # a quick look on a CPU
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from iterand.core.layers import kept_masks
from iterand.engine import cpu_runtime
from iterand.engine.config import TrainConfig
from iterand.engine.data import DataBundle, load
from iterand.engine.data.synthetic import SHAPES
from iterand.engine.distributed import resolve_device
from iterand.engine.factories import build_model, weight_update
from iterand.engine.optim import make_optimizer
from iterand.engine.train import onednn_unsafe_convolutions, train_step

METHODS = ("sgd", "edgepopup", "iterand")
MODELS = ("conv6", "resnet18", "resnet50")
DEFAULT_MODELS = ("conv6", "resnet18")  # ResNet-50 at 224x224 takes tens of seconds per step on a CPU
IMAGENET_MODELS = ("resnet50",)
SYNTHETIC = "synthetic"
PROFILE_SORT = {"cuda": "self_device_time_total", "cpu": "self_cpu_time_total"}


@dataclass(frozen=True)
class Row:
    model: str
    method: str
    step_ms: float  # IteRand: with one re-randomisation per `period` steps included
    batch: int
    image_size: int
    data: str  # "fixed batch", or the loader's dataset
    mask_ms: float | None
    rerandomize_ms: float | None
    period: int
    profile: str | None = dataclasses.field(default=None, repr=False)

    @property
    def images_per_second(self) -> float:
        return self.batch / (self.step_ms / 1000)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mean_ms(call: Callable[[], None], repeats: int, warmup: int, device: torch.device) -> float:
    """Mean wall time of ``call`` in ms, with the device drained before and after the timed calls."""
    for _ in range(warmup):
        call()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    synchronize(device)
    return 1000 * (time.perf_counter() - start) / repeats


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


def environment(device: torch.device) -> dict[str, Any]:
    """The device and the software a measurement ran on (for the JSON files and table headers)."""
    info: dict[str, Any] = {
        "device": device_name(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
        "cpu_threads": torch.get_num_threads(),
    }
    for package in ("torchvision", "triton"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["capability"] = f"{props.major}.{props.minor}"
        info["memory_gib"] = round(props.total_memory / 2**30, 1)
        info["multiprocessors"] = props.multi_processor_count
    return info


def environment_line(env: dict[str, Any]) -> str:
    threads = "" if env.get("capability") else f", {env['cpu_threads']} threads"
    return f"{env['device']}{threads}, torch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}"


def stem(model_name: str) -> str:
    return "imagenet" if model_name in IMAGENET_MODELS else "cifar"


def config_for(model_name: str, method: str, args: argparse.Namespace) -> TrainConfig:
    """The config a row measures; its dataset matters only with ``--data``."""
    real = args.data not in (None, SYNTHETIC)
    return TrainConfig(
        model=model_name,
        method=method,
        width=args.width,
        stem=stem(model_name),
        batch_size=args.batch,
        period=args.period,
        seed=1,
        dataset="cifar10" if real else SYNTHETIC,
        data_root=args.data if real else None,
    )


def loader_batches(data: DataBundle, memory_format: torch.memory_format) -> Iterator[tuple]:
    """The training loader's batches, epoch after epoch, converted as ``Trainer`` converts them."""
    for epoch in itertools.count():
        data.train.set_epoch(epoch)
        for images, labels in data.train:
            yield images.contiguous(memory_format=memory_format), labels


def fixed_batches(
    model_name: str, batch: int, device: torch.device, memory_format: torch.memory_format
) -> Iterator[tuple]:
    shape, num_classes, _, _ = SHAPES[stem(model_name)]
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, *shape, generator=generator).to(device, memory_format=memory_format)
    labels = torch.randint(num_classes, (batch,), generator=generator).to(device)
    return itertools.repeat((images, labels))


def profile_table(call: Callable[[], None], steps: int, rows: int, device: torch.device) -> str:
    """torch.profiler's operator table over ``steps`` calls, the ``rows`` most expensive first."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profiler:
        for _ in range(steps):
            call()
        synchronize(device)
    return profiler.key_averages().table(sort_by=PROFILE_SORT[device.type], row_limit=rows)


def measure(
    model_name: str, method: str, args: argparse.Namespace, device: torch.device, data: DataBundle | None
) -> Row:
    config = config_for(model_name, method, args)
    num_classes = SHAPES[stem(model_name)][1] if data is None else data.num_classes
    model = build_model(config, num_classes).to(device)
    if args.channels_last and device.type == "cpu" and (unsafe := onednn_unsafe_convolutions(model)):
        raise SystemExit(
            f"--channels-last: oneDNN's CPU backward is wrong for {model_name}'s {', '.join(unsafe)} "
            "(iterand.engine.train.uses_channels_last says why); measure this model without it"
        )
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    net = torch.compile(model) if args.compile else model
    optimizer = make_optimizer(config, model)
    criterion = nn.CrossEntropyLoss()
    if data is None:
        batches = fixed_batches(model_name, args.batch, device, memory_format)
    else:
        batches = loader_batches(data, memory_format)
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    net.train()

    def step() -> None:
        images, labels = next(batches)
        train_step(net, optimizer, criterion, images, labels, sums, args.amp)

    step_ms = mean_ms(step, args.steps, args.warmup, device)
    profile = profile_table(step, args.profile_steps, args.profile_rows, device) if args.profile else None
    mask_ms = rerandomize_ms = None
    if method != "sgd":
        mask_ms = mean_ms(lambda: kept_masks(model), args.steps, args.warmup, device)
        if method == "iterand":
            update = weight_update(config)
            rerandomize_ms = mean_ms(lambda: update.apply(model), args.steps, args.warmup, device)
            step_ms += rerandomize_ms / args.period
    source = "fixed batch" if data is None else f"{data.description['dataset']} loader"
    image_size = SHAPES[stem(model_name)][0][-1]
    return Row(
        model_name,
        method,
        step_ms,
        args.batch,
        image_size,
        source,
        mask_ms,
        rerandomize_ms,
        args.period,
        profile,
    )


def dense_ratios(rows: list[Row]) -> list[float | None]:
    """Each row's step time over the dense SGD step of its model in ``rows`` (None without one)."""
    dense = {row.model: row.step_ms for row in rows if row.method == "sgd"}
    return [row.step_ms / dense[row.model] if row.model in dense else None for row in rows]


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(rows: list[Row], args: argparse.Namespace, env: dict[str, Any]) -> str:
    steps = f"{args.steps} timed steps after {args.warmup} warm-up"
    lines = [
        f"Training step on {environment_line(env)}: batch {args.batch}, width {args.width:g}, "
        f"amp={args.amp}, channels_last={args.channels_last}, compile={args.compile}, {steps}. "
        f"IteRand's step includes one re-randomisation per {args.period} steps.",
        "",
        "| model | image | data | method | ms/step | images/s | x dense | mask selection ms "
        "| re-randomisation ms |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row, ratio in zip(rows, dense_ratios(rows), strict=True):
        lines.append(
            f"| {row.model} | {row.image_size}x{row.image_size} | {row.data} | {row.method} "
            f"| {row.step_ms:.2f} | {row.images_per_second:.0f} | {_cell(ratio, 2)} "
            f"| {_cell(row.mask_ms, 2)} | {_cell(row.rerandomize_ms, 2)} |"
        )
    sort = PROFILE_SORT["cuda" if env.get("capability") else "cpu"]
    for row in rows:
        if row.profile is not None:
            lines += ["", f"Profile of {args.profile_steps} steps, {row.model} {row.method}, by {sort}:"]
            lines += ["", "```", row.profile.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def report(rows: list[Row], args: argparse.Namespace, env: dict[str, Any]) -> dict[str, Any]:
    records = [
        {**dataclasses.asdict(row), "images_per_second": row.images_per_second, "x_dense": ratio}
        for row, ratio in zip(rows, dense_ratios(rows), strict=True)
    ]
    return envelope("train_step", records, args, env)


def envelope(benchmark: str, records: list[dict], args: argparse.Namespace, env: dict[str, Any]) -> dict:
    """The JSON record of any benchmark: its rows with the environment and the settings that produced them."""
    settings = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    return {"benchmark": benchmark, "environment": env, "settings": settings, "rows": records}


def emit(text: str, record: dict, args: argparse.Namespace) -> None:
    """Print the markdown table and write it (``--out``) and the JSON record (``--json``) when asked."""
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)
    if args.json is not None:
        args.json.write_text(json.dumps(record, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"comma-separated, from {MODELS}")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {METHODS}")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=20, help="timed steps (and repeats of mask/re-draw)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation, caches)")
    parser.add_argument("--period", type=int, default=300, help="IteRand's re-randomisation period K_per")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (on the CPU too, as cpu_amp)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument(
        "--data", help="batches from the on-device training loader: a CIFAR-10 location, or 'synthetic'"
    )
    parser.add_argument("--profile", action="store_true", help="add a torch.profiler top-operator table")
    parser.add_argument("--profile-steps", type=int, default=5)
    parser.add_argument("--profile-rows", type=int, default=20)
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    parser.add_argument("--json", type=Path, help="also write the numbers and the environment as JSON")
    args = parser.parse_args()
    models, methods = args.models.split(","), args.methods.split(",")
    for name, allowed in (*((m, MODELS) for m in models), *((m, METHODS) for m in methods)):
        if name not in allowed:
            parser.error(f"{name!r} is not one of {allowed}")
    if args.data not in (None, SYNTHETIC) and any(stem(m) == "imagenet" for m in models):
        parser.error(f"{', '.join(IMAGENET_MODELS)} take ImageNet shapes: use --data synthetic or no --data")
    device = resolve_device(args.device)
    if device.type == "cuda":  # as the Trainer sets them
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    else:
        cpu_runtime.keep_freed_memory()  # as the Trainer does on the CPU
    bundles: dict[str, DataBundle] = {}  # one loader per image shape, shared by the methods
    rows = []
    for model_name in models:
        data = None
        if args.data is not None:
            key = stem(model_name)
            if key not in bundles:
                bundles[key] = load(config_for(model_name, "sgd", args), device)
            data = bundles[key]
        rows += [measure(model_name, method, args, device, data) for method in methods]
    env = environment(device)
    emit(table(rows, args, env), report(rows, args, env), args)


if __name__ == "__main__":
    main()
