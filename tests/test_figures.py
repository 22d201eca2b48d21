"""The paper-figure notebooks in read mode, on hand-made results: each figure plots exactly the numbers of the
results table it was given (no training), only the rows of its grid, beside the published numbers of the
same setting; and the CIFAR-10 default-source rule.

tests/test_notebooks.py runs every notebook with its quick parameters (training included); these tests
pin what the figures show.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from papermill.exceptions import PapermillExecutionError

from bookkeeping import tables
from bookkeeping.files import write_json
from bookkeeping.paths import RunFiles
from iterand import count_weights, models
from iterand.engine.config import TrainConfig, run_name
from iterand.engine.data import CIFAR10_ENV, default_cifar_source, default_data_root
from iterand.experiments import plots, presets, results
from repro import notebooks


def _summary(config: TrainConfig, test_acc: float, weights_total: int, lossy: bool = True) -> dict:
    """A summary.json as ``iterand.engine.train`` writes it, with what ``iterand.experiments.results``
    reads."""
    return {
        "parameters": config.to_dict(),
        "seed": config.seed,
        "run_name": run_name(config),
        "results": {
            "epochs": config.epochs,
            "test_acc_last": test_acc,
            "test_acc_best": test_acc - 1,  # differs, so a figure of the wrong metric fails
            "val_acc_last": None,
            "val_acc_best": None,
            "weights_total": weights_total,
            "weights_kept": weights_total if config.method == "sgd" else weights_total // 2,
            # sizes as a 1.2-bit-per-weight compact file, varying with the seed, and a float32 dense model
            "compact_bytes": None if config.method == "sgd" else int(0.15 * weights_total) + config.seed,
            "compact_bits_per_weight": None,
            "dense_float32_bytes": 4 * weights_total + 1024,
        },
        "data": {"dataset": config.dataset, "augmentation": config.augmentation, "lossy_jpeg": lossy},
    }


def _execute(name: str, tmp_path: Path, **changes) -> Path:
    """Run notebook ``name`` with its quick parameters changed by ``changes``; return its output folder."""
    params = {**notebooks.load_parameters(name, "quick"), **changes}
    params_file = tmp_path / "read_test.yaml"
    params_file.write_text(yaml.safe_dump(params))
    return notebooks.execute(name, str(params_file), root=tmp_path)


def _ours(out_dir: Path, figure: str) -> list[dict]:
    return [row for row in tables.read_csv(out_dir / f"{figure}.csv") if row["series"] == "ours"]


def _assert_plotted_equal_table(plotted: list[dict], table: list[dict], key: tuple[str, ...], x: str) -> None:
    """Every drawn point (x, y, yerr) is its table row's (``x``, mean, std) of the last-epoch test accuracy,
    unchanged, and carries the row's seed count."""
    by_key = {tuple(row[k] for k in key): row for row in table}
    for point in plotted:
        row = by_key[tuple(point[k] for k in key)]
        assert (point["x"], point["y"], point["yerr"]) == (
            row[x],
            row["test_acc_last_mean"],
            row["test_acc_last_std"],
        ), point
        assert point["count"] == row["count"]


# -- Fig. 2 ------------------------------------------------------------------------------------------------

FIG2_PRESETS = ("fig2-conv6-ku-sgd", "fig2-conv6-sc-edgepopup", "fig2-conv6-sc-iterand")
FIG2_WIDTHS = (0.25, 0.5)


def _fig2_runs(out: Path) -> None:
    """Two seeds of the grid at 100 epochs, and a 1-epoch smoke run that must not be plotted."""
    for index, preset in enumerate(FIG2_PRESETS):
        for width in FIG2_WIDTHS:
            for seed in (1, 2):
                config = presets.get(preset).replace(width=width, seed=seed)
                acc = 70.0 + 10 * width + index + 0.5 * seed
                write_json(RunFiles(out / run_name(config)).summary, _summary(config, acc, int(1e6 * width)))
    smoke = presets.get("fig2-conv6-sc-iterand").replace(width=0.25, epochs=1)
    write_json(RunFiles(out / run_name(smoke)).summary, _summary(smoke, 11.0, 250000))


