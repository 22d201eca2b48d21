"""Compact files of trained subnetwork models: size, bits per weight, rebuild time, exactness.

``--train`` (CIFAR-10, the CPU): Conv6 and ResNet-18 at width 1 trained for ``--steps`` steps (one epoch
of that many batches, no validation split) with edge-popup and with IteRand (a re-draw every
``--period`` steps), each exported as a compact file (``iterand.engine.compact.export_compact``, which
checks the rebuild), rebuilt ``--repeats`` times (``load_compact``; the minimum and the median time), and
run on the first ``--images`` test images beside the trained model: ``identical`` means every logit has
the same bits. (The run's own final test pass sees only those images too: accuracy is not the point.)

``--resnet50``: ResNet-50 at the ImageNet settings (``fig3-resnet50-*-iterand``: p = 0.7, a re-draw every
1000 steps, 105 epochs of 1,268,355 // 128 = 9,909 steps: 1,040 re-draws). Replaying 1,040 re-draws of
25.6 M weights takes over an hour on two CPU cores, and a rebuild's work depends only on the final
record, so the final state is made directly and pessimistically: random scores give the masks, and
EVERY kept weight is taken as re-drawn, by an update drawn uniformly from 1..1,040, with the value that
update gives it (``redrawn_values``, the generator training uses). Rebuilding it evaluates the generator
once per kept weight (7.7 M values), more than any real run (whose kept weights partly keep their
initial draw). Kaiming uniform exercises the "events" records, signed constant (the paper's ImageNet
setting) the "flips" records. ``--simulate-width W`` replays all 1,040 re-draws literally, with random
score updates between them, on a ResNet-50 of width W (a literal replay at width 1 is the hour).

    python benchmarks/compact.py --train --data ../shared/data/cifar10-jpeg.tar.gz --out compact.md
    python benchmarks/compact.py --resnet50 --simulate-width 0.0625
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from train_step import emit, envelope, environment, environment_line

from iterand.core.layers import kept_masks, named_subnet_layers
from iterand.engine import compact
from iterand.engine.config import TrainConfig
from iterand.engine.data import load
from iterand.engine.factories import build_model, weight_update
from iterand.engine.posthoc import load_trained
from iterand.engine.train import train
from iterand.experiments import presets

IMAGENET_TRAIN = 1_281_167
TRAIN_RUNS = {  # preset -> label
    "fig2-conv6-ku-edgepopup": "edge-popup KU",
    "fig2-conv6-ku-iterand": "IteRand KU",
    "fig2-conv6-sc-iterand": "IteRand SC",
    "fig2-resnet18-ku-edgepopup": "edge-popup KU",
    "fig2-resnet18-ku-iterand": "IteRand KU",
}
COLUMNS = (
    ("model", "model"), ("method", "method"), ("steps", "steps"), ("events", "re-draws"),
    ("weights_total", "weights"), ("redrawn_kept", "kept re-drawn %"), ("compact_bytes", "file bytes"),
    ("compact_bits_per_weight", "bits/weight"), ("mask_bytes", "masks"), ("record_bytes", "records"),
    ("buffer_bytes", "buffers"), ("header_bytes", "header"), ("encodings", "records used"),
    ("dense_float32_bytes", "dense float32 bytes"), ("ratio", "dense / file"),
    ("rebuild_min_s", "rebuild s (min)"), ("rebuild_median_s", "rebuild s (median)"),
    ("rebuild_cpu_s", "rebuild CPU s (min)"),
    ("export_s", "export s"), ("identical", "identical outputs"),
)  # fmt: skip


def _rebuild_times(path: Path, repeats: int) -> tuple[torch.nn.Module, list[float], list[float]]:
    """The rebuilt model, and the wall-clock and CPU seconds (all threads) of each of ``repeats`` rebuilds:
    on a shared machine the CPU time, over the threads, says what an idle machine would take."""
    times, cpu_times = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        model = compact.load_compact(path)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    return model, times, cpu_times


def _row(
    model: str, method: str, path: Path, times: tuple[list[float], list[float]], export_s: float, **extra: Any
) -> dict:
    described = compact.describe(path.read_bytes())
    return {
        "model": model,
        "method": method,
        **described,
        "encodings": " ".join(f"{name} {count}" for name, count in described["encodings"].items()),
        "ratio": described["dense_float32_bytes"] / described["compact_bytes"],
        "rebuild_min_s": min(times[0]),
        "rebuild_median_s": statistics.median(times[0]),
        "rebuild_cpu_s": min(times[1]),
        "export_s": export_s,
        **extra,
    }


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(a.view(torch.int32), b.view(torch.int32))


def _redrawn_kept(model: torch.nn.Module, state: dict | None) -> float | None:
    """The percentage of the kept weights that IteRand's record says were re-drawn (resample mode)."""
    if not state or not state.get("last_redraw"):
        return None
    masks = kept_masks(model)
    kept = sum(int(mask.sum()) for mask in masks.values())
    redrawn = sum(int((state["last_redraw"][name][mask] > 0).sum()) for name, mask in masks.items())
    return 100 * redrawn / kept


