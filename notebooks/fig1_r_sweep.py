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
# # Fig. 1: how much to re-draw, the hyperparameter r
#
# Every `period` steps IteRand re-draws each **pruned** weight with probability `r` (kept weights are never
# touched). `r = 0` re-draws nothing: that is edge-popup. `r = 1` re-draws every pruned weight, the
# paper's "naive" variant. The paper's Fig. 1 trains Conv6 (50% pruned), ResNet-18 and ResNet-34 (60%
# pruned) at width 1 on CIFAR-10 with Kaiming-uniform weights for r in {0, 0.01, 0.1, 1}: re-drawing
# helps (r > 0 above r = 0), and the paper's default r = 0.1 is at least as good as r = 1.
#
# The x axis is symmetric-log: linear around 0 so that r = 0 has its place, logarithmic from 0.01 on.
# Each point is the mean over seeds of the last-epoch test accuracy, error bars one standard deviation.
#
# **Modes.** `mode = "train"` runs the grid through `iterand.experiments.launcher.run` (finished runs are skipped,
# interrupted ones resume) and aggregates the finished runs over seeds; `mode = "read"` plots the
# aggregated table `results_table` if given, else the runs under `runs_dir`. Either way only the runs of
# this grid are drawn (the ones these parameters name): `runs_dir` may hold others, as the folder that
# every parameter set shares does. The figure is drawn from the aggregated table alone.
#
# **Parameter sets.** `quick`: Conv6 at width 1/8 on the CPU, one seed, one epoch of 40 steps with a
# re-draw every 10 steps (four re-draws instead of one every 300 steps), no validation split; about a
# minute. Its differences between r values are mostly noise of one short run: it checks the pipeline.
# `paper` reads the paper's grid (36 runs of 100 epochs), trained beforehand on GPUs:
#
# ```
# python -m iterand sweep fig1 --shard 1/4          # ... up to --shard 4/4, one process per GPU
# python -m repro fig1_r_sweep --params paper
# ```

# %% tags=["parameters"]
mode = "train"  # "train": run the grid, then plot; "read": plot existing results only
runs_dir = None  # run directories; None: <out_dir>/runs, or with python -m repro one folder for all sets
results_table = None  # an aggregated results CSV to plot instead of collecting runs_dir (read mode)
models = ["conv6"]
width = 0.125
r_values = [0.0, 0.01, 0.1, 1.0]
seeds = [1]
epochs = 1
steps_per_epoch = 40  # None: full epochs
overrides = {"period": 10, "val_fraction": 0.0}  # further settings of every run, as with --set
data_root = None  # None: iterand.engine.data.default_cifar_source()
out_dir = "runs/notebooks/fig1_r_sweep/manual"

# %% [markdown]
# ## The runs and the rows this figure shows
#
# `iterand.experiments.figures.rows` reads the parameters above: in `train` mode it trains the fig1
# presets of `models` (IteRand, KU; r = 0 is edge-popup) at `width` for every r of `r_values` and seed of
# `seeds`, with the training budget and `overrides` on every run (finished runs are skipped, interrupted
# ones resume); then it aggregates the runs over seeds into `results.csv` (or takes `results_table`) and
# returns the IteRand rows of the chosen models, width, r values and training budget. Two different
# settings of one point (say, another period) are refused rather than mixed.

# %%
from bookkeeping import tables
from iterand.experiments import figures, plots, results

shown = figures.rows("fig1", globals())
print(results.format_table(shown, plots.R_SWEEP_COLUMNS))

# %% [markdown]
# ## Test accuracy against r
#
# What to look for (in the paper's runs): the accuracy rises from r = 0 (edge-popup) to r = 0.01 and
# 0.1, and r = 1 is no better than r = 0.1. Crosses are published numbers at the same width and pruned
# fraction, drawn at their r: edge-popup at r = 0 and IteRand at its default r = 0.1. The published
# numbers do not all state Fig. 1's weight distribution (KU): read them as the level to expect after 100
# epochs, not as the same experiment. None is
# drawn when no published number has this width (the quick run's 1/8).
# `iterand.experiments.plots.r_sweep` draws it; the data file beside the figure keeps every drawn number.

# %%
fig, plotted = plots.r_sweep(shown, models, width, r_values)
tables.save_figure(fig, out_dir, "fig1_r_sweep", plotted)
