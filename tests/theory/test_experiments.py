"""``theory.experiments``: parameters checked before any sampling, and the sampled tables kept when the grid
is too small for a part of the fit."""

import pytest
import yaml

from bookkeeping import files, paths, tables
from theory import cli, experiments, montecarlo, network, target_data

# Seconds of sampling; at n <= 4 no eps of the grid reaches p >= 1 - delta, so the affine law is impossible.
SMALL = dict(
    seed=0,
    trials=50,
    t=1.0,
    delta=0.1,
    distributions=["uniform"],
    n_values=[2, 3, 4],
    oracle_n_values=[2, 3],
    eps_values=[0.1, 0.01],
    R_values=[1, 2],
    workers=1,
)


def test_a_grid_too_small_for_the_affine_law_keeps_the_tables_and_says_why(tmp_path):
    # Hostile-use review: 12 s of sampling, then "records must give a finite n_delta for at least 2 eps
    # values at delta=0.1" and nothing written, not even success_probability.csv.
    with pytest.warns(UserWarning, match="lueker_fit: affine at delta=0.1 not computable") as caught:
        results = experiments.run("subset_sums", SMALL, tmp_path)
    assert len(tables.read_csv(tmp_path / "success_probability.csv")) == 3 * 2 + 2 * 2
    assert tables.read_csv(tmp_path / "required_n.csv")
    fit = files.read_json(tmp_path / "lueker_fit.json")
    assert fit["not_computable"] == results["lueker_fit"]["not_computable"]
    assert fit["affine"] == [] and fit["lueker"]["C"] >= 0 and fit["pensia"]["C"] >= 0
    reason = fit["not_computable"]["affine at delta=0.1"]
    assert "at 2 or more eps values" in reason and "no n up to 4 reaches it at eps=0.1, 0.01" in reason
    assert reason.endswith("widen the grid: add n above 4")
    assert [str(w.message) for w in caught] == [f"lueker_fit: affine at delta=0.1 not computable: {reason}"]


def test_without_uniform_samples_the_fit_is_marked_not_computable(tmp_path):
    # The fit's records were empty: an internal "records must come from exactly one (...)" after sampling.
    with pytest.warns(UserWarning, match="lueker_fit: all not computable"):
        results = experiments.subset_sums(**{**SMALL, "distributions": ["normal"], "R_values": [1]})
    assert results["success_probability"]
    assert results["lueker_fit"]["not_computable"] == {
        "all": "the fit uses model A with 'uniform' samples; add it to distributions"
    }


def test_the_command_writes_every_table_when_the_fit_is_impossible(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ITERAND_RUNS", str(tmp_path / "runs"))
    params = tmp_path / "small.yaml"
    params.write_text(yaml.safe_dump(SMALL))
    with pytest.warns(UserWarning, match="lueker_fit: affine at delta=0.1 not computable"):
        assert cli.main(["experiment", "subset_sums", "--params", str(params)]) == 0
    assert "wrote success_probability, required_n, lueker_fit to" in capsys.readouterr().out
    (out_dir,) = (tmp_path / "runs").glob("*/subset_sums/small-*")
    assert {p.name for p in out_dir.iterdir()} >= {
        "success_probability.csv",
        "required_n.csv",
        "lueker_fit.json",
        paths.PROVENANCE_FILE,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"distributions": "uniform"}, "^distributions must be a list, got 'uniform'$"),
        ({"distributions": ["uniform", "cauchy"]}, r"^distributions\[1\] must be one of 'uniform'"),
        ({"R_values": [2, 2]}, r"^R_values must not repeat a value, got \[2, 2\]$"),
        ({"R_values": [0, -3]}, r"^R_values\[0\] must be an integer >= 1, got 0$"),
        ({"n_values": [2, 0]}, r"^n_values\[1\] must be an integer >= 1"),
        ({"oracle_n_values": 3}, "^oracle_n_values must be a list, got 3$"),
        ({"eps_values": []}, "^eps_values must have at least 1 entry$"),
        ({"delta": 1.5}, r"^delta must be a number in \(0, 1\), got 1.5$"),
        ({"trials": 0}, "^trials must be an integer >= 1"),
        # Only model B's cells are too large: refused before model A's grid is sampled.
        (
            {"trials": 10**6, "oracle_n_values": [100], "R_values": [1, 8]},
            "^trials \\* n \\* R must be at most",
        ),
    ],
)
def test_subset_sums_parameters_are_checked_before_any_sampling(monkeypatch, change, message):
    def sampling(*args, **kwargs):
        raise AssertionError("sampled before the parameters were checked")

    monkeypatch.setattr(montecarlo, "success_probabilities", sampling)
    with pytest.raises(ValueError, match=message):
        experiments.subset_sums(**{**SMALL, **change})


def test_r_values_may_be_empty_or_hold_only_model_a():
    # Model B runs only for R > 1: an empty list (no model B) stays allowed.
    for R_values in ([], [1]):
        with pytest.warns(UserWarning, match="affine at delta=0.1 not computable"):  # SMALL's grid
            records = experiments.subset_sums(**{**SMALL, "R_values": R_values})["success_probability"]
        assert {r["model"] for r in records} == {"none"}


