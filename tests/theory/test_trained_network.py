"""The theorem on a trained target: rescaling, exact pruning under models A/B/C, the margin guarantee, the
torch module, the data adapter and the experiment's tables."""

from __future__ import annotations

import os
import re
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
import torch
from PIL import Image

from bookkeeping import paths, tables
from bookkeeping.errors import UserError
from bookkeeping.files import read_json
from theory import cli, network, prediction_margin, target_data, target_training, trained_network
from theory.torch_network import to_torch

# The CIFAR-10 copy the training package would read (`make test` sets the variable when the project's
# JPEG copy is beside the repository).
CIFAR_ARCHIVE = Path(os.environ.get(target_data.CIFAR10_ENV) or "/nonexistent/cifar10-jpeg.tar.gz")
# Float sums of a few dozen terms of size <= 1 differ from exact ones by far less than this.
ROUNDING = 1e-12
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.fixture(scope="module")
def task():
    return target_data.load_task(target_data.SYNTHETIC, image_size=2, seed=0)


@pytest.fixture(scope="module")
def trained(task):
    return target_training.train_target(task, [6], epochs=1, seed=0, batch_size=256, learning_rate=0.01)


def test_rescaling_changes_no_prediction():
    rng = np.random.default_rng(0)
    weights = [rng.normal(0, 3.0, (7, 5)), rng.normal(0, 0.2, (6, 7)), rng.normal(0, 5.0, (4, 6))]
    target, scales = target_training.rescale(weights)
    x = rng.standard_normal((2000, 5))
    unscaled = x
    for i, w in enumerate(weights):
        unscaled = (np.maximum(unscaled, 0) if i else unscaled) @ w.T
    np.testing.assert_array_equal(np.argmax(target.forward(x), 1), np.argmax(unscaled, 1))
    np.testing.assert_allclose(target.forward(x) * np.prod(scales), unscaled, rtol=1e-12, atol=1e-12)
    assert [np.linalg.norm(w) for w in target.weights] == pytest.approx([1.0] * 3)
    with pytest.raises(ValueError, match=r"^weights\[1\] must be finite and not all zero"):
        target_training.rescale([np.ones((2, 2)), np.zeros((2, 2))])


def test_trained_target_is_rescaled_accurate_and_reproducible(task, trained):
    assert trained.target.dims == (4, 6, 10)
    assert [np.linalg.norm(w) for w in trained.target.weights] == pytest.approx([1.0, 1.0])
    assert trained.test_accuracy > 0.5  # ten classes: chance is 0.1
    logits = trained.target.forward(task.test_inputs)
    assert trained.test_accuracy == target_training.accuracy(logits, task.test_labels)
    again = target_training.train_target(task, [6], epochs=1, seed=0, batch_size=256, learning_rate=0.01)
    for w, w_again in zip(trained.target.weights, again.target.weights, strict=True):
        np.testing.assert_array_equal(w, w_again)


def test_predictions_agree_on_every_test_input_once_errors_are_below_the_margin_tolerance(task, trained):
    # The margin tolerance: per-weight errors below it leave every input's class unchanged
    # (theory.prediction_margin). Grow the width until the construction gets there; at every width, an
    # input whose agreement the bound guarantees must agree.
    target, x = trained.target, task.test_inputs[:200]
    tolerance = prediction_margin.agreement_tolerance(target, x)
    assert tolerance > 0
    classes = np.argmax(target.forward(x), axis=1)
    for n in (16, 24, 32, 40, 44):
        layers = trained_network.shared_draws(target.dims, n, 8, seed=0)
        pruned = network.prune_network(target, layers, "iterand")
        agree = np.argmax(pruned.forward(x), axis=1) == classes
        guaranteed = prediction_margin.guaranteed_agreement(target, x, pruned.per_weight_errors)
        assert np.all(agree[guaranteed])
        if max(pruned.per_weight_error_maxima) < tolerance:
            assert np.all(guaranteed) and np.all(agree)
            return
    pytest.fail(f"no width reached the margin tolerance {tolerance:.3g}")


