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
# # Walkthrough: finding a subnetwork in a random network, with edge-popup and with IteRand
#
# This notebook is the place to start. It builds a small random convolutional network, finds a good
# subnetwork in it on CIFAR-10 twice (with edge-popup, then with IteRand), looks inside the masks, and
# checks the one thing IteRand adds: every few steps it re-draws some of the **pruned** weights and never
# touches the kept ones; last, it stores each trained subnetwork in about one bit per weight and
# rebuilds it exactly. Everything runs through the package (`iterand.core.models`, `iterand.engine.train`,
# `iterand.count_weights`), on the CPU, in a minute or two.
#
# The ideas, in plain words:
#
# * **Weights are never trained.** Each conv / linear weight is drawn at random once (here "signed
#   constant": plus or minus one constant per layer) and then frozen.
# * **Scores are.** Every weight has a learnable score. In each layer the weights with the highest scores
#   are **kept** (here 50% of each layer); the others are **pruned**, i.e. multiplied by 0. The forward
#   pass uses only the kept weights; gradients flow to the scores, and SGD moves scores so that useful
#   weights rise into the kept set. That is edge-popup (Ramanujan et al., 2020).
# * **IteRand** (Chijiwa et al., 2021) adds one step: every `period` optimiser steps (the *period rule*:
#   before the step `s` with `(s + 1) % period == 0`, counting steps over the whole run), each currently
#   pruned weight is replaced by a fresh random draw with probability `r`. A pruned weight is useless as
#   it is; a new draw gives it another chance to be a good one, so a network of a given width behaves
#   like a wider one.

# %% tags=["parameters"]
model = "conv6"  # a Conv network: conv2, conv4, conv6 or conv8
width = 0.25
pruned_fraction = 0.5
r = 0.1
period = 10
epochs = 3
steps_per_epoch = 20  # 20 batches of 128 images per epoch: about 2,500 training images each epoch
seed = 1
data_root = None  # None: iterand.engine.data.default_cifar_source()
out_dir = "runs/notebooks/walkthrough/manual"

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from bookkeeping import tables
from bookkeeping.files import read_metrics
from bookkeeping.paths import RunFiles
from iterand import count_weights, load_compact, models
from iterand.core.layers import named_subnet_layers
from iterand.engine import checkpoint
from iterand.engine.compact import describe, export_compact
from iterand.engine.config import run_name
from iterand.engine.data import default_cifar_source
from iterand.engine.factories import build_model, weight_update
from iterand.engine.posthoc import load_trained
from iterand.engine.train import train
from iterand.experiments import presets

out_dir = Path(out_dir)
data_root = default_cifar_source() if data_root is None else data_root

# %% [markdown]
# ## 1. A random network and its masks
#
# `iterand.core.models.build` draws the weights and scores of the network. `iterand.count_weights` counts the
# conv and linear weights of each layer and how many its current mask keeps: exactly half of every layer
# (the count rule is in `iterand.core.masks`). The first fully connected layer holds the most weights, the
# first convolution the fewest; each is pruned by the same fraction.

# %%
network = models.build(model, width, 10, init="signed_constant", pruned_fraction=pruned_fraction, seed=seed)
counts = count_weights(network)
layers = [
    {"layer": name, "weights": total, "kept": kept, "kept_fraction": kept / total}
    for name, (total, kept) in counts.per_layer.items()
]
for row in layers:
    print(
        f"{row['layer']:12s} {row['weights']:8d} weights, {row['kept']:8d} kept ({row['kept_fraction']:.1%})"
    )
print(f"total: {counts.total} weights, {counts.kept} kept ({counts.kept_fraction:.1%})")

name, first = next(named_subnet_layers(network))
scores, kept = first.scores.detach().flatten(), first.mask().flatten().bool()
print(
    f"\n{name}: the lowest kept score is {scores[kept].min():.4f}, the highest pruned score "
    f"{scores[~kept].max():.4f}: a weight is kept exactly when its score is among the top half"
)

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.bar([row["layer"] for row in layers], [row["weights"] for row in layers], color="0.8", label="weights")
ax.bar(
    [row["layer"] for row in layers], [row["kept"] for row in layers], color="C0", label="kept by the mask"
)
ax.set_yscale("log")
ax.set_ylabel("weights")
ax.tick_params(axis="x", rotation=45)
ax.legend(fontsize=8)
ax.set_title(f"{model} x{width:g}: {pruned_fraction:.0%} of each layer pruned")
tables.save_figure(fig, out_dir, "masks_per_layer", layers)

# %% [markdown]
# ## 2. Training: edge-popup, then IteRand
#
# Both runs start from the same random network (same seed: same weights and scores) and see the same
# batches. The configuration is the paper's Conv6 preset (`fig2-conv6-sc-iterand`: SGD with momentum on
# the scores, learning rate 0.3, cosine schedule, the IteRand code's augmentation, 10% of the training
# set held out for validation), shrunk for a CPU: width, `epochs` and `steps_per_epoch` batches per
# epoch, and a re-draw every `period` steps instead of 300. `iterand.engine.train.train` writes each run into
# its own directory (configuration, per-epoch metrics, checkpoint, summary) and returns the summary;
# running this cell again reuses finished runs.

