"""Command line of the theory module: ``python -m theory COMMAND ...``.

    python -m theory worst-case 0.31 -0.72 0.05 0.9            # exact E*(X), model A
    python -m theory worst-case 0.31 -0.72 0.05 0.9 --draws 2  # model B: 2 slots with 2 draws each
    python -m theory worst-case 0.31 -0.72 0.05 0.9 --eps 1e-3 # decide E* <= eps (fast)
    python -m theory worst-case -- -1e-3 0.5 0.25                # after --, every value is a sample
    python -m theory estimate --n 8 12 16 --eps 1e-2 1e-3 --trials 2000 --seed 0
    python -m theory experiment subset_sums --params quick     # tables only, no notebook
    python -m theory experiment trained_network --params full --data-root cifar10-jpeg.tar.gz
    python -m theory figures --params quick                    # every theory notebook through papermill

Samples are numbers, also when they start with a minus sign (``-0.72``, ``-1e-3``, ``-.5``); ``--`` ends
the options, after it every value is a sample. Without ``--eps`` the exact value needs finer and finer
resolution as samples are added; past ``--max-intervals`` (about 1 GiB of memory at the default) the
command stops with a line that says how small ``E*`` is known to be and suggests ``--eps``.

Invalid input, or a computation refused as too large, prints one line ``error: ...`` naming the
parameter and exits with status 2; Ctrl-C exits with status 130, a closed output pipe silently.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

from bookkeeping import paths, provenance, tables, validation
from bookkeeping.errors import CommandParser, InvalidInput, run_command
from bookkeeping.files import writable_file, writable_folder
from repro import notebooks
from theory import experiments, montecarlo, subset_sum
from theory.distributions import DISTRIBUTIONS

NOTEBOOK_PREFIX = "theory_"


# Any number argparse's own rule misses (it takes "-1e-3" and "-.5e2" for options): a leading minus sign
# followed by a decimal number, with an optional exponent.
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class _Parser(CommandParser):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER


def main(argv=None) -> int:
    return run_command(lambda: _main(argv))


def _main(argv) -> int:
    args = _parser().parse_args(argv)
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m theory",
        description="Numerical checks of random subset-sum approximation, with and without re-sampling.",
        epilog=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("worst-case", help="E*(X) = sup_{|z|<=t} min_S |z - sum_S X| for given samples")
    p.add_argument("samples", nargs="+", type=float, help="the sample values X_1 .. X_n")
    p.add_argument(
        "--t", type=float, default=1.0, help="half-width of the target interval [-t, t] (default 1)"
    )
    p.add_argument("--eps", type=float, help="only decide E* <= eps (exact decision, much faster)")
    p.add_argument("--draws", type=int, default=1, help="R: read the samples as n slots of R draws (model B)")
    p.add_argument("--brute", action="store_true", help="enumerate every subset sum (reference, small n)")
    p.add_argument(
        "--max-intervals",
        type=int,
        default=subset_sum.MAX_INTERVALS,
        help=f"memory cap of the computation, in intervals of 16 bytes (default {subset_sum.MAX_INTERVALS})",
    )
    p.set_defaults(run=_worst_case)

    p = sub.add_parser("estimate", help="Monte Carlo estimate of p(n, eps) = P(E* <= eps) on a grid")
    p.add_argument("--n", type=int, nargs="+", required=True, help="numbers of samples")
    p.add_argument("--eps", type=float, nargs="+", required=True, help="tolerances")
    p.add_argument("--trials", type=int, default=2000)
    p.add_argument("--distribution", default="uniform", help=f"one of {', '.join(DISTRIBUTIONS)}")
    p.add_argument("--draws", type=int, default=1, help="R draws per slot (1: model A, more: model B)")
    p.add_argument("--t", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=paths.cli_path, help="also write the table to this CSV file")
    p.set_defaults(run=_estimate)

    p = sub.add_parser("experiment", help="run one experiment with a parameter set and write its tables")
    p.add_argument("name", help=f"one of {', '.join(experiments.EXPERIMENTS)}")
    p.add_argument("--params", default="quick", help="parameter set (quick, full) or a .yaml file")
    p.add_argument(
        "--data-root",
        help="trained_network: the CIFAR-10 copy to train the target on (default: the parameter data_root, "
        "else $ITERAND_CIFAR10, else the synthetic teacher task); 'synthetic' forces the synthetic task",
    )
    p.set_defaults(run=_experiment)

    p = sub.add_parser("figures", help="regenerate the theory figures (executes the notebooks)")
    p.add_argument("names", nargs="*", help="experiments to include (default: all)")
    p.add_argument("--params", default="quick", help="parameter set (quick, full) or a .yaml file")
    p.set_defaults(run=_figures)
    return parser


def _worst_case(args) -> int:
    values = np.asarray(args.samples)
    draws = validation.integer_at_least("draws", args.draws, 1)
    if values.size % draws:
        raise InvalidInput(f"samples must hold n * R values for --draws {draws}, got {values.size}")
    x = values if draws == 1 else values.reshape(-1, draws)
    if args.brute:
        if args.eps is not None:
            raise InvalidInput("eps cannot be combined with --brute (brute force computes the exact value)")
        value = subset_sum.worst_case_error_brute(x, args.t)
    else:
        show = (lambda line: print(line, file=sys.stderr, flush=True)) if sys.stderr.isatty() else None
        value = subset_sum.worst_case_error(
            x, args.t, args.eps, max_intervals=args.max_intervals, progress=show
        )
    if args.eps is None or value >= args.eps:
        print(f"E* = {value:.12g}")
    else:
        # Below eps the interval method only brackets E* (worst_case_error's docstring): no exact value.
        print(f"{value:.12g} <= E* <= {args.eps:g} (run without --eps for the exact value)")
    if args.eps is not None:
        print(f"E* <= eps ({args.eps:g}): {'yes' if value <= args.eps else 'no'}")
    return 0


def _estimate(args) -> int:
    R = validation.integer_at_least("draws", args.draws, 1)
    if args.out:
        writable_file(args.out, "--out")
    rows = montecarlo.success_probabilities(
        args.distribution,
        args.n,
        args.eps,
        model="none" if R == 1 else "oracle",
        R=R,
        t=args.t,
        trials=args.trials,
        seed=args.seed,
    )
    print(f"{'n':>4} {'eps':>10} {'p':>7}  95% interval      (trials={args.trials}, seed={args.seed})")
    for r in rows:
        print(f"{r['n']:>4} {r['eps']:>10.3g} {r['p']:>7.4f}  [{r['ci_low']:.4f}, {r['ci_high']:.4f}]")
    if args.out:
        tables.write_csv(rows, Path(args.out))
    return 0


def _experiment(args) -> int:
    validation.choice("experiment", args.name, experiments.EXPERIMENTS)
    notebook = NOTEBOOK_PREFIX + args.name
    given = notebooks.load_parameters(notebook, args.params)
    if args.data_root is not None:
        # The experiment decides, not the parameter file: a file may leave data_root to the default.
        if "data_root" not in _declared(args.name):
            readers = [name for name in experiments.EXPERIMENTS if "data_root" in _declared(name)]
            raise InvalidInput(
                f"data-root applies only to experiments that read data ({', '.join(readers)}), "
                f"not to {args.name}"
            )
        given = {**given, "data_root": args.data_root}
    # What the notebook would run with: parameters the set leaves out keep the notebook's defaults.
    parameters = notebooks.effective_parameters(notebook, given)
    out_dir = paths.experiment_output_dir(
        args.name, notebooks.output_label(notebook, args.params, given, parameters)
    )
    # Refused now, not when the tables are written after the computation.
    writable_folder(out_dir, f"output folder below {paths.root_origin(paths.RUNS_ENV)}")
    started = time.perf_counter()
    results = experiments.EXPERIMENTS[args.name](**parameters)
    seconds = round(time.perf_counter() - started, 1)
    # Tables and provenance are written one after the other: without this, a kill between them would
    # leave the new tables under the provenance of the previous run.
    (out_dir / paths.PROVENANCE_FILE).unlink(missing_ok=True)
    tables.write_tables(results, out_dir)
    provenance.write(
        out_dir,
        parameters,
        seed=parameters.get("seed"),
        status=notebooks.SUCCEEDED,
        experiment=args.name,
        given_parameters=given,
        data_source=notebooks.data_source(notebook, parameters),
        seconds=seconds,
    )
    print(f"wrote {', '.join(results)} to {out_dir} in {seconds} s")
    return 0


def _declared(experiment: str) -> dict:
    return notebooks.declared_parameters(NOTEBOOK_PREFIX + experiment)


def _figures(args) -> int:
    names = args.names or list(experiments.EXPERIMENTS)
    for name in names:
        validation.choice("experiment", name, experiments.EXPERIMENTS)
    return notebooks.run_batch([NOTEBOOK_PREFIX + n for n in names], args.params)