def test_margins_and_tolerance_by_hand():
    logits = np.array([[3.0, 1.0, 2.5], [0.0, -1.0, 0.0]])
    np.testing.assert_array_equal(prediction_margin.logit_margins(logits), [0.5, 0.0])
    target = network.Target((np.array([[1.0, 0.0], [0.0, 0.0]]),))  # f(x) = (x_0, 0)
    x = np.array([[2.0, 0.0], [-1.0, 0.0]])  # margins 2 and 1, norms 2 and 1: relative room 1/sqrt(2)
    tolerance = prediction_margin.agreement_tolerance(target, x)
    assert tolerance == pytest.approx((1 / np.sqrt(2) - prediction_margin.ROUNDING) / 2, rel=1e-9)
    assert prediction_margin.guaranteed_agreement(target, x, [tolerance * 0.999]).all()
    assert not prediction_margin.guaranteed_agreement(target, x, [tolerance * 1.001]).any()
    assert prediction_margin.agreement_tolerance(target, np.array([[0.0, 1.0]])) == 0.0  # a tie: no room


def _kept_part_sums(layer: network.EmulatedLayer) -> tuple[np.ndarray, np.ndarray]:
    """Per target weight, the kept products b * |a| of the units with a > 0 and with a < 0, summed."""
    d_out, d_in = layer.choice.shape[0], layer.first.shape[1]
    n = layer.first.shape[0] // d_in
    a = layer.first.reshape(d_in, n, d_in)[np.arange(d_in), :, np.arange(d_in)]
    products = (layer.second * layer.second_mask).reshape(d_out, d_in, n) * np.abs(a)
    return (products * (a > 0)).sum(axis=2), (products * (a < 0)).sum(axis=2)


def test_models_b_and_c_never_exceed_model_a_per_weight_on_shared_draws(trained):
    target = trained.target
    layers = trained_network.shared_draws(target.dims, 10, 4, seed=3)
    models = [network.prune_network(target, layers, name) for name in ("none", "oracle", "iterand")]
    assert [m.draws_per_weight for m in models] == [1, 4, 4]
    improved = 0
    for weight, a, b, c in zip(target.weights, *(m.layers for m in models), strict=True):
        for part in ("positive_errors", "negative_errors"):
            # Exact: the three searches add the same floats in the same order.
            assert np.all(getattr(b, part) <= getattr(c, part))
            assert np.all(getattr(c, part) <= getattr(a, part))
            improved += int(np.sum(getattr(b, part) < getattr(a, part)))
        for layer in (a, b, c):  # each reported error is that of the weights the layer keeps
            positive, negative = _kept_part_sums(layer)
            np.testing.assert_allclose(np.abs(weight - positive), layer.positive_errors, atol=ROUNDING)
            np.testing.assert_allclose(np.abs(-weight - negative), layer.negative_errors, atol=ROUNDING)
    assert improved > 0


def test_shared_draws_are_nested_and_extend_the_plain_draws():
    dims = (3, 4, 2)
    wide = trained_network.shared_draws(dims, 6, 8, seed=1)
    narrow = trained_network.shared_draws(dims, 6, 2, seed=1)
    plain = network.draw_random_layers(dims, 6, np.random.default_rng([1, 6]), 1)
    for (first, draws), (first_2, draws_2), (first_1, draws_1) in zip(wide, narrow, plain, strict=True):
        assert draws.shape[0] == 8 and draws_2.shape[0] == 2
        np.testing.assert_array_equal(first, first_2)
        np.testing.assert_array_equal(first, first_1)
        np.testing.assert_array_equal(draws[:2], draws_2)
        np.testing.assert_array_equal(draws[:1], draws_1)