def train_rows(args: argparse.Namespace) -> list[dict]:
    rows = []
    for preset in args.presets.split(","):
        label = TRAIN_RUNS[preset]
        config = presets.get(preset).replace(
            data_root=args.data, device="cpu", epochs=1, steps_per_epoch=args.steps, batch_size=args.batch,
            period=args.period, val_fraction=0.0, seed=1,
        )  # fmt: skip
        run_dir = args.work / preset
        data = load(config, "cpu")
        data.test.index = data.test.index[: args.images]  # the final test pass: only the compared images
        summary = train(config, run_dir, data=data)
        started = time.perf_counter()
        path = compact.export_compact(run_dir, args.work / "compact")
        export_s = time.perf_counter() - started
        rebuilt, wall, cpu = _rebuild_times(path, args.repeats)
        trained, _ = load_trained(run_dir)
        trained.eval()
        images = torch.cat([batch for batch, _ in data.test])
        with torch.no_grad():
            identical = _same_bits(trained(images), rebuilt(images))
        saved = torch.load(run_dir / "checkpoint.pt", weights_only=True)
        row = _row(
            config.model, label, path, (wall, cpu), export_s, steps=summary["results"]["global_steps"],
            redrawn_kept=_redrawn_kept(trained, saved["weight_update"]), identical=identical,
        )  # fmt: skip
        rows.append(row)
        print(_table([row]), flush=True)
    return rows


