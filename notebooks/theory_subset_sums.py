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
# # Random subset sums: how many samples make every target reachable?
#
# Draw $X_1, \dots, X_n$ i.i.d. and look at all $2^n$ subset sums. The **worst-case error**
# $E^*(X) = \sup_{z \in [-t, t]} \min_S |z - \sum_{i \in S} X_i|$ is the largest distance from a target in
# $[-t, t]$ to the nearest subset sum. We estimate the success probability $p(n, \epsilon) = P(E^* \le \epsilon)$
# by Monte Carlo, with $E^*$ computed **exactly** for every draw (not on a grid of targets), and compare it
# with what theory says:
#
# * **Counting bound** (never violated): $2^n$ points whose $\epsilon$-neighbourhoods cover $[-t, t]$ need
#   $n \ge \log_2(t/\epsilon)$; with $R$ draws per slot (model B, "oracle"), $n \ge \log(t/\epsilon)/\log(R+1)$.
# * **Lueker / Pensia upper bound**: $n \ge C \log(2/\min(\epsilon, \delta))$ suffices for success probability
#   $1 - \delta$, for an unpublished absolute constant $C$, which we fit from the data.
#
# Model A ("none") is plain random subset sum, one draw per slot. Model B ("oracle") gives each slot $R$
# draws and lets a sum use at most one of them: the best any re-sampling procedure can do with $R$ draws.

# %% tags=["parameters"]
seed = 0
trials = 100
t = 1.0
delta = 0.1
distributions = ["uniform", "normal"]
n_values = [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24]
oracle_n_values = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
eps_values = [0.1, 0.01, 0.001]
R_values = [1, 2, 4]
workers = 1
out_dir = "runs/notebooks/theory_subset_sums/manual"

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from bookkeeping import tables
from theory import bounds, experiments, statement_status
from theory.plots import band, colours, interval_errorbar, where

results = experiments.run("subset_sums", globals(), out_dir)  # the parameters above; writes the tables
records, required, fit = results["success_probability"], results["required_n"], results["lueker_fit"]

# %% [markdown]
# ## Success probability against $n$
#
# Each curve is one tolerance $\epsilon$; the band is the 95% Wilson interval of the estimate. The dashed
# vertical line of the same colour is the counting bound: no curve may rise above 0 to the left of it.
# With re-sampling (right panels) the curves move left: fewer slots are needed.

# %%
panels = [(d, 1) for d in distributions[:1]] + [(experiments.FIT_DISTRIBUTION, R) for R in R_values if R > 1]
fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), sharey=True, squeeze=False)
shown = []
for ax, (dist, R) in zip(axes[0], panels):
    for colour, eps in colours(eps_values, "viridis"):
        rows = where(records, distribution=dist, R=R, eps=eps)
        shown += rows
        ns = [r["n"] for r in rows]
        p, low, high = ([r[k] for r in rows] for k in ("p", "ci_low", "ci_high"))
        band(ax, ns, p, low, high, colour, ms=3, label=f"ε = {eps:g}")
        ax.axvline(bounds.counting_lower_bound(t, eps, R), color=colour, ls="--", lw=0.8)
    ax.set_title(f"{dist}, " + ("model A (none)" if R == 1 else f"model B (oracle), R = {R}"))
    ax.set_xlabel("n (slots)")
axes[0][0].set_ylabel("P(E* ≤ ε)")
axes[0][0].legend(fontsize=8)
tables.save_figure(fig, out_dir, "success_probability_vs_n", shown)

# %% [markdown]
# ## Required size against $\log(1/\epsilon)$: counting bound and fitted Lueker line
#
# $n_\delta(\epsilon)$ is the smallest $n$ of the grid whose estimated success probability reaches
# $1 - \delta$ (error bars: the same with the upper and lower Wilson bounds). If the Lueker-type bound is
# right, $n_\delta$ grows **affinely** in $\log(1/\epsilon)$, with a slope at least the counting slope
# $1/\log 2 \approx 1.44$. The dotted line is Pensia's form $C \log(2/\min(\epsilon, \delta))$ with the
# smallest $C$ that makes it hold on every simulated cell.

