"""Timing of ``theory.subset_sum.worst_case_error`` (interval method) against brute force.

Each repeat draws fresh U[-1, 1] samples (t = 1) from one seeded generator and times one call. Targets are
the per-draw medians the theory library promises on a 2-core machine; brute force (all sums, sorted) runs
on the same draws where it fits its 2^22-sum limit.

    python benchmarks/theory_worst_case.py --repeats 30 --out worst_case.md
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from theory.subset_sum import worst_case_error, worst_case_error_brute


@dataclass(frozen=True)
class Case:
    n: int
    draws: int  # 0: model A, shape (n,); R >= 1: model B, shape (n, R)
    eps: float | None  # None: exact value
    target_ms: float | None
    brute: bool

    @property
    def label(self) -> str:
        model = "A" if self.draws == 0 else f"B R={self.draws}"
        resolution = "exact" if self.eps is None else f"eps={self.eps:g}"
        return f"{model} n={self.n} {resolution}"


CASES = (
    Case(40, 0, 1e-4, 5.0, False),
    Case(60, 0, 1e-5, 100.0, False),
    Case(20, 4, 1e-4, 10.0, False),
    Case(20, 0, 1e-4, None, True),
    Case(22, 0, 1e-5, None, True),
    Case(20, 0, None, None, True),
    Case(40, 0, 1e-5, None, False),
    Case(30, 2, 1e-5, None, False),
)


def _time_ms(call) -> float:
    start = time.perf_counter()
    call()
    return 1e3 * (time.perf_counter() - start)


def run(repeats: int, brute_repeats: int, seed: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    rows = []
    for case in CASES:
        shape = (case.n,) if case.draws == 0 else (case.n, case.draws)
        samples = [rng.uniform(-1.0, 1.0, shape) for _ in range(repeats)]
        fast = [_time_ms(lambda x=x, eps=case.eps: worst_case_error(x, 1.0, eps)) for x in samples]
        row = {
            "case": case.label,
            "median ms": f"{np.median(fast):.2f}",
            "p90 ms": f"{np.percentile(fast, 90):.2f}",
            "target ms": "-" if case.target_ms is None else f"{case.target_ms:g}",
            "brute median ms": "-",
            "brute / fast": "-",
        }
        if case.brute:
            chosen = samples[:brute_repeats]
            brute = np.median([_time_ms(lambda x=x: worst_case_error_brute(x, 1.0)) for x in chosen])
            row["brute median ms"] = f"{brute:.1f}"
            row["brute / fast"] = f"{brute / np.median(fast[: len(chosen)]):.0f}x"
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, str]]) -> str:
    header = list(rows[0])
    widths = [max(len(h), *(len(r[h]) for r in rows)) for h in header]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += [
        "| " + " | ".join(r[h].ljust(w) for h, w in zip(header, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=30, help="draws timed per case (default 30)")
    parser.add_argument("--brute-repeats", type=int, default=5, help="of those, draws also brute-forced")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample generator (default 0)")
    parser.add_argument("--out", help="also write the table as markdown to this file")
    args = parser.parse_args()
    if args.repeats < 1 or not 1 <= args.brute_repeats <= args.repeats:
        parser.error("need --repeats >= 1 and 1 <= --brute-repeats <= --repeats")
    table = markdown(run(args.repeats, args.brute_repeats, args.seed))
    print(
        f"seed {args.seed}, {args.repeats} repeats ({args.brute_repeats} with brute force), U[-1, 1], t = 1"
    )
    print(table, end="")
    if args.out:
        with open(args.out, "w") as f:
            f.write(table)


if __name__ == "__main__":
    main()
