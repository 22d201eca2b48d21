"""Exact top-k masks: count rule, ties, global selection, straight-through gradient."""

from __future__ import annotations

import zlib

import pytest
import torch

from iterand.core import masks


def stable_sort_reference(ranked: torch.Tensor, n_pruned: int) -> torch.Tensor:
    """The documented selection, the slow obvious way: prune the first n of a stable ascending sort."""
    order = torch.sort(ranked.reshape(-1), stable=True).indices
    kept = torch.ones(ranked.numel(), dtype=torch.bool)
    kept[order[:n_pruned]] = False
    return kept.reshape(ranked.shape)


@pytest.mark.parametrize(
    ("numel", "p", "expected"),
    [
        (10, 0.5, 4),  # round(4.5) = 4: half to even, as Python's round in the official code
        (6, 0.5, 2),  # round(2.5) = 2
        (4, 0.5, 2),  # round(1.5) = 2
        (100, 0.6, 59),  # round(59.4)
        (1, 0.9, 0),  # a single weight is always kept
        (2, 0.5, 0),  # round(0.5) = 0
        (3, 0.99, 2),  # round(1.98): at least one weight stays
        (1000, 0.0, 0),
        # 0.7 * 147455 = 103218.5 exactly, but the official code's 0.01 * (100 * 0.7) is 0.7000000000000001
        (147456, 0.7, 103219),
        (4096, 0.7, 2867),  # 2866.5 exactly: ResNet-50's first 1x1 convolution
        (31, 0.35, 11),  # 10.5 exactly; 0.01 * (100 * 0.35) is 0.35000000000000003
    ],
)
def test_pruned_count_is_iterand_percentile_rule(numel, p, expected):
    assert masks.pruned_count(numel, p) == expected
    # the official code's percentile(scores, p * 100): kthvalue index k = 1 + round(.01 * q * (numel - 1))
    # names the smallest kept value
    q = float(p * 100)
    assert masks.pruned_count(numel, p) == (1 + round(0.01 * q * (numel - 1))) - 1


@pytest.mark.parametrize("shape", [(1,), (1, 1), (2, 3), (5,), (7, 3, 3, 3), (16, 8, 3, 3), (10, 100)])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.6, 0.9, 0.99])
@pytest.mark.parametrize("ranking", masks.RANKINGS)
def test_kept_mask_has_exact_count_and_matches_stable_sort(shape, p, ranking):
    generator = torch.Generator().manual_seed(zlib.crc32(repr((shape, p, ranking)).encode()))
    scores = torch.randn(shape, generator=generator)
    ranked = masks.ranked_values(scores, ranking)
    n_pruned = masks.pruned_count(scores.numel(), p)
    kept = masks.kept_mask(ranked, n_pruned)
    assert kept.dtype == torch.bool and kept.shape == scores.shape
    assert int(kept.sum()) == scores.numel() - n_pruned
    assert torch.equal(kept, stable_sort_reference(ranked, n_pruned))


def test_kept_entries_are_the_highest_ranked():
    scores = torch.randn(50, 40, generator=torch.Generator().manual_seed(0))
    for ranking in masks.RANKINGS:
        ranked = masks.ranked_values(scores, ranking)
        kept = masks.kept_mask(ranked, masks.pruned_count(scores.numel(), 0.7))
        assert ranked[kept].min() > ranked[~kept].max()
    # abs ranking keeps large negative scores that the raw ranking prunes
    abs_kept = masks.kept_mask(scores.abs(), 1000)
    raw_kept = masks.kept_mask(scores, 1000)
    assert bool((abs_kept & (scores < 0)).any()) and not bool((raw_kept & (scores < -1.0)).any())


@pytest.mark.parametrize("n_pruned", [0, 1, 7, 11])
def test_all_equal_scores_prune_lowest_flat_indices_first(n_pruned):
    ranked = torch.full((3, 4), 0.25)
    kept = masks.kept_mask(ranked, n_pruned)
    expected = torch.arange(12).reshape(3, 4) >= n_pruned
    assert torch.equal(kept, expected)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 0.77, 0.95])
def test_repeated_values_give_exact_deterministic_counts(p):
    generator = torch.Generator().manual_seed(3)
    ranked = torch.randint(0, 4, (9, 13), generator=generator).float()  # heavy ties at every threshold
    n_pruned = masks.pruned_count(ranked.numel(), p)
    kept = masks.kept_mask(ranked, n_pruned)
    assert int(kept.sum()) == ranked.numel() - n_pruned
    assert torch.equal(kept, stable_sort_reference(ranked, n_pruned))
    assert torch.equal(kept, masks.kept_mask(ranked.clone(), n_pruned))


def test_selection_threshold_is_smallest_kept_value_and_tie_quota():
    ranked = torch.tensor([5.0, 1.0, 3.0, 3.0, 3.0, 0.0])
    threshold, tie_quota = masks.selection_threshold(ranked, 3)  # prune 0, 1 and the first 3
    assert float(threshold) == 3.0 and int(tie_quota) == 1
    assert masks.kept_mask(ranked, 3).tolist() == [True, False, False, True, True, False]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("numel,n_pruned", [(1, 0), (7, 6), (1000, 10), (65536, 32767), (65536, 65000)])
