# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Re-sampling: the single-draw lemma, and IteRand's process against the oracle
#
# IteRand re-draws the **pruned** weights of a random network every few hundred steps. Its theorem rests on
# a simple lemma: for a target $\alpha \in [-1, 1]$ and $m$ i.i.d. U[-1, 1] draws,
#
# $$P\big(\min_i |\alpha - X_i| > \epsilon\big) = (1 - q)^m, \qquad
#   q = \tfrac12 \big|[\alpha - \epsilon, \alpha + \epsilon] \cap [-1, 1]\big| \ge \epsilon/2,$$
#
# so $m \ge (2/\epsilon)\log(1/\delta)$ draws succeed with probability $1 - \delta$. With $n$ slots re-drawn
# $R - 1$ times there are $m = nR$ draws: the required $n$ drops by the factor $R$.
#
# The second half compares three models on the **same** draws (an $(n, R)$ array per trial):
#
# * **A, "none"**: one draw per slot (column 0), best subset.
# * **B, "oracle"**: each slot may use any one of its $R$ draws or none: the best any re-sampling can reach.
# * **C, "iterand"**: the algorithm. Take the best subset of the current values; re-draw every slot *not*
#   in it (each with probability $r$) from the next column; repeat for $R - 1$ rounds.
#
# By construction B $\le$ C $\le$ A for every target: C can keep its best subset, and C only ever uses
# draws that B may use.

# %% tags=["parameters"]
seed = 0
lemma_trials = 200
model_trials = 30
alpha_values = [0.0, 0.95]
lemma_eps_values = [0.05, 0.2]
m_values = [1, 2, 5, 10, 20, 50, 100]
n = 12
R = 4
r_values = [1.0, 0.1]
targets = 10
t = 1.0
out_dir = "runs/notebooks/theory_resampling/manual"

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from bookkeeping import tables
from theory import experiments, statement_status
from theory.plots import colours, grouped, interval_errorbar, where

results = experiments.run("resampling", globals(), out_dir)  # the parameters above; writes the tables

# %% [markdown]
# ## The single-draw lemma: exact formula, Monte Carlo, bound
#
# Points with error bars are Monte Carlo failure frequencies with 95% Wilson intervals; the solid line
# is the exact formula $(1-q)^m$ and the dashed line the bound $e^{-m\epsilon/2}$. The exact curve must run
# through the intervals and never above the bound. Near the edge ($\alpha = 0.95$) the window
# $[\alpha - \epsilon, \alpha + \epsilon]$ is cut by $[-1, 1]$, so $q$ is smaller and failures are likelier,
# but the bound, which only uses $q \ge \epsilon/2$, still holds.

# %%
lemma = results["single_draw"]
fig, axes = plt.subplots(
    1, len(alpha_values), figsize=(5 * len(alpha_values), 3.6), sharey=True, squeeze=False
)
for ax, alpha in zip(axes[0], alpha_values):
    for colour, eps in colours(lemma_eps_values):
        rows = where(lemma, alpha=alpha, eps=eps)
        m = [r["m"] for r in rows]
        mc, low, high = ([r[k] for r in rows] for k in ("failure_mc", "ci_low", "ci_high"))
        style = {"fmt": "o", "ms": 3, "color": colour, "capsize": 2}
        interval_errorbar(ax, m, mc, low, high, **style, label=f"Monte Carlo, ε = {eps:g}")
        ax.plot(m, [r["failure_exact"] for r in rows], "-", color=colour, label="exact (1-q)^m")
        ax.plot(m, [r["failure_bound"] for r in rows], "--", color=colour, label="bound exp(-mε/2)")
    ax.set_xscale("log")
    ax.set_title(f"α = {alpha:g}")
    ax.set_xlabel("m (draws)")
axes[0][0].set_ylabel("P(no draw within ε of α)")
axes[0][0].legend(fontsize=7)
tables.save_figure(fig, out_dir, "single_draw_lemma", lemma)

# %% [markdown]
# ## Per-target error of models A, B and C
#
# Distribution of the error $\min |z - \text{sum}|$ over random targets $z \in [-t, t]$ (empirical CDF, log
# scale). Curves further left are better. The gap between B and C is what the greedy "keep the current best
# subset, re-draw the rest" process loses against the oracle; the gap between A and C is what re-sampling
# gains.

# %%
errors = results["per_target_errors"]
fig, ax = plt.subplots(figsize=(6, 4))
curves = [("none", None, "model A (none)"), ("oracle", None, f"model B (oracle), R = {R}")]
curves += [("iterand", r, f"model C (iterand), R = {R}, r = {r:g}") for r in r_values]
summary = []
for model, r, label in curves:
    values = np.sort([e["error"] for e in errors if e["model"] == model and e["r"] == r])
    floor = np.maximum(values, 1e-16)
    ax.step(floor, np.arange(1, len(values) + 1) / len(values), where="post", label=label)
    summary.append({"model": model, "r": r, "median_error": float(np.median(values)), "targets": len(values)})
ax.set_xscale("log")
ax.set_xlabel("per-target error")
ax.set_ylabel("fraction of targets")
ax.legend(fontsize=8)
tables.save_figure(fig, out_dir, "per_target_error_cdf", errors)
for row in summary:
    print(
        f"{row['model']:8s} r={row['r']!s:5s} median error {row['median_error']:.3g}  ({row['targets']} targets)"
    )

# %% [markdown]
# ## Model C round by round
#
# Mean $\log_{10}$ error after each re-draw round; the error can only go down, since the slots of the
# current best subset are kept.

# %%
rounds = results["iterand_rounds"]
fig, ax = plt.subplots(figsize=(5, 3.5))
shown = []
for r in r_values:
    rounds_r, by_round = grouped(where(rounds, r=r), "round", "mean_log10_error")
    shown += [{"r": r, "round": k, "mean_log10_error": v} for k, v in zip(rounds_r, by_round)]
    ax.plot(rounds_r, by_round, "o-", label=f"r = {r:g}")
ax.set_xlabel("round (0 = initial draw)")
ax.set_ylabel("mean log10 error")
ax.set_xticks(range(R))
ax.legend()
tables.save_figure(fig, out_dir, "iterand_rounds", shown)

# %% [markdown]
# ## What is verified, and what is our model
#
# The IteRand paper's theorem could not be read from any source available to this project. Which
# statements above are checked as published, which are reconstructions, and which are our modelling
# choices:

# %%
display(Markdown(statement_status.markdown()))
