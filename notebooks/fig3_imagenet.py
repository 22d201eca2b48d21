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
# # Fig. 3: ImageNet, edge-popup vs IteRand vs dense SGD
#
# The paper's third figure prunes ResNet-34, -50 and -101 with signed-constant weights (70% pruned, a
# re-draw every 1000 steps, r = 0.1 for IteRand) on ImageNet and compares them with densely trained
# ResNet-18 and -34, plotting validation accuracy against the number of parameters of the network (conv
# and linear weights of the architecture, as in Fig. 2). What to look for: IteRand above edge-popup for
# every ResNet; the dense ResNet-18 / 34 show where SGD-trained networks of similar size stand.
#
# **Modes.** As in the other figure notebooks: `mode = "train"` runs the grid through
# `iterand.experiments.launcher.run`, `mode = "read"` plots an aggregated `results_table` or the runs under `runs_dir`
# (only those of this grid); the figure is drawn from the aggregated table alone.
#
# **What `quick` is, honestly.** ImageNet cannot be trained on a CPU in a minute, and a CPU machine
# usually has no ImageNet at all. So `quick` runs three of the Fig. 3 presets themselves (dense ResNet-18,
# edge-popup and IteRand ResNet-50: same methods, inits, pruned fraction, ImageNet stem and 1000 classes) on **synthetic data** of ImageNet shape
# (`dataset="synthetic"`: 1,000 random 224 x 224 images, see `iterand.engine.data.synthetic`), at width 1/16,
# for 2 steps of 16 images, without warm-up or fine-tuning epochs. Its accuracies are those of random
# guessing among 1000 classes, about 0%: the figure checks that the whole path (presets, sweep, run
# directories, results table, this plot) works, nothing about the paper's claim, and it says SYNTHETIC
# on its face. The parameter counts on its x axis are real: those of the width-1/16 networks.
#
# `paper` reads the real runs (ImageNet in `data/imagenet/{train,val}/<wnid>/*`, or `--data-root`),
# 105 epochs each, trained beforehand on GPUs, e.g. one process per GPU:
#
# ```
# python -m iterand sweep fig3 --shard 1/8 --data-root /path/to/imagenet    # ... up to --shard 8/8
# python -m repro fig3_imagenet --params paper
# ```

# %% tags=["parameters"]
mode = "train"  # "train": run the grid, then plot; "read": plot existing results only
runs_dir = None  # run directories; None: <out_dir>/runs, or with python -m repro one folder for all sets
results_table = None  # an aggregated results CSV to plot instead of collecting runs_dir (read mode)
models = ["resnet18", "resnet50"]
methods = ["sgd", "edgepopup", "iterand"]
width = 0.0625
seeds = [1]
epochs = 1
steps_per_epoch = 2  # None: full epochs
overrides = {
    "dataset": "synthetic",
    "warmup_epochs": 0,
    "finetune_epochs": 0,
    "batch_size": 16,
    "val_fraction": 0.0,
}  # further settings of every run, as with --set
data_root = None  # None: ImageNet in data/imagenet
out_dir = "runs/notebooks/fig3_imagenet/manual"

# %% [markdown]
# ## The runs and the rows this figure shows
#
# `iterand.experiments.figures.rows` reads the parameters above: in `train` mode it trains the fig3
# presets of the chosen `models` and `methods` at `width` for every seed of `seeds`, with the training
# budget and `overrides` on every run; then it aggregates the runs into `results.csv` (or takes
# `results_table`) and returns the rows of the chosen models and methods at `width` with that training
# budget, ImageNet or synthetic ImageNet-shaped data. Two different settings of one point are refused
# rather than mixed.

# %%
from bookkeeping import tables
from iterand.experiments import figures, plots, results

shown = figures.rows("fig3", globals())
print(results.format_table(shown, plots.IMAGENET_COLUMNS))

# %% [markdown]
# ## Accuracy against the number of parameters
#
# One line per method through its models, each point labelled with its model. On real ImageNet, crosses
# mark the edge-popup paper's numbers for the same setting (signed constant, 30% kept, width 1),
# drawn at the parameter count of that architecture. The quick figure has no crosses: chance-level
# accuracies of width-1/16 networks on random images have nothing to be compared with.
# `iterand.experiments.plots.imagenet` draws it; the data file beside the figure keeps every drawn number.

# %%
fig, plotted = plots.imagenet(shown, models, methods, width)
tables.save_figure(fig, out_dir, "fig3_imagenet", plotted)
