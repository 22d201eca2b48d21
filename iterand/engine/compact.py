"""Compact files: a trained subnetwork model as the recipe of its random network, one bit per weight, and
what re-randomisation changed; rebuilt exactly, without replaying training.

A strong lottery ticket is a random network, fixed by a few configuration fields and a seed, and a mask.
``encode`` writes that, plus what the forward pass needs that is not random, and ``rebuild`` builds the
random network again (``iterand.engine.factories.build_model``: the same seeded draws as at the start of
training), then applies the masks and the kept weights' values. Scores are not stored.

File layout (little-endian; one file)::

    b"ITRTICKT"          magic, 8 bytes
    uint32               length H of the compressed header
    H bytes              header: JSON, raw-deflate compressed
    streams              masks (raw deflate), records (raw LZMA2), buffers (raw LZMA2), back to back

The header holds ``format`` (1), ``network`` (the ``NETWORK_FIELDS`` of the run's configuration),
``num_classes``, ``run`` (the run name) and ``checkpoint`` (provenance), ``progress`` (``[epochs trained,
epochs]``, only in the file of a run that had not finished when exported: a finished run's file is as
before, and readers of format 1 ignore a key they do not know), ``torch`` (version that wrote it),
``events`` (IteRand updates in the run), ``layers`` (per subnetwork layer, in ``named_modules()``
order: ``[kept count, encoding, record bytes]``), ``weights_crc32`` (CRC-32 of every kept weight's bytes,
layer by layer, in flat order), ``streams`` (compressed lengths) and ``crc32`` (of the streams). Layer
names, shapes and buffer shapes are not stored: the network fields fix them.

- masks: per layer, ``numpy.packbits`` (bit order "little") of the flat kept mask, True = kept.
- records: per layer, what fixes the value of every KEPT weight (pruned ones are zeros in the rebuilt
  model: their values never reach the forward pass); bitmaps run over the kept weights in flat order
  (``packbits``, "little"):

  - ``initial`` (no bytes): every kept weight is its initial draw (edge-popup, biprop, or no change);
  - ``flips``: a bitmap of the kept weights whose value is minus the initial one (signed constant
    weights after IteRand or recycling: a changed weight can only have flipped);
  - ``events``: a bitmap of the kept weights IteRand re-drew, then per re-drawn kept weight the update
    that last re-drew it (uint8, uint16 or uint32, the smallest that holds ``events``); its value is
    ``iterand.core.weight_updates.redrawn_values`` of that update (resample mode only);
  - ``values``: a bitmap of the kept weights that differ from their initial draw, then their values (the
    weight's dtype): weight recycling, whose copy sources are not recorded, and IteRand's manual mode.

  The encoder writes, per layer, the first of those that applies: each is smaller than the ones after it.
- buffers: every entry of ``model.state_dict()`` other than the subnetwork layers' weights and scores
  (BatchNorm running statistics and batch counters), raw, in state-dict order.

Compression: masks are nearly random bits (their entropy is H(1 - p) bits per weight), which deflate's
Huffman coding packs as tightly as LZMA (within 2% of the entropy; better than LZMA for p = 0.6) in a
thirteenth of the time; re-draw records and values have structure, which LZMA (preset 6) exploits
better (about 3% smaller records than deflate). Both are in the standard library. Measurements:
``benchmarks/results/compact_cpu.md``.

Exactness: the rebuilt model's masks, effective weights and buffers equal the trained model's bit for bit
(``export_compact`` checks it before writing); its scores are the masks as 0/1, which select exactly
those masks. The initial weights come from torch's CPU generator (as in training, wherever it ran), the
re-draws from integer-only SplitMix64 and IEEE-754 basic operations (``iterand.core.counter_random``,
the same bits on CPU and GPU), so a file rebuilds the same weights wherever torch draws the same initial
weights: the same torch version, and for Kaiming normal also the same CPU vector instruction set
(``torch.randn`` on the CPU takes log and cos from a vectorised library on AVX2 machines). ``rebuild``
checks the rebuilt kept weights against ``weights_crc32`` and refuses a model that differs.
"""

