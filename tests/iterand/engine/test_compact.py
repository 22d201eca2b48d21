"""Compact files: every method and weight distribution rebuilds bit for bit, the file is pinned (a golden
file must still rebuild the same model, and the decompressed content of a fixed model is pinned), damage is
reported, and ``python -m iterand export --format compact`` writes what training reported."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import warnings

import pytest
import torch
from fake_runs import NUM_CLASSES, fake_data, stop_after_epoch, tiny_config
from torch import nn

from bookkeeping.files import read_json
from bookkeeping.paths import RunFiles, compact_file
from iterand import load_compact
from iterand.core.layers import kept_masks, named_subnet_layers
from iterand.engine import checkpoint, compact
from iterand.engine.config import TrainConfig, run_name
from iterand.engine.factories import build_model, weight_update
from iterand.engine.posthoc import load_trained
from iterand.engine.train import train
from iterand.experiments.cli import EXIT_USAGE, main

INPUTS = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def trained_like(
    config: TrainConfig, updates: int = 3, num_classes: int = 10
) -> tuple[nn.Module, dict | None]:
    """A model of ``config`` as training leaves it: scores moved, the method's updates applied in between,
    BatchNorm statistics set; and its weight update's state."""
    model = build_model(config, num_classes)
    update = weight_update(config)
    generator = torch.Generator().manual_seed(0)
    for _ in range(updates):
        for _, layer in named_subnet_layers(model):
            layer.scores.data.add_(torch.randn(layer.scores.shape, generator=generator))
        if update is not None:
            update.apply(model)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(generator=generator)
            module.running_var.uniform_(0.5, 2.0, generator=generator)
            module.num_batches_tracked.fill_(17)
    return model.eval(), None if update is None else update.state_dict()


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and torch.equal(a.view(torch.int32), b.view(torch.int32))


CASES = [
    # (method, init, extra fields, the record every layer uses)
    ("edgepopup", "sc", {"ranking": "abs_score"}, "initial"),
    ("biprop", "ku", {"ranking": "abs_score"}, "initial"),
    ("iterand", "sc", {}, "flips"),
    ("iterand", "ku", {}, "events"),
    ("iterand", "kn", {}, "events"),
    ("iterand", "u", {"weight_scale": 0.5}, "events"),
    ("iterand", "ku", {"rerandomize_mode": "manual", "rerandomize_lambda": 0.5}, "values"),
    ("iterand", "ku", {"scope": "global", "rate": 0.5}, "events"),
    ("recycling", "sc", {"ranking": "abs_score", "rate": 0.7}, "flips"),
    ("recycling", "ku", {"ranking": "abs_score", "rate": 0.7}, "values"),
]


@pytest.mark.parametrize(("method", "init", "fields", "encoding"), CASES)
def test_every_method_rebuilds_bit_for_bit(method, init, fields, encoding):
    config = TrainConfig(
        model="resnet18", width=0.0625, method=method, init=init, pruned_fraction=0.6, seed=2, period=1,
        r=0.5, **fields,
    )  # fmt: skip
    model, state = trained_like(config)
    data = compact.encode(model, config, 10, state)
    rebuilt = compact.rebuild(data)
    compact._check_same(model, rebuilt)  # masks, effective weights and buffers, bit for bit
    assert not rebuilt.training and same_bits(model(INPUTS), rebuilt(INPUTS))
    encodings = compact.describe(data)["encodings"]  # a layer whose kept weights never changed: "initial"
    assert encoding in encodings and set(encodings) <= {encoding, "initial"}
    for name, kept in kept_masks(model).items():
        layer = rebuilt.get_submodule(name)
        assert torch.equal(layer.scores, kept.float()) and not layer.weight[~kept].any()


def test_without_a_record_iterand_weights_are_stored_as_values():
    # A checkpoint of an earlier version has no last_redraw: its changed kept weights are stored as they are.
    config = TrainConfig(model="conv2", width=0.125, method="iterand", init="ku", period=1, r=0.5)
    model, state = trained_like(config)
    with_record, without = compact.encode(model, config, 10, state), compact.encode(model, config, 10, None)
    assert compact.describe(without)["encodings"] == {"values": 5}
    assert same_bits(compact.rebuild(without)(INPUTS), model(INPUTS))
    assert len(with_record) < len(without)


