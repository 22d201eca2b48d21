"""Monte Carlo estimates of ``p(n, eps) = P(E*(X) <= eps)`` and of the required size ``n_delta(eps)``, the
smallest ``n`` of a grid whose estimated ``p`` reaches ``1 - delta``.

Cells. A grid cell is ``(distribution, model, R, n)``; its ``trials`` samples are drawn at once, as one
array of shape ``(trials, n)`` (model A, "none") or ``(trials, n, R)`` (model B, "oracle"), from a
generator seeded by ``SeedSequence(seed, spawn_key=(crc32(distribution), crc32(model), R, n))``. So a
cell's numbers depend only on the cell and the root ``seed``, never on which other cells are in the grid.
All ``eps`` of a cell share its samples: one :func:`theory.subset_sum.worst_case_error` call per trial at the
smallest ``eps`` of the grid decides every ``eps`` of the grid exactly, and the estimated ``p`` cannot
decrease with ``eps`` within a cell.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from functools import partial

import numpy as np
from tqdm import tqdm

from bookkeeping import validation
from bookkeeping.errors import InvalidInput
from theory import bounds, distributions, subset_sum

MODELS = ("none", "oracle")
# A cell's samples are drawn as one float64 array; past this size a grid is refused before anything runs.
MAX_CELL_BYTES = 2**30

#: Keys of every record of :func:`success_probabilities`, in order (a CSV header).
RECORD_KEYS = (
    "distribution",
    "model",
    "R",
    "n",
    "eps",
    "t",
    "trials",
    "successes",
    "p",
    "ci_low",
    "ci_high",
    "confidence",
    "seed",
)


def cell_seed(seed: int, distribution: str, model: str, R: int, n: int) -> np.random.SeedSequence:
    """The seed of one grid cell: a function of the cell and the root ``seed`` only."""
    key = (zlib.crc32(distribution.encode()), zlib.crc32(model.encode()), R, n)
    return np.random.SeedSequence(entropy=seed, spawn_key=key)


def success_probabilities(
    distribution: str,
    n_values: Sequence[int],
    eps_values: Sequence[float],
    *,
    model: str = "none",
    R: int = 1,
    t: float = 1.0,
    trials: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    workers: int = 1,
    progress: bool = False,
) -> list[dict]:
    """Estimate ``p(n, eps)`` for every ``n`` in ``n_values`` and ``eps`` in ``eps_values``.

    ``model`` is "none" (model A, needs ``R = 1``) or "oracle" (model B: ``R`` draws per slot, each slot
    used with none or one of its draws). Each record (keys :data:`RECORD_KEYS`) holds the cell, the
    number of successes ``E*(X) <= eps`` among ``trials``, ``p = successes / trials`` and its Wilson
    interval at ``confidence`` (:func:`theory.bounds.wilson_interval`), and the root ``seed``. Records come
    in the order of ``n_values`` then ``eps_values``. ``workers > 1`` spreads the cells over processes
    (same numbers); ``progress`` shows a bar per cell.

    A grid whose largest cell would hold more than ``MAX_CELL_BYTES`` of samples (``trials * n * R``
    float64 values) is refused up front with ``InvalidInput`` naming the sizes.
    """
    distribution = validation.choice("distribution", distribution, distributions.DISTRIBUTIONS)
    model = validation.choice("model", model, MODELS)
    R = validation.integer_at_least("R", R, 1)
    if model == "none" and R != 1:
        raise InvalidInput(f"R must be 1 for model 'none' (one draw per slot), got {R}")
    n_values = grid("n_values", n_values, lambda name, n: validation.integer_at_least(name, n, 1))
    eps_values = grid("eps_values", eps_values, validation.positive)
    t = validation.positive("t", t)
    trials = validation.integer_at_least("trials", trials, 1)
    seed = validation.integer_at_least("seed", seed, 0)
    confidence = validation.fraction("confidence", confidence, low_open=True, high_open=True)
    workers = validation.integer_at_least("workers", workers, 1)
    check_cell_size(trials, max(n_values), R)

    cell = partial(
        _cell_records,
        distribution=distribution,
        model=model,
        R=R,
        eps_values=tuple(eps_values),
        t=t,
        trials=trials,
        seed=seed,
        confidence=confidence,
    )
    bar = tqdm(total=len(n_values), desc=f"{distribution}/{model}/R={R}", disable=not progress)
    records: list[dict] = []
    with bar:
        if workers == 1:
            _collect(map(cell, n_values), records, bar)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                _collect(pool.map(cell, n_values), records, bar)
    return records


def required_n(records: Sequence[dict], delta: float) -> list[dict]:
    """``n_delta(eps)``: for every ``(distribution, model, R, t)`` group and ``eps`` of ``records``, the
    smallest grid ``n`` whose success probability reaches ``1 - delta``, in three readings:

    - ``n_delta``: estimated ``p >= 1 - delta`` (compared exactly as ``successes/trials``);
    - ``n_delta_conservative``: lower Wilson bound ``ci_low >= 1 - delta`` (the data make it unlikely that
      the true ``p`` is below ``1 - delta`` there);
    - ``n_delta_optimistic``: upper Wilson bound ``ci_high >= 1 - delta`` (below it, the data make
      ``p >= 1 - delta`` unlikely).

    Each is ``None`` when no ``n`` of the grid qualifies. Output records: distribution, model, R, t, eps,
    delta, n_delta, n_delta_conservative, n_delta_optimistic, n_max (the largest ``n`` of the grid).
    The true ``p`` cannot decrease with ``n`` (more samples, more subset sums), but the estimates of
    different ``n`` are independent and may; "smallest" is taken literally.
    """
    delta = validation.fraction("delta", delta, low_open=True, high_open=True)
    goal = 1 - Fraction(delta)
    out = []
    for (group, eps), cells in group_cells(records).items():
        distribution, model, R, t = group
        out.append(
            {
                "distribution": distribution,
                "model": model,
                "R": R,
                "t": t,
                "eps": eps,
                "delta": delta,
                "n_delta": _smallest_n(cells, lambda r: Fraction(r["successes"], r["trials"]) >= goal),
                "n_delta_conservative": _smallest_n(cells, lambda r: r["ci_low"] >= goal),
                "n_delta_optimistic": _smallest_n(cells, lambda r: r["ci_high"] >= goal),
                "n_max": cells[-1]["n"],
            }
        )
    return out


def group_cells(records: Sequence[dict]) -> dict[tuple[tuple, float], list[dict]]:
    """Records keyed by ``((distribution, model, R, t), eps)``, each list sorted by ``n``.

    Rejects records without the keys of :data:`RECORD_KEYS` and repeated ``(n, eps)`` within a group.
    """
    groups: dict[tuple[tuple, float], list[dict]] = {}
    for record in records:
        if not isinstance(record, dict) or not set(RECORD_KEYS) <= set(record):
            raise InvalidInput(f"records must be dicts with the keys {', '.join(RECORD_KEYS)}")
        key = ((record["distribution"], record["model"], record["R"], record["t"]), record["eps"])
        groups.setdefault(key, []).append(record)
    for (group, eps), cells in groups.items():
        cells.sort(key=lambda r: r["n"])
        ns = [r["n"] for r in cells]
        if len(set(ns)) != len(ns):
            raise InvalidInput(
                f"records must hold one record per (n, eps) in each group; {group} repeats eps={eps}"
            )
    return groups


def _cell_records(
    n: int,
    *,
    distribution: str,
    model: str,
    R: int,
    eps_values: tuple[float, ...],
    t: float,
    trials: int,
    seed: int,
    confidence: float,
) -> list[dict]:
    rng = np.random.default_rng(cell_seed(seed, distribution, model, R, n))
    shape = (trials, n) if model == "none" else (trials, n, R)
    samples = distributions.sample(distribution, shape, rng)
    smallest = min(eps_values)
    values = np.array([subset_sum.worst_case_error(x, t, eps=smallest) for x in samples])
    eps = np.asarray(eps_values)
    successes = (values[:, None] <= eps[None, :]).sum(axis=0)
    low, high = bounds.wilson_interval(successes, trials, confidence)
    return [
        {
            "distribution": distribution,
            "model": model,
            "R": R,
            "n": n,
            "eps": float(e),
            "t": t,
            "trials": trials,
            "successes": int(s),
            "p": int(s) / trials,
            "ci_low": float(lo),
            "ci_high": float(hi),
            "confidence": confidence,
            "seed": seed,
        }
        for e, s, lo, hi in zip(eps_values, successes, low, high, strict=True)
    ]


def _collect(cells, records: list[dict], bar: tqdm) -> None:
    for cell in cells:
        records.extend(cell)
        bar.update()


def check_cell_size(trials: int, n: int, R: int) -> None:
    """Refuse (``InvalidInput``) a cell of ``trials * n * R`` samples larger than ``MAX_CELL_BYTES``; a caller
    that runs several grids checks them all with this before sampling any."""
    cell_bytes = 8 * trials * n * R
    if cell_bytes > MAX_CELL_BYTES:
        limit = f"{MAX_CELL_BYTES // 8:,} samples per cell ({_size(MAX_CELL_BYTES)} of float64)"
        raise InvalidInput(
            f"trials * n * R must be at most {limit}, got {trials:,} * {n:,} * {R:,} "
            f"({_size(cell_bytes)}); lower trials or n"
        )


def grid(name: str, values, check: Callable, *, allow_empty: bool = False) -> list:
    """The entries of a grid axis ``name`` (a parameter), each checked by ``check(f"{name}[i]", value)``: a
    list without repeats, non-empty unless ``allow_empty``."""
    checked = [check(f"{name}[{i}]", v) for i, v in enumerate(validation.entries(name, values))]
    if not checked and not allow_empty:
        raise InvalidInput(f"{name} must have at least 1 entry")
    if len(set(checked)) != len(checked):
        raise InvalidInput(f"{name} must not repeat a value, got {checked}")
    return checked


def _smallest_n(cells: list[dict], qualifies: Callable[[dict], bool]) -> int | None:
    return next((r["n"] for r in cells if qualifies(r)), None)


def _size(n_bytes: int) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.1f} {unit}"
    return f"{n_bytes:,} bytes"
