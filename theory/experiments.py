"""The computations behind each theory notebook, one function per notebook.

Each function takes the notebook's parameters (the keys of ``notebooks/params/theory_NAME.yaml``) and
returns named tables: lists of flat dicts (written as CSV) or dicts (written as JSON). The notebooks call
them through ``run`` and plot; ``python -m theory experiment NAME`` calls them and only writes the tables,
so the numbers of a figure never depend on notebook code.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bookkeeping import tables, validation
from bookkeeping.errors import InvalidInput
from theory import (
    bounds,
    distributions,
    lueker_fit,
    montecarlo,
    network,
    resampling,
    subset_sum,
    symbolic,
    target_data,
    target_training,
    trained_network,
)

FIT_DISTRIBUTION = "uniform"


def subset_sums(
    seed: int,
    trials: int,
    t: float,
    delta: float,
    distributions: list[str],
    n_values: list[int],
    oracle_n_values: list[int],
    eps_values: list[float],
    R_values: list[int],
    workers: int = 1,
) -> dict:
    """Models A and B: ``p(n, eps)``, ``n_delta(eps)`` with the counting bound, the fitted Lueker constant.

    Model A ("none", R = 1) runs for every distribution over ``n_values``; model B ("oracle") runs for
    U[-1, 1] at each ``R > 1`` of ``R_values`` over ``oracle_n_values`` (it needs fewer samples).
    The Lueker/Pensia constants and the affine law are fitted on model A with U[-1, 1] samples.

    Every parameter is checked before any sampling. A part of the fit the grid cannot give (the affine law
    needs ``n_delta`` at 2 or more eps, so ``n_values`` must reach ``1 - delta`` at two eps) is left out
    of ``lueker_fit`` (``None``, or no ``affine`` entry), its reason is put in
    ``lueker_fit["not_computable"]`` and printed as a warning: the Monte Carlo tables are kept, not thrown
    away with the fit.
    """
    names = _distribution_names(distributions)
    n_values = montecarlo.grid("n_values", n_values, _at_least_one)
    oracle_n_values = montecarlo.grid("oracle_n_values", oracle_n_values, _at_least_one)
    eps_values = montecarlo.grid("eps_values", eps_values, validation.positive)
    R_values = montecarlo.grid("R_values", R_values, _at_least_one, allow_empty=True)
    delta = validation.fraction("delta", delta, low_open=True, high_open=True)
    t = validation.positive("t", t)
    trials = validation.integer_at_least("trials", trials, 1)
    seed = validation.integer_at_least("seed", seed, 0)
    workers = validation.integer_at_least("workers", workers, 1)
    oracle_R = [R for R in R_values if R > 1]
    # The largest cells are refused here, not after minutes of sampling the smaller grids.
    montecarlo.check_cell_size(trials, max(n_values), 1)
    for R in oracle_R:
        montecarlo.check_cell_size(trials, max(oracle_n_values), R)

    common = dict(t=t, trials=trials, seed=seed, workers=workers, progress=True)
    records = []
    for name in names:
        records += montecarlo.success_probabilities(name, n_values, eps_values, model="none", **common)
    for R in oracle_R:
        records += montecarlo.success_probabilities(
            FIT_DISTRIBUTION, oracle_n_values, eps_values, model="oracle", R=R, **common
        )
    required = montecarlo.required_n(records, delta)
    for row in required:
        row["counting_bound"] = float(bounds.counting_lower_bound(row["t"], row["eps"], row["R"]))
    fit_records = [r for r in records if r["distribution"] == FIT_DISTRIBUTION and r["model"] == "none"]
    return {
        "success_probability": records,
        "required_n": required,
        "lueker_fit": _lueker_fit(fit_records, delta),
    }


def _lueker_fit(records: list[dict], delta: float) -> dict:
    """:func:`theory.lueker_fit.fit` as a table; each part the grid cannot give is named in a warning."""
    fitted = dataclasses.asdict(lueker_fit.fit(records, [delta]))
    if not records:
        fitted["not_computable"] = {
            "all": f"the fit uses model A with {FIT_DISTRIBUTION!r} samples; add it to distributions"
        }
    for part, reason in fitted["not_computable"].items():
        warnings.warn(f"lueker_fit: {part} not computable: {reason}", stacklevel=3)
    return fitted


def _distribution_names(values) -> list[str]:
    return montecarlo.grid(
        "distributions", values, lambda name, d: validation.choice(name, d, distributions.DISTRIBUTIONS)
    )


def _at_least_one(name: str, value) -> int:
    return validation.integer_at_least(name, value, 1)


def resampling_models(
    seed: int,
    lemma_trials: int,
    model_trials: int,
    alpha_values: list[float],
    lemma_eps_values: list[float],
    m_values: list[int],
    n: int,
    R: int,
    r_values: list[float],
    targets: int,
    t: float,
) -> dict:
    """The single-draw lemma (exact vs Monte Carlo vs bound) and the per-target errors of models A, B, C.

    Lemma: for each ``(alpha, eps)``, ``lemma_trials`` rows of ``max(m_values)`` U[-1, 1] draws; the failure
    ``min_{i<=m} |alpha - X_i| > eps`` is read off the first ``m`` draws of each row.
    Models: per trial (``model_trials`` of them) one ``(n, R)`` array of U[-1, 1] draws shared by the
    three models (A uses column 0, B any one draw per slot, C re-draws from the columns in order),
    ``targets`` targets uniform on ``[-t, t]``; model C at each ``r`` of ``r_values``, with its per-round
    errors. Every parameter is checked before any sampling.
    """
    seed = validation.integer_at_least("seed", seed, 0)
    lemma_trials = validation.integer_at_least("lemma_trials", lemma_trials, 1)
    model_trials = validation.integer_at_least("model_trials", model_trials, 1)
    alpha_values = montecarlo.grid(
        "alpha_values", alpha_values, lambda name, a: validation.in_range(name, a, -1.0, 1.0)
    )
    # The lemma's bound holds for eps <= 1 (bounds.single_draw_failure_bound).
    lemma_eps_values = montecarlo.grid(
        "lemma_eps_values", lemma_eps_values, lambda name, e: validation.fraction(name, e, low_open=True)
    )
    m_values = montecarlo.grid("m_values", m_values, _at_least_one)
    n = validation.integer_at_least("n", n, 1)
    R = validation.integer_at_least("R", R, 1)
    if n > network.max_width(R):
        raise InvalidInput(
            f"n must be <= {network.max_width(R)} for R = {R} (model B's exact search), got {n}"
        )
    r_values = montecarlo.grid("r_values", r_values, validation.fraction)
    targets = validation.integer_at_least("targets", targets, 1)
    t = validation.positive("t", t)
    rng = np.random.default_rng(seed)
    lemma = []
    m_max = max(m_values)
    for alpha in alpha_values:
        for eps in lemma_eps_values:
            draws = distributions.sample("uniform", (lemma_trials, m_max), rng)
            for m in m_values:
                failures = int(np.sum(~np.any(np.abs(alpha - draws[:, :m]) <= eps, axis=1)))
                low, high = bounds.wilson_interval(failures, lemma_trials)
                lemma.append(
                    {
                        "alpha": alpha,
                        "eps": eps,
                        "m": m,
                        "trials": lemma_trials,
                        "failure_mc": failures / lemma_trials,
                        "ci_low": float(low),
                        "ci_high": float(high),
                        "failure_exact": float(bounds.single_draw_failure_exact(alpha, eps, m)),
                        "failure_bound": float(bounds.single_draw_failure_bound(eps, m)),
                        "seed": seed,
                    }
                )
    errors, rounds = [], []
    for trial in range(model_trials):
        draws = distributions.sample("uniform", (n, R), rng)
        z = rng.uniform(-t, t, targets)
        per_model = {
            ("none", None): subset_sum.best_subset(draws[:, 0], z)[0],
            ("oracle", None): subset_sum.best_choice(draws, z)[0],
        }
        for r in r_values:
            path = resampling.iterand_process(draws, z, r=r, rng=rng)
            per_model[("iterand", r)] = path[:, -1]
            for k in range(R):
                rounds.append(
                    {"trial": trial, "r": r, "round": k, "mean_log10_error": _mean_log10(path[:, k])}
                )
        for (model, r), values in per_model.items():
            errors += [
                {"trial": trial, "target": j, "z": float(z[j]), "model": model, "r": r, "error": float(e)}
                for j, e in enumerate(values)
            ]
    return {"single_draw": lemma, "per_target_errors": errors, "iterand_rounds": rounds}


def network_error(seed: int, dims: list[int], sweeps: list[dict], trials: int, inputs: int) -> dict:
    """Error of the pruned random network vs width, with (R > 1) and without (R = 1) re-sampling.

    ``sweeps``: one ``{"R": R, "widths": [...]}`` per number of draws, since the widths that are affordable
    shrink as R grows (:func:`theory.network.max_width`); the draws are shared across sweeps. Every
    parameter is checked before the first sweep runs.
    """
    dims = network.validate_dims(dims)
    sweeps = _network_sweeps(sweeps)
    trials = validation.integer_at_least("trials", trials, 1)
    inputs = validation.integer_at_least("inputs", inputs, 1)
    seed = validation.integer_at_least("seed", seed, 0)
    records = []
    for R, widths in sweeps:
        records += network.error_vs_width(dims, widths, [R], trials=trials, seed=seed, inputs=inputs)
    for row in records:
        row["dims"] = "-".join(map(str, row["dims"]))
        row["per_weight_errors"] = " ".join(f"{e:.6g}" for e in row["per_weight_errors"])
    return {"error_vs_width": records}


def _network_sweeps(sweeps) -> list[tuple[int, list[int]]]:
    """``network_error``'s sweeps as ``(R, widths)``, each width within reach of the exact pruning."""
    parsed = []
    for i, sweep in enumerate(validation.entries("sweeps", sweeps)):
        name = f"sweeps[{i}]"
        sweep = validation.mapping(name, sweep, ("R", "widths"))
        R = validation.integer_at_least(f"{name}.R", sweep["R"], 1)
        widths = montecarlo.grid(f"{name}.widths", sweep["widths"], _at_least_one)
        if max(widths) > network.max_width(R):
            raise InvalidInput(
                f"{name}.widths must be <= {network.max_width(R)} for R = {R} (exact pruning), got {widths}"
            )
        parsed.append((R, widths))
    if not parsed:
        raise InvalidInput("sweeps must hold at least 1 sweep")
    return parsed


