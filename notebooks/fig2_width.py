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
# # Fig. 2: accuracy against network size, dense SGD vs edge-popup vs IteRand
#
# The paper's second figure trains Conv6, ResNet-18 and ResNet-34 at widths 0.25 to 2 on CIFAR-10 and
# plots test accuracy against the **number of parameters of the network**: the conv and linear weights of
# the architecture at that width (`weights_total` in the results, no biases, no BatchNorm, no scores).
# That count is what SGD trains and what the random network of edge-popup / IteRand holds; their
# subnetworks use a fraction of it (50% of Conv6, 40% of the ResNets are kept; `weights_kept` sits beside
# it in the data file). So a point further right is a wider network, and "edge-popup needs a 1.3x wider
# ResNet-18 to match IteRand" reads as a horizontal gap between the two curves.
#
# With `x_axis = "bytes"` the x-axis is instead what storing the model takes, the parameter-efficiency
# comparison of the strong-lottery-ticket literature: the compact file of a subnetwork model (seed, one bit
# per weight, IteRand's re-draw record: `python -m iterand export --format compact`; mean over seeds) and
# the float32 weights and BatchNorm of the dense SGD model (`iterand.experiments.figures.x_value`). Published
# numbers have no size and are left out there.
#
# Each curve is the mean over seeds of the last-epoch test accuracy, with one standard deviation as error
# bars; colour gives the method, line style the weight distribution of the random network (solid: signed
# constant, SC; dashed: Kaiming uniform, KU; the dense SGD baseline always starts from KU).
#
# **Modes.** `mode = "train"` runs the grid below through `iterand.experiments.launcher.run` (finished runs are skipped,
# interrupted ones resume), collects the finished runs and aggregates them over seeds; `mode = "read"`
# only reads: the aggregated table `results_table` if given, else the run directories under `runs_dir`.
# Either way only the runs of this grid are drawn (the ones these parameters name): `runs_dir` may hold
# others, as the folder that every parameter set shares does. The figure is drawn from the aggregated
# table alone.
#
# **Parameter sets.** `quick` trains a tiny grid on the CPU in about a minute: Conv6 at widths 1/8 and
# 1/4, the three methods under SC, one seed, one epoch of 30 steps, re-randomisation every 10 steps
# instead of 300 (so IteRand re-draws three times) and no validation split. Such networks are far
# from trained: the quick figure shows that the pipeline works end to end, not the paper's numbers.
# `paper` reads the paper's grid (3 models x 4 widths x 5 methods/inits x 3 seeds, 100 epochs each),
# trained beforehand on GPUs, e.g. one process per GPU:
#
# ```
# python -m iterand sweep fig2-conv6 --shard 1/4      # ... up to --shard 4/4, one per GPU
# python -m iterand sweep fig2-resnet18               # fig2-resnet34 likewise, or fig2 for all three
# python -m repro fig2_width --params paper
# ```
#
# (`scripts/slurm_sweep.sh` does the same as a Slurm array.) Runs land in `runs/train` (`$ITERAND_RUNS/train`
# when that is set), which `paper` reads.
#
# `cpu` is a reproduction two CPU cores can carry: Conv6 at widths 1/8 and 1/4, signed constant weights,
# edge-popup and IteRand, seeds 1-3, the paper's settings (batch 128, 50% pruned, K_per = 300, r = 0.1,
# 10% validation split, cosine schedule) except a shortened epoch budget (60 epochs; `cpu-30`: 30, for
# slower cores; `cpu-12`: 12, for the slowest, too short to show IteRand's lead with confidence), two runs
# at a time with one thread each. `cpu-committed`, `cpu-30-committed` and `cpu-12-committed` redraw this
# notebook's figures from the tables those runs committed (`results/fig2_width-cpu/`,
# `results/fig2_width-cpu-30/`, `results/fig2_width-cpu-12/`), in seconds.

# %% tags=["parameters"]
mode = "train"  # "train": run the grid, then plot; "read": plot existing results only
runs_dir = None  # run directories; None: <out_dir>/runs, or with python -m repro one folder for all sets
results_table = None  # an aggregated results CSV to plot instead of collecting runs_dir (read mode)
models = ["conv6"]
widths = [0.125, 0.25]
methods = ["sgd", "edgepopup", "iterand"]
inits = ["sc"]  # random-network inits of edge-popup / IteRand; the SGD baseline is always KU
seeds = [1]
epochs = 1
steps_per_epoch = 30  # None: full epochs
overrides = {"period": 10, "val_fraction": 0.0}  # further settings of every run, as with --set
data_root = None  # None: iterand.engine.data.default_cifar_source()
concurrent = 1  # training processes at once (CPU runs split the cores between them)
x_axis = "parameters"  # "parameters" (the paper's) or "bytes" (model size: compact file, dense float32)
out_dir = "runs/notebooks/fig2_width/manual"