NETWORK = dict(
    seed=0, dims=[2, 3, 2], sweeps=[{"R": 1, "widths": [4]}, {"R": 2, "widths": [4]}], trials=1, inputs=8
)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Each crashed in the loop over the sweeps (TypeError, KeyError) or ran with nothing to compute.
        ({"sweeps": [1]}, r"^sweeps\[0\] must be a mapping with the keys R and widths, got 1$"),
        ({"sweeps": {"R": 1}}, r"^sweeps must be a list, got \{'R': 1\}$"),
        (
            {"sweeps": [{"R": 1}]},
            r"^sweeps\[0\] must be a mapping with the keys R and widths, got .* \(missing widths\)$",
        ),
        (
            {"sweeps": [{"R": 1, "widths": [4], "width": [8]}]},
            r"^'width' is not a key of sweeps\[0\]; did you mean 'widths'\? allowed: R, widths$",
        ),
        ({"sweeps": [{"R": 1, "widths": 4}]}, r"^sweeps\[0\]\.widths must be a list, got 4$"),
        ({"sweeps": []}, "^sweeps must hold at least 1 sweep$"),
        (
            {"sweeps": [{"R": 1, "widths": [4]}, {"R": 4, "widths": [30]}]},
            r"^sweeps\[1\]\.widths must be <= 18 for R = 4",
        ),
        ({"trials": 0}, "^trials must be an integer >= 1, got 0$"),
        ({"inputs": -1}, "^inputs must be an integer >= 1, got -1$"),
        ({"dims": "abc"}, "^dims must be a sequence of at least 2 positive integers, got 'abc'$"),  # got 'a'
    ],
)
def test_network_parameters_are_checked_before_the_first_sweep(monkeypatch, change, message):
    def computing(*args, **kwargs):
        raise AssertionError("computed before the parameters were checked")

    monkeypatch.setattr(network, "error_vs_width", computing)
    with pytest.raises(ValueError, match=message):
        experiments.network_error(**{**NETWORK, **change})


RESAMPLING = dict(
    seed=0, lemma_trials=10, model_trials=1, alpha_values=[0.0], lemma_eps_values=[0.1], m_values=[1, 2],
    n=6, R=2, r_values=[1.0], targets=2, t=1.0,
)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Each was accepted (an empty table) or crashed on the way (IndexError, numpy's UFuncNoLoopError).
        ({"lemma_trials": 0}, "^lemma_trials must be an integer >= 1, got 0$"),
        ({"model_trials": -1}, "^model_trials must be an integer >= 1, got -1$"),
        ({"m_values": []}, "^m_values must have at least 1 entry$"),
        ({"alpha_values": ["x"]}, r"^alpha_values\[0\] must be a number in \[-1, 1\], got 'x'$"),
        ({"lemma_eps_values": [2.0]}, r"^lemma_eps_values\[0\] must be a number in \(0, 1\], got 2.0$"),
        ({"r_values": "ab"}, "^r_values must be a list, got 'ab'$"),
        ({"targets": 0}, "^targets must be an integer >= 1, got 0$"),
        ({"R": 0}, "^R must be an integer >= 1, got 0$"),
        ({"seed": -3}, "^seed must be an integer >= 0, got -3$"),
        ({"n": 60}, r"^n must be <= 26 for R = 2 \(model B's exact search\), got 60$"),
    ],
)
def test_resampling_parameters_are_checked_before_any_sampling(monkeypatch, change, message):
    def sampling(*args, **kwargs):
        raise AssertionError("sampled before the parameters were checked")

    monkeypatch.setattr(experiments.distributions, "sample", sampling)
    with pytest.raises(ValueError, match=message):
        experiments.resampling_models(**{**RESAMPLING, **change})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"d": 0}, "^d must be an integer >= 1, got 0$"),  # was "dims[0] must be ...", naming no parameter
        ({"l": 0}, "^l must be an integer >= 1, got 0$"),
        ({"R_values": "x"}, "^R_values must be a list, got 'x'$"),
    ],
)
def test_symbolic_parameters_name_themselves(change, message):
    quick = files.read_yaml(paths.notebook_params("theory_symbolic"))["quick"]
    with pytest.raises(ValueError, match=message):
        experiments.symbolic_checks(**{**quick, **change})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sweeps": 5}, "^sweeps must be a list, got 5$"),
        (
            {"sweeps": [{"model": "none", "R": 1, "widths": 8}]},
            r"^sweeps\[0\]\.widths must be a list, got 8$",
        ),
        ({"iterand_rate": 2}, r"^iterand_rate must be a number in \[0, 1\], got 2$"),
        ({"tolerance_points": -1}, "^tolerance_points must be a finite number >= 0, got -1$"),
        ({"torch_check_inputs": 0}, "^torch_check_inputs must be an integer >= 1, got 0$"),
    ],
)
def test_trained_network_parameters_are_checked_before_the_target_is_trained(monkeypatch, change, message):
    def loading(*args, **kwargs):
        raise AssertionError("data read before the parameters were checked")

    monkeypatch.setattr(target_data, "load_task", loading)
    quick = files.read_yaml(paths.notebook_params("theory_trained_network"))["quick"]
    with pytest.raises(ValueError, match=message):
        experiments.trained_network_emulation(**{**quick, **change})
