"""Exact top-k masks over scores, and the straight-through effective weight (edge-popup, Ramanujan et al.
2020, with the official IteRand code's count rule).

Conventions:

- ``pruned_fraction`` (p) is the fraction of weights SET TO ZERO; the kept fraction ``1 - p`` is never
  stored. A mask is ``True`` / 1 where the weight is KEPT and ``False`` / 0 where it is PRUNED.
- Count rule (IteRand's): a layer of ``numel`` weights prunes exactly
  ``pruned_count(numel, p) = round(p * (numel - 1))`` weights, with Python's ``round`` (half to even).
  This is the official code's ``kthvalue`` index ``k = 1 + round(p * (numel - 1))`` minus one: the k-th
  smallest score is the smallest kept one. For p in [0, 1) at least one weight is kept. The product is
  computed as that code computes it, ``0.01 * (100 * p) * (numel - 1)`` in floating point: at p = 0.7
  (Fig. 3) ``0.01 * (100 * 0.7)`` is 0.7000000000000001, so where ``0.7 * (numel - 1)`` is exactly
  half-way (a 147,456-weight layer: 103,218.5) the official code prunes one weight more than exact
  rounding would, and so does this rule.
- Ranking: ``"score"`` ranks the raw scores (IteRand), ``"abs_score"`` ranks ``|score|`` (edge-popup).
  The lowest ``n_pruned`` ranked values are pruned.
- Ties: the order is that of a stable ascending sort of the flattened (row-major) ranked values, i.e.
  among equal values the ones with the LOWER flat index are pruned first. Counts are exact for any ties
  (the official code keeps every entry equal to the threshold, so its count drifts with ties).

How the selection runs (no host synchronisation, no data-dependent Python branching, traceable by
``torch.compile(fullgraph=True)``): ``torch.topk`` on the smaller side finds the threshold ``t``, the
``(n_pruned + 1)``-th smallest value; everything above ``t`` is kept, everything below pruned, and of the
entries equal to ``t`` the first ``n_pruned - #(values < t)`` in flat order are pruned (a cumulative sum
ranks them). This is O(numel) besides the top-k: cheaper than the full sort of the edge-popup code, and,
unlike a plain ``kthvalue`` + comparison, exact under ties. ``topk`` rather than ``kthvalue`` because
CUDA's ``kthvalue`` runs one thread block per slice, slow for one multi-million-entry layer, while
``topk`` has a multi-block path. On the CPU (outside ``torch.compile``) NumPy's ``partition`` finds the same
order statistic: PyTorch's CPU ``topk`` and ``kthvalue`` took 520-670 us for a 65,536-entry layer where
``partition`` takes 40 us (2 cores, torch 2.14), which was most of the mask selection of a Conv6 step.
There the whole mask is built in NumPy (``_kept_flat_numpy``, with a Python branch for ties that the host
can afford): inside a training step a dozen small tensor operations cost 0.15-0.3 ms per layer (each
starts on caches the convolutions just filled), which was a sixth of a Conv6 x0.25 step's
non-convolution time on one thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bookkeeping.validation import fraction
from iterand.core.names import RANKINGS

_NUMPY_FLOATS = (torch.float16, torch.float32, torch.float64)

__all__ = [
    "RANKINGS",
    "global_thresholds",
    "kept_mask",
    "kept_mask_from_threshold",
    "pruned_count",
    "ranked_values",
    "selection_threshold",
    "subnet_weight",
]


def pruned_count(numel: int, pruned_fraction: float) -> int:
    """Number of weights a layer of ``numel`` weights prunes: ``round(p * (numel - 1))`` (half to even), the
    product in the official code's floating-point steps (module docstring)."""
    if isinstance(numel, bool) or not isinstance(numel, int) or numel < 1:
        raise ValueError(f"numel must be an integer >= 1, got {numel!r}")
    fraction("pruned_fraction", pruned_fraction, high_open=True)
    return round(0.01 * float(pruned_fraction * 100) * (numel - 1))


def ranked_values(scores: torch.Tensor, ranking: str) -> torch.Tensor:
    """The values the mask ranks: ``scores`` ("score") or ``scores.abs()`` ("abs_score"); keeps autograd."""
    if ranking == "score":
        return scores
    if ranking == "abs_score":
        return scores.abs()
    raise ValueError(f"ranking must be one of {', '.join(repr(r) for r in RANKINGS)}, got {ranking!r}")


def _flat_checked(ranked: torch.Tensor, n_pruned: int) -> torch.Tensor:
    """``ranked`` detached and flattened in row-major order, after checking that ``n_pruned`` leaves at
    least one value kept."""
    flat = ranked.detach().reshape(-1)
    if not 0 <= n_pruned < flat.numel():
        raise ValueError(
            f"n_pruned must be in [0, {flat.numel() - 1}] for {flat.numel()} values, got {n_pruned}"
        )
    return flat


def _on_numpy_path(flat: torch.Tensor) -> bool:
    return flat.device.type == "cpu" and flat.dtype in _NUMPY_FLOATS and not torch.compiler.is_compiling()