GOLDEN_FILE = (
    "SVRSVElDS1QpAQAATZFbboMwEEX3Mr81yK8EylaiCLlmEizARrZJVEXZe8dtUvEFnGHuuYYHXEJcTIZOMPCY7yFO0D1gCQPO0IEN"
    "/iaBwd0NeYSO11wJeWCQMi5l7C4m0njBPIaBgMsYjR8IOe8oFSbjFuev/eZdMZUodNcx98maGUlbcwZr3DwO/SUam13wxUMOCppo"
    "lUKSDRFpla4r7cBsvrFoEyJJ9ZOqb0tvZ5MSJsqkSEp816/ur9rVq101bdVKiirpSrWiEV+2NLYj2mkNzudfRcrEcoiWzg2yFroW"
    "H3YTihPGG/pMJsX+utDt6STb/wETxzM7iR1o6VlyvSPHz4aYkrslQUDzHZDn8/uDpd5GqyQ5DxQjJS8/IaJZivugG6Y+j4wC4PWa"
    "5Iq3quFaPH8AAR4C4f1s8Mh7zLEjPkwH5A47mW0s85zbmolxQ9LBL79hbUaSiNA5AGaJJ8dM0aU3bITkjxmaGNnJr5Gir50Z9u11"
    "5B/l6LSNO46QXbpnGlaKrBawrlKk7qPK9haHFqu8OfciU0074hahoHB67UD3OqcskLip/qeT2dduCeyo8C3AEvVxXTvGTb7TfTAT"
    "+x3zU2PfjhllW7XWtZD3avkKbsAomTEMOl8UFerTxGHEPJXLeS9d0db1IJ3EXYpQSW0ysyzaPB8mOTVJcGgpSdsDrE68ClhVu+u8"
    "pf5EQEhFi44wHuJBRX7WTg2y8ep7BmrkYoLBHVRuC8exM7SkwQs7DmnBfeReK9/GaRwePdl0Xy4lAHKujXxKL6TK1xqVOglCMGNE"
    "ZwWLCyQHPa/CdgDiPY3XClr8YCSFxw7SZWhzMu68WL6LUs+B0XLSdAwij2x70NG/ajGxOBm9m/W8FcRpFCIs0YUkkQ3TjoL0cZk2"
    "nuIqQtQmKUpxojnxpn2q5MSMsZUfUhn21vWJVU396jFu4IwGD3ZIGeL/nKTTz957ffIPcpQ0VOe6PmvDxB8dVxCsw+V16pqoFdN6"
    "CJxLTbzf61UArmEbMJI7/l8zAjSmB2KsfOCTHb5OrLFul5lRgv9i1TI6FbkldSJ919dfugf1JyB8Cs4qPzACbElmOLpTnd9N6yjY"
    "ONhnJzm9MFakJ5dMW0cmpXZXwG5mwjJ+4mg4qqN55eAC5wGEXQBEhH6q78m3lZG22PAdcej9Tf3p6zxhlOJafRBEMUkjHMdvx0cT"
    "PAljm0hhYcCpcJkrVjO1K0ZDpqbkrPMehG+wmC4yMXXEPDTiWqmjOpBZ3JwNnaaM2cLcQRMq/0+1wtFAJea+kfuBh9lJHRB5a4cI"
    "iq5S10NF3Ho/azUJlXe2ZO9wjpq5M5yI52oFb9x0RkBDwoePMhq1zT5JC8VpKXzR9Gj3JBkW3uH6eLVk7rpjRQqv4ZzPmRUJhWWe"
    "DB3/E3kEn4LJN2Er6+aV7GQW0HKjztFea62P0RYLXilsTdmLZXzMOZHdqISSJn1Hf1ZM2nZMAstrq0Ol6uiWfPf5kxmdM6oneZSh"
    "NIUygAe/sxZxDoT7swEPKGlVkX0wZsgm37KdGFuNH/mUt5cAyjnLELIxp3XmtvwIQexV6JP993CPTfQAVVr3vS94gEJz1Gsfy19o"
    "rFaJEhUQvdTl0cI+/dCqTn1Ji41Nkk/QAPRpPpvZ9cLD9RVkji+0D/UQFzSoXuZtgagqAAA="
)
GOLDEN_STATE_SHA256 = "5bc45d53cae1b8ba31648456858f2ca27e57a8d3582ee27f8ad368bfc487b54c"
GOLDEN_CONTENT_SHA256 = "8acb28c69be2c646c3369b2a8250f7462614f9cc8eee099bdc6d23a464c36168"
GOLDEN_HEADER = {
    "format": 1,
    "network": {
        "model": "conv2", "width": 0.03125, "stem": "cifar", "method": "iterand", "init": "kaiming_uniform",
        "weight_scale": 1.0, "pruned_fraction": 0.5, "ranking": "score", "scope": "layer", "seed": 4,
    },
    "num_classes": 10,
    "checkpoint": "last",
    "events": 3,
    "weights_crc32": 35048220,
    "layers": [
        [28, "events", 16], [18, "events", 8], [2048, "events", 697], [32, "events", 11], [40, "events", 12],
    ],
}  # fmt: skip