# %% [markdown]
# ## The runs and the rows this figure shows
#
# `iterand.experiments.figures.rows` reads the parameters above: in `train` mode it trains the fig2
# presets of the chosen `models`, `methods` and `inits` (the SGD baseline is always KU) at every width of
# `widths` and seed of `seeds`, with the training budget and `overrides` on every run; then it aggregates
# the finished runs over seeds into `results.csv` (or takes `results_table`) and returns the rows of the
# chosen models, widths, methods and inits trained for `epochs` epochs (of `steps_per_epoch` steps). A runs
# folder that holds two different settings of one point (say, another learning rate) is refused rather
# than averaged or drawn twice.

# %%
from pathlib import Path

from bookkeeping import tables
from iterand.experiments import figures, plots, results

shown = figures.rows("fig2", globals())
print(results.format_table(shown, plots.WIDTH_COLUMNS))

# %% [markdown]
# ## Accuracy against the number of parameters
#
# What to look for (in the paper's runs): at every width IteRand (red) lies above edge-popup (blue) of the
# same init, most clearly for the narrow networks (a wider random network already holds good weights
# without re-drawing); dense SGD (black) of the same architecture is the usual baseline. Crosses are
# published numbers: the weight-recycling authors' independent Conv6 width sweep (x0.25 / 0.5 / 1, 50%
# pruned, official data) and the IteRand paper's width-1 values, drawn at the parameter count of that
# width. In the quick run our points sit far below them: one epoch of 30 steps instead of 100 epochs.
# `iterand.experiments.plots.width_sweep` draws it; the data file beside the figure keeps every drawn
# number.

# %%
fig, plotted = plots.width_sweep(shown, models, methods, inits, x=x_axis)
tables.save_figure(fig, out_dir, "fig2_width", plotted)

# %% [markdown]
# ## Ours against the published numbers
#
# `iterand.experiments.results.compare` puts our mean next to every published number of the same setting (model,
# width, method, pruned fraction, r); `difference` is ours minus published. Numbers from the quick run
# are not comparable (a few steps of training); the table is empty when none of the chosen widths has a
# published value. The `note` column says when ours come from the lossy JPEG copy of CIFAR-10.

# %%
reference = results.compare(shown)
tables.write_csv(reference, Path(out_dir) / "fig2_reference_comparison.csv")
COMPARED = ("model", "width", "method", "epochs", "steps_per_epoch", "published", "ours_mean", "ours_std")
print(results.format_table(reference, [*COMPARED, "ours_count", "difference", "source"]))
if any(row["lossy_jpeg"] for row in shown):
    print("\nNote: ours were obtained on the JPEG re-encoding of CIFAR-10 (lossy), not the official data.")

# %% [markdown]
# ## Seed by seed: learning curves and the paired difference
#
# The means above hide how much the seeds spread. Runs of one seed share their random network, scores,
# data order and validation split, so IteRand minus edge-popup per seed is a paired difference: the seed's
# own luck cancels. Below, per width and init (KU and SC apart, as in the figure above): validation
# accuracy per epoch (mean over seeds, band from the lowest to the highest seed; training accuracy when
# the runs hold out no validation set), then each seed's last-epoch test accuracy, the two runs of a seed joined, and the mean difference with its 95 % Student t
# interval (`iterand.experiments.comparison`). With three seeds t = 4.30: an interval that excludes 0
# is a real effect at this budget; one that includes 0 says three seeds cannot tell.
#
# What the `cpu` scale shows and what it does not. It is the paper's experiment at a shortened budget
# (the cosine schedule over fewer epochs, so fewer re-draws: one per 300 steps, about 1.2 per epoch),
# on the JPEG copy of CIFAR-10: it shows whether IteRand's re-draws already help edge-popup at these
# widths, seed by seed. It does not give the paper's 100-epoch accuracies. For scale, the weight-recycling
# paper's 100-epoch reproduction of Conv6 (50% pruned): x0.1 edge-popup 57.3 %, IteRand 64.5 %; x0.25
# edge-popup 78.5 %, IteRand 83.0 %.

# %%
from iterand.experiments import comparison

runs, epochs = figures.seed_rows("fig2", globals())
if {"edgepopup", "iterand"} <= {row["method"] for row in runs}:
    metric = "val_acc" if any(row["val_acc"] is not None for row in epochs) else "train_acc"
    fig, plotted = plots.seeds(runs, epochs, "edgepopup", "iterand", metric)
    tables.save_figure(fig, out_dir, "fig2_seeds", plotted)
    SEED_COLUMNS = (
        "model",
        "width",
        "init",
        "method",
        "seed",
        "test_acc_last",
        "val_acc_last",
        "images_per_second",
    )
    print(
        results.format_table(
            sorted(runs, key=lambda r: (r["model"], r["width"], r["init"], r["method"], r["seed"])),
            SEED_COLUMNS,
        )
    )
    paired = comparison.paired_differences(runs, "edgepopup", "iterand")
    print()
    print(
        results.format_table(
            paired, ("model", "width", "init", "seeds", "differences", "mean", "low", "high")
        )
    )
