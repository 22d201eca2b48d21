"""The paper's published implementation on the CPU, timed the way ``train_cpu.py`` times this project.

Issue 16 asks for this project's CPU training speed against the published implementation
(github.com/dchiji-ntt/iterand), side by side on one machine. This script runs that implementation from
a checkout (``--published DIR``): its ``SupervisedLearning`` (the training loop, torchvision's PIL
transforms in a ``DataLoader`` with its ``num_workers``), its sparse layers and mask selection, and its
``config.yaml`` entries ``figure2_<model>_sc_<method>`` with the first value of each grid parameter, as
``main.py`` would set them. IteRand's re-draw runs before every 300th step as in ``commands/train.py``;
the published edge-popup entry is the same with lambda = 0 (its re-draw then changes nothing, but runs).

Images come from this project's decoded CIFAR-10 (``iterand.engine.data.cifar.load_arrays``, so the
JPEG copy works as well as the official download), handed to torchvision's own ``CIFAR10`` item code.

Modules a checkout lacks are replaced by stand-ins defined here, and the table names each one used.
(The code index this project can read holds only part of the repository: ``models/networks/convs.py``
and ``utils/`` are missing from it.) The stand-ins do no per-step work except Conv6, which is built
from the published ``SparseConv2d`` as the paper describes the network (edge-popup's Conv6: no biases,
the classifier as 1x1 convolutions), so its layers, masks and FLOPs are those of the published layers.

Rows: ``conv6`` x0.25 gets the training phase of one epoch (45,000 images), images/s; ``resnet18`` x1
gets ``--iteration-steps`` steps after ``--iteration-warmup``, images/s. Threads: the main process's
``torch.set_num_threads``; the data workers are the published code's own (``num_workers``, 4).

    python benchmarks/published_cpu.py --published ../published-iterand \\
        --data ../shared/data/cifar10-jpeg.tar.gz --out benchmarks/results/published_cpu.md
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import random
import sys
import time
import types
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
import yaml
from torch import nn
from train_cpu import WIDTHS, add_row_options, chosen_rows, spread
from train_step import emit, envelope

from iterand.engine import cpu_runtime
from iterand.engine.data.cifar import CLASSES, load_arrays

MODELS = {"conv6": "conv6x0.25", "resnet18": "resnet18x1.0"}


@dataclass(frozen=True)
class Row:
    model: str
    method: str
    threads: int
    rates: list[float]  # images/s per repeat
    unit: str  # "epoch" or "steps"


# Stand-ins for modules the published checkout may lack. Each keeps the interface its callers use.


def _subset_dataset_module() -> types.ModuleType:
    class SubsetDataset(torch.utils.data.Dataset):
        def __init__(self, subset: torch.utils.data.Subset, transform: Any = None) -> None:
            self.subset, self.transform = subset, transform

        def __getitem__(self, index: int) -> tuple[Any, int]:
            image, label = self.subset[index]
            return (image if self.transform is None else self.transform(image)), label

        def __len__(self) -> int:
            return len(self.subset)

    def random_split(dataset: Any, lengths: list[int], generator: torch.Generator) -> list[Any]:
        return torch.utils.data.random_split(dataset, lengths, generator=generator)

    return _module("utils.subset_dataset", SubsetDataset=SubsetDataset, random_split=random_split)


def _schedulers_module() -> types.ModuleType:
    class CustomCosineLR:
        """Cosine decay of the learning rate per epoch, set before each epoch trains."""

        step_before_train = True

        def __init__(self, optimizer: Any, init_lr: float, total_epoch: int, *unused: Any) -> None:
            self.optimizer, self.init_lr, self.total_epoch = optimizer, init_lr, total_epoch

        def step(self, epoch: int) -> None:
            lr = 0.5 * self.init_lr * (1 + math.cos(math.pi * epoch / self.total_epoch))
            for group in self.optimizer.param_groups:
                group["lr"] = lr

    return _module("utils.schedulers", CustomCosineLR=CustomCosineLR)


def _convs_module() -> types.ModuleType:
    from models.networks.sparse_modules import SparseConv2d

    class Conv6(nn.Module):
        def __init__(self, dataset_cfg: dict, model_cfg: dict, cfg: dict) -> None:
            super().__init__()
            width = model_cfg["factor"]
            c64, c128, c256 = int(64 * width), int(128 * width), int(256 * width)
            self.flat = c256 * 4 * 4

            def conv(cin: int, cout: int, k: int) -> nn.Module:
                return SparseConv2d(cin, cout, kernel_size=k, stride=1, padding=k // 2, bias=False, cfg=cfg)

            self.convs = nn.Sequential(
                conv(3, c64, 3), nn.ReLU(), conv(c64, c64, 3), nn.ReLU(), nn.MaxPool2d((2, 2)),
                conv(c64, c128, 3), nn.ReLU(), conv(c128, c128, 3), nn.ReLU(), nn.MaxPool2d((2, 2)),
                conv(c128, c256, 3), nn.ReLU(), conv(c256, c256, 3), nn.ReLU(), nn.MaxPool2d((2, 2)),
            )  # fmt: skip
            self.linear = nn.Sequential(
                conv(self.flat, c256, 1), nn.ReLU(), conv(c256, c256, 1), nn.ReLU(),
                conv(c256, dataset_cfg["num_classes"], 1),
            )  # fmt: skip

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.convs(x).view(x.size(0), self.flat, 1, 1)
            return self.linear(out).squeeze()

        def rerandomize(self, mode: str, la: float, mu: float | None) -> None:
            for module in self.modules():
                if isinstance(module, SparseConv2d):
                    module.rerandomize(mode, la, mu)

    return _module("models.networks.convs", Conv6=Conv6)


STAND_INS = {
    "utils/subset_dataset.py": _subset_dataset_module,
    "utils/schedulers.py": _schedulers_module,
    "utils/datasets.py": lambda: _module("utils.datasets"),  # ImageNet only: unused on CIFAR-10
    "models/networks/convs.py": _convs_module,
}


def _module(name: str, **members: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(members)
    return module


def _register(module: types.ModuleType) -> None:
    """Put a stand-in where ``import a.b.c`` finds it, creating a missing package ``a`` on the way."""
    parent_name, _, child = module.__name__.rpartition(".")
    try:
        parent = importlib.import_module(parent_name)
    except ModuleNotFoundError:
        parent = _module(parent_name, __path__=[])
        sys.modules[parent_name] = parent
    sys.modules[module.__name__] = module
    setattr(parent, child, module)


def import_published(folder: Path) -> tuple[type, list[str]]:
    """The published ``SupervisedLearning`` class, and the files replaced by stand-ins."""
    if not (folder / "models" / "supervised_learning.py").is_file():
        raise SystemExit(
            f"{folder} is not a checkout of github.com/dchiji-ntt/iterand (no models/supervised_learning.py)"
        )
    sys.path.insert(0, str(folder))
    stood_in = []
    for relative, build in STAND_INS.items():
        if not (folder / relative).is_file():
            _register(build())
            stood_in.append(relative)
    from models.supervised_learning import SupervisedLearning

    return SupervisedLearning, stood_in


def install_cifar10(data: str) -> None:
    """Make ``torchvision.datasets.CIFAR10`` serve this project's decoded arrays (no download, no files)."""
    arrays = load_arrays(data)

    class ArrayCIFAR10(torchvision.datasets.CIFAR10):
        def __init__(self, root: str, train: bool = True, transform: Any = None, target_transform: Any = None,
                     download: bool = False) -> None:  # fmt: skip
            torchvision.datasets.VisionDataset.__init__(
                self, root, transform=transform, target_transform=target_transform
            )
            self.train = train
            images, labels = (
                (arrays.train_images, arrays.train_labels)
                if train
                else (arrays.test_images, arrays.test_labels)
            )
            self.data = np.ascontiguousarray(images.transpose(0, 2, 3, 1))  # HWC, as torchvision keeps it
            self.targets = labels.tolist()
            self.classes = list(CLASSES)
            self.class_to_idx = {name: i for i, name in enumerate(CLASSES)}

    torchvision.datasets.CIFAR10 = ArrayCIFAR10


