"""Which statements the theory notebooks check are published ones and which are our own modelling choices.

The IteRand paper's theorem could not be read from any source available to this project, so its parts are
reconstructions; the notebooks show this table (:func:`markdown`) so that no figure is taken for more than
it is. One place for the wording, so the notebooks cannot disagree.
"""

from __future__ import annotations

#: (statement, status, where in the code)
STATEMENTS = (
    (
        "Lueker's bound: P(E* <= eps) >= 1 - exp(-(n/2 - C log(1/eps))^2 / (2n))",
        "published (Lueker 1998, Cor. 2.5, as quoted by Pensia et al. 2020); checked against exact Monte "
        "Carlo, its unpublished constant C fitted",
        "theory.bounds.lueker_success_bound",
    ),
    (
        "Pensia et al.: n >= C log(2 / min(eps, delta)) samples suffice",
        "published (Pensia et al. 2020); checked the same way, C fitted",
        "theory.bounds.pensia_required_n",
    ),
    (
        "IteRand's single-draw lemma: P(min_i |alpha - X_i| > eps) <= exp(-m eps / 2) for m U[-1, 1] draws",
        "reconstructed from the paper's argument (its exact statement could not be read here); the "
        "reconstruction is checked: exact formula, Monte Carlo and bound agree",
        "theory.bounds.single_draw_failure_bound",
    ),
    (
        "counting bound: n >= log(t/eps) / log(R + 1)",
        "elementary, proved in the docstring; never violated by any draw",
        "theory.bounds.counting_lower_bound",
    ),
    (
        "network error propagation: max ||f - g|| <= prod_i (1 + ||E_i||_2) - 1 on the unit ball",
        "derived here (the standard argument of Pensia et al. 2020, with per-weight errors); checked on "
        "random and trained targets",
        "theory.network.error_bound",
    ),
    (
        "network width with R draws: the single-draw lemma per weight (the R-fold reduction)",
        "our reconstruction of IteRand's theorem from the lemma and a union bound, not its published form",
        "theory.bounds.network_width_with_resampling",
    ),
    (
        "model B ('oracle'): each slot uses none or any one of its R draws",
        "our modelling choice: the best any re-sampling scheme with R draws could reach, not IteRand's "
        "algorithm",
        "theory.subset_sum.best_choice",
    ),
    (
        "model C ('iterand'): keep the current best subset, re-draw the other slots with probability r, "
        "R - 1 rounds",
        "our modelling choice: an abstraction of IteRand's training, which re-draws the weights its "
        "scores prune, not the ones a subset-sum search leaves out",
        "theory.resampling.iterand_process",
    ),
)


def markdown() -> str:
    """The table of :data:`STATEMENTS` as markdown."""
    lines = ["| statement | status | code |", "|---|---|---|"]
    for statement, status, code in STATEMENTS:
        # A bare | would end the table cell: the norms and absolute values are escaped.
        lines.append(f"| {statement.replace('|', chr(92) + '|')} | {status} | `{code}` |")
    return "\n".join(lines) + "\n"
