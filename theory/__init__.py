"""Numerical verification of random subset-sum approximation bounds, with and without re-sampling.

The user-facing entry points are importable from the package itself::

    from theory import worst_case_error, best_subset, success_probabilities, counting_lower_bound

- exact errors and choices: :func:`worst_case_error` (interval method), :func:`best_subset` (model A),
  :func:`best_choice` (model B), :func:`best_choices` (many instances at once), :func:`iterand_process`
  (model C); brute-force references :func:`worst_case_error_brute`, :func:`best_choice_brute`;
- Monte Carlo: :func:`success_probabilities` (``p(n, eps)`` with Wilson intervals), :func:`required_n`;
- bounds (:mod:`theory.bounds`; the same as sympy expressions in :mod:`theory.symbolic`);
- the network-level construction (:mod:`theory.network`): :class:`Target`, :func:`build_pruned_network`,
  :func:`prune_network`, :func:`error_bound`.

Importing ``theory`` loads neither torch nor the training package ``iterand``: the trained-network
experiment (:mod:`theory.trained_network`) imports them when it runs.
"""

from theory.batched_subset_sum import best_choices, iterand_choices
from theory.bounds import (
    counting_lower_bound,
    lueker_required_n,
    lueker_success_bound,
    network_width_with_resampling,
    network_width_without_resampling,
    pensia_required_n,
    single_draw_failure_bound,
    single_draw_failure_exact,
    single_draw_required_draws,
    single_draw_required_slots,
)
from theory.montecarlo import required_n, success_probabilities
from theory.network import (
    PrunedNetwork,
    Target,
    build_pruned_network,
    error_bound,
    prune_network,
    random_target,
    required_per_weight_tolerance,
)
from theory.resampling import iterand_process
from theory.subset_sum import (
    best_choice,
    best_choice_brute,
    best_subset,
    worst_case_error,
    worst_case_error_brute,
)

__all__ = [
    "PrunedNetwork",
    "Target",
    "best_choice",
    "best_choice_brute",
    "best_choices",
    "best_subset",
    "build_pruned_network",
    "counting_lower_bound",
    "error_bound",
    "iterand_choices",
    "iterand_process",
    "lueker_required_n",
    "lueker_success_bound",
    "network_width_with_resampling",
    "network_width_without_resampling",
    "pensia_required_n",
    "prune_network",
    "random_target",
    "required_n",
    "required_per_weight_tolerance",
    "single_draw_failure_bound",
    "single_draw_failure_exact",
    "single_draw_required_draws",
    "single_draw_required_slots",
    "success_probabilities",
    "worst_case_error",
    "worst_case_error_brute",
]
