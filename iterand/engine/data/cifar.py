"""CIFAR-10 sources, decoding, and the decoded cache.

Sources (found by `resolve`, see `iterand.engine.data.load` for where it looks):

- "official": torchvision's `cifar-10-batches-py/` (pickled `data_batch_1..5`, `test_batch`), read by
  `torchvision.datasets.CIFAR10`, which first checks every file against the published MD5 sums, and
  downloaded by it (`download=True`) when nothing else is there;
- "folders": a folder holding `train/<class>/<file>` and `test/<class>/<file>` (any image format Pillow
  reads; the classes are the 10 CIFAR-10 names);
- "archive": the same layout inside a tar archive (gzip or not), under any top folder, read in a single
  streaming pass without extracting it.

Canonical order. Every source is returned in class-major order: class 0 (airplane) first, and within a
class in the official batch order. The official batches are reordered by a stable sort of their labels;
class folders are read class by class, files in the order of their numeric stem (`0000.jpg`,
`0001.jpg`, ...; names without a number after those, by name). In the JPEG copy `train/<class>/NNNN.jpg`
is the NNNN-th image of that class in the official batch order, so both sources put the same image at the
same index and `iterand.engine.data.split` picks the same validation images from either.

Decoded arrays are cached as `<cache_dir>/cifar10-<fingerprint>.npz` (uint8 (N, 3, 32, 32) images, int64
labels), so the JPEGs are decoded once. The fingerprint identifies the content, not the place: the name,
size and modification time of every file read (for an archive, the archive's), so the same copy reached
through another path, a link or a mount, hits the same cache.

Integrity. An archive must end properly: the gzip stream with its end-of-stream marker and checksum, the
tar stream with its end-of-archive blocks, so that a copy cut off at a file boundary is not taken for a
smaller data set. Every source must then hold the complete CIFAR-10 (`PER_CLASS`: 5,000 training and
1,000 test images of each of the 10 classes), read from the source or from the cache; a data set that
fails a check raises `DataError` and is never cached.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from iterand.engine.data import (
    DataBundle,
    DataError,
    cache_dir,
    cache_origin,
    default_data_root,
    no_file_in_the_way,
)
from iterand.engine.data.augment import AUGMENTATIONS
from iterand.engine.data.defaults import CIFAR10_ENV, configured_cifar
from iterand.engine.data.gpu_loader import device_bundle

if TYPE_CHECKING:
    from iterand.engine.config import TrainConfig

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SHAPE = (3, 32, 32)
SPLITS = ("train", "test")
OFFICIAL_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")
LOSSY_SUFFIXES = (".jpg", ".jpeg", ".webp")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
CACHE_FORMAT = 2
# The sizes of CIFAR-10 (Krizhevsky 2009): 6,000 images per class, 5,000 for training and 1,000 for testing.
PER_CLASS = {"train": 5_000, "test": 1_000}
_GZIP_MAGIC = b"\x1f\x8b"
_END_OF_ARCHIVE = 2 * tarfile.BLOCKSIZE  # a tar stream ends with two zero blocks
JPEG_NOTE = (
    "JPEG re-encoding of CIFAR-10 (lossy): accuracies can differ slightly from the official binary data"
)


@dataclass(frozen=True)
class Source:
    kind: str  # "official" | "folders" | "archive"
    path: Path  # the batches folder, the folder holding train/ and test/, or the archive file


@dataclass(frozen=True)
class CifarArrays:
    """A decoded CIFAR-10 in canonical order: uint8 (N, 3, 32, 32) images, int64 (N,) labels."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: Source
    lossy: bool  # read from lossy files (JPEG): pixels differ from the official data


def load_bundle(config: TrainConfig, device: torch.device, rank: int, world_size: int) -> DataBundle:
    arrays = load_arrays(config.data_root)
    description = {
        "dataset": "cifar10",
        "source": str(arrays.source.path),
        "source_kind": arrays.source.kind,
        "lossy_jpeg": arrays.lossy,
    }
    if arrays.lossy:
        description["note"] = JPEG_NOTE
    return device_bundle(
        arrays.train_images,
        arrays.train_labels,
        arrays.test_images,
        arrays.test_labels,
        config,
        device,
        rank,
        world_size,
        augmentation=AUGMENTATIONS[config.augmentation],
        num_classes=len(CLASSES),
        description=description,
    )


