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
# # The network-level theorem: pruning a wide random network to match a target network
#
# Target: $f(x) = F_l\, s(\cdots s(F_1 x))$ with ReLU $s$, $\|F_i\|_{\mathrm{Frob}} \le 1$ and inputs in
# the unit ball. The random network $g$ is twice as deep: target layer $i$ is emulated by a wide layer
# with U[-1, 1] weights $a$ ($n$ units per input coordinate) and a narrow layer with U[-1, 1] weights $b$.
# Because $w x = w\,s(x) - w\,s(-x)$, units with $a > 0$ carry $a\,s(x)$ and units with $a < 0$ carry
# $|a|\,s(-x)$; each target weight $w$ is approximated by **pruning** $b$: a subset of the products
# $b \cdot a$ that sums to $w$ (and one for $-w$). This is a random subset-sum problem per weight.
#
# The per-weight errors propagate through the 1-Lipschitz ReLUs and norm-bounded layers, which gives a
# guaranteed bound on $\max_{\|x\| \le 1} \|f(x) - g(x)\|$ computed from the measured per-weight errors.
# Below, the pruned network is built explicitly (weights times binary masks), its error measured on many
# inputs (half of them on the unit sphere, where it is largest) and compared with that bound, as the width
# $n$ grows, without re-sampling ($R = 1$) and with $R$ draws per output-side weight (model B, "oracle").

# %% tags=["parameters"]
seed = 0
dims = [4, 8, 4]
sweeps = [
    {"R": 1, "widths": [8, 12, 16, 20, 24, 28, 32]},
    {"R": 2, "widths": [8, 12, 16, 20]},
    {"R": 4, "widths": [6, 8, 10, 12, 14]},
]
trials = 3
inputs = 256
out_dir = "runs/notebooks/theory_network/manual"

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from bookkeeping import tables
from theory import experiments, statement_status
from theory.plots import band, colours, grouped, where

results = experiments.run("network", globals(), out_dir)  # the parameters above; writes the tables
records = results["error_vs_width"]
violations = [r for r in records if r["max_error"] > r["bound_per_weight"] or r["max_error"] > r["bound"]]
print(f"{len(records)} pruned networks, {len(violations)} with a measured error above its computed bound")

# %% [markdown]
# ## Error against width
#
# Solid: measured error (median over targets, band from min to max). Dashed: the computed bound from the
# full per-weight error matrices; dotted: the theorem's coarser form from one tolerance per layer. Every
# measured error must lie below both bounds. Re-sampling reaches a given error at a much smaller width.

# %%
fig, ax = plt.subplots(figsize=(6.5, 4.2))
for colour, R in colours([sweep["R"] for sweep in sweeps]):
    rows = where(records, R=R)
    ns, median = grouped(rows, "n", "max_error", np.median)
    low, high = (grouped(rows, "n", "max_error", fn)[1] for fn in (np.min, np.max))
    label = "no re-sampling (R = 1)" if R == 1 else f"R = {R} draws (oracle)"
    band(ax, ns, median, low, high, colour, label=f"measured, {label}")
    ax.plot(ns, grouped(rows, "n", "bound_per_weight", np.median)[1], "--", color=colour)
    ax.plot(ns, grouped(rows, "n", "bound", np.median)[1], ":", color=colour)
ax.set_yscale("log")
ax.set_xlabel("n (units per input coordinate)")
ax.set_ylabel("max ||f(x) - g(x)|| over the inputs")
ax.set_title(f"target dims {'-'.join(map(str, dims))}; dashed/dotted: computed bounds")
ax.legend(fontsize=8)
tables.save_figure(fig, out_dir, "network_error_vs_width", records)

# %% [markdown]
# ## How sparse is the pruned network?
#
# The fraction of the random network's weights that survive pruning: the subset sums use a small part
# of the units, and the block structure of the wide layer prunes every weight outside its block.

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
shown = []
for colour, R in colours([sweep["R"] for sweep in sweeps]):
    ns, kept = grouped(where(records, R=R), "n", lambda r: r["kept_weights"] / r["total_weights"])
    shown += [{"R": R, "n": n, "kept_fraction": k} for n, k in zip(ns, kept)]
    ax.plot(ns, kept, "o-", color=colour, label=f"R = {R}")
ax.set_xlabel("n (units per input coordinate)")
ax.set_ylabel("kept fraction of weights")
ax.legend()
tables.save_figure(fig, out_dir, "network_kept_fraction", shown)

# %% [markdown]
# ## What is verified, and what is our model
#
# The IteRand paper's theorem could not be read from any source available to this project. Which
# statements above are checked as published, which are reconstructions, and which are our modelling
# choices:

# %%
display(Markdown(statement_status.markdown()))
