"""Command line of the training package: ``python -m iterand {train,eval,export,presets,sweep,results}``
(installed as the ``iterand`` command too).

One GPU (or the CPU), CIFAR-10 from ``--data-root`` (the folder holding the official ``cifar-10-batches-py/``,
or a folder or ``.tar.gz`` of class folders), else ``$ITERAND_CIFAR10``, else the official download::

    python -m iterand train --preset fig2-conv6-sc-iterand --data-root /data/cifar10
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
``--set key=value``. ``--set help`` lists every field with its type, default, allowed values, meaning and
the methods that ignore it::

    python -m iterand train --set help

    python -m iterand eval runs/train/<run name> [--checkpoint best]   # accuracies of a saved model
    python -m iterand export runs/train/<run name> [--checkpoint best] [--format torchvision] [--out DIR]
    python -m iterand export runs/train/<run name> --format compact [--out DIR] [--checkpoint best]
    python -m iterand presets [NAME]                                     # list, or show one preset

``export`` writes the model as safetensors with a ``config.json`` (default folder
``<run dir>/export/<format>-<checkpoint>``): ``dense`` (any model: the effective weights, zeros where
pruned, and the masks; ``iterand.engine.posthoc.load_trained(FOLDER)`` rebuilds it) or ``torchvision``
(the ImageNet-stem ResNets at width 1, under torchvision's names: ``torchvision.models.resnet50`` loads it).

``export --format compact`` writes the model as a compact file, ``<run name>-<checkpoint>.ticket`` in the
run directory (or ``--out``): seed, masks and IteRand's re-draw record instead of weights
(``iterand.engine.compact``; ``iterand.load_compact(path)`` rebuilds the model), and prints its sizes.

Sweeps (``iterand.experiments.sweeps``: fig1, fig2-conv6, fig2-resnet18, fig2-resnet34, fig2, fig3) train
every run of a paper figure into ``--out``, skipping finished runs and resuming interrupted ones, so the same
command is also the way to continue; each run logs to ``train.log`` in its run directory::

    python -m iterand sweep fig2-conv6 --dry-run                      # list the 60 runs and their status
    python -m iterand sweep fig1 --data-root /data/cifar10
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
and writes the table (default ``runs/results/results.csv``) with ``-runs.csv`` (one row per run),
``-reference.csv`` (the comparison) and ``-epochs.csv`` (every epoch of every run) beside it.

One process per run directory: a second ``train`` on a run directory in use stops with status 2, naming
the process that holds it; a sweep skips such runs and says so. Ctrl-C stops a run with one line saying
what its directory keeps; the same command resumes it. SIGTERM (``kill``, a scheduler) and SIGHUP (a closed
terminal) stop it the same way.

Exit status: 0 success, 1 training diverged (NaN/inf loss; the last good checkpoint is kept) or, for a
sweep, some run failed (each is listed with its log) or was stopped alone (listed; it resumes when the
sweep runs again), 2 an error you can act on (one line ``error: ...`` naming the field, file or folder:
invalid input, missing or damaged data, a run directory in use or of another run), 130 interrupted
(Ctrl-C, SIGTERM, SIGHUP), 141 silently when the output closes (``... | head``: a run stops after the
epoch it last saved; the same command resumes it). Anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from bookkeeping import signals
from bookkeeping.errors import (
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    CommandParser,
    InvalidInput,
    UserError,
    run_command,
)
from bookkeeping.files import cannot_write, read_json, writable_file, writable_folder
from bookkeeping.paths import CHECKPOINT_CHOICES, ExportFiles, cli_path, default_out
from iterand.engine.compact import describe, export_compact
from iterand.engine.config import TrainConfig, apply_overrides, format_fields, load_yaml, run_name
from iterand.engine.distributed import process_rank
from iterand.engine.exported import is_export
from iterand.engine.posthoc import evaluate_run
from iterand.engine.train import RunInterrupted, TrainingDiverged, train
from iterand.experiments import launcher, planning, presets, results, sweeps
from iterand.experiments.console import log_to_stdout, print_diverged, print_results
from iterand.experiments.export import FORMATS, export_run
from iterand.experiments.results import default_table

EXIT_RUN_FAILED = 1  # a sweep went on past a failed run, or one stopped alone
EXIT_USAGE = EXIT_USER_ERROR
SET_HELP = "override a field (--set help lists every field)"
# steps_per_epoch and setting (a hash of every other field) tell apart rows that would look alike.
RESULT_COLUMNS = (
    "model", "width", "method", "init", "r", "pruned_fraction", "dataset", "epochs", "steps_per_epoch",
    "lossy_jpeg", "setting", "count", "test_acc_last_mean", "test_acc_last_std", "weights_kept",
)  # fmt: skip
REFERENCE_COLUMNS = (
    "model", "width", "method", "init", "pruned_fraction", "epochs", "ours_mean", "ours_std", "published",
    "difference", "source",
)  # fmt: skip

# The compact format (seed, masks, re-draw record: iterand.engine.compact) is written from the run
# directory, beside the folder formats of iterand.experiments.export.
COMPACT = "compact"

__all__ = ["build_config", "main"]


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m iterand",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    train = commands.add_parser("train", help="train (or resume) one run")
    train.add_argument("--preset", help="a preset name (python -m iterand presets lists them)")
    train.add_argument(
        "--config", type=cli_path, help="a YAML file of TrainConfig fields, applied over the preset"
    )
    train.add_argument("--data-root", help="dataset location (folder, .tar.gz archive or download folder)")
    train.add_argument("--out", type=cli_path, help=f"folder of run directories (default {default_out()})")
    train.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP
    )
    evaluate = commands.add_parser("eval", help="evaluate a saved run on its validation and test sets")
    evaluate.add_argument("run_dir", type=cli_path)
    # No default here: an exported folder holds one model, and a --checkpoint given for it is refused.
    evaluate.add_argument(
        "--checkpoint", choices=CHECKPOINT_CHOICES, help="the run's model file (default last)"
    )
    evaluate.add_argument("--data-root", help="dataset location, if it moved since training")
    export = commands.add_parser("export", help="write a saved run's model as safetensors other tools load")
    export.add_argument("run_dir", type=cli_path)
    export.add_argument("--checkpoint", choices=CHECKPOINT_CHOICES, default="last")
    export.add_argument("--format", dest="format_name", choices=(*FORMATS, COMPACT), default="dense")
    export.add_argument(
        "--out", type=cli_path, help="folder to write (default <run_dir>/export/<format>-<checkpoint>)"
    )
    listing = commands.add_parser("presets", help="list the presets, or show one")
    listing.add_argument("name", nargs="?")
    sweep = commands.add_parser("sweep", help="train (or continue) every run of a named sweep")
    sweep.add_argument("name", help=f"one of {', '.join(sweeps.SWEEPS)}")
    sweep.add_argument("--out", type=cli_path, help=f"folder of run directories (default {default_out()})")
    sweep.add_argument("--shard", default="1/1", help="K/N: run only shard K (1..N) of N (default 1/1)")
    sweep.add_argument(
        "--dry-run",
        action="store_true",
        help="list the runs and their status, train nothing; warns of a setting the sweep would stop on, "
        "but for the data, which it does not read",
    )
    sweep.add_argument(
        "--concurrent",
        type=int,
        default=1,
        help="training processes at once (default 1); CPU runs: at most one per core, the cores split "
        "between them",
    )
    sweep.add_argument("--data-root", help="dataset location, for every run")
    sweep.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP
    )
    sweep.add_argument(
        "--grid", action="append", default=[], metavar="KEY=V1,V2", help="sweep a field over these values"
    )
    table = commands.add_parser("results", help="mean and std over seeds of the finished runs, as a table")
    table.add_argument("--out", type=cli_path, help=f"folder of run directories (default {default_out()})")
    table.add_argument("--table", type=cli_path, help=f"CSV file to write (default {default_table()})")
    return parser


def build_config(
    preset: str | None,
    config_file: Path | None = None,
    data_root: str | None = None,
    overrides: Sequence[str] = (),
) -> TrainConfig:
    """The ``TrainConfig`` that ``train`` runs, assembled in the documented order."""
    if preset is None and config_file is None:
        raise InvalidInput(
            "train needs --preset NAME or --config FILE.yaml (python -m iterand presets lists them)"
        )
    config = presets.get(preset) if preset is not None else TrainConfig()
    if config_file is not None:
        if not config_file.is_file():
            raise InvalidInput(f"--config: no file {config_file}")
        config = load_yaml(config_file, base=config)
    if data_root is not None:
        config = config.replace(data_root=data_root)
    return apply_overrides(config, overrides)


def _train(args: argparse.Namespace) -> None:
    config = build_config(args.preset, args.config, args.data_root, args.overrides)
    out = writable_folder(args.out or default_out(), "--out")
    # Killed by SIGTERM or SIGHUP, it ended silently with 143 or 129; as on Ctrl-C, it says what it keeps.
    with signals.stop_signals_as_interrupt():
        summary = train(config, out / run_name(config))
    if process_rank() == 0:
        print_results(summary)


def _eval(args: argparse.Namespace) -> None:
    if args.checkpoint is not None and is_export(args.run_dir):
        raise InvalidInput(
            f"--checkpoint {args.checkpoint}: {args.run_dir} is an exported model, which holds one model "
            "(the one exported); give the run directory to evaluate its other model file"
        )
    print(json.dumps(evaluate_run(args.run_dir, args.checkpoint or "last", args.data_root), indent=2))


def _export(args: argparse.Namespace) -> None:
    if args.format_name == COMPACT:  # one file from the run directory, not a model folder
        path = export_compact(args.run_dir, args.out, args.checkpoint)
        print(json.dumps({"path": str(path), **describe(path.read_bytes())}, indent=2))
        return
    folder = export_run(args.run_dir, args.checkpoint, args.format_name, args.out)
    record = read_json(ExportFiles(folder).config)
    files = [name for name in record["files"].values() if name]
    print(json.dumps({"folder": str(folder), "format": record["format"], "files": files}, indent=2))


def _presets(args: argparse.Namespace) -> None:
    if args.name is None:
        for name in presets.names():
            print(f"{name:32s} {presets.describe(name)['description']}")
    else:
        print(yaml.safe_dump(presets.describe(args.name), sort_keys=False), end="")


def _sweep(args: argparse.Namespace) -> int:
    out = args.out or default_out()
    grid, shard = planning.parse_grid(args.grid), planning.parse_shard(args.shard)
    # What the sweep would refuse is refused before --out is made: a typo left an empty runs/train behind.
    launcher.check_concurrent(args.concurrent)
    planning.plan(args.name, args.overrides, grid)
    if not args.dry_run:
        writable_folder(out, "--out")
    records = launcher.run(
        args.name,
        out,
        overrides=args.overrides,
        grid=grid,
        shard=shard,
        dry_run=args.dry_run,
        concurrent=args.concurrent,
        data_root=args.data_root,
    )
    # A run stopped alone (its process got a signal of its own) is unfinished: `sweep && draw` must not draw.
    unfinished = ("failed", "interrupted")
    return EXIT_RUN_FAILED if any(record["outcome"] in unfinished for record in records) else 0


def _results(args: argparse.Namespace) -> None:
    out = args.out or default_out()
    table = Path(args.table or default_table())
    rows = results.collect(out)  # first: a missing --out made the default table's folder before saying so
    for path in results.result_tables(table).values():
        # All four checked first: a table refused after others were written would leave them mixed.
        writable_file(path, "--table")
    if table.suffix != ".csv":
        # Any other name may be a file of value: a run's summary.json or config.yaml was replaced by a table.
        raise InvalidInput(f"--table must name a .csv file (the companion tables go beside it), got {table}")
    if not rows:
        # An error, not a quiet success: the table from an earlier collection would pass for this one's.
        state = "still holds an earlier collection" if table.exists() else "was not written"
        raise UserError(f"no finished runs below {out}: the table {table} {state}")
    for line in results.duplicate_warnings(rows):
        print(f"warning: {line}", file=sys.stderr)
    try:
        written = results.write_results(rows, table)
    except OSError as error:
        raise UserError(
            f"{cannot_write('the tables of', table, error)}; those written may mix this collection with "
            "an earlier one: run results again once they can be written"
        ) from None
    print(results.format_table(results.read_table(written["aggregated"]), RESULT_COLUMNS))
    compared = results.read_table(written["reference"])
    if compared:
        print()
        print(results.format_table(compared, REFERENCE_COLUMNS))
    for path in written.values():
        print(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int | None:
    args = _parser().parse_args(argv)
    log_to_stdout()
    if "help" in getattr(args, "overrides", ()):
        print(format_fields())
        return 0

    commands = {
        "train": _train,
        "eval": _eval,
        "export": _export,
        "presets": _presets,
        "sweep": _sweep,
        "results": _results,
    }
    try:
        return commands[args.command](args)
    except TrainingDiverged as error:
        return print_diverged(error)
    except RunInterrupted:
        if process_rank() == 0:
            raise
        return EXIT_INTERRUPTED  # rank 0 alone says what the run directory keeps, as it alone logs