def test_torch_module_holds_the_masks_and_computes_the_same(trained, task):
    target = trained.target
    pruned = network.prune_network(target, trained_network.shared_draws(target.dims, 8, 2, seed=0), "oracle")
    module = to_torch(pruned)
    linears = [m for m in module if isinstance(m, torch.nn.Linear)]
    masks = [mask for layer in pruned.layers for mask in (layer.first_mask, layer.second_mask)]
    assert len(linears) == 4 and all(linear.bias is None for linear in linears)
    for linear, mask in zip(linears, masks, strict=True):
        np.testing.assert_array_equal(linear.weight_mask.numpy(), mask)
    x = task.test_inputs[:500]
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.as_tensor(x)).numpy(), pruned.forward(x), atol=ROUNDING)
        np.testing.assert_allclose(
            to_torch(target)(torch.as_tensor(x)).numpy(), target.forward(x), atol=ROUNDING
        )
    with pytest.raises(ValueError, match="^model must be"):
        to_torch("network")


def test_emulate_records(trained, task):
    sweeps = [
        {"model": "none", "R": 1, "widths": [6, 20]},
        {"model": "oracle", "R": 2, "widths": [6]},
        {"model": "iterand", "R": 3, "widths": [20]},
    ]
    records = trained_network.emulate(trained.target, task, sweeps, seed=0, torch_check_inputs=64)
    assert [(r["label"], r["n"]) for r in records] == [("A", 6), ("A", 20), ("B R=2", 6), ("C R=3", 20)]
    for r in records:
        assert r["data"] == target_data.TEACHER_NAME
        assert r["target_test_accuracy"] == trained.test_accuracy
        assert r["accuracy_gap_points"] == pytest.approx(100 * (r["test_accuracy"] - trained.test_accuracy))
        assert 0 < r["deviation_over_bound"] <= 1
        assert r["max_output_deviation"] <= r["bound"] <= r["bound_theorem"]
        assert r["guaranteed_agreement"] <= r["agreement"]
        assert r["per_weight_error_median"] <= r["per_weight_error_max"]
        assert r["torch_max_difference"] < ROUNDING
        assert 0 < r["kept_weights"] < r["total_weights"]
    a6, a20, b6, c20 = records
    assert b6["per_weight_error_max"] <= a6["per_weight_error_max"]
    assert c20["per_weight_error_max"] <= a20["per_weight_error_max"]
    assert a20["agreement"] > a6["agreement"]


def _record(label, n, gap, model="oracle", R=2):
    return {
        **{"data": "d", "model": model, "label": label, "R": R, "n": n, "accuracy_gap_points": gap},
        **{"test_accuracy": 0.4 + gap / 100, "agreement": 0.9, "target_test_accuracy": 0.4},
    }


def test_required_width_is_where_the_accuracy_stays_within_the_tolerance():
    records = [
        *(
            _record("A", n, g, "none", 1)
            for n, g in [(10, -3.0), (20, -0.4), (30, -0.7), (40, 0.5), (50, 0.1)]
        ),
        *(_record("B R=2", n, gap) for n, gap in [(5, -2.0), (10, 0.3), (15, -0.2)]),
        *(_record("B R=4", n, gap, R=4) for n, gap in [(5, -2.0), (10, -0.6)]),
    ]
    rows = {row["label"]: row for row in trained_network.required_widths(records, 0.5)}
    assert [rows["A"][k] for k in ("required_n", "first_n_within", "widths_tried")] == [40, 20, "10-50"]
    assert rows["A"]["test_accuracy"] == pytest.approx(0.405)
    assert rows["B R=2"]["required_n"] == 10 and rows["B R=2"]["reduction_vs_A"] == 4.0
    assert rows["B R=4"]["required_n"] is None and rows["B R=4"]["reduction_vs_A"] is None
    assert rows["B R=2"]["predicted_reduction_counting"] == pytest.approx(np.log2(3))
    assert rows["B R=4"]["predicted_reduction_lemma"] == 4