def selection_threshold(ranked: torch.Tensor, n_pruned: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(t, tie_quota)``: the ``(n_pruned + 1)``-th smallest value of ``ranked`` and how many entries
    equal to ``t`` are pruned (``n_pruned - #(ranked < t)``); both 0-dim tensors on ``ranked``'s device."""
    return _flat_threshold(_flat_checked(ranked, n_pruned), n_pruned)


def _flat_threshold(flat: torch.Tensor, n_pruned: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``selection_threshold`` of an already checked flat tensor."""
    n_kept = flat.numel() - n_pruned
    # Every branch finds the same order statistic; the smaller k makes topk's output smaller.
    if _on_numpy_path(flat):
        partitioned = np.partition(flat.numpy(), n_pruned)
        threshold = torch.from_numpy(partitioned[n_pruned : n_pruned + 1]).reshape(())
    elif n_pruned + 1 <= n_kept:
        threshold = torch.topk(flat, n_pruned + 1, largest=False, sorted=False).values.max()
    else:
        threshold = torch.topk(flat, n_kept, largest=True, sorted=False).values.min()
    tie_quota = n_pruned - (flat < threshold).sum()
    return threshold, tie_quota


def kept_mask_from_threshold(
    ranked: torch.Tensor, threshold: torch.Tensor, tie_quota: torch.Tensor
) -> torch.Tensor:
    """Boolean mask, True = kept: above ``threshold``, or equal to it and not among the first
    ``tie_quota`` such entries in flat order (a negative quota keeps every tie)."""
    values = ranked.detach()
    ties = values == threshold
    tie_rank = torch.cumsum(ties.reshape(-1), dim=0).reshape(values.shape)
    return (values > threshold) | (ties & (tie_rank > tie_quota))


def kept_mask(ranked: torch.Tensor, n_pruned: int) -> torch.Tensor:
    """Boolean mask of ``ranked``'s shape keeping all but its ``n_pruned`` lowest values (True = kept)."""
    flat = _flat_checked(ranked, n_pruned)
    if _on_numpy_path(flat):
        return torch.from_numpy(_kept_flat_numpy(flat.numpy(), n_pruned)).view(ranked.shape)
    threshold, tie_quota = _flat_threshold(flat, n_pruned)
    return kept_mask_from_threshold(ranked, threshold, tie_quota)


def _kept_flat_numpy(values: np.ndarray, n_pruned: int) -> np.ndarray:
    """``kept_mask`` of a flat array, in NumPy: the same selection as the threshold path in a few calls
    instead of a dozen tensor operations, which is what a small layer's mask cost on a CPU.

    Without ties at the threshold ``t`` exactly ``numel - n_pruned`` values are ``>= t``, and they are the
    kept ones; only otherwise are the ties ranked in flat order."""
    threshold = np.partition(values, n_pruned)[n_pruned]
    kept = values >= threshold
    if np.count_nonzero(kept) == values.size - n_pruned:
        return kept
    ties = values == threshold
    tie_quota = n_pruned - np.count_nonzero(values < threshold)
    return (values > threshold) | (ties & (np.cumsum(ties) > tie_quota))


def global_thresholds(ranked: Sequence[torch.Tensor], n_pruned: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One selection over several tensors taken together (in the given order, each flattened).

    Returns ``(t, tie_quotas)``: the common threshold and, per tensor, the tie quota to pass to
    ``kept_mask_from_threshold`` so that exactly ``n_pruned`` values are pruned in total, with ties
    broken as for the concatenation of the flattened tensors.
    """
    if not ranked:
        raise ValueError("ranked must hold at least one tensor, got none")
    flat = torch.cat([r.detach().reshape(-1) for r in ranked])
    threshold, tie_quota = selection_threshold(flat, n_pruned)
    ties = torch.stack([(r.detach() == threshold).sum() for r in ranked])
    ties_before = torch.cumsum(ties, dim=0) - ties
    return threshold, tie_quota - ties_before


class _StraightThroughWeight(torch.autograd.Function):
    """Effective weight with the straight-through gradient ``d loss / d ranked = grad_effective * weight``."""

    @staticmethod
    def forward(ctx, ranked, weight, kept, biprop):  # ranked only routes the gradient
        ctx.save_for_backward(weight)
        mask = kept.to(weight.dtype)
        if not biprop:
            return weight * mask
        # alpha = ||m * w||_1 / number kept; the clamp makes a layer emptied by a global threshold 0, not NaN.
        alpha = (weight.abs() * mask).sum() / mask.sum().clamp_min(1.0)
        return alpha * torch.sign(weight) * mask

    @staticmethod
    def backward(ctx, grad_output):
        (weight,) = ctx.saved_tensors
        return grad_output * weight, None, None, None


def subnet_weight(
    ranked: torch.Tensor, weight: torch.Tensor, kept: torch.Tensor, biprop: bool
) -> torch.Tensor:
    """The weight the forward pass uses, with a straight-through gradient to ``ranked``.

    Value: ``weight * m`` (``biprop=False``) or ``alpha * sign(weight) * m`` with
    ``alpha = ||m * weight||_1 / (number kept)`` (``biprop=True``), where ``m = kept`` as 0/1.
    Gradient: ``d loss / d ranked = d loss / d(effective weight) * weight`` in both cases (for biprop
    this is the multi-prize-tickets code's estimator: the gradient w.r.t. ``alpha * m`` times ``|w|``);
    ``weight`` and ``kept`` receive none. With the "abs_score" ranking ``ranked = |scores|``, so autograd
    multiplies by ``sign(scores)`` on the way back to the scores, as in the edge-popup code.
    """
    return _StraightThroughWeight.apply(ranked, weight, kept, biprop)
