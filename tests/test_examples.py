"""examples/train_conv6_iterand.py: the one-file IteRand script trains end to end and uses only the core."""

from __future__ import annotations

import ast
import importlib.util
import math
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "train_conv6_iterand.py"


def _load():
    spec = importlib.util.spec_from_file_location("train_conv6_iterand", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_trains_and_redraws_on_synthetic_data(capsys):
    argv = ["--synthetic", "--epochs", "1", "--steps", "2", "--width", "0.0625", "--batch-size", "16"]
    summary = _load().main([*argv, "--period", "1"])
    # K_per = 1: a re-draw before every step
    assert (summary["steps"], summary["redraws"]) == (2, 2)
    assert math.isfinite(summary["loss"]) and 0.0 <= summary["test_acc"] <= 100.0
    assert "epoch   1" in capsys.readouterr().out


def test_the_script_imports_only_the_core_of_the_package():
    imported = set()
    for node in ast.walk(ast.parse(SCRIPT.read_text())):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    ours = {name for name in imported if name.split(".")[0] in ("iterand", "bookkeeping", "theory", "repro")}
    assert ours and all(name.startswith("iterand.core.") for name in ours), ours
    assert {name.split(".")[0] for name in imported} <= {
        "__future__", "argparse", "math", "time", "torch", "torchvision", "iterand",
    }  # fmt: skip
