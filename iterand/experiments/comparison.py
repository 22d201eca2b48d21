"""Paired comparison of two methods over seeds: the per-seed difference, its mean and a 95 % interval.

The runs of one seed share everything a seed fixes (initial weights, scores, data order, the split), so
the difference between two methods trained with the same seed cancels what the seed alone would change.
The interval is Student's t interval of the mean difference (n - 1 degrees of freedom): with three seeds
it is wide (t = 4.30), and it says so rather than hiding it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import mpmath

from iterand.experiments import results

__all__ = ["paired_differences", "t_quantile"]


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t distribution with ``df`` degrees of freedom (0.5 < p < 1)."""
    if not 0.5 < p < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0.5 < p < 1 and df >= 1, got p={p}, df={df}")

    def upper_tail(t: float) -> float:
        return 0.5 * float(mpmath.betainc(df / 2, 0.5, 0, df / (df + t * t), regularized=True))

    # Bisection on the upper tail, which falls monotonically in t; 200 halvings reach float precision.
    low, high = 0.0, 1.0
    while upper_tail(high) > 1 - p:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if upper_tail(middle) > 1 - p:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def paired_differences(
    rows: Iterable[Mapping[str, Any]],
    baseline: str,
    method: str,
    metric: str = "test_acc_last",
    by: Sequence[str] = ("model", "width", "init"),
    level: float = 0.95,
) -> list[dict[str, Any]]:
    """Per group of equal ``by`` values: ``method`` minus ``baseline`` in ``metric`` for every seed that
    both have, their mean, standard deviation and ``level`` t interval (None with fewer than two seeds).
    The default groups are the series of Fig. 2 that two methods share: one per model, width and init of
    the random network (edge-popup from KU is compared with IteRand from KU, never from SC).

    ``rows`` are per-run rows (``results.collect``); a run found in several directories counts once
    (``results.counted``). Two runs of one seed and method in one group (two settings, say two learning
    rates) are an error: the caller must choose one before comparing, never average them.
    """
    groups: dict[tuple, dict[str, dict[int, float]]] = {}
    for item in results.counted(rows):
        if item.get("method") not in (baseline, method) or item.get(metric) is None:
            continue
        key = tuple(item.get(field) for field in by)
        seeds = groups.setdefault(key, {baseline: {}, method: {}})[item["method"]]
        if item["seed"] in seeds:
            where = dict(zip(by, key, strict=True))
            raise ValueError(f"seed {item['seed']} of {item['method']} at {where} appears twice")
        seeds[item["seed"]] = float(item[metric])
    compared = []
    for key in sorted(groups):
        runs = groups[key]
        seeds = sorted(set(runs[baseline]) & set(runs[method]))
        differences = [runs[method][seed] - runs[baseline][seed] for seed in seeds]
        values: dict[str, Any] = dict(zip(by, key, strict=True))
        values.update(
            baseline=baseline,
            method=method,
            metric=metric,
            seeds=" ".join(str(seed) for seed in seeds),
            differences=" ".join(f"{d:+.2f}" for d in differences),
            count=len(differences),
            mean=statistics.fmean(differences) if differences else None,
            std=None,
            low=None,
            high=None,
        )
        if len(differences) > 1:
            std = statistics.stdev(differences)
            half = t_quantile((1 + level) / 2, len(differences) - 1) * std / math.sqrt(len(differences))
            values.update(std=std, low=values["mean"] - half, high=values["mean"] + half)
        compared.append(values)
    return compared
