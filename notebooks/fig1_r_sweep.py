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
# aggregated table `results_table` if given, else the runs under `runs_dir`. The figure is drawn from the
# aggregated table alone.
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
runs_dir = None  # run directories; None: <out_dir>/runs
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

# %%
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt

from bookkeeping import tables
from iterand.engine.data import default_cifar_source
from iterand.experiments import figures, results

out_dir = Path(out_dir)
# r = 0 of the fig1 presets (IteRand, KU) is edge-popup.
table = figures.train_or_read(
    mode,
    "fig1",
    out_dir / "runs" if runs_dir is None else runs_dir,
    out_dir / "results.csv",
    results_table=results_table,
    models=models,
    grid={"r": r_values, "seed": seeds},
    overrides={"width": width, "epochs": epochs, "steps_per_epoch": steps_per_epoch, **overrides},
    data_root=default_cifar_source if data_root is None else data_root,
)

# %% [markdown]
# ## The rows this figure shows
#
# IteRand rows (r = 0 included) of the chosen models at `width`, for the chosen r values and training
# budget. Two different settings of one point (say, another period) are refused rather than mixed.

# %%
shown = results.select(
    results.read_table(table),
    ("model", "r"),
    source=table,
    models=models,
    methods=["iterand"],
    widths=[width],
    r_values=r_values,
    epochs=epochs,
    steps_per_epoch=steps_per_epoch,
)
lossy = any(row["lossy_jpeg"] for row in shown)
OURS = (
    "model",
    "width",
    "init",
    "pruned_fraction",
    "r",
    "period",
    "count",
    "test_acc_last_mean",
    "test_acc_last_std",
    "epochs",
    "steps_per_epoch",
    "lossy_jpeg",
)
print(results.format_table(shown, OURS[:-3]))

# %% [markdown]
# ## Test accuracy against r
#
# What to look for (in the paper's runs): the accuracy rises from r = 0 (edge-popup) to r = 0.01 and
# 0.1, and r = 1 is no better than r = 0.1. Crosses are published numbers at the same width and pruned
# fraction, drawn at their r: edge-popup at r = 0 and IteRand at its default r = 0.1. The published
# numbers do not all state Fig. 1's weight distribution (KU): read them as the level to expect after 100
# epochs, not as the same experiment. None is
# drawn when no published number has this width (the quick run's 1/8).

# %%
fig, axes = plt.subplots(1, len(models), figsize=(4.8 * len(models), 4), squeeze=False)
plotted = []
for ax, model in zip(axes[0], models):
    rows = sorted((row for row in shown if row["model"] == model), key=lambda row: row["r"])
    # x, y and yerr are what is drawn; the data file beside the figure keeps them with their row.
    points = [
        {
            "series": "ours",
            "x": row["r"],
            "y": row["test_acc_last_mean"],
            "yerr": row["test_acc_last_std"],
            **{k: row[k] for k in OURS},
        }
        for row in rows
    ]
    ax.errorbar(
        [p["x"] for p in points],
        [p["y"] for p in points],
        yerr=[p["yerr"] for p in points],
        color="C3",
        marker="o",
        capsize=3,
        label="ours, IteRand (KU)",
    )
    plotted += points
    pruned = {row["pruned_fraction"] for row in rows}
    references = [
        ref
        for ref in results.REFERENCE
        if ref["dataset"] == "cifar10"
        and ref["model"] == model
        and ref["width"] == width
        and ref["pruned_fraction"] in pruned
    ]
    markers = dict(zip(sorted({ref["source"] for ref in references}), ("x", "+", "1")))
    for ref in references:
        labelled = ref["source"] in {p.get("source") for p in plotted if p["model"] == model}
        point = {
            "series": "reference",
            "model": model,
            "x": ref["r"] if ref["method"] == "iterand" else 0.0,  # edge-popup is r = 0
            "y": ref["test_acc"],
            "method": ref["method"],
            "source": ref["source"],
        }
        label = None if labelled else f"published: {ref['source']}"
        ax.plot([point["x"]], [point["y"]], markers[ref["source"]], color="k", ms=9, mew=2, label=label)
        plotted.append(point)
    ax.set_xscale("symlog", linthresh=0.01, linscale=0.5)
    ax.set_xticks(r_values)
    ax.set_xticklabels([f"{r:g}" for r in r_values])
    ax.set_xlabel("r (probability of re-drawing a pruned weight)")
    ax.set_title(f"{model}, width {width:g}")
    ax.grid(alpha=0.3)
axes[0][0].set_ylabel("CIFAR-10 test accuracy (%), last epoch")
axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
periods = sorted({row["period"] for row in shown})
budget = results.training_budget(shown)
note = (
    f"ours: {budget} per run, a re-draw every {'/'.join(map(str, periods))} steps, mean ± std over "
    f"{'/'.join(map(str, sorted({row['count'] for row in shown})))} seed(s)"
)
if lossy:
    note += "; ours on the JPEG re-encoding of CIFAR-10 (lossy), not the official test images"
fig.text(0.01, -0.02, textwrap.fill(note, 90), fontsize=8, ha="left", va="top")
tables.save_figure(fig, out_dir, "fig1_r_sweep", plotted)