def test_selection_threshold_is_the_order_statistic_on_every_path(dtype, numel, n_pruned):
    # float32/float64 take NumPy's partition on the CPU, bfloat16 torch.topk: both must give kthvalue's value.
    generator = torch.Generator().manual_seed(numel + n_pruned)
    ranked = torch.randint(-50, 50, (numel,), generator=generator).to(dtype) / 7  # many ties
    threshold, tie_quota = masks.selection_threshold(ranked, n_pruned)
    assert threshold.shape == () and threshold.dtype == dtype
    assert threshold == torch.kthvalue(ranked.double(), n_pruned + 1).values.to(dtype)
    assert int(tie_quota) == n_pruned - int((ranked < threshold).sum())


@pytest.mark.parametrize("n_pruned", [-1, 6])
def test_selection_threshold_rejects_impossible_counts(n_pruned):
    with pytest.raises(ValueError, match="n_pruned"):
        masks.selection_threshold(torch.zeros(6), n_pruned)


@pytest.mark.parametrize("p", [0.0, 0.4, 0.5, 0.9])
def test_global_thresholds_select_exactly_over_the_concatenation(p):
    generator = torch.Generator().manual_seed(1)
    tensors = [
        torch.randint(0, 5, shape, generator=generator).float() for shape in [(3, 3), (17,), (2, 2, 2), (1,)]
    ]
    total = sum(t.numel() for t in tensors)
    n_pruned = masks.pruned_count(total, p)
    threshold, quotas = masks.global_thresholds(tensors, n_pruned)
    kept = [masks.kept_mask_from_threshold(t, threshold, q) for t, q in zip(tensors, quotas, strict=True)]
    concatenated = torch.cat([k.reshape(-1) for k in kept])
    assert int(concatenated.sum()) == total - n_pruned
    reference = stable_sort_reference(torch.cat([t.reshape(-1) for t in tensors]), n_pruned)
    assert torch.equal(concatenated, reference)


def test_global_thresholds_need_a_tensor():
    with pytest.raises(ValueError, match="ranked"):
        masks.global_thresholds([], 0)


@pytest.mark.parametrize("biprop", [False, True])
def test_subnet_weight_gradient_is_straight_through(biprop):
    generator = torch.Generator().manual_seed(2)
    weight = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    ranked = torch.randn(6, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    kept = masks.kept_mask(ranked, 12)
    upstream = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    effective = masks.subnet_weight(ranked, weight, kept, biprop)
    (effective * upstream).sum().backward()
    assert torch.equal(ranked.grad, upstream * weight)
    m = kept.double()
    expected = weight * m if not biprop else (weight.abs() * m).sum() / m.sum() * weight.sign() * m
    assert torch.allclose(effective, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, float("nan"), "0.5", True, None])
def test_pruned_fraction_outside_unit_interval_is_rejected(p):
    with pytest.raises(ValueError, match="pruned_fraction"):
        masks.pruned_count(10, p)


@pytest.mark.parametrize("numel", [0, -3, 2.0])
def test_pruned_count_rejects_bad_numel(numel):
    with pytest.raises(ValueError, match="numel"):
        masks.pruned_count(numel, 0.5)


def test_unknown_ranking_is_rejected():
    with pytest.raises(ValueError, match="ranking.*'score', 'abs_score'"):
        masks.ranked_values(torch.zeros(3), "magnitude")


def test_kept_mask_compiles_without_graph_break():
    compiled = torch.compile(masks.kept_mask, backend="aot_eager", fullgraph=True)
    ranked = torch.randint(0, 3, (40, 9), generator=torch.Generator().manual_seed(0)).float()
    assert torch.equal(compiled(ranked, 200), stable_sort_reference(ranked, 200))


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
@pytest.mark.parametrize("numel,n_pruned", [(1, 0), (2, 1), (9, 4), (432, 216), (4096, 2047), (4096, 4000)])
@pytest.mark.parametrize("ties", [False, True])
def test_numpy_mask_equals_the_threshold_path(dtype, numel, n_pruned, ties):
    # On the CPU kept_mask builds the mask in NumPy; the threshold path is what CUDA and torch.compile run.
    generator = torch.Generator().manual_seed(numel * 2 + ties)
    values = (
        torch.randint(-6, 6, (numel,), generator=generator)
        if ties
        else torch.randn(numel, generator=generator)
    )
    ranked = values.to(dtype).reshape(-1, 1, 1) if numel % 9 else values.to(dtype).reshape(-1, 1, 3, 3)
    threshold, tie_quota = masks.selection_threshold(ranked, n_pruned)
    kept = masks.kept_mask(ranked, n_pruned)
    assert torch.equal(kept, masks.kept_mask_from_threshold(ranked, threshold, tie_quota))
    assert torch.equal(kept, stable_sort_reference(ranked, n_pruned))


def test_numpy_mask_reads_channels_last_scores_in_row_major_order():
    scores = torch.randint(0, 3, (8, 4, 3, 3), generator=torch.Generator().manual_seed(5)).float()
    channels_last = scores.contiguous(memory_format=torch.channels_last)
    assert torch.equal(masks.kept_mask(channels_last, 100), stable_sort_reference(scores, 100))