def trained_network_emulation(
    seed: int,
    data_root: str | None,
    image_size: int,
    hidden: list[int],
    epochs: int,
    batch_size: int,
    learning_rate: float,
    sweeps: list[dict],
    iterand_rate: float,
    tolerance_points: float,
    torch_check_inputs: int,
) -> dict:
    """Train a bias-free ReLU MLP on CIFAR-10 (or, without a copy named by ``data_root`` or
    ``$ITERAND_CIFAR10``, on the synthetic teacher task), rescale it to ``||F_i||_Frob = 1`` and emulate it
    by pruning random networks under models A, B and C (:mod:`theory.trained_network`).

    ``sweeps``: one ``{"model": ..., "R": ..., "widths": [...]}`` per model and number of draws.
    """
    # What the emulation checks, checked before the data is read and the target trained.
    trained_network.parse_sweeps(sweeps)
    validation.fraction("iterand_rate", iterand_rate)
    validation.non_negative("tolerance_points", tolerance_points)
    validation.integer_at_least("torch_check_inputs", torch_check_inputs, 1)
    task = target_data.load_task(data_root, image_size, seed)
    trained = target_training.train_target(task, hidden, epochs, seed, batch_size, learning_rate)
    records = trained_network.emulate(trained.target, task, sweeps, seed, iterand_rate, torch_check_inputs)
    return {
        "target": trained_network.target_summary(task, trained),
        "emulation": records,
        "required_width": trained_network.required_widths(records, tolerance_points),
    }