def prepare(config: TrainConfig) -> None:
    """Find (or download) and decode CIFAR-10 into the cache, so that the ranks of a run only read it."""
    load_arrays(config.data_root)


def load_arrays(data_root: str | os.PathLike | None, cache: Path | None = None) -> CifarArrays:
    """Find CIFAR-10 (downloading it when allowed), decode it once, and return it from the cache.

    The arrays are checked (`check_counts`) whether decoded or read from the cache; only checked arrays
    are cached, and a cache file that fails the check (written before the check existed) is removed."""
    source = resolve(data_root)
    # A file in the way of the cache would otherwise show only after decoding (minutes for the JPEGs).
    folder = no_file_in_the_way(cache or cache_dir(), "cache folder" if cache else cache_origin())
    cache_file = folder / f"cifar10-{fingerprint(source)}.npz"
    if cache_file.is_file():
        try:
            cached = _read_cache(cache_file, source)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # a damaged cache file is rebuilt below
        else:
            try:
                check_counts(cached)
            except DataError:
                cache_file.unlink(missing_ok=True)
                raise
            return cached
    arrays = decode(source)
    check_counts(arrays)
    _write_cache(cache_file, arrays)
    return arrays


def check_counts(arrays: CifarArrays, per_class: Mapping[str, int] | None = None) -> None:
    """`DataError` unless every class has `per_class[split]` images in each split (default `PER_CLASS`,
    the complete CIFAR-10), naming the counts that differ."""
    expected = PER_CLASS if per_class is None else per_class
    problems = []
    for split, labels in (("train", arrays.train_labels), ("test", arrays.test_labels)):
        counts = np.bincount(labels, minlength=len(CLASSES))
        wrong = [f"{CLASSES[i]} {count:,}" for i, count in enumerate(counts) if count != expected[split]]
        if wrong:
            problems.append(f"{len(labels):,} {split} images ({', '.join(wrong)})")
    if problems:
        sizes = ", ".join(
            f"{n * len(CLASSES):,} {split} images ({n:,} per class)" for split, n in expected.items()
        )
        raise DataError(
            f"{arrays.source.path} does not hold the complete CIFAR-10 ({sizes}): it has "
            f"{'; '.join(problems)}. The copy is incomplete or altered: copy or download it again"
        )


def layout_help(path: Path) -> str:
    return (
        f"Expected at {path} one of: (a) the official CIFAR-10 python batches "
        f"{OFFICIAL_DIR}/{{{','.join(TRAIN_BATCHES)},{TEST_BATCH}}}, which torchvision downloads there "
        "(run without --data-root, or with --data-root pointing at an existing folder, on a machine with "
        "internet access); (b) a folder or .tar.gz/.tgz/.tar archive of class folders train/<class>/*.jpg "
        f"and test/<class>/*.jpg with the classes {', '.join(CLASSES)}, such as cifar10-jpeg.tar.gz: "
        "give its location with --data-root PATH (or a notebook's data_root parameter), or set "
        f"${CIFAR10_ENV}."
    )