def golden_model() -> tuple[nn.Module, TrainConfig, dict]:
    """How the golden file's model was made: Conv2 x1/32 (4,330 weights), KU, three IteRand updates."""
    config = TrainConfig(model="conv2", width=0.03125, method="iterand", init="ku", seed=4, period=1, r=0.5)
    model, state = trained_like(config)
    return model, config, state


def state_sha256(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def test_the_golden_file_still_rebuilds_the_same_model():
    # Fails if the format, the generator of the re-draws or the initial draws changed since it was written.
    data = base64.b64decode("".join(GOLDEN_FILE))
    rebuilt = compact.rebuild(data)
    assert state_sha256(rebuilt) == GOLDEN_STATE_SHA256
    model, _, _ = golden_model()
    compact._check_same(model, rebuilt)
    assert same_bits(rebuilt(INPUTS), model(INPUTS))


def test_the_content_of_a_fixed_model_is_pinned():
    # Compressed bytes may change with the zlib and liblzma versions; what they decompress to may not.
    model, config, state = golden_model()
    header, masks, records, buffers = compact.contents(
        compact.encode(model, config, 10, state, checkpoint="last")
    )
    assert {key: header[key] for key in GOLDEN_HEADER} == GOLDEN_HEADER
    assert header["run"] == run_name(config) and header["torch"] == torch.__version__
    assert hashlib.sha256(masks + records + buffers).hexdigest() == GOLDEN_CONTENT_SHA256


def test_damaged_files_are_refused_with_a_message():
    data = base64.b64decode("".join(GOLDEN_FILE))
    with pytest.raises(compact.CompactError, match="not a compact file"):
        compact.rebuild(b"PK" + data[2:])
    with pytest.raises(compact.CompactError, match="damaged or truncated"):
        compact.rebuild(data[:-1])
    flipped = bytearray(data)
    flipped[-10] ^= 1
    with pytest.raises(compact.CompactError, match="damaged or truncated"):
        compact.rebuild(bytes(flipped))
    with pytest.raises(compact.CompactError, match="header is damaged"):
        compact.rebuild(data[:14] + b"garbage" + data[21:])


def test_a_header_that_no_longer_describes_a_model_is_a_compact_error(monkeypatch):
    # No checksum covers the header: a flipped bit gave a KeyError, TypeError or a config error.
    data = base64.b64decode("".join(GOLDEN_FILE))
    real = compact._read_header
    for damage in (lambda h: h.pop("network"), lambda h: h["network"].update(madel="conv6")):

        def damaged(raw, damage=damage):
            header, streams = real(raw)
            damage(header)
            return header, streams

        monkeypatch.setattr(compact, "_read_header", damaged)
        with pytest.raises(compact.CompactError, match="header is damaged"):
            compact.rebuild(data)


def test_a_machine_that_draws_other_initial_weights_is_refused(monkeypatch):
    # Stands for another torch version (or CPU) drawing the initial weights otherwise.
    def other_draws(config, num_classes):
        return build_model(config.replace(seed=config.seed + 1), num_classes)

    monkeypatch.setattr(compact, "build_model", other_draws)
    with pytest.raises(compact.CompactError, match="differ from the trained ones.*torch"):
        compact.rebuild(base64.b64decode("".join(GOLDEN_FILE)))


def test_sgd_has_no_compact_form():
    config = TrainConfig(model="conv2", width=0.125, method="sgd")
    with pytest.raises(ValueError, match="method 'sgd'.*another format"):
        compact.encode(build_model(config, 10), config, 10)
    assert compact.sizes(build_model(config, 10), config, 10, None)["compact_bytes"] is None


def test_export_writes_the_size_training_reported_and_rebuilds_the_run(tmp_path, capsys):
    config = tiny_config(method="iterand", init="ku", period=2, r=0.5, epochs=2)
    run_dir = tmp_path / "run"
    results = train(config, run_dir, data=fake_data())["results"]
    assert results["weight_updates"] == 4
    assert main(["export", str(run_dir), "--format", "compact", "--out", str(tmp_path / "out")]) == 0
    printed = json.loads(capsys.readouterr().out)
    path = compact_file(tmp_path / "out", run_name(config), "last")
    assert printed["path"] == str(path) and printed["compact_bytes"] == path.stat().st_size
    assert results["compact_bytes"] == path.stat().st_size
    assert results["compact_bits_per_weight"] == 8 * path.stat().st_size / results["weights_total"]
    assert results["dense_float32_bytes"] == printed["dense_float32_bytes"]
    assert printed["encodings"].get("events") and printed["events"] == 4
    trained, _ = load_trained(run_dir, "last")
    assert same_bits(load_compact(path)(INPUTS), trained.eval()(INPUTS))
    best = compact.export_compact(run_dir, checkpoint="best")  # best.pt holds the re-draw record too
    assert best == RunFiles(run_dir).root / f"{run_name(config)}-best.ticket"
    assert compact.describe(best.read_bytes())["encodings"].get("events")
    best_model, _ = load_trained(run_dir, "best")
    assert same_bits(load_compact(best)(INPUTS), best_model.eval()(INPUTS))


def test_the_compact_export_of_an_unfinished_run_says_so_and_records_the_epochs(
    tmp_path, monkeypatch, capsys
):
    # The dense and torchvision exports warned and recorded source.progress; the compact one did neither.
    config = tiny_config(method="iterand", init="ku", period=2, r=0.5, epochs=2)
    run_dir, out = tmp_path / "run", tmp_path / "out"
    stop_after_epoch(monkeypatch, 1)
    with pytest.raises(RuntimeError, match="stopped"):
        train(config, run_dir, data=fake_data())
    with pytest.warns(UserWarning) as caught:
        assert main(["export", str(run_dir), "--format", "compact", "--out", str(out)]) == 0
    assert [str(w.message) for w in caught] == [
        f"{run_dir} has not finished: its checkpoint.pt holds the model after 1 of 2 epochs"
    ]  # as the other formats say it
    path = compact_file(out, run_name(config), "last")
    assert json.loads(capsys.readouterr().out)["compact_bytes"] == path.stat().st_size
    header = compact.contents(path.read_bytes())[0]
    assert header["progress"] == [1, 2] and header["format"] == 1
    saved = checkpoint.load(RunFiles(run_dir).checkpoint)
    model = build_model(config, NUM_CLASSES)
    model.load_state_dict(saved["model"])
    unrecorded = compact.encode(model, config, NUM_CLASSES, saved["weight_update"], checkpoint="last")
    assert 0 < path.stat().st_size - len(unrecorded) <= 16  # what the record costs
    said = f"{path} holds the model after 1 of 2 epochs of {run_name(config)}, unfinished when exported"
    with pytest.warns(UserWarning, match=re.escape(said)):
        unfinished = load_compact(path)
    assert same_bits(unfinished(INPUTS), compact.rebuild(unrecorded)(INPUTS))

    monkeypatch.undo()  # the run trains on to its end
    results = train(config, run_dir, data=fake_data())["results"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        finished = compact.export_compact(run_dir, out)
        load_compact(finished)
    assert "progress" not in compact.contents(finished.read_bytes())[0]
    assert results["compact_bytes"] == finished.stat().st_size  # a finished run's file is as before


def test_export_errors_are_one_line_with_status_2(tmp_path, capsys):
    run_dir = tmp_path / "sgd"
    train(tiny_config(method="sgd", epochs=1), run_dir, data=fake_data())
    assert read_json(RunFiles(run_dir).summary)["results"]["compact_bytes"] is None
    assert main(["export", str(run_dir), "--format", "compact"]) == EXIT_USAGE
    assert "method 'sgd'" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nowhere"), "--format", "compact"]) == EXIT_USAGE
    assert "not a run directory" in capsys.readouterr().err
    no_val = tmp_path / "no-val"
    train(tiny_config(epochs=1, val_fraction=0.0), no_val, data=fake_data())
    assert main(["export", str(no_val), "--format", "compact", "--checkpoint", "best"]) == EXIT_USAGE
    assert "no validation set (val_fraction 0)" in capsys.readouterr().err  # not just "no checkpoint"
    with pytest.raises(ValueError, match="no compact file"):
        load_compact(tmp_path / "missing.ticket")
