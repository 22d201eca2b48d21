"""The paper's experiment grids as named sweeps (expanded by ``planning``, run by ``launcher``).

A sweep is a family of presets (``iterand.experiments.presets``) times a grid of field values;
``planning.runs`` expands it into ``TrainConfig`` s.

Named sweeps (the grids of the paper's Fig. 1-3, as the official code's ``parallel_grid`` settings list them;
100 CIFAR-10 epochs, or 105 ImageNet epochs, per run):

- ``fig1``: ``fig1-{conv6,resnet18,resnet34}-ku-iterand`` x r in {0, 0.01, 0.1, 1} x seeds 1, 2, 3
  (36 runs). The paper plots the mean over seeds like Fig. 2, so the same seeds; r = 0 is edge-popup.
- ``fig2-conv6``, ``fig2-resnet18``, ``fig2-resnet34``: edge-popup and IteRand under KU and SC, and the
  dense SGD baseline (5 presets) x width in {0.25, 0.5, 1, 2} x seeds 1, 2, 3 (60 runs each). The SGD
  baselines are swept over width as well: Fig. 2 plots accuracy against parameter count for all three.
- ``fig2``: the union of the three (180 runs).
- ``fig3``: the ImageNet presets (8), seed 1 only, width 1.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

from bookkeeping.errors import InvalidInput
from iterand.core.names import canonical_init, ignored_fields
from iterand.experiments import presets

SEEDS = (1, 2, 3)
WIDTHS = (0.25, 0.5, 1.0, 2.0)
R_VALUES = (0.0, 0.01, 0.1, 1.0)
FIG2_MODELS = ("conv6", "resnet18", "resnet34")

__all__ = ["FIG2_MODELS", "R_VALUES", "SEEDS", "SWEEPS", "WIDTHS", "Sweep", "get", "subset"]


@dataclass(frozen=True)
class Sweep:
    """A family of presets, each run at every point of ``grid`` (field -> values)."""

    name: str
    presets: tuple[str, ...]
    grid: dict[str, tuple]
    description: str


def _family(prefix: str) -> tuple[str, ...]:
    # Taken from the preset list, so a sweep cannot name a preset that does not exist.
    return tuple(name for name in presets.names() if name.startswith(prefix))


def _named_sweeps() -> dict[str, Sweep]:
    width_grid = {"width": WIDTHS, "seed": SEEDS}
    sweeps = [
        Sweep(
            "fig1",
            _family("fig1-"),
            {"r": R_VALUES, "seed": SEEDS},
            "Fig. 1: r sweep of IteRand (KU), Conv6 / ResNet-18 / ResNet-34 width 1, seeds 1-3",
        )
    ]
    for model in FIG2_MODELS:
        sweeps.append(
            Sweep(
                f"fig2-{model}",
                _family(f"fig2-{model}-"),
                width_grid,
                f"Fig. 2: {model} edge-popup / IteRand (KU, SC) and dense SGD, width 0.25-2, seeds 1-3",
            )
        )
    sweeps.append(
        Sweep(
            "fig2",
            tuple(name for model in FIG2_MODELS for name in _family(f"fig2-{model}-")),
            width_grid,
            "Fig. 2: the width sweeps of Conv6, ResNet-18 and ResNet-34 together",
        )
    )
    sweeps.append(
        Sweep(
            "fig3",
            _family("fig3-"),
            {"seed": (1,)},
            "Fig. 3: ImageNet ResNet-34/50/101 edge-popup / IteRand (SC), ResNet-18/34 SGD, seed 1",
        )
    )
    return {sweep.name: sweep for sweep in sweeps}


SWEEPS: dict[str, Sweep] = _named_sweeps()


def get(sweep: Sweep | str) -> Sweep:
    """``sweep`` itself, or the named sweep; an unknown name raises ``ValueError`` listing the known ones."""
    if isinstance(sweep, Sweep):
        return sweep
    if sweep not in SWEEPS:
        raise InvalidInput(f"unknown sweep {sweep!r}; allowed: {', '.join(SWEEPS)}")
    return SWEEPS[sweep]


def subset(
    sweep: Sweep | str,
    *,
    models: Collection[str] | None = None,
    methods: Collection[str] | None = None,
    inits: Collection[str] | None = None,
) -> Sweep:
    """The presets of ``sweep`` of the given models, methods and inits (None: any; inits by name or alias,
    "sc", "ku", ...), on the sweep's grid. ``inits`` never drops a dense method such as the "sgd"
    baseline, which always starts from KU.

    ``ValueError`` when a value given is not in any preset of the sweep (a misspelt model would otherwise
    just be missing from the figure) or when no preset is left.
    """
    sweep = get(sweep)
    configs = {name: presets.get(name) for name in sweep.presets}
    fields = {name: {"model": c.model, "method": c.method, "init": c.init} for name, c in configs.items()}
    wanted = {
        "model": models,
        "method": methods,
        "init": None if inits is None else [canonical_init(init, "inits") for init in inits],
    }
    for field, values in wanted.items():
        unknown = [value for value in values or () if value not in {f[field] for f in fields.values()}]
        if unknown:
            raise InvalidInput(
                f"no preset of sweep {sweep.name} has {field} {', '.join(map(repr, unknown))}; "
                f"its presets: {', '.join(sweep.presets)}"
            )

    def chosen(f: Mapping[str, str]) -> bool:
        return all(
            values is None or f[field] in values or field in ignored_fields(f["method"])
            for field, values in wanted.items()
        )

    kept = tuple(name for name, f in fields.items() if chosen(f))
    only = "; ".join(f"{field} in {list(values)}" for field, values in wanted.items() if values is not None)
    if not kept:
        raise InvalidInput(
            f"no preset of sweep {sweep.name} has {only}; its presets: {', '.join(sweep.presets)}"
        )
    return replace(
        sweep, name=f"{sweep.name} (subset)", presets=kept, description=f"{sweep.description}; {only}"
    )
