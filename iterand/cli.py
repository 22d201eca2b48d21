"""Command line of the training package: ``python -m iterand {train,eval,presets,sweep,results}``.

One GPU (or the CPU), CIFAR-10 from the shared JPEG copy (or a torchvision download folder)::

    python -m iterand train --preset fig2-conv6-sc-iterand --data-root ../shared/data/cifar10-jpeg.tar.gz
    python -m iterand train --preset fig2-resnet18-ku-iterand --set width=0.5 --set seed=2

Several GPUs of one machine (DDP; ``batch_size`` stays the GLOBAL batch, split across the processes)::

    torchrun --standalone --nproc_per_node=8 -m iterand train --preset fig3-resnet50-sc-iterand \\
        --data-root /data/imagenet

Several machines: the same command on every node, with node 0's host name as the rendezvous endpoint
(the run directory is read and written by global rank 0 only)::

    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d --rdzv-endpoint=NODE0:29500 \\
        --rdzv-id=rn50-sc-iterand -m iterand train --preset fig3-resnet50-sc-iterand \\
        --data-root /data/imagenet

The run directory is ``<out>/<run name>/`` (``--out`` defaults to ``runs/train``, or
``$ITERAND_RUNS/train``); the same command again resumes from its last finished epoch. Configuration
order: the preset, then ``--config FILE.yaml`` (its fields win), then ``--data-root``, then each
``--set key=value``.

    python -m iterand eval runs/train/<run name> [--checkpoint best]   # accuracies of a saved model
    python -m iterand presets [NAME]                                     # list, or show one preset

Sweeps (``iterand.sweeps``: fig1, fig2-conv6, fig2-resnet18, fig2-resnet34, fig2, fig3) train every run
of a paper figure into ``--out``, skipping finished runs and resuming interrupted ones, so the same
command is also the way to continue; each run logs to ``train.log`` in its run directory::

    python -m iterand sweep fig2-conv6 --dry-run                      # list the 60 runs and their status
    python -m iterand sweep fig1 --data-root ../shared/data/cifar10-jpeg.tar.gz
    python -m iterand sweep fig2 --grid width=0.25,0.5 --grid seed=1 --set epochs=10
    python -m iterand sweep fig2-conv6 --concurrent 4 --set device=cuda   # 4 processes on one GPU

Several GPUs, no torchrun: one process per GPU, each on its own shard (K of N, K from 1)::

    for k in 1 2 3 4; do
        CUDA_VISIBLE_DEVICES=$((k - 1)) python -m iterand sweep fig2 --shard $k/4 --set device=cuda &
    done; wait

Several machines: the same with N = all GPUs, each machine taking its own K values, into a shared
``--out``; or a Slurm array, one task per shard (``--array=1-N``)::

    sbatch --array=1-16 scripts/slurm_sweep.sh fig2 --data-root /data/cifar10

Results: ``python -m iterand results [--out DIR] [--table FILE]`` reads every finished run below
``--out`` (default ``runs/train``), prints the mean and std over seeds next to the published numbers,
and writes the table (default ``runs/results/results.csv``) with ``-runs.csv`` (one row per run) and
``-reference.csv`` (the comparison) beside it.

Exit status: 0 success, 1 training diverged (NaN/inf loss; the last good checkpoint is kept) or, for a
sweep, some run failed (each is listed with its log), 2 invalid input (one line ``error: ...`` naming
the field or file).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import yaml

from iterand import presets, results, sweeps
from iterand.config import TrainConfig, apply_overrides, load_yaml, run_name
from iterand.distributed import process_rank
from iterand.results import default_table
from iterand.run_files import CHECKPOINT_CHOICES, default_out
from iterand.train import TrainingDiverged, evaluate_run, train

EXIT_DIVERGED = 1
EXIT_RUN_FAILED = 1  # a sweep went on past a failed run
EXIT_USAGE = 2
RESULT_COLUMNS = (
    "model", "width", "method", "init", "r", "pruned_fraction", "dataset", "epochs", "lossy_jpeg", "count",
    "test_acc_last_mean", "test_acc_last_std", "weights_kept",
)  # fmt: skip
REFERENCE_COLUMNS = (
    "model", "width", "method", "init", "pruned_fraction", "epochs", "ours_mean", "ours_std", "published",
    "difference", "source",
)  # fmt: skip

__all__ = ["build_config", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see python -m iterand --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m iterand",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = commands.add_parser("train", help="train (or resume) one run")
    train.add_argument("--preset", help="a preset name (python -m iterand presets lists them)")
    train.add_argument(
        "--config", type=Path, help="a YAML file of TrainConfig fields, applied over the preset"
    )
    train.add_argument("--data-root", help="dataset location (folder, .tar.gz archive or download folder)")
    train.add_argument("--out", type=Path, help=f"folder of run directories (default {default_out()})")
    train.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a field"
    )
    evaluate = commands.add_parser("eval", help="evaluate a saved run on its validation and test sets")
    evaluate.add_argument("run_dir", type=Path)
    evaluate.add_argument("--checkpoint", choices=CHECKPOINT_CHOICES, default="last")
    evaluate.add_argument("--data-root", help="dataset location, if it moved since training")
    listing = commands.add_parser("presets", help="list the presets, or show one")
    listing.add_argument("name", nargs="?")
    sweep = commands.add_parser("sweep", help="train (or continue) every run of a named sweep")
    sweep.add_argument("name", help=f"one of {', '.join(sweeps.SWEEPS)}")
    sweep.add_argument("--out", type=Path, help=f"folder of run directories (default {default_out()})")
    sweep.add_argument("--shard", default="1/1", help="K/N: run only shard K (1..N) of N (default 1/1)")
    sweep.add_argument("--dry-run", action="store_true", help="list the runs and their status, train nothing")
    sweep.add_argument(
        "--concurrent",
        type=int,
        default=1,
        help="training processes at once (default 1); CPU runs: at most one per core, the cores split "
        "between them",
    )
    sweep.add_argument("--data-root", help="dataset location, for every run")
    sweep.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a field"
    )
    sweep.add_argument(
        "--grid", action="append", default=[], metavar="KEY=V1,V2", help="sweep a field over these values"
    )
    table = commands.add_parser("results", help="mean and std over seeds of the finished runs, as a table")
    table.add_argument("--out", type=Path, help=f"folder of run directories (default {default_out()})")
    table.add_argument("--table", type=Path, help=f"CSV file to write (default {default_table()})")
    return parser


def build_config(
    preset: str | None,
    config_file: Path | None = None,
    data_root: str | None = None,
    overrides: Sequence[str] = (),
) -> TrainConfig:
    """The ``TrainConfig`` that ``train`` runs, assembled in the documented order."""
    if preset is None and config_file is None:
        raise ValueError(
            "train needs --preset NAME or --config FILE.yaml (python -m iterand presets lists them)"
        )
    config = presets.get(preset) if preset is not None else TrainConfig()
    if config_file is not None:
        if not config_file.is_file():
            raise ValueError(f"--config: no file {config_file}")
        try:
            config = load_yaml(config_file, base=config)
        except yaml.YAMLError as error:
            raise ValueError(f"--config: {config_file} is not valid YAML ({error})") from None
    if data_root is not None:
        config = config.replace(data_root=data_root)
    return apply_overrides(config, overrides)


def _train(args: argparse.Namespace) -> None:
    config = build_config(args.preset, args.config, args.data_root, args.overrides)
    summary = train(config, (args.out or default_out()) / run_name(config))
    if process_rank() == 0:
        print(json.dumps(summary["results"], indent=2))


def _eval(args: argparse.Namespace) -> None:
    print(json.dumps(evaluate_run(args.run_dir, args.checkpoint, args.data_root), indent=2))


def _presets(args: argparse.Namespace) -> None:
    if args.name is None:
        for name in presets.names():
            print(f"{name:32s} {presets.describe(name)['description']}")
    else:
        print(yaml.safe_dump(presets.describe(args.name), sort_keys=False), end="")


def _sweep(args: argparse.Namespace) -> int:
    records = sweeps.run(
        args.name,
        args.out or default_out(),
        overrides=args.overrides,
        grid=sweeps.parse_grid(args.grid),
        shard=sweeps.parse_shard(args.shard),
        dry_run=args.dry_run,
        concurrent=args.concurrent,
        data_root=args.data_root,
    )
    return EXIT_RUN_FAILED if any(record["outcome"] == "failed" for record in records) else 0


def _results(args: argparse.Namespace) -> None:
    out = args.out or default_out()
    rows = results.collect(out)
    if not rows:
        print(f"no finished runs below {out}")
        return
    written = results.write_results(rows, args.table or default_table())
    print(results.format_table(results.read_table(written["aggregated"]), RESULT_COLUMNS))
    compared = results.read_table(written["reference"])
    if compared:
        print()
        print(results.format_table(compared, REFERENCE_COLUMNS))
    for path in written.values():
        print(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)

    commands = {"train": _train, "eval": _eval, "presets": _presets, "sweep": _sweep, "results": _results}
    try:
        code = commands[args.command](args)
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DIVERGED
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return code or 0
