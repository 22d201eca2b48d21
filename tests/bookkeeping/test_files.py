"""Reading back the per-epoch metrics a run appends, and YAML files."""

import pytest

from bookkeeping.errors import InvalidInput, UserError
from bookkeeping.files import append_metrics, read_metrics, read_yaml, truncate_metrics


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


def test_yaml_numbers_in_exponent_form_are_floats_and_quoted_ones_stay_text(tmp_path):
    # PyYAML (YAML 1.1) read 1e-2 as the string '1e-2': parameter files and --config files then failed.
    path = tmp_path / "numbers.yaml"
    path.write_text("a: 1e-2\nb: 2E3\nc: -.5e-1\nd: '1e-2'\ne: 3\nf: [1e-3]\ng: 1.5\nh: 0x10\n")
    assert read_yaml(path) == {
        "a": 0.01, "b": 2000.0, "c": -0.05, "d": "1e-2", "e": 3, "f": [0.001], "g": 1.5, "h": 16
    }  # fmt: skip


def test_a_yaml_key_given_twice_is_named_with_its_line(tmp_path):
    # PyYAML kept the last of two keys silently: a parameter file pasted twice over ran the second copy.
    path = tmp_path / "params.yaml"
    path.write_text("cpu:\n  epochs: 60\nquick:\n  epochs: 1\ncpu:\n  epochs: 30\n")
    with pytest.raises(
        InvalidInput, match=r"params.yaml, line 5, column 1: not valid YAML \(key 'cpu' given twice\)"
    ):
        read_yaml(path)
    path.write_text("base: &base {lr: 0.1, epochs: 3}\nrun:\n  <<: *base\n  epochs: 5\n")
    assert read_yaml(path)["run"] == {"lr": 0.1, "epochs": 5}  # a merged key may be overridden


def test_a_yaml_file_that_is_not_utf8_is_named_with_the_byte(tmp_path):
    # read_text raised UnicodeDecodeError outside the YAML error handler: a traceback, not a line.
    path = tmp_path / "params.yaml"
    path.write_bytes("quick:\n  # caf\u00e9\n".encode("latin-1"))
    with pytest.raises(
        InvalidInput, match=r"params.yaml, line 2: not valid YAML \(must be UTF-8 text, got byte 0xe9\)"
    ):
        read_yaml(path)


def test_truncating_keeps_one_record_per_epoch_done_and_returns_the_epochs_without_one(tmp_path):
    # A resume kept lines written twice, and continued silently past lost ones.
    path = tmp_path / "metrics.jsonl"
    for epoch, value in [(0, "a"), (2, "b"), (0, "c"), (3, "d"), (1, "torn")]:
        append_metrics(path, {"epoch": epoch, "value": value})
    path.write_text(path.read_text()[:-5])  # epoch 1's line torn by a kill
    assert truncate_metrics(path, 3) == [1]
    assert read_metrics(path) == [{"epoch": 0, "value": "c"}, {"epoch": 2, "value": "b"}]
    assert truncate_metrics(tmp_path / "deleted.jsonl", 2) == [0, 1]
    assert not (tmp_path / "deleted.jsonl").exists()