def published_config(folder: Path, model: str, method: str, num_workers: int | None = None) -> dict[str, Any]:
    """``figure2_<model>_sc_<method>`` with the first value of each grid parameter, as ``main.py`` sets it;
    ``num_workers`` (None: the config's) replaces its data workers."""
    with open(folder / "config.yaml") as file:
        configs = yaml.load(file, Loader=yaml.FullLoader)
    name = f"figure2_{model}_sc_{method}"
    cfg = dict(configs[name])
    for key, values in cfg["parallel_grid"].items():
        cfg[key] = values[0]
    cfg["model.config_name"] = MODELS[model]
    cfg.update(data_parallel=False, accum_grad=1, force_restart=True, use_cuda=False, dataset_download=False)
    if num_workers is not None:
        cfg["num_workers"] = num_workers
    cfg["__other_configs__"] = configs
    return cfg


class _Quiet:
    def print(self, *args: Any, **kwargs: Any) -> None:
        pass


def measure_once(learner_class: type, cfg: dict[str, Any], steps: int | None, warmup: int) -> float:
    """Images/s of one published training phase: the whole epoch, or ``steps`` after ``warmup``."""
    random.seed(cfg["seed"])
    np.random.seed(cfg["seed"])
    torch.manual_seed(cfg["seed"])
    cfg = dict(cfg, debug_max_iters=None if steps is None else steps + warmup)
    learner = learner_class(_Quiet(), cfg, torch.device("cpu"), False)
    starts = []

    def before_step(model: nn.Module, epoch: int, it: int, iters_per_epoch: int) -> None:
        starts.append(time.perf_counter())
        if cfg["rerand_mode"] is not None and (it + 1) % int(cfg["rerand_freq"]) == 0:
            model.rerandomize(cfg["rerand_mode"], cfg["rerand_lambda"], cfg["rerand_mu"])

    start = time.perf_counter()
    learner.train(0, 0, before_callback=before_step)
    end = time.perf_counter()
    if steps is None:
        return len(learner.train_dataset) / (end - start)
    return steps * cfg["batch_size"] / (end - starts[warmup])


