"""``python -m theory``: results on stdout, one ``error: ...`` line and status 2 for invalid input."""

import subprocess
import sys

import pytest

from bookkeeping import files, paths, tables
from theory import cli, subset_sum


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


@pytest.mark.parametrize(
    "argv, parameter",
    [
        (["worst-case", "0.5", "--t", "0"], "t"),
        (["worst-case", "0.5", "--t", "-1"], "t"),
        (["worst-case", "0.5", "--eps", "0"], "eps"),
        (["worst-case", "0.5", "nan"], "x"),
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
