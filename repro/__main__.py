"""Execute notebooks with a parameter set: ``python -m repro NAME_OR_PATTERN ... --params quick``.

Examples::

    python -m repro --list
    python -m repro 'theory_*' --params quick     # every theory notebook, seconds each
    python -m repro theory_subset_sums --params full
    python -m repro theory_network --params my_params.yaml
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import time

from papermill.exceptions import PapermillExecutionError

from repro import notebooks, paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repro", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebook names or shell-style patterns ('theory_*')")
    parser.add_argument("--params", default="quick", help="parameter set name or a .yaml file (default: quick)")
    parser.add_argument("--list", action="store_true", help="list notebooks and their parameter sets")
    args = parser.parse_args(argv)
    if args.list or not args.names:
        for name in notebooks.available():
            print(f"{name:28s} {', '.join(notebooks.parameter_sets(name))}")
        return 0
    try:
        selected = select(args.names)
        for name in selected:
            notebooks.load_parameters(name, args.params)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name in selected:
        started = time.perf_counter()
        print(f"running {name} [{args.params}] ...", flush=True)
        try:
            out_dir = notebooks.execute(name, args.params)
        except PapermillExecutionError as err:
            print(f"error: notebook {name} failed in cell {err.exec_count}: {err.ename}: {err.evalue}", file=sys.stderr)
            print(f"the executed notebook with the traceback is in {paths.notebook_output_dir(name, args.params)}",
                  file=sys.stderr)
            return 1
        print(f"  done in {time.perf_counter() - started:.1f} s -> {out_dir}", flush=True)
    return 0


def select(patterns: list[str]) -> list[str]:
    """Notebook names matching the patterns, in the order given; a pattern matching nothing is an error."""
    names = notebooks.available()
    selected: list[str] = []
    for pattern in patterns:
        matches = fnmatch.filter(names, pattern)
        if not matches:
            raise ValueError(f"notebook must be one of {', '.join(names)} (or a pattern), got {pattern!r}")
        selected += [m for m in matches if m not in selected]
    return selected


if __name__ == "__main__":
    sys.exit(main())