def symbolic_checks(
    t: float,
    eps: float,
    delta: float,
    alpha: float,
    m: int,
    R: int,
    C: float,
    d: int,
    l: int,  # noqa: E741 (the paper's name for the depth)
    R_values: list[int],
) -> dict:
    """The bounds as sympy expressions (LaTeX), each evaluated next to its numpy twin at one point, and the
    network width without / with re-sampling as ``R`` grows, with the symbolic limit of their ratio.

    The network statements take equal widths ``d`` and depth ``l`` (``dims = [d] * (l + 1)``).
    """
    d = validation.integer_at_least("d", d, 1)
    l = validation.integer_at_least("l", l, 1)  # noqa: E741
    R_values = montecarlo.grid("R_values", R_values, _at_least_one)
    dims = [d] * (l + 1)
    # the Lueker bound is shown at the n where it reaches 1 - delta, so its value is informative
    n_lueker = float(bounds.lueker_required_n(eps, delta, C))
    point = dict(t=t, eps=eps, delta=delta, alpha=alpha, m=m, R=R, C=C, d=d, l=l, n=n_lueker)
    statements = [
        (
            "counting lower bound",
            "n \\geq",
            symbolic.counting_lower_bound(),
            bounds.counting_lower_bound(t, eps, R),
        ),
        (
            "Lueker success bound",
            "p \\geq",
            symbolic.lueker_success_bound(),
            bounds.lueker_success_bound(n_lueker, eps, C),
        ),
        ("Lueker required n", "n =", symbolic.lueker_required_n(), bounds.lueker_required_n(eps, delta, C)),
        ("Pensia required n", "n =", symbolic.pensia_required_n(), bounds.pensia_required_n(eps, delta, C)),
        (
            "single-draw failure (exact)",
            "P =",
            symbolic.single_draw_failure_exact(),
            bounds.single_draw_failure_exact(alpha, eps, m),
        ),
        (
            "single-draw failure (bound)",
            "P \\leq",
            symbolic.single_draw_failure_bound(),
            bounds.single_draw_failure_bound(eps, m),
        ),
        (
            "draws for one slot",
            "m \\geq",
            symbolic.single_draw_required_draws(),
            bounds.single_draw_required_draws(eps, delta),
        ),
        (
            "slots with R draws",
            "n \\geq",
            symbolic.single_draw_required_slots(),
            bounds.single_draw_required_slots(eps, delta, R),
        ),
        (
            "per-weight tolerance",
            "\\epsilon' =",
            symbolic.per_weight_tolerance(),
            network.required_per_weight_tolerance(eps, dims),
        ),
        (
            "per-instance confidence",
            "\\delta' =",
            symbolic.per_weight_confidence(),
            bounds.per_weight_confidence(delta, dims),
        ),
        (
            "network width, no re-sampling",
            "n \\geq",
            symbolic.network_width_without_resampling(expanded=False),
            bounds.network_width_without_resampling(eps, delta, dims, C),
        ),
        (
            "network width, R draws",
            "n \\geq",
            symbolic.network_width_with_resampling(expanded=False),
            bounds.network_width_with_resampling(eps, delta, dims, R, C),
        ),
    ]
    rows = []
    for name, lhs, expr, numeric in statements:
        expanded = symbolic.expand_tolerances(expr)
        used = {k: v for k, v in point.items() if symbolic.SYMBOLS[k] in expanded.free_symbols}
        value = symbolic.evaluate(expanded, **used)
        rows.append(
            {
                "statement": name,
                "latex": symbolic.latex(expr, lhs),
                "sympy": value,
                "numpy": float(numeric),
                "relative_difference": abs(value - float(numeric)) / max(abs(float(numeric)), 1e-300),
            }
        )
    ratio = symbolic.expand_tolerances(symbolic.width_ratio())
    widths = []
    for r in R_values:
        without = float(bounds.network_width_without_resampling(eps, delta, dims, C))
        with_ = float(bounds.network_width_with_resampling(eps, delta, dims, r, C))
        widths.append(
            {
                "R": r,
                "width_without": without,
                "width_with": with_,
                "ratio_numpy": without / with_,
                "ratio_sympy": symbolic.evaluate(ratio, eps=eps, delta=delta, d=d, l=l, R=r, C=C),
            }
        )
    limit = symbolic.width_ratio_limit()
    return {
        "statements": rows,
        "width_vs_R": widths,
        "width_ratio": {
            "ratio_latex": symbolic.latex(symbolic.width_ratio(), "\\frac{n_{\\text{none}}}{n_R}"),
            "limit_latex": symbolic.latex(limit, "\\lim_{R \\to \\infty} \\frac{n_{\\text{none}}}{n_R}"),
            "limit_value": symbolic.evaluate(
                symbolic.expand_tolerances(limit), eps=eps, delta=delta, d=d, l=l, C=C
            ),
            "point": point,
        },
    }


def _mean_log10(values: np.ndarray) -> float:
    # zero errors (exact hits) would give -inf; they are floored at the float64 resolution of the sums
    return float(np.mean(np.log10(np.maximum(values, math.ulp(1.0)))))


EXPERIMENTS = {
    "subset_sums": subset_sums,
    "resampling": resampling_models,
    "network": network_error,
    "symbolic": symbolic_checks,
    "trained_network": trained_network_emulation,
}


def run(name: str, namespace: Mapping[str, Any], out_dir: str | Path) -> dict:
    """Experiment ``name`` of ``EXPERIMENTS`` called with the entries of ``namespace`` named like its
    arguments (a notebook passes ``globals()``, where its parameters cell put them), its tables written
    to ``out_dir``; returns the tables."""
    function = EXPERIMENTS[name]
    arguments = inspect.signature(function).parameters
    missing = [a for a, p in arguments.items() if a not in namespace and p.default is inspect.Parameter.empty]
    if missing:
        raise InvalidInput(f"experiment {name} needs the parameters {', '.join(missing)}")
    results = function(**{a: namespace[a] for a in arguments if a in namespace})
    tables.write_tables(results, Path(out_dir))
    return results
