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
# # The bounds, symbolically
#
# Every bound used in the other theory notebooks, written as a `sympy` expression, solved for the required
# size where the statement is an equation, and evaluated next to the numpy function the experiments use.
# The two must agree to rounding: a table below shows both at one parameter point (the test suite checks
# many random points). The network statements take equal widths $d$ and depth $l$:
# $\epsilon'$ is the per-weight tolerance that the error propagation allows, and $\delta'$ the failure
# probability per subset-sum instance after a union bound over the $2 l d^2$ instances.

# %% tags=["parameters"]
t = 1.0
eps = 0.01
delta = 0.05
alpha = 0.3
m = 100
R = 10
C = 2.0
d = 4
l = 2  # noqa: E741
R_values = [1, 2, 5, 10, 100, 1000, 10000, 100000, 1000000, 10000000]
out_dir = "runs/notebooks/theory_symbolic/manual"

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from bookkeeping import tables
from theory import experiments, statement_status

results = experiments.run("symbolic", globals(), out_dir)  # the parameters above; writes the tables

# %% [markdown]
# ## The statements

# %%
lines = [f"**{row['statement']}**: $${row['latex']}$$" for row in results["statements"]]
display(Markdown("\n\n".join(lines)))

# %% [markdown]
# ## sympy against numpy at one point

# %%
point = ", ".join(f"{k} = {v:g}" for k, v in results["width_ratio"]["point"].items())
print(f"at {point}")
for row in results["statements"]:
    print(
        f"{row['statement']:32s} sympy {row['sympy']:<22.16g} numpy {row['numpy']:<22.16g} rel. diff {row['relative_difference']:.1e}"
    )

# %% [markdown]
# ## How much width does re-sampling save?
#
# The ratio of the required width without re-sampling to the width with $R$ draws per output-side weight,
# simplified, and its limit as $R \to \infty$: the whole logarithmic factor $C \log(2/\min(\epsilon', \delta'))$
# is saved, i.e. with enough re-sampling a constant width suffices.

# %%
ratio = results["width_ratio"]
display(Markdown(f"$${ratio['ratio_latex']}$$\n\n$${ratio['limit_latex']}$$"))
print(f"limit at this point: {ratio['limit_value']:.4g}")

# %%
widths = results["width_vs_R"]
fig, ax = plt.subplots(figsize=(5.5, 3.8))
ax.plot([w["R"] for w in widths], [w["width_without"] for w in widths], "k--", label="no re-sampling")
ax.plot([w["R"] for w in widths], [w["width_with"] for w in widths], "o-", label="R draws per weight")
ax.axhline(1, color="grey", lw=0.8)
ax.set_xscale("log")
ax.set_xlabel("R")
ax.set_ylabel("required width n")
ax.set_title(f"ε = {eps:g}, δ = {delta:g}, d = {d}, l = {l}, C = {C:g}")
ax.legend()
tables.save_figure(fig, out_dir, "required_width_vs_R", widths)

# %% [markdown]
# ## What is verified, and what is our model
#
# The IteRand paper's theorem could not be read from any source available to this project. Which
# statements above are checked as published, which are reconstructions, and which are our modelling
# choices:

# %%
display(Markdown(statement_status.markdown()))