from __future__ import annotations

import json
import lzma
import struct
import warnings
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bookkeeping.errors import InvalidInput
from bookkeeping.files import atomic_path, writable_file, writable_folder
from bookkeeping.paths import COMPACT_SUFFIX, RunFiles, compact_file
from iterand.core.accounting import count_weights, dense_float32_bytes
from iterand.core.export import effective_weights
from iterand.core.layers import SubnetLayer, kept_masks, named_subnet_layers
from iterand.core.weight_updates import redrawn_values
from iterand.engine import checkpoint as checkpoints
from iterand.engine import exported
from iterand.engine.config import TrainConfig, load_yaml, run_name
from iterand.engine.factories import build_model, weight_update

FORMAT = 1
MAGIC = b"ITRTICKT"
# What build_model and IteRand's seed read from a configuration: all a rebuild needs.
NETWORK_FIELDS = (
    "model", "width", "stem", "method", "init", "weight_scale", "pruned_fraction", "ranking", "scope", "seed",
)  # fmt: skip
ENCODINGS = ("initial", "flips", "events", "values")
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 6}]
_BITS_OF = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}

__all__ = [
    "ENCODINGS",
    "NETWORK_FIELDS",
    "CompactError",
    "contents",
    "describe",
    "encode",
    "export_compact",
    "load_compact",
    "rebuild",
    "sizes",
]


class CompactError(ValueError):
    """A file that is not a compact file of this format, or is damaged."""


# -- compression -----------------------------------------------------------------------------------


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def _inflate(data: bytes) -> bytes:
    return zlib.decompress(data, -15)


def _lzma(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)


def _unlzma(data: bytes) -> bytes:
    return lzma.decompress(data, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)


# -- bits and bytes --------------------------------------------------------------------------------


def _pack(mask: torch.Tensor) -> bytes:
    return np.packbits(mask.reshape(-1).numpy(), bitorder="little").tobytes()


def _unpack(data: bytes, count: int) -> torch.Tensor:
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=count, bitorder="little")
    return torch.from_numpy(bits.astype(bool))


def _raw(tensor: torch.Tensor) -> bytes:
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def _from_raw(data: bytes, dtype: torch.dtype, count: int) -> torch.Tensor:
    """``count`` values of ``dtype`` from the start of ``data`` (written by ``_raw``)."""
    size = count * torch.empty((), dtype=dtype).element_size()
    if len(data) < size:
        raise CompactError(f"the compact file holds {len(data)} bytes where {size} are needed: damaged")
    if count == 0:
        return torch.empty(0, dtype=dtype)
    return torch.frombuffer(bytearray(data[:size]), dtype=torch.uint8).view(dtype).clone()