def imagenet_events(config: TrainConfig) -> int:
    """IteRand's re-draws in a run of ``config`` on ImageNet (drop-last batches of the train split)."""
    train_size = IMAGENET_TRAIN - int(IMAGENET_TRAIN * config.val_fraction)
    steps = config.epochs * (train_size // config.batch_size)
    return steps // config.period


def _random_scores(model: torch.nn.Module, generator: torch.Generator, scale: float = 1.0) -> None:
    for _, layer in named_subnet_layers(model):
        layer.scores.data.add_(torch.randn(layer.scores.shape, generator=generator), alpha=scale)


@torch.no_grad()
def resnet50_pessimistic(config: TrainConfig, events: int) -> tuple[torch.nn.Module, dict]:
    """ResNet-50 whose every kept weight was last re-drawn by an update drawn uniformly from 1..events."""
    from iterand.core.weight_updates import redrawn_values

    model = build_model(config, 1000)
    generator = torch.Generator().manual_seed(0)
    _random_scores(model, generator)
    seed = weight_update(config).seed
    records = {}
    for position, (name, kept) in enumerate(kept_masks(model).items()):
        layer = model.get_submodule(name)
        index = kept.reshape(-1).nonzero().squeeze(1)
        numbers = torch.randint(1, events + 1, (index.numel(),), generator=generator)
        flat = layer.weight.view(-1)
        flat[index] = redrawn_values(seed, numbers, position, index, layer.spec, layer.fan_in, flat.dtype)
        record = torch.zeros(flat.numel(), dtype=torch.int32)
        record[index] = numbers.to(torch.int32)
        records[name] = record.view(layer.weight.shape)
    return model, {"seed": seed, "events": events, "last_redraw": records}


def resnet50_simulated(config: TrainConfig, events: int) -> tuple[torch.nn.Module, dict]:
    """Every re-draw replayed by ``IteRand.apply``, scores moved by Gaussian noise in between."""
    model = build_model(config, 1000)
    update = weight_update(config)
    generator = torch.Generator().manual_seed(0)
    _random_scores(model, generator)
    for _ in range(events):
        _random_scores(model, generator, 0.1)
        update.apply(model)
    return model, update.state_dict()


def resnet50_rows(args: argparse.Namespace) -> list[dict]:
    rows = []
    base = presets.get("fig3-resnet50-sc-iterand")
    events = imagenet_events(base)
    cases = [
        (init, 1.0, resnet50_pessimistic, "all kept re-drawn")
        for init in ("kaiming_uniform", "signed_constant")
        if args.resnet50
    ]
    if args.simulate_width:
        cases.append(("kaiming_uniform", args.simulate_width, resnet50_simulated, "replayed"))
    for init, width, make, how in cases:
        config = base.replace(init=init, width=width)
        model, state = make(config, events)
        started = time.perf_counter()
        data = compact.encode(model, config, 1000, state, checkpoint="last")
        compact._check_same(model, compact.rebuild(data))
        export_s = time.perf_counter() - started
        path = args.work / f"resnet50-w{width:g}-{init}.ticket"
        path.write_bytes(data)
        rebuilt, wall, cpu = _rebuild_times(path, args.repeats)
        images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            identical = _same_bits(model.eval()(images), rebuilt(images))
        label = f"IteRand {'KU' if init == 'kaiming_uniform' else 'SC'}, {how}"
        rows.append(
            _row(
                f"resnet50 x{width:g}",
                label,
                path,
                (wall, cpu),
                export_s,
                steps=None,
                redrawn_kept=_redrawn_kept(model, state),
                identical=identical,
            )
        )
        print(_table(rows[-1:]), flush=True)
    return rows


def _load(average: tuple[float, float, float]) -> str:
    return "/".join(f"{value:.1f}" for value in average)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if value < 100 else f"{value:.0f}"
    return str(value)


def _table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(row.get(key)) for key, _ in COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--train", action="store_true", help="train and export Conv6 and ResNet-18 (CIFAR-10)"
    )
    parser.add_argument(
        "--resnet50", action="store_true", help="ResNet-50 at the ImageNet number of re-draws"
    )
    parser.add_argument(
        "--presets", default=",".join(TRAIN_RUNS), help="the runs of --train, comma-separated"
    )
    parser.add_argument("--data", help="CIFAR-10 location for --train (default: the shared JPEG copy)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--period", type=int, default=5, help="IteRand's re-draw period in steps")
    parser.add_argument("--images", type=int, default=512, help="test images the outputs are compared on")
    parser.add_argument("--repeats", type=int, default=3, help="rebuilds timed per file")
    parser.add_argument("--simulate-width", type=float, help="replay every re-draw at this ResNet-50 width")
    parser.add_argument("--work", type=Path, default=Path("runs/benchmarks/compact"), help="runs and files")
    parser.add_argument("--out", type=Path, help="write the markdown table here")
    parser.add_argument("--json", type=Path, help="write every number here")
    args = parser.parse_args()
    if args.data is None:
        from iterand.engine.data import default_cifar_source

        args.data = default_cifar_source()
    args.work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    rows = train_rows(args) if args.train else []
    if args.resnet50 or args.simulate_width:
        rows += resnet50_rows(args)
    env = {**environment(torch.device("cpu")), "load_average": [load_before, os.getloadavg()]}
    text = (
        f"Compact files on the CPU: {environment_line(env)}; load average (1, 5, 15 min) "
        f"{_load(load_before)} at the start, {_load(os.getloadavg())} at the end (other jobs share the "
        f"cores). Rebuild: `iterand.load_compact` from the file alone, {args.repeats} times. Identical: "
        f"every logit of the rebuilt model has the bits of the trained model's.\n\n{_table(rows)}"
    )
    emit(text, envelope("compact", rows, args, env), args)


if __name__ == "__main__":
    main()
