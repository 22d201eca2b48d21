"""``python -m iterand export``: the format registry, the default folder, the checkpoint choice, errors."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest
import torch
from fake_runs import stop_after_epoch

from bookkeeping.files import read_json
from bookkeeping.paths import ExportFiles, RunFiles
from iterand.engine.posthoc import load_trained
from iterand.experiments.cli import EXIT_USAGE, main
from iterand.experiments.export import FORMATS, export_run

TINY = [
    "dataset=synthetic", "model=conv2", "width=0.0625", "device=cpu", "epochs=2", "steps_per_epoch=2",
    "batch_size=32", "period=1", "seed=2", "eval_batch_size=500",
]  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    argv = ["train", "--preset", "fig2-conv6-sc-iterand", "--out", str(out)]
    assert main([*argv, *(arg for item in TINY for arg in ("--set", item))]) == 0
    (run,) = out.iterdir()
    return run


def test_the_registry_holds_the_formats():
    assert set(FORMATS) >= {"dense", "torchvision"}


def test_export_writes_the_default_folder_and_prints_it(run_dir, capsys):
    capsys.readouterr()
    assert main(["export", str(run_dir), "--checkpoint", "best"]) == 0
    printed = json.loads(capsys.readouterr().out)
    folder = RunFiles(run_dir).export_dir("dense", "best")
    assert printed == {
        "folder": str(folder),
        "format": "dense",
        "files": ["model.safetensors", "masks.safetensors"],
    }
    record = read_json(ExportFiles(folder).config)
    assert record["source"]["checkpoint"] == "best" and record["source"]["checkpoint_file"] == "best.pt"
    assert record["source"]["run_dir"] == str(run_dir.resolve())


def test_the_best_and_the_last_checkpoint_export_their_own_model(run_dir, tmp_path):
    exported = {which: export_run(run_dir, which, out=tmp_path / which) for which in ("last", "best")}
    for which, folder in exported.items():
        trained, _ = load_trained(run_dir, which)
        dense, _ = load_trained(folder)
        images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            assert torch.allclose(dense(images), trained.eval()(images), atol=1e-5, rtol=0), which


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--format", "torchvision"], "only the ImageNet-stem ResNets at width 1"),
        (["--format", "onnx"], "invalid choice: 'onnx'"),
        (["--checkpoint", "first"], "invalid choice: 'first'"),
    ],
)
def test_errors_are_one_line_with_status_2(run_dir, tmp_path, capsys, argv, named):
    assert_usage_error(["export", str(run_dir), "--out", str(tmp_path / "x" / "y"), *argv], named, capsys)
    # A refused torchvision export left the empty folders it had made (default: <run>/export/...).
    assert not (tmp_path / "x").exists()
    assert_usage_error(["export", str(run_dir), *argv], named, capsys)
    assert not (run_dir / "export" / "torchvision-last").exists()


def test_a_folder_that_is_no_run(tmp_path, capsys):
    assert_usage_error(["export", str(tmp_path)], "not a run directory", capsys)


def test_an_export_is_not_exported_again(run_dir, tmp_path, capsys):
    folder = export_run(run_dir, out=tmp_path / "export")
    assert_usage_error(["export", str(folder)], "already an exported model", capsys)


def test_out_is_checked_before_anything_is_written(run_dir, tmp_path, capsys):
    # --out into another run's export made that folder load as this run's model; a file gave a traceback.
    other = tmp_path / "other-run"
    other.mkdir()
    (other / "config.yaml").write_text("{}")
    assert_usage_error(["export", str(run_dir), "--out", str(other)], "is a run directory", capsys)
    foreign = export_run(run_dir, out=tmp_path / "foreign")
    record = read_json(ExportFiles(foreign).config)
    record["source"]["run_name"] = "conv6-w1-iterand-sc-p0.5-s1-00000000"
    ExportFiles(foreign).config.write_text(json.dumps(record))
    assert_usage_error(["export", str(run_dir), "--out", str(foreign)], "export of another run", capsys)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for fmt in ("dense", "compact"):
        assert_usage_error(
            ["export", str(run_dir), "--format", fmt, "--out", str(a_file)], "is a file", capsys
        )
    assert export_run(run_dir, out=tmp_path / "again") == export_run(run_dir, out=tmp_path / "again")


def test_out_into_a_folder_of_other_files_is_refused(run_dir, tmp_path, capsys):
    # `export RUN --out runs/train` wrote config.json and the weights among the run directories.
    runs = tmp_path / "runs"
    shutil.copytree(run_dir, runs / run_dir.name)
    (runs / "notes.txt").write_text("")
    assert_usage_error(
        ["export", str(run_dir), "--out", str(runs)], f"holds other files ({run_dir.name}, notes.txt)", capsys
    )
    assert sorted(p.name for p in runs.iterdir()) == [run_dir.name, "notes.txt"]
    # Nor does a compact file go into an exported model's folder, whose config.json describes that model.
    dense = export_run(run_dir, out=tmp_path / "dense")
    assert_usage_error(
        ["export", str(run_dir), "--format", "compact", "--out", str(dense)],
        "folder of an exported model",
        capsys,
    )
    assert sorted(p.name for p in dense.iterdir()) == [
        "config.json",
        "masks.safetensors",
        "model.safetensors",
    ]
    # An export's own files, and the temporary file a killed export left, are no other files.
    again = export_run(run_dir, out=tmp_path / "again")
    (again / ".model.safetensors.tmp").write_text("")
    assert export_run(run_dir, out=again) == again


def test_a_moved_run_exports_again_into_its_own_folder(run_dir, tmp_path):
    # The check compared paths: a run copied elsewhere was refused its own default export folder.
    export_run(run_dir)
    moved = tmp_path / "moved" / run_dir.name
    shutil.copytree(run_dir, moved)
    assert export_run(moved) == RunFiles(moved).export_dir("dense", "last")


def test_a_compact_out_ending_in_ticket_is_the_file(run_dir, tmp_path, capsys):
    capsys.readouterr()
    assert main(["export", str(run_dir), "--format", "compact", "--out", str(tmp_path / "mine.ticket")]) == 0
    assert (tmp_path / "mine.ticket").is_file()


def assert_usage_error(argv, named, capsys):
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = exit_.code
    err = capsys.readouterr().err
    assert status == EXIT_USAGE and err.count("\n") == 1 and err.startswith("error: ") and named in err, err


def _train_argv(out) -> list[str]:
    argv = ["train", "--preset", "fig2-conv6-sc-iterand", "--out", str(out)]
    return [*argv, *(arg for item in TINY for arg in ("--set", item))]


def test_the_export_of_an_unfinished_run_says_so_and_becomes_stale_when_it_finishes(
    tmp_path, monkeypatch, capsys
):
    # An export (or eval) of a run stopped after its first epoch gave no warning and recorded no epoch
    # count; once the run finished, the export of epoch 1 stayed in its folder with nothing to say so.
    stop_after_epoch(monkeypatch, 1)
    with pytest.raises(RuntimeError, match="stopped"):
        main(_train_argv(tmp_path / "runs"))
    (run,) = (tmp_path / "runs").iterdir()
    capsys.readouterr()
    with pytest.warns(UserWarning) as caught:
        assert main(["export", str(run)]) == 0
    capsys.readouterr()
    assert [str(w.message) for w in caught] == [
        f"{run} has not finished: its checkpoint.pt holds the model after 1 of 2 epochs"
    ]
    folder = RunFiles(run).export_dir("dense", "last")
    progress = read_json(ExportFiles(folder).config)["source"]["progress"]
    assert progress == {"epochs_trained": 1, "epochs": 2, "finished": False}
    with pytest.warns(UserWarning, match="has not finished"):
        assert main(["eval", str(run)]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert (evaluated["epochs_trained"], evaluated["epochs"], evaluated["finished"]) == (1, 2, False)

    monkeypatch.undo()  # the run trains on to its end
    assert main(_train_argv(tmp_path / "runs")) == 0  # resumes and finishes
    with pytest.warns(UserWarning, match=rf"{folder} is stale: it holds the model after 1 of 2 epochs of "):
        load_trained(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = export_run(run)
    assert read_json(ExportFiles(again).config)["source"]["progress"] == {
        "epochs_trained": 2, "epochs": 2, "finished": True,
    }  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_trained(again)