def _bits(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's bit patterns as integers: compares -0.0 and 0.0 (and NaNs) as different values."""
    return tensor.view(_BITS_OF[tensor.element_size()])


def _event_dtype(events: int) -> np.dtype:
    """The narrowest little-endian unsigned integer that holds update numbers up to ``events``."""
    return np.dtype("<u1" if events < 1 << 8 else "<u2" if events < 1 << 16 else "<u4")


# -- encoding --------------------------------------------------------------------------------------


def _record(
    kept_now: torch.Tensor, kept_start: torch.Tensor, last_redraw: torch.Tensor | None, events: int
) -> tuple[str, bytes]:
    """The encoding and record that fix the kept values ``kept_now`` (whose initial draws are
    ``kept_start``): the first of "initial", "flips", "events", "values" that applies, each smaller than
    those after it (a flip is one bit per kept weight, an update number 8 to 32 bits per re-drawn one, a
    value 32 bits per changed one)."""
    changed = _bits(kept_now) != _bits(kept_start)
    if not changed.any():
        return "initial", b""
    if torch.equal(_bits(kept_now[changed]), _bits(-kept_start[changed])):
        return "flips", _pack(changed)
    if last_redraw is not None:
        redrawn = last_redraw > 0
        numbers = last_redraw[redrawn].numpy().astype(_event_dtype(events))
        return "events", _pack(redrawn) + numbers.tobytes()
    return "values", _pack(changed) + _raw(kept_now[changed])


def encode(
    model: nn.Module,
    config: TrainConfig,
    num_classes: int,
    weight_update_state: Mapping[str, Any] | None = None,
    *,
    checkpoint: str | None = None,
    progress: Mapping[str, Any] | None = None,
) -> bytes:
    """The compact file of ``model``, a trained subnetwork model of ``config`` (any device).

    ``weight_update_state``: the run's ``WeightUpdate.state_dict()`` as its checkpoint holds it; IteRand's
    ``last_redraw`` there makes "events" records possible (without it, changed kept weights are stored as
    "flips" or "values"). ``checkpoint`` ("last", "best") is kept in the header as provenance, and so is
    ``progress`` (``checkpoint.trained_progress``) when it says the run had not finished.
    """
    _check_subnetwork(config)
    initial = dict(named_subnet_layers(build_model(config, num_classes)))
    trained = dict(named_subnet_layers(model))
    state = weight_update_state or {}
    events = int(state.get("events", 0))
    records_by_layer = state.get("last_redraw") or {}
    masks, records, layers, weights_crc = [], [], [], 0
    for name, kept in kept_masks(model).items():
        kept = kept.cpu().reshape(-1)
        weight = trained[name].weight.detach().cpu().reshape(-1)
        last_redraw = records_by_layer.get(name)
        if last_redraw is not None:
            last_redraw = last_redraw.cpu().reshape(-1)[kept]
        encoding, record = _record(weight[kept], initial[name].weight.reshape(-1)[kept], last_redraw, events)
        weights_crc = zlib.crc32(_raw(weight[kept]), weights_crc)
        masks.append(_pack(kept))
        records.append(record)
        layers.append([int(kept.sum()), encoding, len(record)])
    buffers = b"".join(_raw(tensor) for tensor in _buffers(model).values())
    streams = [_deflate(b"".join(masks)), _lzma(b"".join(records)), _lzma(buffers)]
    header = {
        "format": FORMAT,
        "network": {field: getattr(config, field) for field in NETWORK_FIELDS},
        "num_classes": num_classes,
        "run": run_name(config),
        "checkpoint": checkpoint,
        # Only where it warns of something: the file of a finished run keeps the size training reported.
        **(
            {"progress": [progress["epochs_trained"], progress["epochs"]]}
            if progress is not None and not progress["finished"]
            else {}
        ),
        "torch": torch.__version__,
        "events": events,
        "layers": layers,
        "weights_crc32": weights_crc,
        "streams": [len(stream) for stream in streams],
        "crc32": zlib.crc32(b"".join(streams)),
    }
    packed_header = _deflate(json.dumps(header, separators=(",", ":")).encode())
    return MAGIC + struct.pack("<I", len(packed_header)) + packed_header + b"".join(streams)


def _check_subnetwork(config: TrainConfig) -> None:
    if config.method == "sgd":
        raise InvalidInput(
            "method 'sgd' trains dense weights: a compact file holds subnetwork models (random weights and "
            "masks); export a dense model in another format"
        )


def _buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state-dict entries a compact file stores raw: all but the subnetwork layers' weights and scores."""
    random = {
        f"{name}.{tensor}" if name else tensor
        for name, _ in named_subnet_layers(model)
        for tensor in ("weight", "scores")
    }
    return {key: value for key, value in model.state_dict().items() if key not in random}


# -- decoding --------------------------------------------------------------------------------------


def _read_header(data: bytes) -> tuple[dict[str, Any], list[bytes]]:
    if not data.startswith(MAGIC):
        raise CompactError("not a compact file (its first bytes are not the magic b'ITRTICKT')")
    try:
        (length,) = struct.unpack_from("<I", data, len(MAGIC))
        start = len(MAGIC) + 4
        header = json.loads(_inflate(data[start : start + length]))
    except (struct.error, zlib.error, ValueError) as error:
        raise CompactError(f"the compact file's header is damaged ({error})") from None
    if header.get("format") != FORMAT:
        raise CompactError(f"compact format {header.get('format')!r}; this code reads format {FORMAT}")
    offset = start + length
    if len(data) != offset + sum(header["streams"]) or zlib.crc32(data[offset:]) != header["crc32"]:
        raise CompactError("the compact file is damaged or truncated (its checksum does not match)")
    streams = []
    for size in header["streams"]:
        streams.append(data[offset : offset + size])
        offset += size
    return header, streams


def contents(data: bytes) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """A compact file's header and its decompressed masks, records and buffers (for inspection)."""
    header, streams = _read_header(data)
    return header, *_decompressed(streams)


def _decompressed(streams: list[bytes]) -> tuple[bytes, bytes, bytes]:
    masks, records, buffers = streams
    return _inflate(masks), _unlzma(records), _unlzma(buffers)


def rebuild(data: bytes) -> nn.Module:
    """The model a compact file describes, on the CPU, in eval mode.

    Each subnetwork layer holds the kept weights' values and zeros where it prunes, and its scores are
    its mask as 0/1 (which selects that mask again); buffers are the stored ones. ``CompactError`` when
    the kept weights do not match the file's checksum of the trained ones, or when the header (which no
    checksum covers) does not describe a model.
    """
    return _model(*_read_header(data))


def _model(header: dict[str, Any], streams: list[bytes]) -> nn.Module:
    try:
        return _rebuild(header, *_decompressed(streams))
    except CompactError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise CompactError(f"the file's header is damaged ({type(error).__name__}: {error})") from None


def _rebuild(header: dict[str, Any], masks: bytes, records: bytes, buffers: bytes) -> nn.Module:
    config = TrainConfig.from_dict(header["network"])
    model = build_model(config, header["num_classes"])
    layers = list(named_subnet_layers(model))
    if len(layers) != len(header["layers"]):
        raise CompactError(
            f"the file describes {len(header['layers'])} subnetwork layers, the network has {len(layers)}"
        )
    seed = weight_update(config).seed if config.method == "iterand" else None
    state: dict[str, torch.Tensor] = {}
    mask_offset = record_offset = weights_crc = 0
    for position, ((name, layer), (kept_count, encoding, record_size)) in enumerate(
        zip(layers, header["layers"], strict=True)
    ):
        numel = layer.weight.numel()
        mask_size = (numel + 7) // 8
        kept = _unpack(masks[mask_offset : mask_offset + mask_size], numel)
        record = records[record_offset : record_offset + record_size]
        mask_offset, record_offset = mask_offset + mask_size, record_offset + record_size
        if int(kept.sum()) != kept_count:
            raise CompactError(
                f"{name}: the mask keeps {int(kept.sum())} weights, the header says {kept_count}"
            )
        index = kept.nonzero().squeeze(1)
        values = _kept_values(layer, position, index, encoding, record, seed, header["events"])
        weights_crc = zlib.crc32(_raw(values), weights_crc)
        weight = torch.zeros(numel, dtype=layer.weight.dtype)
        weight[index] = values
        state[f"{name}.weight"] = weight.view(layer.weight.shape)
        state[f"{name}.scores"] = kept.to(layer.scores.dtype).view(layer.weight.shape)
    if weights_crc != header["weights_crc32"]:
        raise CompactError(
            "the rebuilt kept weights differ from the trained ones: this machine draws the initial weights "
            f"otherwise than the one that wrote the file (torch {header['torch']}; here "
            f"{torch.__version__}); rebuild with that torch version"
        )
    offset = 0
    for key, tensor in _buffers(model).items():
        size = tensor.numel() * tensor.element_size()
        state[key] = _from_raw(buffers[offset : offset + size], tensor.dtype, tensor.numel()).view(
            tensor.shape
        )
        offset += size
    if offset != len(buffers):
        raise CompactError(f"the file holds {len(buffers)} bytes of buffers, the network needs {offset}")
    model.load_state_dict(state)
    return model.eval()


def _kept_values(
    layer: SubnetLayer,
    position: int,
    index: torch.Tensor,
    encoding: str,
    record: bytes,
    seed: int | None,
    events: int,
) -> torch.Tensor:
    """The values of the kept weights at flat positions ``index`` of ``layer`` (holding its initial draw)."""
    values = layer.weight.detach().reshape(-1)[index]  # a copy: indexing with a tensor gathers
    if encoding == "initial":
        return values
    if encoding not in ENCODINGS:
        raise CompactError(f"unknown record encoding {encoding!r}; this code reads {', '.join(ENCODINGS)}")
    bitmap_size = (index.numel() + 7) // 8
    marked = _unpack(record[:bitmap_size], index.numel())
    rest = record[bitmap_size:]
    count = int(marked.sum())
    if encoding == "flips":
        values[marked] = -values[marked]
    elif encoding == "values":
        values[marked] = _from_raw(rest, values.dtype, count)
    else:
        if seed is None:
            raise CompactError("an 'events' record needs an IteRand network, the header names another method")
        numbers = torch.from_numpy(
            np.frombuffer(rest, dtype=_event_dtype(events), count=count).astype(np.int64)
        )
        values[marked] = redrawn_values(
            seed, numbers, position, index[marked], layer.spec, layer.fan_in, values.dtype
        )
    return values


# -- files and runs --------------------------------------------------------------------------------


def load_compact(path: str | Path) -> nn.Module:
    """The model stored in the compact file ``path`` (see ``rebuild``): CPU, eval mode; with a one-line
    warning when the file is of a run that had not finished when exported, as for an exported folder."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(
            f"no compact file at {path}: write one with python -m iterand export RUN_DIR --format compact"
        )
    header, streams = _read_header(path.read_bytes())
    model = _model(header, streams)
    if header.get("progress"):
        trained, epochs = header["progress"]
        warnings.warn(
            f"{path} holds the model after {trained} of {epochs} epochs of {header['run']}, unfinished when "
            "exported",
            stacklevel=2,
        )
    return model


def describe(data: bytes) -> dict[str, Any]:
    """Sizes of a compact file: total and per part (bytes), bits per weight of the network, the float32
    size of the dense model of the same architecture, and how many layers use each record encoding."""
    header, streams = _read_header(data)
    model = build_model(TrainConfig.from_dict(header["network"]), header["num_classes"])
    total = count_weights(model).total
    encodings = [layer[1] for layer in header["layers"]]
    return {
        "compact_bytes": len(data),
        "header_bytes": len(data) - sum(header["streams"]),
        "mask_bytes": header["streams"][0],
        "record_bytes": header["streams"][1],
        "buffer_bytes": header["streams"][2],
        "weights_total": total,
        "weights_kept": sum(layer[0] for layer in header["layers"]),
        "compact_bits_per_weight": 8 * len(data) / total,
        "dense_float32_bytes": dense_float32_bytes(model),
        "events": header["events"],
        "encodings": {name: encodings.count(name) for name in ENCODINGS if name in encodings},
    }


def sizes(
    model: nn.Module,
    config: TrainConfig,
    num_classes: int,
    weight_update_state: Mapping[str, Any] | None,
    checkpoint: str = "last",
) -> dict[str, Any]:
    """``compact_bytes`` (the size of the file ``export_compact`` writes for this model and ``checkpoint``)
    and ``compact_bits_per_weight`` (over all conv and linear weights), None for "sgd"; and
    ``dense_float32_bytes``. The results store's size columns."""
    dense = dense_float32_bytes(model)
    if config.method == "sgd":
        return {"compact_bytes": None, "compact_bits_per_weight": None, "dense_float32_bytes": dense}
    size = len(encode(model, config, num_classes, weight_update_state, checkpoint=checkpoint))
    return {
        "compact_bytes": size,
        "compact_bits_per_weight": 8 * size / count_weights(model).total,
        "dense_float32_bytes": dense,
    }


def _num_classes(state: Mapping[str, torch.Tensor]) -> int:
    # The classifier is the last subnetwork layer of every architecture build_model makes.
    return state[[key for key in state if key.endswith(".scores")][-1]].shape[0]


def _check_same(trained: nn.Module, rebuilt: nn.Module) -> None:
    """Raise unless ``rebuilt`` has ``trained``'s masks, its effective weights (bit for bit where kept;
    pruned ones are zero in both, though a trained one may be -0.0) and its buffers."""
    masks, rebuilt_masks = kept_masks(trained), kept_masks(rebuilt)
    weights, rebuilt_weights = effective_weights(trained), effective_weights(rebuilt)
    for name, kept in masks.items():
        kept, weight = kept.cpu(), weights[name].cpu()
        same = (
            torch.equal(kept, rebuilt_masks[name])
            and torch.equal(weight, rebuilt_weights[name])
            and torch.equal(_bits(weight[kept]), _bits(rebuilt_weights[name][kept]))
        )
        if not same:
            raise RuntimeError(f"{name}: the compact file does not rebuild the trained layer exactly (a bug)")
    rebuilt_buffers = _buffers(rebuilt)
    for key, tensor in _buffers(trained).items():
        if not torch.equal(_bits(tensor.cpu()), _bits(rebuilt_buffers[key])):
            raise RuntimeError(f"{key}: the compact file does not rebuild this buffer exactly (a bug)")


def export_compact(run_dir: str | Path, out_dir: str | Path | None = None, checkpoint: str = "last") -> Path:
    """Write the compact file of a run's model (``checkpoint.pt`` for "last", ``best.pt`` for "best") into
    ``out_dir`` (default: the run directory) as ``<run name>-<checkpoint>.ticket``, or to ``out_dir`` itself
    when it ends in ``.ticket``, after checking that it rebuilds the model exactly; returns its path. A run
    that has not finished is exported with the warning of the other formats (``checkpoint.trained_progress``)
    and its file records the epochs reached (``progress``)."""
    files = RunFiles(Path(run_dir))
    path = files.model_checkpoint(checkpoint)
    if not files.config.is_file():
        raise InvalidInput(f"{files.root} is not a run directory: it has no {files.config.name}")
    config = load_yaml(files.config)
    _check_subnetwork(config)
    if not path.is_file():
        raise checkpoints.CheckpointError(
            checkpoints.missing_model_message(files, checkpoint, config.val_fraction)
        )
    saved = checkpoints.load(path)
    checkpoints.check_owner(files, checkpoint, saved, config)  # before --out is made: nothing is left behind
    if out_dir is not None and Path(out_dir).suffix == COMPACT_SUFFIX:
        target = writable_file(out_dir, "--out")
    else:
        if out_dir is not None and exported.is_export(out_dir):
            raise InvalidInput(
                f"--out: {out_dir} is the folder of an exported model, which holds that model alone; give "
                "another folder for the compact file"
            )
        folder = files.root if out_dir is None else writable_folder(out_dir, "--out")
        target = compact_file(folder, run_name(config), checkpoint)
    progress = checkpoints.trained_progress(files, checkpoint, saved, config.epochs)
    num_classes = _num_classes(saved["model"])
    model = build_model(config, num_classes)
    model.load_state_dict(saved["model"])
    data = encode(
        model, config, num_classes, saved.get("weight_update"), checkpoint=checkpoint, progress=progress
    )
    _check_same(model, rebuild(data))
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target