@pytest.mark.parametrize(
    ("sweeps", "message"),
    [
        ([], "sweeps must hold at least 1 sweep"),
        ([{"model": "none", "R": 1}], "sweeps[0] must be a mapping with the keys model, R and widths"),
        ([{"model": "best", "R": 1, "widths": [4]}], "sweeps[0].model must be one of"),
        ([{"model": "none", "R": 2, "widths": [4]}], "sweeps[0].R must be 1 for model 'none'"),
        ([{"model": "oracle", "R": 8, "widths": [4, 14]}], "sweeps[0].widths must be a non-empty list of"),
        ([{"model": "iterand", "R": 8, "widths": [0]}], "sweeps[0].widths[0] must be an integer >= 1"),
    ],
)
def test_invalid_sweeps_name_the_parameter(sweeps, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        trained_network.parse_sweeps(sweeps)


def test_data_location_falls_back_to_the_labelled_synthetic_task(monkeypatch, tmp_path):
    monkeypatch.delenv(target_data.CIFAR10_ENV, raising=False)
    task = target_data.load_task(None, image_size=3)
    assert task.name == target_data.TEACHER_NAME and "synthetic teacher" in task.description
    assert task.train_inputs.shape == (target_data.TEACHER_TRAIN, 9)
    assert task.test_inputs.shape == (target_data.TEACHER_TEST, 9)
    assert set(np.unique(task.train_labels)) == set(range(10))
    missing = tmp_path / "no-cifar-here"
    monkeypatch.setenv(target_data.CIFAR10_ENV, str(missing))
    with pytest.raises(UserError, match=re.escape(str(missing))):
        target_data.load_task(None, image_size=4)
    assert target_data.load_task(target_data.SYNTHETIC, image_size=4).name == target_data.TEACHER_NAME
    with pytest.raises(ValueError, match="^image_size must divide 32"):
        target_data.load_task(str(missing), image_size=5)


def test_the_synthetic_task_says_why_it_was_used(monkeypatch):
    # Hostile-use review: with --data-root synthetic and $ITERAND_CIFAR10 set, target.json said
    # "no CIFAR-10 named: set data_root or $ITERAND_CIFAR10".
    monkeypatch.setenv(target_data.CIFAR10_ENV, "/data/cifar10-jpeg.tar.gz")
    chosen = target_data.load_task(target_data.SYNTHETIC, image_size=2).description
    assert "(chosen by data_root 'synthetic')" in chosen and "no CIFAR-10 named" not in chosen
    monkeypatch.setenv(target_data.CIFAR10_ENV, target_data.SYNTHETIC)
    assert "(chosen by $ITERAND_CIFAR10 'synthetic')" in target_data.load_task(None, image_size=2).description
    monkeypatch.delenv(target_data.CIFAR10_ENV)
    fallback = target_data.load_task(None, image_size=2).description
    assert "(no CIFAR-10 named: set data_root or $ITERAND_CIFAR10)" in fallback


def test_the_docs_name_the_variable_the_code_reads():
    # README and the benchmark's --help named $THEORY_CIFAR10, which nothing reads: set as told, the run
    # silently used the synthetic task.
    root = Path(__file__).resolve().parents[2]
    for path in (root / "README.md", root / "benchmarks" / "theory_trained_network.py"):
        assert set(re.findall(r"\b[A-Z_]+_CIFAR10\b", path.read_text())) == {target_data.CIFAR10_ENV}, path


def _write_class_folders(root: Path) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", 3), ("test", 1)):
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(rng.normal(20 * label, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:04d}.png")


def test_cifar_layout_is_read_by_the_training_package(monkeypatch, tmp_path):
    from iterand.engine.data import cifar

    # The data checks refuse anything but the complete CIFAR-10; these folders hold 3 + 1 images per class.
    monkeypatch.setattr(cifar, "PER_CLASS", {"train": 3, "test": 1})
    monkeypatch.setenv("ITERAND_DATA_CACHE", str(tmp_path / "cache"))
    _write_class_folders(tmp_path / "cifar")
    monkeypatch.setenv(target_data.CIFAR10_ENV, str(tmp_path / "cifar"))
    task = target_data.load_task(None, image_size=8)
    assert task.name == target_data.CIFAR10_NAME and "grayscale 8x8" in task.description
    assert task.train_inputs.shape == (30, 64) and task.test_inputs.shape == (10, 64)
    np.testing.assert_array_equal(task.train_labels, np.repeat(np.arange(10), 3))
    np.testing.assert_allclose(task.train_inputs.mean(axis=0), 0.0, atol=1e-12)
    assert task.train_inputs.std() == pytest.approx(1.0)
    # Class k is brighter than class k - 1, and the gray values keep that order.
    means = task.train_inputs.mean(axis=1).reshape(10, 3).mean(axis=1)
    assert np.all(np.diff(means) > 0)


@pytest.mark.skipif(
    not (CIFAR_ARCHIVE.is_file() and CIFAR_ARCHIVE.name.endswith(".tar.gz")),
    reason=f"needs the JPEG copy of CIFAR-10 named by ${target_data.CIFAR10_ENV}",
)
def test_real_cifar_images(monkeypatch, tmp_path):
    # The first 20 train and 5 test images of every class of the real copy, as class folders.
    root = tmp_path / "cifar"
    with tarfile.open(CIFAR_ARCHIVE, "r|gz") as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            if member.isfile() and len(parts) >= 3 and parts[-3] in ("train", "test"):
                if int(parts[-1].split(".")[0]) < (20 if parts[-3] == "train" else 5):
                    target = root.joinpath(*parts[-3:])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(member).read())
    monkeypatch.setenv("ITERAND_DATA_CACHE", str(tmp_path / "cache"))
    from iterand.engine.data import cifar

    # The data checks refuse anything but the complete CIFAR-10; this subset has 20 + 5 images per class.
    monkeypatch.setattr(cifar, "PER_CLASS", {"train": 20, "test": 5})
    task = target_data.load_task(str(root), image_size=16)
    assert task.train_inputs.shape == (200, 256) and task.test_inputs.shape == (50, 256)
    assert "lossy JPEG" in task.description
    assert np.all(np.isfinite(task.train_inputs)) and task.train_inputs.std() == pytest.approx(1.0)


def test_cli_runs_the_experiment_on_the_named_data(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ITERAND_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv(target_data.CIFAR10_ENV, str(tmp_path / "not-used"))
    params = tmp_path / "tiny.yaml"
    params.write_text(
        "seed: 1\ndata_root: null\nimage_size: 2\nhidden: [4]\nepochs: 1\nbatch_size: 512\n"
        "learning_rate: 0.01\nsweeps:\n  - {model: none, R: 1, widths: [8]}\n"
        "  - {model: oracle, R: 2, widths: [8]}\niterand_rate: 1.0\ntolerance_points: 0.5\n"
        "torch_check_inputs: 16\n"
    )
    status = cli.main(["experiment", "trained_network", "--params", str(params), "--data-root", "synthetic"])
    assert status == 0, capsys.readouterr().err
    # A parameter file's outputs go to a folder named after the file and a hash of its parameters.
    (out_dir,) = paths.experiment_output_dir("trained_network", "tiny").parent.glob("tiny-*")
    rows = tables.read_csv(out_dir / "emulation.csv")
    assert [(r["label"], r["n"], r["data"]) for r in rows] == [
        ("A", 8, target_data.TEACHER_NAME),
        ("B R=2", 8, target_data.TEACHER_NAME),
    ]
    assert [r["label"] for r in tables.read_csv(out_dir / "required_width.csv")] == ["A", "B R=2"]
    assert read_json(out_dir / "target.json")["data"] == "synthetic teacher"
    record = read_json(out_dir / paths.PROVENANCE_FILE)
    # The time is rounded to 0.1 s, so a fast machine records 0.0: check that it is there, not its size.
    assert record["parameters"]["data_root"] == "synthetic" and record["seconds"] >= 0
    status = cli.main(["experiment", "network", "--params", "quick", "--data-root", "x"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: data-root applies only")