# %%
# A grid too small for a fit leaves that part empty; the warning above and `fit["not_computable"]` say why.
affine = fit["affine"][0] if fit["affine"] else None
pensia = fit["pensia"]
fig, ax = plt.subplots(figsize=(5.5, 4))
shown = []
for dist in distributions:
    rows = [r for r in where(required, distribution=dist, R=1) if r["n_delta"] is not None]
    shown += rows
    n_delta = [r["n_delta"] for r in rows]
    low = [r["n_delta_optimistic"] or r["n_delta"] for r in rows]
    high = [r["n_delta_conservative"] or r["n_delta"] for r in rows]
    x = [math.log(1 / r["eps"]) for r in rows]
    interval_errorbar(ax, x, n_delta, low, high, fmt="o", capsize=3, label=f"{dist}: n_δ")
grid = np.linspace(math.log(1 / max(eps_values)), math.log(1 / min(eps_values)), 50)
ax.plot(grid, bounds.counting_lower_bound(t, np.exp(-grid)), "k--", label="counting bound log2(t/ε)")
if affine is not None:
    ax.plot(
        grid,
        affine["slope"] * grid + affine["intercept"],
        "C0-",
        lw=1,
        label=f"affine fit (uniform): slope {affine['slope']:.2f}",
    )
if pensia is not None:
    ax.plot(
        grid,
        bounds.pensia_required_n(np.exp(-grid), delta, pensia["C"]),
        "C0:",
        label=f"Pensia line, C = {pensia['C']:.2f}",
    )
ax.set_xlabel("log(1/ε)")
ax.set_ylabel(f"n_δ (δ = {delta:g})")
ax.legend(fontsize=8)
tables.save_figure(fig, out_dir, "required_n_vs_log_inverse_eps", shown)

# %% [markdown]
# The fitted constants (uniform samples, model A). `C` is read from the point estimates; `[C_low, C_high]`
# from the upper and lower Wilson bounds of every cell. `per_eps` shows the constant each $\epsilon$
# alone requires: if it does not drift as $\epsilon$ shrinks, a single $C$ explains all scales, which is
# what the Lueker-type bound claims.

# %%
for name in ("lueker", "pensia"):
    c = fit[name]
    if c is not None:
        print(
            f"{name:7s} C = {c['C']:.3f}  [{c['C_low']:.3f}, {c['C_high']:.3f}]   per eps: "
            + ", ".join(f"{e:g}: {v:.2f}" for e, v in c["per_eps"])
        )
if affine is not None:
    print(
        f"affine law: n_delta = {affine['slope']:.3f} log(1/eps) + {affine['intercept']:.2f}"
        f"   (counting slope {affine['counting_slope']:.3f})"
    )

# %% [markdown]
# ## Required size against the number of draws per slot
#
# Model B with $R$ draws per slot has $R + 1$ choices per slot, so the counting bound drops to
# $\log(t/\epsilon)/\log(R+1)$. The simulated $n_\delta$ follows the same $1/\log(R+1)$ shape.

# %%
fig, ax = plt.subplots(figsize=(5.5, 4))
shown = []
Rs = np.array(sorted(set(R_values)))
for colour, eps in colours(eps_values, "viridis"):
    rows = where(required, distribution=experiments.FIT_DISTRIBUTION, eps=eps)
    rows = sorted((r for r in rows if r["n_delta"] is not None), key=lambda r: r["R"])
    shown += rows
    ax.plot(
        [r["R"] for r in rows], [r["n_delta"] for r in rows], "o-", color=colour, label=f"n_δ, ε = {eps:g}"
    )
    ax.plot(Rs, bounds.counting_lower_bound(t, eps, Rs), "--", color=colour, lw=0.8)
ax.set_xlabel("R (draws per slot)")
ax.set_ylabel(f"n_δ (δ = {delta:g}); dashed: counting bound")
ax.set_xticks(Rs)
ax.legend(fontsize=8)
tables.save_figure(fig, out_dir, "required_n_vs_R", shown)

# %% [markdown]
# ## What is verified, and what is our model
#
# The IteRand paper's theorem could not be read from any source available to this project. Which
# statements above are checked as published, which are reconstructions, and which are our modelling
# choices:

# %%
display(Markdown(statement_status.markdown()))