def _fig2_read(tmp_path: Path, **source: str) -> Path:
    """Fig. 2 in read mode from ``source``: ``runs_dir`` or ``results_table``."""
    return _execute(
        "fig2_width",
        tmp_path,
        mode="read",
        **source,
        widths=list(FIG2_WIDTHS),
        seeds=[1, 2],
        epochs=100,
        steps_per_epoch=None,
        overrides={},
    )


@pytest.fixture(scope="module")
def fig2_read(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(scratch folder, runs folder, output folder) of one read-mode execution of fig2_width."""
    tmp_path = tmp_path_factory.mktemp("fig2")
    _fig2_runs(tmp_path / "runs")
    return tmp_path, tmp_path / "runs", _fig2_read(tmp_path, runs_dir=str(tmp_path / "runs"))


def test_fig2_read_mode_plots_the_collected_table_without_training(fig2_read):
    tmp_path, runs, out_dir = fig2_read
    table = results.read_table(out_dir / "results.csv")
    grid_runs = [row for row in results.collect(runs) if row["epochs"] == 100]  # not the smoke run
    assert table == results.read_table(
        results.write_table(results.aggregate(grid_runs), tmp_path / "expected.csv")
    )
    plotted = _ours(out_dir, "fig2_width")
    key = ("model", "width", "method", "init")
    _assert_plotted_equal_table(plotted, table, key, "weights_total")
    # The grid's 6 points, each the mean of its 2 seeds; the 1-epoch smoke run is left out.
    methods = (("sgd", "ku"), ("edgepopup", "sc"), ("iterand", "sc"))
    assert sorted(tuple(p[k] for k in key) for p in plotted) == sorted(
        ("conv6", w, m, i) for w in FIG2_WIDTHS for m, i in methods
    )
    assert all(p["count"] == 2 and p["epochs"] == 100 for p in plotted)
    iterand_quarter = next(p for p in plotted if (p["method"], p["width"]) == ("iterand", 0.25))
    assert iterand_quarter["y"] == pytest.approx(72.5 + 2 + 0.75)
    assert not (out_dir / "runs").exists() and not (out_dir.parent / "runs").exists(), "read mode trained"


def test_fig2_overlays_the_published_conv6_width_sweep_and_compares(fig2_read):
    tmp_path, _, out_dir = fig2_read
    references = [r for r in tables.read_csv(out_dir / "fig2_width.csv") if r["series"] == "reference"]
    published = {
        (ref["source"], ref["width"], ref["method"], ref["test_acc"])
        for ref in results.REFERENCE
        if ref["dataset"] == "cifar10" and ref["model"] == "conv6" and ref["pruned_fraction"] == 0.5
    }
    assert {(r["source"], r["width"], r["method"], r["y"]) for r in references} == published
    for ref in references:
        # drawn at the weight count of the dense architecture at the published width
        network = models.build("conv6", ref["width"], 10, dense=True)
        assert ref["x"] == count_weights(network).total
    shown = [r for r in results.read_table(out_dir / "results.csv") if r["epochs"] == 100]
    comparison = tables.read_csv(out_dir / "fig2_reference_comparison.csv")
    expected = tables.read_csv(tables.write_csv(results.compare(shown), tmp_path / "compare.csv"))
    assert comparison == expected
    # width 0.25 (edge-popup, IteRand) and 0.5 (both) have a published number each
    assert {(r["width"], r["method"]) for r in comparison} == {
        (w, m) for w in FIG2_WIDTHS for m in ("edgepopup", "iterand")
    }


def test_fig2_on_the_bytes_axis_plots_the_compact_and_dense_float32_sizes(tmp_path):
    _fig2_runs(tmp_path / "runs")
    out_dir = _execute(
        "fig2_width",
        tmp_path,
        mode="read",
        runs_dir=str(tmp_path / "runs"),
        widths=list(FIG2_WIDTHS),
        seeds=[1, 2],
        epochs=100,
        steps_per_epoch=None,
        overrides={},
        x_axis="bytes",
    )
    table = {
        (r["width"], r["method"]): r
        for r in results.read_table(out_dir / "results.csv")
        if r["epochs"] == 100
    }
    plotted = tables.read_csv(out_dir / "fig2_width.csv")
    assert len(plotted) == 6 and all(p["series"] == "ours" for p in plotted)  # no published sizes
    for point in plotted:
        row = table[point["width"], point["method"]]
        expected = row["dense_float32_bytes"] if point["method"] == "sgd" else row["compact_bytes_mean"]
        assert point["x"] == expected and point["y"] == row["test_acc_last_mean"]
    iterand_quarter = next(p for p in plotted if (p["method"], p["width"]) == ("iterand", 0.25))
    assert iterand_quarter["x"] == 0.15 * 250000 + 1.5  # the mean over seeds 1 and 2


def test_fig2_draws_only_its_grids_runs_and_refuses_a_table_of_two_settings_of_one_point(tmp_path):
    runs = tmp_path / "runs"
    _fig2_runs(runs)
    other = presets.get("fig2-conv6-sc-iterand").replace(width=0.25, lr=0.05)
    write_json(RunFiles(runs / run_name(other)).summary, _summary(other, 60.0, 250000))
    # A runs folder may hold runs of other settings (other figures' parameter files share it): the
    # figure draws the runs its own values name, and the other setting is no part of it.
    plotted = _ours(_fig2_read(tmp_path, runs_dir=str(runs)), "fig2_width")
    assert len(plotted) == 6 and 60.0 not in {point["y"] for point in plotted}
    # A table aggregated over both settings cannot be drawn without choosing between them.
    both = results.write_table(results.aggregate(results.collect(runs)), tmp_path / "both.csv")
    with pytest.raises(PapermillExecutionError, match="several settings"):
        _fig2_read(tmp_path, results_table=str(both))


# -- Fig. 1 ------------------------------------------------------------------------------------------------


def test_fig1_read_mode_plots_a_given_table_against_r(tmp_path):
    rows = []
    for r in (0.0, 0.01, 0.1, 1.0):
        for seed in (1, 2, 3):
            config = presets.get("fig1-conv6-ku-iterand").replace(r=r, seed=seed)
            summary = _summary(config, 85.0 + 3 * (r > 0) - r + seed, 2261184)
            rows.append(results.row(summary, tmp_path / summary["run_name"]))
    table_file = results.write_table(results.aggregate(rows), tmp_path / "fig1_table.csv")
    out_dir = _execute(
        "fig1_r_sweep",
        tmp_path,
        mode="read",
        results_table=str(table_file),
        width=1.0,
        epochs=100,
        steps_per_epoch=None,
        overrides={},
    )
    plotted = _ours(out_dir, "fig1_r_sweep")
    table = results.read_table(table_file)
    _assert_plotted_equal_table(plotted, table, ("model", "r"), "r")
    assert [p["r"] for p in plotted] == [0.0, 0.01, 0.1, 1.0]
    assert [p["test_acc_last_mean"] for p in plotted] == pytest.approx([87.0, 89.99, 89.9, 89.0])
    assert all(p["test_acc_last_std"] == pytest.approx(1.0) for p in plotted)
    # The published width-1 Conv6 numbers (50% pruned) appear: edge-popup at r = 0, IteRand at r = 0.1.
    references = [p for p in tables.read_csv(out_dir / "fig1_r_sweep.csv") if p["series"] == "reference"]
    assert {(p["method"], p["x"]) for p in references} == {("edgepopup", 0.0), ("iterand", 0.1)}
    assert ("iterand", 0.1, 88.8) in {(p["method"], p["x"], p["y"]) for p in references}
    assert not (out_dir / "runs").exists() and not (out_dir.parent / "runs").exists(), "read mode trained"


# -- Fig. 3 ------------------------------------------------------------------------------------------------


def test_fig3_read_mode_plots_imagenet_rows_with_the_published_resnet50(tmp_path):
    rows = []
    for preset, acc in [
        ("fig3-resnet34-ku-sgd", 73.0),
        ("fig3-resnet34-sc-edgepopup", 60.0),
        ("fig3-resnet34-sc-iterand", 63.0),
        ("fig3-resnet50-sc-edgepopup", 68.0),
        ("fig3-resnet50-sc-iterand", 70.5),
    ]:
        config = presets.get(preset)
        summary = _summary(config, acc, 21_000_000 if "34" in preset else 25_000_000, lossy=False)
        rows.append(results.row(summary, tmp_path / summary["run_name"]))
    table_file = results.write_table(results.aggregate(rows), tmp_path / "fig3_table.csv")
    out_dir = _execute(
        "fig3_imagenet",
        tmp_path,
        mode="read",
        results_table=str(table_file),
        models=["resnet34", "resnet50"],
        width=1.0,
        epochs=105,
        steps_per_epoch=None,
        overrides={},
    )
    plotted = _ours(out_dir, "fig3_imagenet")
    table = results.read_table(table_file)
    _assert_plotted_equal_table(plotted, table, ("model", "method"), "weights_total")
    assert len(plotted) == 5
    references = [p for p in tables.read_csv(out_dir / "fig3_imagenet.csv") if p["series"] == "reference"]
    # Only the signed-constant ResNet-50 number: ResNet-101 is not among the models, KN is not our init.
    assert [(p["model"], p["init"], p["y"]) for p in references] == [("resnet50", "sc", 68.6)]
    network = models.build("resnet50", 1.0, 1000, stem="imagenet", dense=True)
    assert references[0]["x"] == count_weights(network).total
    assert not (out_dir / "runs").exists() and not (out_dir.parent / "runs").exists(), "read mode trained"


# -- the CIFAR-10 default ----------------------------------------------------------------------------------


def test_default_cifar_source_is_the_environment_variable(tmp_path, monkeypatch):
    copy = tmp_path / "cifar10-jpeg.tar.gz"
    monkeypatch.setenv(CIFAR10_ENV, str(copy))
    messages = []
    assert default_cifar_source(messages.append) == str(copy)
    assert len(messages) == 1 and str(copy) in messages[0] and CIFAR10_ENV in messages[0]


def test_default_cifar_source_falls_back_to_the_download_folder(tmp_path, monkeypatch):
    # No machine-specific place is looked at: only the variable, else the download folder.
    monkeypatch.setenv(CIFAR10_ENV, "")  # empty counts as unset
    monkeypatch.chdir(tmp_path)
    messages = []
    source = default_cifar_source(messages.append)
    assert source == str(default_data_root()) == str(tmp_path / "data")
    assert len(messages) == 1 and "needs internet" in messages[0] and source in messages[0]
    assert default_cifar_source(None) == source


def test_the_bytes_axis_places_subnetworks_by_compact_size_and_dense_models_by_float32_size():
    row = {"method": "iterand", "weights_total": 10, "compact_bytes_mean": 3.5, "dense_float32_bytes": 48}
    assert plots.WIDTH_AXES["parameters"].row_x(row) == 10 and plots.WIDTH_AXES["bytes"].row_x(row) == 3.5
    assert plots.WIDTH_AXES["bytes"].row_x({**row, "method": "sgd"}) == 48
    assert plots.WIDTH_AXES["bytes"].row_x({"method": "edgepopup", "weights_total": 10}) is None
