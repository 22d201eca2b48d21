"""The CPU training benchmark (``benchmarks/train_cpu.py``) runs and writes the table and JSON it promises.
Its timings are never checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "benchmarks" / "train_cpu.py"


def test_tiny_run_writes_one_row_per_method_and_thread_count(tmp_path):
    table, record = tmp_path / "train_cpu.md", tmp_path / "train_cpu.json"
    command = [
        sys.executable, str(SCRIPT), "--data", "synthetic", "--models", "conv6", "--threads", "1",
        "--repeats", "1", "--per-iteration", "conv6", "--iteration-steps", "1", "--iteration-warmup", "1",
        "--out", str(table), "--json", str(record),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = table.read_text().splitlines()
    assert lines[0].startswith("CPU training on ") and "OMP_WAIT_POLICY=" in lines[0]
    rows = [line for line in lines if line.startswith("| conv6")]
    assert [row.split(" | ")[1:3] for row in rows] == [["edgepopup", "1"], ["iterand", "1"]]
    data = json.loads(record.read_text())
    assert data["benchmark"] == "train_cpu"
    assert data["environment"]["torch"] and data["environment"]["cores_available"] >= 1
    assert [(row["method"], row["threads"], len(row["step"])) for row in data["rows"]] == [
        ("edgepopup", 1, 1),
        ("iterand", 1, 1),
    ]