# %%
base = presets.get("fig2-conv6-sc-iterand").replace(
    model=model,
    width=width,
    pruned_fraction=pruned_fraction,
    r=r,
    period=period,
    epochs=epochs,
    steps_per_epoch=steps_per_epoch,
    seed=seed,
    data_root=data_root,
)
configs = {"edge-popup": base.replace(method="edgepopup"), "IteRand": base}
run_dirs = {label: out_dir / "runs" / run_name(config) for label, config in configs.items()}
summaries = {label: train(config, run_dirs[label]) for label, config in configs.items()}
accuracies = [
    {
        "method": label,
        "test_acc_last": summary["results"]["test_acc_last"],
        "val_acc_last": summary["results"]["val_acc_last"],
        "weight_updates": summary["results"]["weight_updates"],
        "steps": summary["results"]["global_steps"],
    }
    for label, summary in summaries.items()
]
for row in accuracies:
    print(
        f"{row['method']:10s} test accuracy {row['test_acc_last']:.2f}%  ({row['steps']} steps, "
        f"{row['weight_updates']} re-draws)"
    )
print(f"data: {summaries['IteRand']['data'].get('note', summaries['IteRand']['data']['source'])}")

# %% [markdown]
# ### The period rule
#
# The weight update's `due(step)` says when a re-draw happens. With `period` steps it fires before steps
# `period - 1`, `2 period - 1`, ... of the whole run (not reset per epoch), so the IteRand run above made
# exactly as many re-draws as listed here, and edge-popup none.

# %%
steps = summaries["IteRand"]["results"]["global_steps"]
due = [step for step in range(steps) if weight_update(configs["IteRand"]).due(step)]
print(f"re-draws before steps {due}: {len(due)} of them")
assert len(due) == summaries["IteRand"]["results"]["weight_updates"]
assert summaries["edge-popup"]["results"]["weight_updates"] == 0

# %% [markdown]
# ### Validation accuracy epoch by epoch
#
# Both curves rise as the scores learn which weights to keep. With so few steps the two methods are
# close, and which one ends higher can flip with the seed; the paper's gain of IteRand (a point or two
# on Conv6, more on narrow networks) needs full training (Fig. 1 and 2 notebooks).

# %%
curves = []
fig, ax = plt.subplots(figsize=(5, 3.5))
for label, colour in (("edge-popup", "C0"), ("IteRand", "C3")):
    metrics = read_metrics(RunFiles(run_dirs[label]).metrics)
    ax.plot(
        [m["epoch"] + 1 for m in metrics], [m["val_acc"] for m in metrics], "o-", color=colour, label=label
    )
    curves += [{"method": label, "epoch": m["epoch"] + 1, "val_acc": m["val_acc"]} for m in metrics]
ax.set_xlabel("epoch")
ax.set_ylabel("validation accuracy (%)")
ax.set_xticks(range(1, epochs + 1))
ax.legend()
tables.save_figure(fig, out_dir, "validation_curves", curves)

# %% [markdown]
# ## 3. What IteRand changed
#
# The initial network is rebuilt from the configuration (same seed, same draws), the trained one read from
# the run's checkpoint by `iterand.engine.posthoc.load_trained`. Edge-popup's weights must be exactly the
# initial ones. IteRand's differ where a pruned weight was re-drawn, but not always: a signed-constant draw
# is +c or -c, so a weight re-drawn one or more times ends on the other sign than its initial one with
# probability 1/2. A pruned weight is re-drawn at least once in k re-draws with probability 1 - (1 - r)^k,
# so if the pruned half of each layer never changed, a fraction p (1 - (1 - r)^k) / 2 of its weights would
# differ from the start; the measured fractions are close to that, and not equal, because the scores move
# weights in and out of the pruned set during training. Some changed weights ended up **kept**: the scores
# promoted a fresh draw into the subnetwork, which is the whole point of re-drawing.


# %%
initial = dict(named_subnet_layers(build_model(configs["IteRand"], 10)))
edge_popup, _ = load_trained(run_dirs["edge-popup"])
assert all(torch.equal(layer.weight, initial[n].weight) for n, layer in named_subnet_layers(edge_popup))
print("edge-popup: every weight is still the initial draw")

iterand_net, _ = load_trained(run_dirs["IteRand"])
expected = pruned_fraction * (1 - (1 - r) ** len(due)) / 2
print(f"expected fraction changed if the pruned set never moved: {expected:.1%}")
changes = []
for n, layer in named_subnet_layers(iterand_net):
    changed = layer.weight != initial[n].weight
    kept_now = layer.mask().bool()
    changes.append(
        {
            "layer": n,
            "weights": layer.weight.numel(),
            "changed_fraction": changed.float().mean().item(),
            "kept_that_changed": (changed & kept_now).sum().item() / kept_now.sum().item(),
        }
    )
    print(
        f"{n:12s} {changes[-1]['changed_fraction']:6.1%} of the weights differ from the initial draw; "
        f"{changes[-1]['kept_that_changed']:5.1%} of the kept weights are new draws"
    )

