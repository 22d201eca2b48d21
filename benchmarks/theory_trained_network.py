"""Timing of the trained-network experiment: the exact search per weight, and the whole construction.

Per weight: one subset-sum instance of the construction (``m`` slots, the products ``b * |a|`` of
U[-1, 1] draws, target ~ a rescaled trained weight), solved for many weights at once by
``theory.batched_subset_sum`` (as ``theory.network.prune_layer`` does), one weight at a time by
``theory.subset_sum.best_choice``, and by brute force (``best_choice_brute``, every sum) where its 2^22-sum
limit allows. ``m = 21`` is the size of the published MIP experiment (about 21 random products per weight).

Whole construction: ``python -m theory experiment trained_network`` with a parameter set (default
``full``): the data, the target's training, and per sweep the pruning of every weight at every width
(build), the forward passes over the test set (eval) and the measures with the torch check (checks).

    python benchmarks/theory_trained_network.py --data-root ../shared/data/cifar10-jpeg.tar.gz --out t.md
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from theory_worst_case import markdown

from repro import notebooks
from theory import target_data, target_training, trained_network
from theory.batched_subset_sum import best_choices, iterand_choices
from theory.subset_sum import best_choice, best_choice_brute

# (model, R, m, weights): model A ("none"), B ("oracle", R draws) or C ("iterand", R rounds)
CASES = (
    ("none", 1, 10, 4096),
    ("none", 1, 16, 4096),
    ("none", 1, 21, 256),
    ("none", 1, 24, 256),
    ("oracle", 2, 12, 1024),
    ("oracle", 4, 8, 1024),
    ("oracle", 8, 6, 1024),
    ("iterand", 8, 16, 1024),
)
BRUTE_LIMIT = 2**22


def per_weight(repeats: int, seed: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    return [_case(*case, rng, repeats) for case in CASES]


def _case(model: str, R: int, m: int, weights: int, rng: np.random.Generator, repeats: int) -> dict[str, str]:
    draws = rng.uniform(-1.0, 1.0, (weights, m, R)) * rng.uniform(0.0, 1.0, (weights, m, 1))
    goals = rng.normal(0.0, 0.01, weights)
    single = brute = None
    if model == "iterand":
        label = f"C R={R} m={m}"
        batched = _best_us(lambda: iterand_choices(draws, goals), repeats) / weights
    else:
        label = f"A m={m}" if model == "none" else f"B R={R} m={m}"
        instances = draws[:, :, 0] if model == "none" else draws
        batched = _best_us(lambda: best_choices(instances, goals), repeats) / weights
        sample = range(min(weights, 64))
        single = _best_us(lambda: [best_choice(instances[p], goals[p]) for p in sample], repeats) / len(
            sample
        )
        if (R + 1) ** m <= BRUTE_LIMIT:
            few = range(min(weights, 4))
            brute = _best_us(lambda: [best_choice_brute(instances[p], goals[p]) for p in few], 1) / len(few)
    return {
        "case": label,
        "weights": str(weights),
        "batched us/weight": f"{batched:.1f}",
        "one at a time us/weight": "-" if single is None else f"{single:.1f}",
        "brute force us/weight": "-" if brute is None else f"{brute:.0f}",
        "brute / batched": "-" if brute is None else f"{brute / batched:.0f}x",
    }


def construction(param_set: str, data_root: str | None) -> tuple[list[dict[str, str]], str]:
    parameters = notebooks.load_parameters("theory_trained_network", param_set)
    if data_root is not None:
        parameters["data_root"] = data_root
    started = time.perf_counter()
    task = target_data.load_task(parameters["data_root"], parameters["image_size"], parameters["seed"])
    loaded = time.perf_counter()
    trained = target_training.train_target(
        task,
        parameters["hidden"],
        parameters["epochs"],
        parameters["seed"],
        parameters["batch_size"],
        parameters["learning_rate"],
    )
    records = trained_network.emulate(
        trained.target,
        task,
        parameters["sweeps"],
        parameters["seed"],
        parameters["iterand_rate"],
        parameters["torch_check_inputs"],
    )
    total = time.perf_counter() - started
    rows = []
    for label in dict.fromkeys(r["label"] for r in records):
        group = [r for r in records if r["label"] == label]
        rows.append(_stage(label, group, f"{group[0]['n']}-{group[-1]['n']}"))
    rows.append(_stage("all models", records, "-"))
    rows.append(_other("data (read, grayscale)", loaded - started))
    rows.append(_other("target training", trained.seconds))
    rows.append(_other("total (wall)", total))
    dims = "-".join(map(str, trained.target.dims))
    return rows, f"set {param_set}: {task.name}, target {dims}, {task.test_labels.size} test inputs"


def _stage(label: str, group: list[dict], widths: str) -> dict[str, str]:
    seconds = {key: sum(r[f"{key}_seconds"] for r in group) for key in ("build", "eval", "check")}
    return {
        "stage": label,
        "widths": widths,
        "networks": str(len(group)),
        "build s": f"{seconds['build']:.1f}",
        "eval s": f"{seconds['eval']:.1f}",
        "checks s": f"{seconds['check']:.1f}",
        "seconds": f"{sum(seconds.values()):.1f}",
    }


def _other(label: str, seconds: float) -> dict[str, str]:
    return {
        "stage": label,
        "widths": "-",
        "networks": "-",
        "build s": "-",
        "eval s": "-",
        "checks s": "-",
        "seconds": f"{seconds:.1f}",
    }


def _best_us(call, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return 1e6 * best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="full", help="parameter set of the experiment (default full)")
    parser.add_argument(
        "--data-root",
        help="CIFAR-10 copy (default: the set's data_root, else $ITERAND_CIFAR10, else the synthetic teacher "
        "task); 'synthetic' forces the synthetic task",
    )
    parser.add_argument("--repeats", type=int, default=3, help="per-weight timings: best of this many runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-construction", action="store_true", help="only the per-weight table")
    parser.add_argument("--out", help="also write the tables as markdown to this file")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    text = (
        f"{os.cpu_count()} CPUs, load average {load} at the start\n\nPer weight (best of {args.repeats}):\n\n"
    )
    text += markdown(per_weight(args.repeats, args.seed))
    if not args.skip_construction:
        rows, title = construction(args.params, args.data_root)
        text += f"\nWhole construction, {title}:\n\n" + markdown(rows)
    print(text, end="")
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
