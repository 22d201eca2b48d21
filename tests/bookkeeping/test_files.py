"""Reading back the per-epoch metrics a run appends."""

import pytest

from bookkeeping.errors import UserError
from bookkeeping.files import append_metrics, read_metrics


def test_a_torn_last_line_is_not_a_record_and_a_damaged_one_is_named(tmp_path):
    # A run killed while appending leaves a torn last line: eval and the figures crashed on it.
    path = tmp_path / "metrics.jsonl"
    for epoch in range(2):
        append_metrics(path, {"epoch": epoch})
    with path.open("a") as f:
        f.write('{"epoch": 2, "val_')
    assert read_metrics(path) == [{"epoch": 0}, {"epoch": 1}]
    path.write_text('{"epoch": 0}\nnot json\n{"epoch": 2}\n')
    with pytest.raises(UserError, match="metrics.jsonl, line 2: not a JSON record"):
        read_metrics(path)
    assert read_metrics(tmp_path / "missing.jsonl") == []