def resolve(data_root: str | os.PathLike | None) -> Source:
    """The CIFAR-10 source at `data_root`, else at `$ITERAND_CIFAR10`, else in `default_data_root()`;
    downloads the official set into a folder that holds none. A given path that does not exist is an
    error, not a download target (a typo must not download 160 MB somewhere), unless it is
    `default_data_root()` spelled out, as a notebook's runs are given it."""
    origin = ""
    if data_root is None and configured_cifar() is not None:
        data_root, origin = configured_cifar(), f" (from ${CIFAR10_ENV})"
    root = default_data_root() if data_root is None else Path(data_root).expanduser()
    if not root.exists():
        if root.absolute() != default_data_root().absolute():
            raise DataError(f"CIFAR-10 data root {root}{origin} does not exist. {layout_help(root)}")
        return download(root)
    if root.is_file():
        if not _is_archive(root):
            raise DataError(f"CIFAR-10 data root {root} is a file but not a tar archive. {layout_help(root)}")
        return Source("archive", root)
    found = _layout_at(root)
    if found is not None:
        return found
    candidates = [source for child in sorted(root.iterdir()) if (source := _layout_at(child)) is not None]
    if len(candidates) > 1:
        listing = ", ".join(str(source.path) for source in candidates)
        raise DataError(f"several CIFAR-10 copies below {root}: {listing}; choose one with --data-root PATH")
    return candidates[0] if candidates else download(root)


def _layout_at(path: Path) -> Source | None:
    if path.is_file():
        return Source("archive", path) if _is_archive(path) else None
    if not path.is_dir():
        return None
    if any((path / name).exists() for name in (*TRAIN_BATCHES, TEST_BATCH)):
        return Source("official", path)
    if (path / OFFICIAL_DIR).is_dir():
        return Source("official", path / OFFICIAL_DIR)
    if any((path / split).is_dir() for split in SPLITS):
        return Source("folders", path)
    return None


def _is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def download(root: Path) -> Source:
    """The official dataset via torchvision into `root` (created); DataError when that fails."""
    import torchvision

    try:
        root.mkdir(parents=True, exist_ok=True)
        torchvision.datasets.CIFAR10(str(root), train=True, download=True)
    except Exception as error:  # offline machines fail in many ways (URLError, OSError, RuntimeError, ...)
        raise DataError(
            f"CIFAR-10 is not at {root} and the official download into it failed "
            f"({type(error).__name__}: {error}); downloading needs internet access. {layout_help(root)}"
        ) from error
    return Source("official", root / OFFICIAL_DIR)


