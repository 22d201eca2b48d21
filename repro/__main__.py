"""Execute notebooks with a parameter set: ``python -m repro NAME_OR_PATTERN ... --params quick``.

Examples::

    python -m repro --list
    python -m repro 'theory_*' --params quick     # every theory notebook, seconds each
    python -m repro theory_subset_sums --params full
    python -m repro theory_network --params my_params.yaml

Outputs (executed notebook, figures, their data, provenance.json) go to runs/notebooks/NAME/SET/, SET
being the set's name or, for a parameter file, its name and a hash of its parameters except concurrent,
workers and mode, which change how it runs, not what it computes (my_params-3fa2b1c0),
followed by the kind of data when it is not the kind the notebook reads by default (quick-cifar10 for the
trained-network notebook on CIFAR-10, quick-synthetic for a figure whose runs train on synthetic data).
Its provenance.json says whether the run succeeded, failed or was interrupted; until a new run succeeds,
the outputs of the last successful one are kept in runs/notebooks/NAME/SET.previous/.
Status: 0 success, 1 a notebook failed (the line says where its traceback is), 2 invalid input (one line
error: ...), 130 interrupted (Ctrl-C, SIGTERM or SIGHUP: the kernel and any training it started stop
first).
"""

from __future__ import annotations

import argparse
import sys

from bookkeeping.errors import CommandParser, run_command


def main(argv=None) -> int:
    return run_command(lambda: _main(argv))


def _main(argv) -> int:
    # Imported here, under run_command: papermill and jupytext take a second or two to import, and a
    # Ctrl-C meanwhile must end as any other (one line, status 130), not with an import traceback.
    from repro import notebooks

    parser = CommandParser(
        prog="python -m repro",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="*", help="notebook names or shell-style patterns ('theory_*')")
    parser.add_argument(
        "--params", default="quick", help="parameter set name or a .yaml file (default: quick)"
    )
    parser.add_argument("--list", action="store_true", help="list notebooks and their parameter sets")
    args = parser.parse_args(argv)
    if args.list or not args.names:
        for name in notebooks.available():
            print(f"{name:28s} {', '.join(notebooks.parameter_sets(name))}")
        return 0
    return notebooks.run_batch(args.names, args.params)


if __name__ == "__main__":
    sys.exit(main())