fig, ax = plt.subplots(figsize=(6, 3.2))
x = np.arange(len(changes))
ax.bar(
    x - 0.2, [c["changed_fraction"] for c in changes], 0.4, color="C3", label="differ from the initial draw"
)
ax.bar(x + 0.2, [c["kept_that_changed"] for c in changes], 0.4, color="C1", label="of the kept: new draws")
ax.axhline(expected, color="k", linestyle=":", label="expected if the pruned set never moved")
ax.set_xticks(x, [c["layer"] for c in changes], rotation=45)
ax.set_ylabel("fraction")
ax.set_title(f"IteRand after {len(due)} re-draws (r = {r:g})")
ax.legend(fontsize=8)
tables.save_figure(fig, out_dir, "iterand_changes", changes)

# %% [markdown]
# ## 4. One more re-draw by hand: only pruned weights move
#
# The update object is restored from the checkpoint (its count of re-draws included: the random numbers of
# a re-draw are a function of the seed, that count, the layer and the weight), so applying it once more is
# exactly the re-draw the run would have made next. Compare weight by weight: every changed weight
# must have been pruned at that moment and no kept weight may change. Each pruned weight is re-drawn with
# probability r and then changes sign with probability 1/2, so about r/2 of the pruned weights change.

# %%
update = weight_update(configs["IteRand"])
update.load_state_dict(checkpoint.load(RunFiles(run_dirs["IteRand"]).checkpoint)["weight_update"])
masks_before = {n: layer.mask().bool() for n, layer in named_subnet_layers(iterand_net)}
weights_before = {n: layer.weight.clone() for n, layer in named_subnet_layers(iterand_net)}
update.apply(iterand_net)
one_step = []
for n, layer in named_subnet_layers(iterand_net):
    changed = layer.weight != weights_before[n]
    pruned = ~masks_before[n]
    assert not (changed & ~pruned).any(), f"{n}: a kept weight changed"
    one_step.append({"layer": n, "pruned": pruned.sum().item(), "changed": changed.sum().item()})
total_pruned = sum(row["pruned"] for row in one_step)
total_changed = sum(row["changed"] for row in one_step)
print(f"kept weights changed: 0; pruned weights changed: {total_changed} of {total_pruned}")
print(f"= {total_changed / total_pruned:.3f}, to compare with r / 2 = {r / 2:g}")
tables.write_csv(one_step, out_dir / "one_redraw.csv")

# %% [markdown]
# ## 5. The subnetwork in bytes
#
# The weights are random, so a trained subnetwork is fully described by the configuration of its random
# network (architecture, width, distribution, seed), one bit per weight (its mask), the BatchNorm
# statistics, and for IteRand, which of its updates last re-drew each kept weight: re-draws come from a
# counter-based generator, so a re-drawn weight's value is recomputed from (seed, update, layer, index)
# without replaying training. `iterand.engine.compact.export_compact` (the command line: `python -m iterand
# export RUN_DIR --format compact`) writes that into one file, after checking that it rebuilds the model
# exactly; `iterand.load_compact` rebuilds the model from the file alone. Both models compute the same
# outputs bit for bit (any input will do: they are the same function), and the file is a small fraction
# of the dense model's float32 size.

# %%
sizes = []
inputs = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
for label, run_dir in run_dirs.items():
    path = export_compact(run_dir, out_dir / "compact")
    rebuilt = load_compact(path)
    trained_model, _ = load_trained(run_dir)
    identical = torch.equal(trained_model.eval()(inputs), rebuilt(inputs))
    assert identical, f"{label}: the rebuilt model computes other outputs"
    sizes.append(
        {"method": label, "file": path.name, "identical_outputs": identical, **describe(path.read_bytes())}
    )
    print(
        f"{label:10s} {sizes[-1]['compact_bytes']:8d} bytes = {sizes[-1]['compact_bits_per_weight']:.2f} bits per "
        f"weight (masks {sizes[-1]['mask_bytes']}, re-draw records {sizes[-1]['record_bytes']}, BatchNorm and "
        f"header {sizes[-1]['buffer_bytes'] + sizes[-1]['header_bytes']}); the dense model in float32: "
        f"{sizes[-1]['dense_float32_bytes']} bytes"
    )
tables.write_csv(sizes, out_dir / "compact_sizes.csv")

# %% [markdown]
# ## Where next
#
# * `python -m iterand train --preset fig2-conv6-sc-iterand` trains the paper's Conv6 for 100 epochs
#   (about 89% test accuracy; a GPU helps); `python -m iterand presets` lists every preset.
# * `python -m iterand export RUN_DIR --format compact` stores a trained model in bytes (section 5); the
#   `fig2_width` notebook with `x_axis = "bytes"` plots accuracy against that size.
# * The notebooks `fig1_r_sweep`, `fig2_width` and `fig3_imagenet` run or read the paper's sweeps;
#   `theory_*` check the theorem behind IteRand on small exact problems.
