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
# The figure is drawn from the aggregated table alone.
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
# (`scripts/slurm_sweep.sh` does the same as a Slurm array.) Runs land in `runs/train`, which `paper` reads.

# %% tags=["parameters"]
mode = "train"  # "train": run the grid, then plot; "read": plot existing results only
runs_dir = None  # run directories; None: <out_dir>/runs
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
x_axis = "parameters"  # "parameters" (the paper's) or "bytes" (model size: compact file, dense float32)
out_dir = "runs/notebooks/fig2_width/manual"

# %%
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt

from bookkeeping import tables
from iterand import count_weights
from iterand import models as architectures
from iterand.engine.data import default_cifar_source
from iterand.experiments import figures, results

out_dir = Path(out_dir)
# The fig2 presets: edge-popup and IteRand under KU and SC, and SGD (KU), of each model.
table = figures.train_or_read(
    mode,
    "fig2",
    out_dir / "runs" if runs_dir is None else runs_dir,
    out_dir / "results.csv",
    results_table=results_table,
    models=models,
    methods=methods,
    inits=inits,
    grid={"width": widths, "seed": seeds},
    overrides={"epochs": epochs, "steps_per_epoch": steps_per_epoch, **overrides},
    data_root=default_cifar_source if data_root is None else data_root,
)

# %% [markdown]
# ## The rows this figure shows
#
# From the aggregated table, the rows of the chosen models, widths, methods and inits trained for
# `epochs` epochs (of `steps_per_epoch` steps). A runs folder that holds two different settings of one
# point (say, another learning rate) is refused rather than averaged or drawn twice.

# %%
shown = results.select(
    results.read_table(table),
    ("model", "width", "method", "init"),
    source=table,
    models=models,
    widths=widths,
    methods=methods,
    inits=inits,
    epochs=epochs,
    steps_per_epoch=steps_per_epoch,
)
lossy = any(row["lossy_jpeg"] for row in shown)
OURS = (
    "model",
    "width",
    "method",
    "init",
    "pruned_fraction",
    "weights_total",
    "weights_kept",
    "count",
    "test_acc_last_mean",
    "test_acc_last_std",
    "epochs",
    "steps_per_epoch",
    "lossy_jpeg",
)
print(results.format_table(shown, OURS[:-3]))

# %% [markdown]
# ## Accuracy against the number of parameters
#
# What to look for (in the paper's runs): at every width IteRand (red) lies above edge-popup (blue) of the
# same init, most clearly for the narrow networks (a wider random network already holds good weights
# without re-drawing); dense SGD (black) of the same architecture is the usual baseline. Crosses are
# published numbers: the weight-recycling authors' independent Conv6 width sweep (x0.25 / 0.5 / 1, 50%
# pruned, official data) and the IteRand paper's width-1 values, drawn at the parameter count of that
# width. In the quick run our points sit far below them: one epoch of 30 steps instead of 100 epochs.

# %%
COLOURS = {"sgd": "k", "edgepopup": "C0", "iterand": "C3"}
NAMES = {"sgd": "dense SGD", "edgepopup": "edge-popup", "iterand": "IteRand"}
LINES = {"sc": "-", "ku": "--"}
REFERENCE = ("model", "width", "method", "pruned_fraction", "test_acc")
panels = [model for model in models if any(row["model"] == model for row in shown)]
fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
plotted = []
for ax, model in zip(axes[0], panels):
    for method in methods:
        for init in ("ku",) if method == "sgd" else inits:
            rows = sorted(
                (
                    r
                    for r in shown
                    if (r["model"], r["method"], r["init"]) == (model, method, init)
                    and figures.x_value(r, x_axis) is not None
                ),
                key=lambda r: figures.x_value(r, x_axis),
            )
            if not rows:
                continue
            # x, y and yerr are what is drawn; the data file beside the figure keeps them with their row.
            points = [
                {
                    "series": "ours",
                    "x": figures.x_value(r, x_axis),
                    "y": r["test_acc_last_mean"],
                    "yerr": r["test_acc_last_std"],
                    **{k: r[k] for k in OURS},
                }
                for r in rows
            ]
            ax.errorbar(
                [p["x"] for p in points],
                [p["y"] for p in points],
                yerr=[p["yerr"] for p in points],
                color=COLOURS[method],
                linestyle=LINES[init],
                marker="o",
                ms=4,
                capsize=3,
                label=f"ours, {NAMES[method]} ({init.upper()})",
            )
            plotted += points
    pruned = {r["pruned_fraction"] for r in shown if r["model"] == model and r["method"] != "sgd"}
    references = [
        ref
        for ref in results.REFERENCE
        if x_axis == "parameters"
        and ref["dataset"] == "cifar10"
        and ref["model"] == model
        and ref["method"] in methods
        and ref["pruned_fraction"] in pruned
    ]
    for source, marker in zip(sorted({ref["source"] for ref in references}), ("x", "+", "1")):
        for method in methods:
            matching = [ref for ref in references if (ref["source"], ref["method"]) == (source, method)]
            if not matching:
                continue
            points = [
                {
                    "series": "reference",
                    "source": source,
                    **{k: ref[k] for k in REFERENCE},
                    "x": count_weights(architectures.build(model, ref["width"], 10, dense=True)).total,
                    "y": ref["test_acc"],
                }
                for ref in matching
            ]
            ax.plot(
                [p["x"] for p in points],
                [p["y"] for p in points],
                marker,
                color=COLOURS[method],
                ms=9,
                mew=2,
                label=f"published, {NAMES[method]}: {source}",
            )
            plotted += points
    ax.set_xscale("log")
    ax.set_xlabel(figures.X_AXES[x_axis])
    ax.set_title(model)
    ax.grid(alpha=0.3)
axes[0][0].set_ylabel("CIFAR-10 test accuracy (%), last epoch")
axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
seeds_shown = sorted({r["count"] for r in shown})
budget = results.training_budget(shown)
note = f"ours: {budget} per run, mean ± std over {'/'.join(map(str, seeds_shown))} seed(s)"
if lossy:
    note += "; ours on the JPEG re-encoding of CIFAR-10 (lossy), not the official test images"
fig.text(0.01, -0.02, textwrap.fill(note, 90), fontsize=8, ha="left", va="top")
tables.save_figure(fig, out_dir, "fig2_width", plotted)

# %% [markdown]
# ## Ours against the published numbers
#
# `iterand.experiments.results.compare` puts our mean next to every published number of the same setting (model,
# width, method, pruned fraction, r); `difference` is ours minus published. Numbers from the quick run
# are not comparable (a few steps of training); the table is empty when none of the chosen widths has a
# published value. The `note` column says when ours come from the lossy JPEG copy of CIFAR-10.

# %%
comparison = results.compare(shown)
tables.write_csv(comparison, out_dir / "fig2_reference_comparison.csv")
COMPARED = ("model", "width", "method", "epochs", "steps_per_epoch", "published", "ours_mean", "ours_std")
print(results.format_table(comparison, [*COMPARED, "ours_count", "difference", "source"]))
if lossy:
    print("\nNote: ours were obtained on the JPEG re-encoding of CIFAR-10 (lossy), not the official data.")
