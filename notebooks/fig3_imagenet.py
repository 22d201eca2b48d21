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
# `iterand.experiments.launcher.run`, `mode = "read"` plots an aggregated `results_table` or the runs under `runs_dir`;
# the figure is drawn from the aggregated table alone.
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
runs_dir = None  # run directories; None: <out_dir>/runs
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

# %%
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt

from bookkeeping import tables
from iterand import count_weights
from iterand import models as architectures
from iterand.experiments import figures, results

out_dir = Path(out_dir)
table = figures.train_or_read(
    mode,
    "fig3",
    out_dir / "runs" if runs_dir is None else runs_dir,
    out_dir / "results.csv",
    results_table=results_table,
    models=models,
    methods=methods,
    grid={"seed": seeds},
    overrides={"width": width, "epochs": epochs, "steps_per_epoch": steps_per_epoch, **overrides},
    data_root=data_root,
)

# %% [markdown]
# ## The rows this figure shows
#
# Rows of the chosen models and methods at `width` with the chosen training budget, ImageNet or synthetic
# ImageNet-shaped data. Two different settings of one point are refused rather than mixed.

# %%
shown = results.select(
    results.read_table(table),
    ("model", "method"),
    source=table,
    models=models,
    widths=[width],
    methods=methods,
    datasets=["imagenet", "synthetic"],
    epochs=epochs,
    steps_per_epoch=steps_per_epoch,
)
synthetic = shown[0]["dataset"] == "synthetic"  # one dataset: select refuses a mix
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
    "dataset",
    "epochs",
    "steps_per_epoch",
)
print(results.format_table(shown, OURS[:-3]))

# %% [markdown]
# ## Accuracy against the number of parameters
#
# One line per method through its models, each point labelled with its model. On real ImageNet, crosses
# mark the edge-popup paper's numbers for the same setting (signed constant, 30% kept, width 1),
# drawn at the parameter count of that architecture. The quick figure has no crosses: chance-level
# accuracies of width-1/16 networks on random images have nothing to be compared with.

# %%
COLOURS = {"sgd": "k", "edgepopup": "C0", "iterand": "C3"}
NAMES = {"sgd": "dense SGD (KU)", "edgepopup": "edge-popup (SC)", "iterand": "IteRand (SC)"}
fig, ax = plt.subplots(figsize=(6.5, 4.5))
plotted = []
for method in methods:
    rows = sorted((r for r in shown if r["method"] == method), key=lambda r: r["weights_total"])
    if not rows:
        continue
    # x, y and yerr are what is drawn; the data file beside the figure keeps them with their row.
    points = [
        {
            "series": "ours",
            "x": r["weights_total"],
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
        marker="o",
        capsize=3,
        label=f"ours, {NAMES[method]}",
    )
    for p in points:
        ax.annotate(
            p["model"],
            (p["x"], p["y"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
            color=COLOURS[method],
        )
    plotted += points
if not synthetic:
    inits = {r["init"] for r in shown if r["method"] != "sgd"}
    pruned = {r["pruned_fraction"] for r in shown if r["method"] != "sgd"}
    references = [
        ref
        for ref in results.REFERENCE
        if ref["dataset"] == "imagenet"
        and ref["model"] in models
        and ref["method"] in methods
        and ref["init"] in inits
        and ref["pruned_fraction"] in pruned
        and ref["width"] == width
    ]
    for ref in references:
        network = architectures.build(ref["model"], ref["width"], 1000, stem="imagenet", dense=True)
        point = {
            "series": "reference",
            "source": ref["source"],
            **{k: ref[k] for k in ("model", "width", "method", "init")},
            "x": count_weights(network).total,
            "y": ref["test_acc"],
        }
        ax.plot([point["x"]], [point["y"]], "x", color=COLOURS[ref["method"]], ms=9, mew=2)
        ax.annotate(
            f"{ref['model']} (published)",
            (point["x"], point["y"]),
            fontsize=7,
            xytext=(3, -9),
            textcoords="offset points",
        )
        plotted.append(point)
    if references:
        ax.plot([], [], "x", color="grey", mew=2, label=f"published: {references[0]['source']}")
ax.set_xscale("log")
ax.set_xlabel("number of parameters (conv + linear weights of the architecture)")
ax.set_ylabel(("synthetic-data" if synthetic else "ImageNet validation") + " accuracy (%), last epoch")
ax.set_title(
    "SYNTHETIC DATA (random images): a pipeline check, not ImageNet" if synthetic else "ImageNet",
    color="C3" if synthetic else "k",
)
if synthetic:
    ax.set_ylim(-2, 100)  # the whole accuracy range, so that chance level reads as what it is
ax.grid(alpha=0.3)
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
counts = "/".join(map(str, sorted({r["count"] for r in shown})))
budget = results.training_budget(shown)
note = f"ours: width {width:g}, {budget} per run, mean ± std over {counts} seed(s)"
fig.text(0.01, -0.02, textwrap.fill(note, 90), fontsize=8, ha="left", va="top")
tables.save_figure(fig, out_dir, "fig3_imagenet", plotted)
