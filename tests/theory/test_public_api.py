"""The entry points importable from ``theory`` itself, and the README's Python examples for them."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import theory
from theory import bounds, montecarlo, network, resampling, statement_status, subset_sum

REPO = Path(__file__).resolve().parents[2]


def test_the_promised_entry_points_are_the_module_functions():
    assert theory.worst_case_error is subset_sum.worst_case_error
    assert theory.worst_case_error_brute is subset_sum.worst_case_error_brute
    assert theory.best_subset is subset_sum.best_subset
    assert theory.best_choice is subset_sum.best_choice
    assert theory.success_probabilities is montecarlo.success_probabilities
    assert theory.iterand_process is resampling.iterand_process
    assert theory.counting_lower_bound is bounds.counting_lower_bound
    assert theory.error_bound is network.error_bound
    for name in theory.__all__:
        assert getattr(theory, name).__module__.startswith("theory."), name
    assert theory.worst_case_error([0.31, -0.72, 0.05, 0.9]) == theory.worst_case_error_brute(
        [0.31, -0.72, 0.05, 0.9]
    )


def test_importing_theory_loads_neither_torch_nor_the_training_package():
    code = (
        "import sys, theory.cli, theory.experiments; print(sorted({'torch', 'iterand'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_readme_python_examples_of_the_theory_module_run():
    readme = (REPO / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "theory" in b]
    assert blocks, "the README shows the theory module's Python entry points"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})  # raises if a name or call is wrong


def test_statement_status_table_names_real_functions_and_states_the_modelling_choices():
    for _, _, code in statement_status.STATEMENTS:
        module, name = code.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name)), code
    table = statement_status.markdown()
    assert table.count("\n") == len(statement_status.STATEMENTS) + 2
    for needle in ("model B", "model C", "our modelling choice", "Lueker", "Pensia", "reconstructed"):
        assert needle in table
