"""The network-level theorem on a network trained on data: prune a random network twice as deep to emulate
a trained classifier, with and without re-sampling, and find the width at which it classifies as well.

For every re-sampling model and width ``n`` (:func:`emulate`): the pruned random network ``g`` of
:mod:`theory.network` for the trained target ``f``, every subset chosen exactly; its test accuracy, how
often it predicts ``f``'s class, for how many test inputs the computed error bound *guarantees* that
(:mod:`theory.prediction_margin`), the largest and median per-weight error, the largest output deviation
``||f(x) - g(x)||`` over the test inputs and the computed bound on it. :func:`required_widths` then reads
off, per model, the smallest width from which ``g`` stays within a tolerance (0.5 points) of ``f``'s test
accuracy: the network-level "required width", set against the reductions the theory predicts.

Models (:mod:`theory.resampling`): A (``"none"``, one draw per weight of ``B``), B (``"oracle"``, the best
of ``R`` draws or none), C (``"iterand"``, the IteRand process over ``R`` rounds). The first layer of each
emulated pair (``A`` in :mod:`theory.network`) is drawn once in every model.

Shared draws. For width ``n`` the random network is drawn once: the first layers and draw 0 of every
second layer by :func:`theory.network.draw_random_layers` (``R = 1``) from the generator seeded
``[seed, n]``, draw ``k >= 1`` of the second layer of emulated layer ``i`` from ``[seed, n, i, k]``. Model A
uses draw 0, models B and C with ``R`` draws use draws ``0 .. R-1``. The draws are nested, so per weight B's
error <= C's <= A's exactly, and no record depends on which other models or widths were asked.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bookkeeping import validation
from bookkeeping.errors import InvalidInput
from theory import network, prediction_margin, resampling
from theory.target_data import Task
from theory.target_training import TrainedTarget

MODEL_LETTERS = {"none": "A", "oracle": "B", "iterand": "C"}
# Entries of g's widest hidden layer computed at once (64 MB): few, large products keep BLAS efficient
# (small ones lose most of their time to thread start-up on a busy machine), while the widest networks
# still see only some hundreds of test inputs at a time.
_CHUNK_ENTRIES = 2**23
_ITERAND_STREAM = 3


@dataclass(frozen=True)
class Sweep:
    """One re-sampling model with ``R`` draws per output-side weight, at the given widths."""

    model: str
    R: int
    widths: tuple[int, ...]

    @property
    def label(self) -> str:
        letter = MODEL_LETTERS[self.model]
        return letter if self.model == "none" else f"{letter} R={self.R}"


def parse_sweeps(sweeps: Sequence[dict]) -> list[Sweep]:
    """``[{"model": ..., "R": ..., "widths": [...]}, ...]`` (the parameter files' form) as :class:`Sweep`'s.

    Model ``"none"`` takes ``R = 1``; the widths must be feasible for the exact search
    (:func:`theory.network.max_width`: ``R`` for model B, 1 for models A and C).
    """
    parsed = []
    for i, sweep in enumerate(validation.entries("sweeps", sweeps)):
        name = f"sweeps[{i}]"
        sweep = validation.mapping(name, sweep, ("model", "R", "widths"))
        model = validation.choice(f"{name}.model", sweep["model"], resampling.RESAMPLING_MODELS)
        R = validation.integer_at_least(f"{name}.R", sweep["R"], 1)
        if model == "none" and R != 1:
            raise InvalidInput(f"{name}.R must be 1 for model 'none' (one draw per weight), got {R}")
        limit = network.max_width(R if model == "oracle" else 1)
        widths = tuple(
            validation.integer_at_least(f"{name}.widths[{j}]", n, 1)
            for j, n in enumerate(validation.entries(f"{name}.widths", sweep["widths"]))
        )
        if not widths or max(widths) > limit:
            raise InvalidInput(
                f"{name}.widths must be a non-empty list of widths <= {limit} for model {model!r} with "
                f"R = {R} (exact search), got {list(widths)}"
            )
        parsed.append(Sweep(model, R, widths))
    if not parsed:
        raise InvalidInput("sweeps must hold at least 1 sweep")
    return parsed


def shared_draws(dims: Sequence[int], n: int, R: int, seed: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The random network of width ``n`` with ``R`` draws per output-side weight (module docstring)."""
    first_draws = network.draw_random_layers(dims, n, np.random.default_rng([seed, n]), 1)
    layers = []
    for i, (first, draws) in enumerate(first_draws):
        more = [
            np.random.default_rng([seed, n, i, k]).uniform(-1.0, 1.0, draws.shape[1:]) for k in range(1, R)
        ]
        layers.append((first, np.concatenate([draws, np.asarray(more).reshape(-1, *draws.shape[1:])])))
    return tuple(layers)


def emulate(
    target: network.Target,
    task: Task,
    sweeps: Sequence[dict],
    seed: int = 0,
    iterand_rate: float = 1.0,
    torch_check_inputs: int = 64,
) -> list[dict]:
    """One record per sweep and width (keys below), in the order of ``sweeps``, then of the widths.

    ``iterand_rate`` is model C's re-draw probability ``r`` per round. Keys: data, model, label, R, n,
    test_accuracy and target_test_accuracy (fractions), accuracy_gap_points (``100 * (g - f)``), agreement
    (fraction of test inputs where ``g`` predicts ``f``'s class), guaranteed_agreement (fraction where the
    computed bound guarantees it), per_weight_error_max / _median (over all weights of all layers),
    max_output_deviation (largest ``||f(x) - g(x)||`` over the test inputs), bound (the computed bound
    from the per-weight error matrices at the largest test input norm), bound_theorem (the same from one
    tolerance per layer, the theorem's form), deviation_over_bound (largest ratio of an input's deviation
    to its own bound: at most 1), kept_weights, total_weights, torch_max_difference (largest logit
    difference between the ``torch`` module of ``g`` and its numpy forward pass on the first
    ``torch_check_inputs`` test inputs), build_seconds (the pruning), eval_seconds (``g`` on the test
    inputs), check_seconds (the measures above and the torch check), seed.
    """
    sweeps = parse_sweeps(sweeps)
    seed = validation.integer_at_least("seed", seed, 0)
    iterand_rate = validation.fraction("iterand_rate", iterand_rate)
    torch_check_inputs = validation.integer_at_least("torch_check_inputs", torch_check_inputs, 1)
    inputs, labels = task.test_inputs, task.test_labels
    logits = target.forward(inputs)
    predicted = np.argmax(logits, axis=1)
    norms = np.linalg.norm(inputs, axis=1)
    common = {
        "data": task.name,
        "target_test_accuracy": float(np.mean(predicted == labels)),
    }
    records = []
    # Width by width, so that one draw of the random network serves every model at that width.
    for n in sorted({n for sweep in sweeps for n in sweep.widths}):
        active = [(index, sweep) for index, sweep in enumerate(sweeps) if n in sweep.widths]
        layers = shared_draws(target.dims, n, max(sweep.R for _, sweep in active), seed)
        for index, sweep in active:
            rng = np.random.default_rng([seed, n, sweep.R, _ITERAND_STREAM])
            started = time.perf_counter()
            pruned = network.prune_network(
                target, [(first, draws[: sweep.R]) for first, draws in layers], sweep.model, iterand_rate, rng
            )
            built = time.perf_counter()
            rows = max(1, _CHUNK_ENTRIES // max(layer.first.shape[0] for layer in pruned.layers))
            chunks = range(0, len(inputs), rows)
            outputs = np.concatenate([pruned.forward(inputs[i : i + rows]) for i in chunks])
            evaluated = time.perf_counter()
            record = {
                **common,
                "model": sweep.model,
                "label": sweep.label,
                "R": sweep.R,
                "n": n,
                **_measures(target, pruned, inputs, labels, logits, outputs, norms),
                "torch_max_difference": _torch_difference(pruned, inputs[:torch_check_inputs], outputs),
                "build_seconds": round(built - started, 3),
                "eval_seconds": round(evaluated - built, 3),
                "check_seconds": round(time.perf_counter() - evaluated, 3),
                "seed": seed,
            }
            records.append({**record, "_order": (index, n)})
    records.sort(key=lambda record: record.pop("_order"))
    return records


def required_widths(records: Sequence[dict], tolerance_points: float = 0.5) -> list[dict]:
    """Per model and ``R`` (in the order first seen): the smallest width from which ``g`` stays within
    ``tolerance_points`` of the target's test accuracy at every larger width tried (None when the largest
    width tried is not within), with the accuracy and agreement there.

    reduction_vs_A is model A's required width over this one; the theory's predictions for it are
    ``log2(R + 1)`` (counting: ``(R + 1)^n`` choices instead of ``2^n``, so ``n`` shrinks by
    ``log(R + 1) / log 2`` at a fixed error) and ``R`` (the single-draw lemma: ``n R`` draws act like
    ``n R`` slots).
    """
    tolerance_points = validation.non_negative("tolerance_points", tolerance_points)
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(record["label"], []).append(record)
    rows = []
    for label, group in groups.items():
        group = sorted(group, key=lambda r: r["n"])
        # A gap is a difference of two fractions of the test set: the slack absorbs their float rounding.
        within = [abs(r["accuracy_gap_points"]) <= tolerance_points + 1e-9 for r in group]
        stays = next((i for i in range(len(group)) if all(within[i:])), None)
        at = group[stays] if stays is not None else None
        first = group[0]
        rows.append(
            {
                "data": first["data"],
                "model": first["model"],
                "label": label,
                "R": first["R"],
                "widths_tried": f"{group[0]['n']}-{group[-1]['n']}",
                "required_n": at["n"] if at else None,
                "first_n_within": next((r["n"] for r, w in zip(group, within, strict=True) if w), None),
                "test_accuracy": at["test_accuracy"] if at else None,
                "agreement": at["agreement"] if at else None,
                "target_test_accuracy": first["target_test_accuracy"],
                "tolerance_points": tolerance_points,
                "predicted_reduction_counting": math.log2(first["R"] + 1),
                "predicted_reduction_lemma": first["R"],
            }
        )
    reference = next((row["required_n"] for row in rows if row["model"] == "none"), None)
    for row in rows:
        row["reduction_vs_A"] = reference / row["required_n"] if reference and row["required_n"] else None
    return rows


def target_summary(task: Task, trained: TrainedTarget) -> dict:
    """What the emulated target is: its task, shape, accuracy, rescaling and margins on the test inputs."""
    target = trained.target
    margins = prediction_margin.logit_margins(target.forward(task.test_inputs))
    norms = np.linalg.norm(task.test_inputs, axis=1)
    return {
        "data": task.name,
        "description": task.description,
        "dims": list(target.dims),
        "train_accuracy": trained.train_accuracy,
        "test_accuracy": trained.test_accuracy,
        "test_examples": int(task.test_labels.size),
        "epochs": trained.epochs,
        "training_seconds": round(trained.seconds, 1),
        "frobenius_scales": list(trained.scales),
        "rescaling": "each layer divided by its Frobenius norm: logits shrink by their product, predictions "
        "unchanged (no biases, ReLU positively homogeneous)",
        "max_input_norm": float(norms.max()),
        "median_margin": float(np.median(margins)),
        "median_relative_margin": float(np.median(margins / norms)),
        "agreement_tolerance": prediction_margin.agreement_tolerance(target, task.test_inputs),
    }


def _measures(target, pruned, inputs, labels, logits, outputs, norms) -> dict:
    predicted, emulated = np.argmax(logits, axis=1), np.argmax(outputs, axis=1)
    errors = np.concatenate([e.ravel() for e in pruned.per_weight_errors])
    deviation = np.linalg.norm(outputs - logits, axis=1)
    unit_bound = network.error_bound(pruned.per_weight_errors, target.dims)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(deviation > 0, deviation / (norms * unit_bound), 0.0)
    test_accuracy = float(np.mean(emulated == labels))
    return {
        "test_accuracy": test_accuracy,
        "accuracy_gap_points": 100.0 * (test_accuracy - float(np.mean(predicted == labels))),
        "agreement": float(np.mean(emulated == predicted)),
        "guaranteed_agreement": float(
            np.mean(prediction_margin.guaranteed_agreement(target, inputs, pruned.per_weight_errors))
        ),
        "per_weight_error_max": float(errors.max()),
        "per_weight_error_median": float(np.median(errors)),
        "max_output_deviation": float(deviation.max()),
        "bound": unit_bound * float(norms.max()),
        "bound_theorem": network.error_bound(pruned.per_weight_error_maxima, target.dims, float(norms.max())),
        "deviation_over_bound": float(ratio.max()),
        "kept_weights": pruned.kept_weights,
        "total_weights": pruned.total_weights,
    }


def _torch_difference(pruned: network.PrunedNetwork, inputs: np.ndarray, outputs: np.ndarray) -> float:
    import torch

    from theory import torch_network

    with torch.no_grad(), torch_network.one_thread():
        module_outputs = torch_network.to_torch(pruned)(torch.as_tensor(inputs)).numpy()
    return float(np.max(np.abs(module_outputs - outputs[: len(inputs)])))