def table(rows: list[Row], args: argparse.Namespace, env: dict[str, Any]) -> str:
    stood_in = ", ".join(env["stand_ins"]) or "none"
    conv6 = (
        "the training phase of one epoch (45,000 images)"
        if args.epoch_steps is None
        else f"{args.epoch_steps} steps after 1"
    )
    header = (
        f"The published implementation on {env['machine']} ({env['cores_available']} cores available), "
        f"torch {env['torch']}, torchvision {env['torchvision']}, checkout {args.published}. Config "
        "figure2_<model>_sc_<method> (batch 128), its DataLoader with num_workers "
        f"{env['num_workers']}; threads: the main process's torch.set_num_threads. Stand-ins: {stood_in}. "
        f"Each cell: min / median / max over {args.repeats} repeats. conv6: {conv6}; resnet18: "
        f"{args.iteration_steps} steps after {args.iteration_warmup}. "
        f"Load average before the run: {env['load_before']}."
    )
    lines = [
        header,
        "",
        "| model | method | threads | train images/s | measured over |",
        "|---|---|---:|---:|---|",
    ]
    for row in rows:
        over = "one epoch" if row.unit == "epoch" else "steps"
        lines.append(
            f"| {row.model} x{WIDTHS[row.model]:g} | {row.method} | {row.threads} | {spread(row.rates)} "
            f"| {over} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--published", type=Path, required=True, help="a checkout of github.com/dchiji-ntt/iterand"
    )
    parser.add_argument("--data", required=True, help="a CIFAR-10 location (iterand.engine.data.cifar)")
    add_row_options(parser)
    parser.add_argument("--iteration-steps", type=int, default=5, help="resnet18's timed steps")
    parser.add_argument("--iteration-warmup", type=int, default=2, help="resnet18's untimed steps first")
    parser.add_argument(
        "--epoch-steps", type=int, help="time this many conv6 steps instead of an epoch (a quick look)"
    )
    parser.add_argument(
        "--num-workers", type=int, help="the published DataLoader's workers (default: its config's, 4)"
    )
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    parser.add_argument("--json", type=Path, help="also write the numbers and the environment as JSON")
    args = parser.parse_args()
    models, methods, threads = chosen_rows(parser, args)
    folder = args.published.resolve()
    learner_class, stood_in = import_published(folder)
    install_cifar10(args.data)
    configs = {
        (model, method): published_config(folder, model, method, args.num_workers)
        for model in models
        for method in methods
    }
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    rates: dict[tuple[str, str, int], list[float]] = {}
    for _ in range(args.repeats):  # repeats outermost, so that drift in the machine spreads over every row
        for model in models:
            steps = args.iteration_steps if model == "resnet18" else args.epoch_steps
            warmup = args.iteration_warmup if model == "resnet18" else (0 if steps is None else 1)
            for method in methods:
                for n in threads:
                    torch.set_num_threads(n)
                    rate = measure_once(learner_class, configs[model, method], steps, warmup)
                    rates.setdefault((model, method, n), []).append(rate)
                    print(
                        f"{model} {method} {n} thread(s): {rate:,.0f} images/s", file=sys.stderr, flush=True
                    )
    rows = [
        Row(model, method, n, values, "steps" if model == "resnet18" or args.epoch_steps else "epoch")
        for (model, method, n), values in rates.items()
    ]
    env = {
        "machine": cpu_runtime.cpu_description(),
        "cores_available": cpu_runtime.available_cores(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "num_workers": configs[models[0], methods[0]]["num_workers"],
        "stand_ins": stood_in,
        "load_before": load_before,
        "python": sys.version.split()[0],
    }
    emit(table(rows, args, env), envelope("published_cpu", [asdict(row) for row in rows], args, env), args)


if __name__ == "__main__":
    main()