def fingerprint(source: Source) -> str:
    """16 hex digits naming the decoded cache: the source's kind and, for every file read, its name
    (relative to the source), size and modification time. Where the source lies does not enter, so
    the same copy at another path decodes once; no content hashing, so a cache hit costs `stat` calls."""
    digest = hashlib.sha256(f"{CACHE_FORMAT}|{source.kind}".encode())
    if source.kind == "archive":
        files = [(source.path.name, source.path)]
    elif source.kind == "official":
        files = [(name, source.path / name) for name in (*TRAIN_BATCHES, TEST_BATCH)]
    else:
        files = [
            (path.relative_to(source.path).as_posix(), path) for _, _, path in _folder_files(source.path)
        ]
    for name, path in files:
        stat = path.stat() if path.exists() else None
        digest.update(f"|{name}:{stat and stat.st_size}:{stat and stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def decode(source: Source) -> CifarArrays:
    """Read and decode `source` (no cache) into canonical order."""
    if source.kind == "official":
        return CifarArrays(*_read_official(source.path), source=source, lossy=False)
    if source.kind == "archive":
        entries = _archive_files(source.path)
    else:
        entries = (
            (split, class_name, path.name, path, str(path))
            for split, class_name, path in _folder_files(source.path)
        )
    decoded: dict[str, dict[str, list[tuple[tuple, np.ndarray]]]] = {split: {} for split in SPLITS}
    lossy = False
    for split, class_name, file_name, data, where in tqdm(
        entries, desc=f"decoding CIFAR-10 from {source.path.name}", unit="img", disable=None
    ):
        lossy |= file_name.lower().endswith(LOSSY_SUFFIXES)
        decoded[split].setdefault(class_name, []).append((_order_key(file_name), _decode(data, where)))
    train, test = (_stack(decoded[split], source.path, split) for split in SPLITS)
    return CifarArrays(*train, *test, source=source, lossy=lossy)


def _read_official(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The official batches through `torchvision.datasets.CIFAR10`, which verifies each file's MD5 sum
    first; train and test arrays in canonical order."""
    import torchvision

    if folder.name != OFFICIAL_DIR:
        raise DataError(
            f"the CIFAR-10 batches in {folder} must be in a folder named {OFFICIAL_DIR} (torchvision's "
            f"layout): rename it, or pass its parent as --data-root. {layout_help(folder.parent)}"
        )
    dataset = torchvision.datasets.CIFAR10
    expected = [*dataset.train_list, *dataset.test_list, (dataset.meta["filename"], dataset.meta["md5"])]
    missing = [name for name, _ in expected if not (folder / name).is_file()]
    if missing:
        raise DataError(
            f"CIFAR-10 batches folder {folder} lacks {', '.join(missing)}; delete the folder to download "
            f"it again. {layout_help(folder.parent)}"
        )
    try:
        train, test = (dataset(str(folder.parent), train=split == "train") for split in SPLITS)
    except RuntimeError as error:  # torchvision's "Dataset not found or corrupted."
        check = torchvision.datasets.utils.check_integrity
        damaged = [name for name, md5 in expected if not check(str(folder / name), md5)]
        raise DataError(
            f"the CIFAR-10 batches {', '.join(damaged) or '(all)'} in {folder} fail torchvision's integrity "
            f"check ({error}): the files are damaged or not the official ones; delete {folder} to download "
            "it again"
        ) from error
    return (*_canonical(train), *_canonical(test))


def _canonical(dataset) -> tuple[np.ndarray, np.ndarray]:
    """A torchvision CIFAR10's (N, 32, 32, 3) images and labels, reordered class-major (module docstring)."""
    labels = np.asarray(dataset.targets, dtype=np.int64)
    order = np.argsort(labels, kind="stable")
    return np.ascontiguousarray(dataset.data.transpose(0, 3, 1, 2)[order]), labels[order]


def _folder_files(root: Path) -> Iterator[tuple[str, str, Path]]:
    """(split, class, path) of every image below `root`/{train,test}/<class>/, classes checked first."""
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            raise DataError(f"CIFAR-10 folder {root} has no {split}/ folder. {layout_help(root)}")
        _check_classes({child.name for child in split_dir.iterdir() if child.is_dir()}, split_dir)
        for class_name in CLASSES:
            for path in sorted((split_dir / class_name).iterdir(), key=lambda path: _order_key(path.name)):
                if path.is_file() and path.name.lower().endswith(IMAGE_SUFFIXES):
                    yield split, class_name, path


class _CountingReader(io.RawIOBase):
    """A readable stream that counts the bytes read from `stream`."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__()
        self.stream, self.count = stream, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.count += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _archive_files(archive: Path) -> Iterator[tuple[str, str, str, bytes, str]]:
    """(split, class, file name, bytes, where) of every image `<top>/{train,test}/<class>/<file>` in a
    tar archive (gzip-compressed or not), in one streaming pass. Other members are skipped.

    After the last member the rest of the stream is read, so that an archive cut off anywhere (even at
    a member boundary, where tarfile alone sees a clean end) raises `DataError`: gzip checks its
    end-of-stream marker and checksum, and the tar stream must end with its end-of-archive blocks."""
    end_of_members = 0
    try:
        with open(archive, "rb") as raw:
            compressed = raw.read(len(_GZIP_MAGIC)) == _GZIP_MAGIC
            raw.seek(0)
            stream = _CountingReader(gzip.GzipFile(fileobj=raw) if compressed else raw)
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                yield from _image_members(tar, archive)
                end_of_members = tar.offset
            while stream.read(1 << 20):
                pass  # to the end: a cut gzip stream raises EOFError here
    except EOFError as error:
        raise DataError(_truncated(archive, f"the compressed stream stops early: {error}")) from error
    except (tarfile.TarError, OSError, zlib.error) as error:
        raise DataError(
            f"cannot read the archive {archive} ({type(error).__name__}: {error}); it is damaged or not a "
            "tar archive"
        ) from error
    if stream.count < end_of_members + _END_OF_ARCHIVE:
        raise DataError(
            _truncated(archive, "the tar stream has no end-of-archive blocks after its last file")
        )


def _truncated(archive: Path, reason: str) -> str:
    return (
        f"the archive {archive} is truncated ({reason}), e.g. by an interrupted download or copy; "
        "copy or download it again"
    )


def _image_members(tar: tarfile.TarFile, archive: Path) -> Iterator[tuple[str, str, str, bytes, str]]:
    prefix = None
    for member in tar:
        parts = PurePosixPath(member.name).parts
        if not member.isfile() or len(parts) < 3 or parts[-3] not in SPLITS:
            continue
        if not parts[-1].lower().endswith(IMAGE_SUFFIXES):
            continue
        if prefix is None:
            prefix = parts[:-3]
        elif parts[:-3] != prefix:
            raise DataError(
                f"archive {archive} holds two copies ({'/'.join(prefix)}/ and "
                f"{'/'.join(parts[:-3])}/); keep one. {layout_help(archive)}"
            )
        _check_classes({parts[-2]}, Path(*parts[:-1]), archive, complete=False)
        data = tar.extractfile(member).read()
        yield parts[-3], parts[-2], parts[-1], data, f"{archive}:{member.name}"


def _check_classes(found: set[str], where: Path, archive: Path | None = None, complete: bool = True) -> None:
    unexpected = sorted(found - set(CLASSES))
    missing = [name for name in CLASSES if name not in found] if complete else []
    if unexpected or missing:
        place = f"{archive}:{where}" if archive else str(where)
        problems = [f"unexpected class folders {unexpected}"] * bool(unexpected)
        problems += [f"missing class folders {missing}"] * bool(missing)
        raise DataError(
            f"{place} does not hold the CIFAR-10 classes: {'; '.join(problems)}. "
            f"{layout_help(archive or where.parent)}"
        )


def _order_key(file_name: str) -> tuple:
    stem = file_name.rsplit(".", 1)[0]
    return (0, int(stem), file_name) if stem.isdigit() else (1, 0, file_name)


def _decode(data: bytes | Path, where: str) -> np.ndarray:
    try:
        with Image.open(data if isinstance(data, Path) else io.BytesIO(data)) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(
            f"cannot decode the image {where} ({type(error).__name__}: {error}); the file is corrupt: "
            "restore the dataset (extract or download it again)"
        ) from error
    if pixels.shape != (32, 32, 3):
        raise DataError(
            f"the image {where} is {pixels.shape[1]}x{pixels.shape[0]}; CIFAR-10 images are 32x32"
        )
    return pixels.transpose(2, 0, 1)


def _stack(
    by_class: dict[str, list[tuple[tuple, np.ndarray]]], root: Path, split: str
) -> tuple[np.ndarray, np.ndarray]:
    if not by_class:
        raise DataError(f"{root} holds no {split}/<class>/ images. {layout_help(root)}")
    _check_classes(set(by_class), Path(split), root)
    images, labels = [], []
    for label, class_name in enumerate(CLASSES):
        ordered = sorted(by_class[class_name], key=lambda entry: entry[0])
        images += [pixels for _, pixels in ordered]
        labels += [label] * len(ordered)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _read_cache(path: Path, source: Source) -> CifarArrays:
    with np.load(path, allow_pickle=False) as cache:
        return CifarArrays(
            cache["train_images"],
            cache["train_labels"],
            cache["test_images"],
            cache["test_labels"],
            source=source,
            lossy=bool(cache["lossy"]),
        )


def _write_cache(path: Path, arrays: CifarArrays) -> None:
    # Written under a temporary name and renamed, so a concurrent reader never sees half a file.
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as file:
            np.savez(
                file,
                train_images=arrays.train_images,
                train_labels=arrays.train_labels,
                test_images=arrays.test_images,
                test_labels=arrays.test_labels,
                lossy=np.asarray(arrays.lossy),
            )
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        warnings.warn(
            f"could not write the decoded CIFAR-10 cache {path} ({error}); it will be decoded again next "
            "time. Set ITERAND_DATA_CACHE to a writable folder.",
            stacklevel=2,
        )
