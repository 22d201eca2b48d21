"""``python -m theory``: results on stdout, one ``error: ...`` line and status 2 for invalid input."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bookkeeping import files, paths, tables
from repro import notebooks
from theory import cli, experiments, subset_sum


def run(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_worst_case_prints_the_exact_value(capsys):
    samples = [0.31, -0.72, 0.05, 0.9]
    status, out, err = run(capsys, "worst-case", *map(str, samples))
    assert status == 0 and not err
    assert f"E* = {subset_sum.worst_case_error_brute(samples):.12g}" in out


def test_worst_case_model_b_and_decision(capsys):
    samples = [0.31, -0.72, 0.05, 0.9]
    exact = subset_sum.worst_case_error_brute([[0.31, -0.72], [0.05, 0.9]])
    status, out, _ = run(capsys, "worst-case", *map(str, samples), "--draws", "2", "--eps", str(exact * 1.01))
    assert status == 0
    assert "E* <= eps" in out and out.strip().endswith("yes")


def test_worst_case_with_eps_prints_e_star_only_when_it_is_exact(capsys):
    samples = ["0.5", "-0.5", "0.5", "-0.5", "0.25", "-0.25"]
    exact = subset_sum.worst_case_error_brute([float(s) for s in samples])  # 0.125
    _, above, _ = run(capsys, "worst-case", *samples, "--eps", str(exact / 2))
    assert f"E* = {exact:.12g}" in above and above.strip().endswith("no")
    _, below, _ = run(capsys, "worst-case", *samples, "--eps", "0.13")
    # Below eps the value is only a lower bound: never printed as "E* = ..." (it was "E* = 0" here).
    assert "E* =" not in below and "<= E* <= 0.13" in below and below.strip().endswith("yes")


@pytest.mark.parametrize(
    "argv, parameter",
    [
        (["worst-case", "0.5", "--t", "0"], "t"),
        (["worst-case", "0.5", "--t", "-1"], "t"),
        (["worst-case", "0.5", "--eps", "0"], "eps"),
        (["worst-case", "0.5", "nan"], "samples"),
        (["worst-case", "0.5", "0.2", "0.1", "--draws", "2"], "samples"),
        (["worst-case", "0.5", "--draws", "0"], "draws"),
        (["estimate", "--n", "0", "--eps", "0.1", "--trials", "10"], "n_values"),
        (["estimate", "--n", "4", "--eps", "0.1", "--distribution", "cauchy"], "distribution"),
        (["estimate", "--n", "4", "--eps", "0.1", "--trials", "0"], "trials"),
        (["experiment", "nonsense"], "experiment"),
        (["experiment", "network", "--params", "gigantic"], "params"),
    ],
)
def test_invalid_input_is_one_line_naming_the_parameter(capsys, argv, parameter):
    status, out, err = run(capsys, *argv)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {parameter}"), err


def test_estimate_prints_a_table_and_writes_csv(capsys, tmp_path):
    out_file = tmp_path / "p.csv"
    status, out, _ = run(
        capsys, "estimate", "--n", "2", "12", "--eps", "0.1", "--trials", "50", "--out", str(out_file)
    )
    assert status == 0 and "trials=50" in out
    rows = tables.read_csv(out_file)
    assert [r["n"] for r in rows] == [2, 12]
    assert rows[0]["p"] == 0.0  # 4 subset sums cannot cover [-1, 1] within 0.1 (counting bound)


def test_experiment_writes_tables_and_provenance(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ITERAND_RUNS", str(tmp_path))
    status, out, _ = run(capsys, "experiment", "network", "--params", "quick")
    assert status == 0
    out_dir = paths.experiment_output_dir("network", "quick")
    rows = tables.read_csv(out_dir / "error_vs_width.csv")
    assert rows and all(r["max_error"] <= r["bound"] for r in rows)
    assert files.read_json(out_dir / paths.PROVENANCE_FILE)["parameters"]["seed"] == 0


def test_module_entry_point_exit_status():
    done = subprocess.run(
        [sys.executable, "-m", "theory", "worst-case", "0.5", "--t", "-1"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "error: t must be a finite number > 0, got -1.0"


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_many_samples_without_eps_stop_at_the_memory_cap_suggesting_eps(capsys):
    # Issue 10, item 5: 200 samples and no --eps ran past 60 s and 3.5 GB, still growing.
    samples = np.random.default_rng(0).uniform(-1, 1, 200)
    status, out, err = run(capsys, "worst-case", *map(str, samples), "--max-intervals", "4096")
    line = _one_error_line(err)
    assert status == 2 and not out
    assert "the exact E* of these 200 samples is below " in line and "--eps EPS" in line
    assert "4,096 intervals" in line
    with pytest.raises(subset_sum.ResolutionTooFine, match="deciding E\\* <= 1e-09 .* larger eps"):
        subset_sum.worst_case_error(samples, eps=1e-9, max_intervals=4096)


def test_an_absurd_estimate_grid_is_refused_naming_its_size(capsys):
    # Issue 10, item 6: a MemoryError traceback (728 TiB).
    status, _, err = run(capsys, "estimate", "--n", "100000000", "--eps", "0.1", "--trials", "1000000")
    line = _one_error_line(err)
    assert status == 2 and "trials * n * R must be at most 134,217,728 samples per cell" in line
    assert "1,000,000 * 100,000,000 * 1 (727.6 TiB); lower trials or n" in line


def test_negative_samples_in_exponent_form_are_samples(capsys):
    # Issue 10, item 12: "-1e-3" was taken for an option.
    expected = f"E* = {subset_sum.worst_case_error_brute([0.5, -1e-3, -0.25]):.12g}"
    assert run(capsys, "worst-case", "0.5", "-1e-3", "-.25") == (0, expected + "\n", "")
    assert run(capsys, "worst-case", "--", "-1e-3", "0.5", "-.25")[1] == expected + "\n"


def test_a_parameter_file_with_a_yaml_error_is_one_line_naming_file_and_line(capsys, tmp_path):
    # Issue 10, item 8.
    broken = tmp_path / "broken.yaml"
    broken.write_text("seed: 0\ndims: [4, 8\ntrials: 3\n")
    status, _, err = run(capsys, "experiment", "network", "--params", str(broken))
    assert status == 2 and _one_error_line(err).startswith(f"error: {broken}, line 3, column ")


def test_a_parameter_file_never_writes_into_a_built_in_sets_folder(capsys, tmp_path, monkeypatch):
    # Issue 10, item 2: --params some/dir/quick.yaml wrote into the folder of the built-in `quick` set.
    monkeypatch.setenv("ITERAND_RUNS", str(tmp_path / "runs"))
    own = tmp_path / "mine" / "quick.yaml"
    own.parent.mkdir()
    own.write_text("seed: 1\ndims: [2, 3, 2]\nsweeps: [{R: 1, widths: [8]}]\ntrials: 1\ninputs: 8\n")
    status, out, _ = run(capsys, "experiment", "network", "--params", str(own))
    label = notebooks.set_label(str(own), files.read_yaml(own))
    assert status == 0 and label.startswith("quick-") and len(label) == len("quick-") + 8
    assert str(paths.experiment_output_dir("network", label)) in out
    assert not paths.experiment_output_dir("network", "quick").exists()


def test_an_unwritable_estimate_out_is_refused_before_computing(capsys, tmp_path):
    # Issue 10, item 7.
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, out, err = run(capsys, "estimate", "--n", "4", "--eps", "0.1", "--out", str(blocker / "p.csv"))
    assert status == 2 and not out
    assert _one_error_line(err) == f"error: --out: {blocker} is a file, not a folder"


def test_an_empty_estimate_out_is_refused(capsys):
    # Path("") is the current folder: the CSV write failed on it after the computation.
    with pytest.raises(SystemExit) as stopped:  # argparse's own refusal
        cli.main(["estimate", "--n", "4", "--eps", "0.1", "--out", ""])
    out, err = capsys.readouterr()
    assert stopped.value.code == 2 and not out
    assert _one_error_line(err).startswith("error: argument --out: the path is empty")


def test_an_experiment_output_folder_in_the_way_is_refused_before_computing(capsys, tmp_path, monkeypatch):
    # $ITERAND_RUNS naming a file failed only when the tables were written, after the computation.
    blocker = tmp_path / "runs"
    blocker.write_text("")
    monkeypatch.setenv("ITERAND_RUNS", str(blocker))

    def must_not_run(**parameters):
        raise AssertionError("computed before the output folder was checked")

    monkeypatch.setitem(experiments.EXPERIMENTS, "network", must_not_run)
    status, out, err = run(capsys, "experiment", "network")
    assert status == 2 and not out
    assert (
        _one_error_line(err) == f"error: output folder below $ITERAND_RUNS: {blocker} is a file, not a folder"
    )


def test_a_partial_parameter_file_runs_with_the_notebooks_defaults(capsys, tmp_path, monkeypatch):
    # `experiment symbolic --params partial.yaml` crashed: symbolic_checks() missing 9 required arguments.
    monkeypatch.setenv("ITERAND_RUNS", str(tmp_path / "runs"))
    defaults = {k: v for k, v in notebooks.declared_parameters("theory_symbolic").items() if k != "out_dir"}
    for text, given in (("eps: 0.02\n", {"eps": 0.02}), ("", {})):
        params = tmp_path / "partial.yaml"
        params.write_text(text)
        status, out, err = run(capsys, "experiment", "symbolic", "--params", str(params))
        assert status == 0, err
        label = notebooks.set_label(str(params), given)
        record = files.read_json(paths.experiment_output_dir("symbolic", label) / paths.PROVENANCE_FILE)
        assert record["parameters"] == {**defaults, **given} and record["given_parameters"] == given


def test_an_exponent_without_a_dot_is_a_number(capsys, tmp_path, monkeypatch):
    # `eps: 1e-2` reached the experiment as the string '1e-2' and was refused.
    monkeypatch.setenv("ITERAND_RUNS", str(tmp_path / "runs"))
    params = tmp_path / "eps.yaml"
    params.write_text("eps: 1e-2\n")
    status, _, err = run(capsys, "experiment", "symbolic", "--params", str(params))
    assert status == 0, err


@pytest.fixture
def trained_network_calls(monkeypatch, tmp_path) -> list[dict]:
    """experiments.EXPERIMENTS["trained_network"] replaced by a recorder returning one small table."""
    monkeypatch.setenv("ITERAND_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv(notebooks.CIFAR10_ENV, raising=False)
    calls = []

    def fake(**parameters):
        calls.append(parameters)
        return {"target": {"data": "fake"}}

    monkeypatch.setitem(experiments.EXPERIMENTS, "trained_network", fake)
    return calls


def test_data_root_is_decided_by_the_experiment_not_by_the_file(capsys, tmp_path, trained_network_calls):
    # A file without data_root: --data-root was refused ("not to trained_network"), and without it the
    # experiment got no data_root at all (TypeError).
    params = tmp_path / "tn.yaml"
    params.write_text("epochs: 1\n")
    assert (
        run(capsys, "experiment", "trained_network", "--params", str(params), "--data-root", "synthetic")[0]
        == 0
    )
    assert run(capsys, "experiment", "trained_network", "--params", str(params))[0] == 0
    assert [call["data_root"] for call in trained_network_calls] == ["synthetic", None]
    assert all(call["epochs"] == 1 for call in trained_network_calls)
    status, _, err = run(capsys, "experiment", "network", "--data-root", "synthetic")
    assert status == 2
    assert _one_error_line(err) == (
        "error: data-root applies only to experiments that read data (trained_network), not to network"
    )


def test_runs_on_other_data_never_share_a_folder(capsys, tmp_path, monkeypatch, trained_network_calls):
    # `--data-root synthetic` and CIFAR via $ITERAND_CIFAR10 both wrote runs/theory/trained_network/quick,
    # with data_root null in both provenances.
    archive = tmp_path / "cifar.tar.gz"
    archive.write_bytes(b"")
    folders = {}
    for case, argv, cifar in (
        ("synthetic", ["--data-root", "synthetic"], None),
        ("default", [], None),
        ("named", ["--data-root", str(archive)], None),
        ("environment", [], str(archive)),
    ):
        if cifar:
            monkeypatch.setenv(notebooks.CIFAR10_ENV, cifar)
        status, out, _ = run(capsys, "experiment", "trained_network", *argv)
        assert status == 0
        folders[case] = Path(out.split(" to ")[1].split(" in ")[0])
    assert (
        folders["synthetic"] == folders["default"] == paths.experiment_output_dir("trained_network", "quick")
    )
    assert folders["named"] == folders["environment"] != folders["default"]
    assert folders["named"].name == "quick-cifar10"
    sources = {
        case: files.read_json(folder / paths.PROVENANCE_FILE)["data_source"]
        for case, folder in folders.items()
    }
    assert sources == {
        "synthetic": "synthetic",
        "default": "synthetic",
        "named": str(archive.resolve()),
        "environment": str(archive.resolve()),
    }
