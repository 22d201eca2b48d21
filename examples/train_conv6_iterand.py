"""Conv6 on CIFAR-10 with IteRand, in one file: the method end to end, for reading.

The network's weights are drawn at random once and never trained. Every weight has a learned score; the
forward pass keeps the weights whose scores are in the top half of their layer and zeroes the others
(edge-popup, Ramanujan et al. 2020). IteRand (Chijiwa et al. 2021) adds one step: every K_per = `period`
optimiser steps, each currently PRUNED weight is re-drawn with probability r, which gives a network of a
given width more candidate weights to choose from.

From the package this file takes only the core: `iterand.core.models.build` (Conv6 built from subnetwork
layers: frozen weights, scores, exact top-k masks) and `iterand.core.weight_updates.IteRand` (the
re-draw). The data, augmentation, schedule, loop and evaluation are written out below in their simplest
form; `python -m iterand train --preset fig2-conv6-sc-iterand` is the full version (the official code's
RandomResizedCrop augmentation, a validation split, checkpoints, resuming, DDP).

    python examples/train_conv6_iterand.py --data data/        # CIFAR-10 via torchvision (downloads once)
    python examples/train_conv6_iterand.py --synthetic --epochs 1 --steps 2   # random images, no download

Settings: the paper's Conv6 (signed-constant weights, 50% of each layer pruned, r = 0.1, K_per = 300,
SGD with momentum 0.9 on the scores at lr 0.3 with a per-epoch cosine schedule, weight decay 1e-4,
batch 128, 100 epochs: about 89% test accuracy, on a GPU).
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from iterand.core.layers import named_subnet_layers
from iterand.core.models import build
from iterand.core.weight_updates import IteRand

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def cifar10(root: str, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 as uint8 images (N, 3, 32, 32) and int64 labels, through torchvision."""
    from torchvision.datasets import CIFAR10

    data = CIFAR10(root, train=train, download=True)
    return torch.from_numpy(data.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(data.targets)


def synthetic(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images of CIFAR-10's shape, tinted by their class so that there is something to learn."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(10, (n,), generator=generator)
    tints = torch.randint(256, (10, 3, 1, 1), generator=generator)
    noise = torch.randint(256, (n, 3, 32, 32), generator=generator)
    return ((noise + tints[labels]) // 2).to(torch.uint8), labels


def normalise(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255 - MEAN.to(images.device)) / STD.to(images.device)


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The edge-popup code's augmentation for a whole batch: a random 32x32 window of the image padded by
    4 zeros on each side, and a horizontal flip with probability 1/2."""
    n = images.shape[0]
    padded = F.pad(images, (4, 4, 4, 4))
    dx, dy = (torch.randint(9, (n,), generator=generator) for _ in range(2))
    rows = (dy.view(n, 1) + torch.arange(32)).view(n, 1, 32, 1).expand(n, 3, 32, 40)
    out = padded.gather(2, rows.to(images.device))
    columns = (dx.view(n, 1) + torch.arange(32)).view(n, 1, 1, 32).expand(n, 3, 32, 32)
    out = out.gather(3, columns.to(images.device))
    flip = (torch.rand(n, generator=generator) < 0.5).to(images.device)
    return torch.where(flip.view(n, 1, 1, 1), out.flip(3), out)


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    model.eval()
    correct = sum(
        (model(normalise(images[i : i + batch])).argmax(1) == labels[i : i + batch]).sum().item()
        for i in range(0, len(images), batch)
    )
    model.train()
    return 100.0 * correct / len(images)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="data", help="torchvision's CIFAR-10 folder (downloaded if absent)")
    parser.add_argument("--synthetic", action="store_true", help="random images instead of CIFAR-10")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=None, help="at most this many steps per epoch")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--r", type=float, default=0.1, help="re-draw probability of a pruned weight")
    parser.add_argument("--period", type=int, default=300, help="K_per: optimiser steps between re-draws")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    if args.synthetic:
        (train_x, train_y), (test_x, test_y) = synthetic(2048, seed=0), synthetic(512, seed=1)
    else:
        (train_x, train_y), (test_x, test_y) = cifar10(args.data, True), cifar10(args.data, False)
    train_x, train_y, test_x, test_y = (t.to(device) for t in (train_x, train_y, test_x, test_y))

    # Conv6 of frozen signed-constant weights, half of each layer pruned by the top-k mask of its scores.
    model = build("conv6", args.width, 10, init="signed_constant", pruned_fraction=0.5, seed=args.seed)
    model = model.to(device)
    scores = [layer.scores for _, layer in named_subnet_layers(model)]  # the only trained parameters
    optimizer = torch.optim.SGD(scores, lr=0.3, momentum=0.9, weight_decay=1e-4)
    # Its own generator, seeded apart from the model's: re-drawing never shifts the data order.
    redraw = IteRand(r=args.r, period=args.period, seed=args.seed + 1000)
    generator = torch.Generator().manual_seed(args.seed)

    step, redraws, started = 0, 0, time.perf_counter()
    steps_per_epoch = len(train_x) // args.batch_size
    if args.steps is not None:
        steps_per_epoch = min(steps_per_epoch, args.steps)
    for epoch in range(args.epochs):
        for group in optimizer.param_groups:  # cosine from 0.3, set once per epoch
            group["lr"] = 0.3 * (1 + math.cos(math.pi * epoch / args.epochs)) / 2
        order = torch.randperm(len(train_x), generator=generator).to(device)
        for i in range(steps_per_epoch):
            if redraw.due(step):  # before step K_per - 1, 2 K_per - 1, ...: re-draw pruned weights
                redraw.apply(model)
                redraws += 1
            batch = order[i * args.batch_size : (i + 1) * args.batch_size]
            loss = F.cross_entropy(model(normalise(augment(train_x[batch], generator))), train_y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # straight through the mask to the scores
            optimizer.step()
            step += 1
        test = accuracy(model, test_x, test_y)
        print(f"epoch {epoch + 1:3d}  loss {loss.item():.3f}  test {test:5.2f}%  re-draws {redraws}")
    seconds = time.perf_counter() - started
    return {"steps": step, "redraws": redraws, "loss": loss.item(), "test_acc": test, "seconds": seconds}


if __name__ == "__main__":
    main()
