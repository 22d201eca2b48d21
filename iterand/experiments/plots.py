"""The paper's Fig. 1-3, drawn from the rows of an aggregated results table (matplotlib only).

Each figure function takes the rows a figure shows (``results.select``) and returns the figure and the
exact numbers it draws, one dict per point, for ``bookkeeping.tables.save_figure``:

- ``series = "ours"``: ``x`` (the row's value on the x axis), ``y`` and ``yerr`` (the mean and standard
  deviation over seeds of the last-epoch test accuracy, drawn as error bars), and the row's columns;
- ``series = "reference"``: a published number of ``results.REFERENCE`` for the same setting, drawn as a
  cross where that setting sits on the x axis (its r, or the parameter count of its network).

Below every figure a note gives the training budget, the number of seeds and, where it applies, that our
CIFAR-10 numbers come from the lossy JPEG copy.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from iterand.core.accounting import count_weights
from iterand.core.models import build
from iterand.core.names import METHOD_REGISTRY
from iterand.experiments import comparison, curves, results

Points = list[dict[str, Any]]

COLOURS = {"sgd": "k", "edgepopup": "C0", "iterand": "C3", "recycling": "C2", "biprop": "C4"}
LINES = {"sc": "-", "ku": "--", "kn": "-.", "u": ":"}
# The columns each figure prints and keeps beside every drawn point in its data file (then the budget).
R_SWEEP_COLUMNS = (
    "model", "width", "init", "pruned_fraction", "r", "period", "count", "test_acc_last_mean",
    "test_acc_last_std",
)  # fmt: skip
WIDTH_COLUMNS = (
    "model", "width", "method", "init", "pruned_fraction", "weights_total", "weights_kept", "count",
    "test_acc_last_mean", "test_acc_last_std",
)  # fmt: skip
IMAGENET_COLUMNS = WIDTH_COLUMNS
# The columns of the seed-by-seed figure: the series two methods share (Fig. 2 draws KU and SC apart).
SEED_SERIES = ("model", "width", "init")
_CIFAR_BUDGET = ("epochs", "steps_per_epoch", "lossy_jpeg")
_IMAGENET_BUDGET = ("dataset", "epochs", "steps_per_epoch")
_PARAMETERS = "number of parameters (conv + linear weights of the architecture)"
_CURVE_LABELS = {"val_acc": "validation accuracy (%)", "train_acc": "training accuracy (%), augmented"}
_LOSSY = "ours on the JPEG re-encoding of CIFAR-10 (lossy), not the official test images"

__all__ = [
    "IMAGENET_COLUMNS",
    "R_SWEEP_COLUMNS",
    "WIDTH_AXES",
    "WIDTH_COLUMNS",
    "imagenet",
    "model_bytes",
    "parameter_count",
    "r_sweep",
    "seeds",
    "width_sweep",
]


def parameter_count(model: str, width: float, num_classes: int = 10, stem: str = "cifar") -> int:
    """Conv and linear weights of the dense ``model`` at ``width``: what SGD trains and what the random
    network of a subnetwork method holds (the x axis of Fig. 2 and 3)."""
    return count_weights(build(model, width, num_classes, stem=stem, dense=True)).total


@dataclass(frozen=True)
class Axis:
    """An x axis of the width figure: its label, where an aggregated row sits on it (None: nowhere), and
    where a published number (a ``REFERENCE`` entry, which states a width) sits on it (None: published
    numbers have no place on this axis)."""

    label: str
    row_x: Callable[[Mapping[str, Any]], float | None]
    reference_x: Callable[[Mapping[str, Any]], float] | None


def model_bytes(row: Mapping[str, Any]) -> float | None:
    """What storing the model of an aggregated row takes, the parameter-efficiency comparison of the
    strong-lottery-ticket literature: the mean compact file size over seeds for a subnetwork method
    (``iterand.engine.compact``), the float32 size for a dense method; None when the row has no size
    (runs trained before compact files existed)."""
    dense = not METHOD_REGISTRY[row["method"]].subnetwork
    return row.get("dense_float32_bytes" if dense else "compact_bytes_mean")


WIDTH_AXES = {
    "parameters": Axis(
        _PARAMETERS,
        lambda row: row["weights_total"],
        lambda ref: parameter_count(ref["model"], ref["width"]),
    ),
    "bytes": Axis(
        "model size in bytes (compact file; dense SGD: float32 weights and BatchNorm)", model_bytes, None
    ),
}


def r_sweep(
    shown: Sequence[Mapping[str, Any]], models: Sequence[str], width: float, r_values: Sequence[float]
) -> tuple[Figure, Points]:
    """Fig. 1: test accuracy against r, one panel per model, on a symmetric-log x axis (linear around 0,
    so that r = 0, edge-popup, has its place). Published numbers at the same width and pruned fraction
    are drawn at their r: edge-popup's at 0, IteRand's at its default 0.1. Returns (figure, points)."""
    fig, axes = plt.subplots(1, len(models), figsize=(4.8 * len(models), 4), squeeze=False)
    plotted: Points = []
    for ax, model in zip(axes[0], models, strict=True):
        rows = [row for row in shown if row["model"] == model]
        points = _ours(rows, "r", (*R_SWEEP_COLUMNS, *_CIFAR_BUDGET))
        _errorbar(ax, points, color=COLOURS["iterand"], marker="o", label="ours, IteRand (KU)")
        plotted += points
        published = _published(
            dataset={"cifar10"},
            model={model},
            width={width},
            pruned_fraction={r["pruned_fraction"] for r in rows},
        )
        markers = _markers(published)
        labelled = set()
        for ref in published:
            point = _reference(
                ref, ref["r"] if ref["method"] == "iterand" else 0.0, ("model", "method", "source")
            )
            label = None if ref["source"] in labelled else f"published: {ref['source']}"
            labelled.add(ref["source"])
            ax.plot([point["x"]], [point["y"]], markers[ref["source"]], color="k", ms=9, mew=2, label=label)
            plotted.append(point)
        ax.set_xscale("symlog", linthresh=0.01, linscale=0.5)
        ax.set_xticks(r_values)
        ax.set_xticklabels([f"{r:g}" for r in r_values])
        ax.set_xlabel("r (probability of re-drawing a pruned weight)")
        ax.set_title(f"{model}, width {width:g}")
    periods = "/".join(map(str, sorted({row["period"] for row in shown})))
    _finish(fig, axes[0], shown, f"a re-draw every {periods} steps", lossy=True)
    return fig, plotted


def width_sweep(
    shown: Sequence[Mapping[str, Any]],
    models: Sequence[str],
    methods: Sequence[str],
    inits: Sequence[str],
    x: str = "parameters",
) -> tuple[Figure, Points]:
    """Fig. 2: test accuracy against the network's size (``WIDTH_AXES[x]``), one panel per model, one
    curve per method (colour) and init (line style: solid SC, dashed KU; the dense baseline is always
    KU). Published numbers of the same model, method and pruned fraction are crosses. Returns (figure,
    points)."""
    axis = WIDTH_AXES[x]
    panels = [model for model in models if any(row["model"] == model for row in shown)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    plotted: Points = []
    for ax, model in zip(axes[0], panels, strict=True):
        for method in methods:
            for init in ("ku",) if not METHOD_REGISTRY[method].subnetwork else inits:
                rows = [
                    {**r, "x": axis.row_x(r)}
                    for r in shown
                    if (r["model"], r["method"], r["init"]) == (model, method, init)
                    and axis.row_x(r) is not None
                ]
                if not rows:
                    continue
                points = _ours(rows, "x", (*WIDTH_COLUMNS, *_CIFAR_BUDGET))
                style = {"color": COLOURS[method], "linestyle": LINES[init], "marker": "o", "ms": 4}
                _errorbar(ax, points, **style, label=f"ours, {_title(method)} ({init.upper()})")
                plotted += points
        subnetwork_rows = [
            r for r in shown if r["model"] == model and METHOD_REGISTRY[r["method"]].subnetwork
        ]
        published = _published(
            dataset={"cifar10"},
            model={model},
            method=set(methods),
            pruned_fraction={r["pruned_fraction"] for r in subnetwork_rows},
        )
        for source, marker in _markers(published if axis.reference_x is not None else []).items():
            for method in methods:
                matching = [ref for ref in published if (ref["source"], ref["method"]) == (source, method)]
                if not matching:
                    continue
                columns = ("source", "model", "width", "method", "pruned_fraction", "test_acc")
                points = [_reference(ref, axis.reference_x(ref), columns) for ref in matching]
                label = f"published, {_title(method)}: {source}"
                _plot(ax, points, marker, color=COLOURS[method], ms=9, mew=2, label=label)
                plotted += points
        ax.set_xscale("log")
        ax.set_xlabel(axis.label)
        ax.set_title(model)
    _finish(fig, axes[0], shown, lossy=True)
    return fig, plotted


def _series(row: Mapping[str, Any]) -> tuple:
    """The column of the seed figure that ``row`` belongs to (``SEED_SERIES``)."""
    return tuple(row[field] for field in SEED_SERIES)


def seeds(
    runs: Sequence[Mapping[str, Any]],
    epochs: Sequence[Mapping[str, Any]],
    baseline: str,
    method: str,
    metric: str = "val_acc",
) -> tuple[Figure, Points]:
    """``method`` against ``baseline`` seed by seed, one column per (model, width, init) of ``runs`` (the
    series the two methods share, ``comparison.paired_differences``' groups): above,
    ``metric`` per epoch (the mean over seeds, the band from the lowest to the highest seed); below, the
    last-epoch test accuracy of every seed, the two methods' runs of one seed joined by a line, with the
    mean paired difference and its 95 % t interval (``comparison.paired_differences``) in the title.

    ``runs`` and ``epochs`` are per-run and per-epoch rows (``figures.seed_rows``); a run found in several
    directories counts once (``results.counted``). Returns (figure, points): ``series`` "band"
    (``curves.bands`` rows), "seed" (one per run) and "paired" (one per column)."""
    runs = results.counted(runs)
    columns = sorted({_series(r) for r in runs})
    fig, axes = plt.subplots(2, len(columns), figsize=(4.6 * len(columns), 7.2), squeeze=False)
    plotted: Points = []
    paired = {_series(p): p for p in comparison.paired_differences(runs, baseline, method, by=SEED_SERIES)}
    band_rows = curves.bands(epochs, metric, by=(*SEED_SERIES, "method"))
    for column, series in enumerate(columns):
        model, width, init = series
        top, bottom = axes[0][column], axes[1][column]
        by_seed: dict[int, dict[str, float]] = {}
        for offset, name in enumerate((baseline, method)):
            band = [b for b in band_rows if _series(b) == series and b["method"] == name]
            if band:
                steps = [b["epoch"] for b in band]
                top.plot(steps, [b["mean"] for b in band], color=COLOURS[name], label=_title(name))
                top.fill_between(
                    steps, [b["low"] for b in band], [b["high"] for b in band], color=COLOURS[name], alpha=0.2
                )
                plotted += [{"series": "band", "metric": metric, **b} for b in band]
            chosen = sorted(
                (r for r in runs if _series(r) == series and r["method"] == name),
                key=lambda r: r["seed"],
            )
            bottom.plot(
                [offset] * len(chosen), [r["test_acc_last"] for r in chosen], "o", color=COLOURS[name]
            )
            plotted += [
                {"series": "seed", "model": model, "width": width, "init": init, "method": name,
                 "seed": r["seed"], "test_acc_last": r["test_acc_last"]}
                for r in chosen
            ]  # fmt: skip
            for r in chosen:
                by_seed.setdefault(r["seed"], {})[name] = r["test_acc_last"]
        for seed, accuracy in sorted(by_seed.items()):
            if len(accuracy) == 2:
                bottom.plot([0, 1], [accuracy[baseline], accuracy[method]], color="0.6", lw=0.8, zorder=0)
                bottom.annotate(f"s{seed}", (1, accuracy[method]), xytext=(4, 0), textcoords="offset points",
                                fontsize=7, va="center")  # fmt: skip
        top.set_title(f"{model} x{width:g} ({init.upper()})")
        top.set_xlabel("epoch")
        top.set_ylabel(_CURVE_LABELS.get(metric, metric) if column == 0 else "")
        top.grid(alpha=0.3)
        bottom.set_xticks([0, 1], [_title(baseline), _title(method)])
        bottom.set_xlim(-0.5, 1.5)
        bottom.grid(alpha=0.3, axis="y")
        if column == 0:
            bottom.set_ylabel("test accuracy (%), last epoch")
        pair = paired.get(series)
        if pair is not None and pair["mean"] is not None:
            interval = (
                "" if pair["low"] is None else f"\n95% interval [{pair['low']:+.2f}, {pair['high']:+.2f}]"
            )
            bottom.set_title(
                f"difference {pair['mean']:+.2f} points (n={pair['count']}){interval}", fontsize=9
            )
            plotted.append({"series": "paired", **pair})
    axes[0][-1].legend(fontsize=8, loc="lower right")
    budget = results.training_budget(runs)
    note = f"ours: {budget} per run, {len({r['seed'] for r in runs})} seed(s); band: lowest to highest seed"
    if any(r.get("lossy_jpeg") for r in runs):
        note += f"; {_LOSSY}"
    fig.tight_layout()
    fig.text(0.01, -0.01, textwrap.fill(note, 100), fontsize=8, ha="left", va="top")
    return fig, plotted


def imagenet(
    shown: Sequence[Mapping[str, Any]], models: Collection[str], methods: Sequence[str], width: float
) -> tuple[Figure, Points]:
    """Fig. 3: ImageNet accuracy against the parameter count, one line per method through its models,
    each point labelled with its model. Published numbers of the same models, methods, init, pruned
    fraction and width are crosses; rows of synthetic data get none, and a title saying so. Returns
    (figure, points)."""
    synthetic = shown[0]["dataset"] == "synthetic"  # one dataset: results.select refuses a mix
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    plotted: Points = []
    for method in methods:
        rows = [r for r in shown if r["method"] == method]
        if not rows:
            continue
        points = _ours(rows, "weights_total", (*IMAGENET_COLUMNS, *_IMAGENET_BUDGET))
        _errorbar(
            ax, points, color=COLOURS[method], marker="o", label=f"ours, {_title(method)} ({_inits(rows)})"
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
    subnetwork_rows = [r for r in shown if METHOD_REGISTRY[r["method"]].subnetwork]
    published = (
        []
        if synthetic
        else _published(
            dataset={"imagenet"},
            model=set(models),
            method=set(methods),
            init={r["init"] for r in subnetwork_rows},
            pruned_fraction={r["pruned_fraction"] for r in subnetwork_rows},
            width={width},
        )
    )
    for ref in published:
        x = parameter_count(ref["model"], ref["width"], 1000, "imagenet")
        point = _reference(ref, x, ("source", "model", "width", "method", "init"))
        ax.plot([point["x"]], [point["y"]], "x", color=COLOURS[ref["method"]], ms=9, mew=2)
        ax.annotate(
            f"{ref['model']} (published)",
            (point["x"], point["y"]),
            fontsize=7,
            xytext=(3, -9),
            textcoords="offset points",
        )
        plotted.append(point)
    if published:
        ax.plot([], [], "x", color="grey", mew=2, label=f"published: {published[0]['source']}")
    ax.set_xscale("log")
    ax.set_xlabel(_PARAMETERS)
    ax.set_ylabel(("synthetic-data" if synthetic else "ImageNet validation") + " accuracy (%), last epoch")
    ax.set_title(
        "SYNTHETIC DATA (random images): a pipeline check, not ImageNet" if synthetic else "ImageNet",
        color="C3" if synthetic else "k",
    )
    if synthetic:
        ax.set_ylim(-2, 100)  # the whole accuracy range, so that chance level reads as what it is
    _finish(fig, [ax], shown, width=width, ylabel=None)
    return fig, plotted


def _ours(rows: Iterable[Mapping[str, Any]], x: str, columns: Sequence[str]) -> Points:
    """``rows`` sorted by their ``x`` column, as drawn points with the row's ``columns`` beside them."""
    return [
        {
            "series": "ours",
            "x": row[x],
            "y": row["test_acc_last_mean"],
            "yerr": row["test_acc_last_std"],
            **{k: row[k] for k in columns},
        }
        for row in sorted(rows, key=lambda row: row[x])
    ]


def _reference(ref: Mapping[str, Any], x: float, columns: Sequence[str]) -> dict[str, Any]:
    return {"series": "reference", **{k: ref[k] for k in columns}, "x": x, "y": ref["test_acc"]}


def _published(**allowed: Collection[Any]) -> list[dict[str, Any]]:
    """The ``results.REFERENCE`` entries whose every named field has one of the ``allowed`` values."""
    return [
        ref for ref in results.REFERENCE if all(ref[field] in values for field, values in allowed.items())
    ]


def _markers(published: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """A cross shape per source of published numbers, sources in alphabetical order."""
    return dict(zip(sorted({ref["source"] for ref in published}), ("x", "+", "1"), strict=False))


def _errorbar(ax: Axes, points: Points, **style: Any) -> None:
    ax.errorbar(
        [p["x"] for p in points],
        [p["y"] for p in points],
        yerr=[p["yerr"] for p in points],
        capsize=3,
        **style,
    )


def _plot(ax: Axes, points: Points, marker: str, **style: Any) -> None:
    ax.plot([p["x"] for p in points], [p["y"] for p in points], marker, **style)


def _title(method: str) -> str:
    return METHOD_REGISTRY[method].title


def _inits(rows: Iterable[Mapping[str, Any]]) -> str:
    return "/".join(sorted({row["init"].upper() for row in rows}))


def _finish(
    fig: Figure,
    axes: Iterable[Axes],
    shown: Sequence[Mapping[str, Any]],
    *details: str,
    width: float | None = None,
    lossy: bool = False,
    ylabel: str | None = "CIFAR-10 test accuracy (%), last epoch",
) -> None:
    """Grid lines, the y label on the first panel, the legend beside the last, and the note below: the
    training budget (and ``details``), the seeds per point, the lossy-data warning where it applies."""
    axes = list(axes)
    for ax in axes:
        ax.grid(alpha=0.3)
    if ylabel is not None:
        axes[0].set_ylabel(ylabel)
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    seeds = "/".join(map(str, sorted({row["count"] for row in shown})))
    parts = [f"width {width:g}"] if width is not None else []
    parts += [f"{results.training_budget(shown)} per run", *details, f"mean ± std over {seeds} seed(s)"]
    note = "ours: " + ", ".join(parts)
    if lossy and any(row["lossy_jpeg"] for row in shown):
        note += f"; {_LOSSY}"
    fig.text(0.01, -0.02, textwrap.fill(note, 90), fontsize=8, ha="left", va="top")
