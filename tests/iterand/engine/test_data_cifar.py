"""CIFAR-10 sources, canonical order, decoded cache, the seeded split, and the error messages."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import tarfile
import urllib.error
import zlib
from pathlib import Path

import numpy as np
import pytest
import torchvision
from PIL import Image

from bookkeeping.paths import CIFAR10_ENV, DATA_ENV
from iterand.engine.config import TrainConfig
from iterand.engine.data import DataError, cifar, default_cifar_source, load
from iterand.engine.data.split import split_indices

N_TRAIN, N_TEST = 30, 10  # per class, see conftest.cifar_subset
pytestmark = pytest.mark.usefixtures("subset_is_cifar10")


def pil_pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1)


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def make_archive(folder: Path, archive: Path, top: str = "cifar10-jpeg") -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=top)
    return archive


def write_official_batches(
    root: Path, arrays: cifar.CifarArrays, monkeypatch: pytest.MonkeyPatch, seed: int = 0
) -> Path:
    """A `cifar-10-batches-py` holding `arrays` in an interleaved order, like the real batches: classes
    mixed, each class's images in their canonical (per-class) order.

    torchvision checks each file against the MD5 sums of the official files, which a small copy cannot
    match; `monkeypatch` makes the sums of these files the expected ones for the test, so the reading
    goes through torchvision's own check and loader."""
    labels = np.random.default_rng(seed).permutation(arrays.train_labels)
    images = np.empty_like(arrays.train_images)
    for label in range(10):
        images[labels == label] = arrays.train_images[arrays.train_labels == label]
    folder = root / cifar.OFFICIAL_DIR
    folder.mkdir(parents=True)
    for name, part in zip(cifar.TRAIN_BATCHES, np.array_split(np.arange(len(labels)), 5), strict=True):
        batch = {"data": images[part].reshape(len(part), -1), "labels": labels[part].tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    test = {
        "data": arrays.test_images.reshape(len(arrays.test_images), -1),
        "labels": arrays.test_labels.tolist(),
    }
    (folder / cifar.TEST_BATCH).write_bytes(pickle.dumps(test))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(cifar.CLASSES)}))
    expect_checksums_of(folder, monkeypatch)
    return folder


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def expect_checksums_of(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the MD5 sums of the batches in `folder` the ones torchvision expects (for this test only)."""
    dataset = torchvision.datasets.CIFAR10
    for attribute in ("train_list", "test_list"):
        listed = [[name, md5(folder / name)] for name, _ in getattr(dataset, attribute)]
        monkeypatch.setattr(dataset, attribute, listed)
    monkeypatch.setattr(dataset, "meta", {**dataset.meta, "md5": md5(folder / "batches.meta")})


@pytest.fixture(scope="module")
def subset_arrays(cifar_subset: Path) -> cifar.CifarArrays:
    return cifar.decode(cifar.Source("folders", cifar_subset))


# ---- the split --------------------------------------------------------------------------------------


def test_split_sizes_on_the_full_training_set():
    train, val = split_indices(50_000, 0.1, 777)
    assert (len(train), len(val)) == (45_000, 5_000)
    assert len(np.intersect1d(train, val)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(50_000))


def test_split_is_pinned_to_its_seed():
    # NumPy's legacy RandomState stream never changes, so these indices hold for every version.
    train, val = split_indices(50_000, 0.1, 777)
    assert val[:6].tolist() == [10, 11, 17, 19, 20, 28]
    again_train, again_val = split_indices(50_000, 0.1, 777)
    assert np.array_equal(train, again_train) and np.array_equal(val, again_val)
    assert not np.array_equal(val, split_indices(50_000, 0.1, 778)[1])


def test_split_rounds_the_validation_size_down():
    assert [len(split_indices(n, 0.1, 777)[1]) for n in (300, 99, 9)] == [30, 9, 0]
    with pytest.raises(ValueError, match="val_fraction"):
        split_indices(10, 1.0, 777)


# ---- sources and canonical order --------------------------------------------------------------------


def test_class_folders_decode_in_class_major_order(cifar_subset, subset_arrays):
    arrays = subset_arrays
    assert arrays.train_images.shape == (10 * N_TRAIN, 3, 32, 32) and arrays.train_images.dtype == np.uint8
    assert arrays.test_images.shape == (10 * N_TEST, 3, 32, 32)
    assert np.array_equal(arrays.train_labels, np.repeat(np.arange(10), N_TRAIN))
    assert np.array_equal(arrays.test_labels, np.repeat(np.arange(10), N_TEST))
    assert np.array_equal(
        arrays.train_images[3 * N_TRAIN + 7], pil_pixels(cifar_subset / "train/cat/0007.jpg")
    )
    assert np.array_equal(
        arrays.test_images[9 * N_TEST + 2], pil_pixels(cifar_subset / "test/truck/0002.jpg")
    )
    assert arrays.lossy


def test_files_are_ordered_by_their_number_not_their_name(tmp_path, cifar_subset):
    root = copy_tree(cifar_subset, tmp_path / "renamed")
    cats = root / "train" / "cat"
    for path in sorted(cats.iterdir()):
        path.rename(cats / f"{int(path.stem)}.jpg")  # 2.jpg must come before 10.jpg
    arrays = cifar.decode(cifar.Source("folders", root))
    assert np.array_equal(arrays.train_images[3 * N_TRAIN + 2], pil_pixels(cats / "2.jpg"))
    assert np.array_equal(arrays.train_images[3 * N_TRAIN + 10], pil_pixels(cats / "10.jpg"))


def test_archive_gives_the_same_arrays_as_the_folder(tmp_path, cifar_subset, subset_arrays):
    archive = make_archive(cifar_subset, tmp_path / "subset.tar.gz")
    source = cifar.resolve(archive)
    assert source == cifar.Source("archive", archive)
    arrays = cifar.decode(source)
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        assert np.array_equal(getattr(arrays, name), getattr(subset_arrays, name)), name


def test_official_batches_give_the_same_arrays_as_the_folder(tmp_path, subset_arrays, monkeypatch):
    folder = write_official_batches(tmp_path, subset_arrays, monkeypatch)
    raw = pickle.loads((folder / "data_batch_1").read_bytes())["labels"]
    assert raw != sorted(raw)  # the batches really are interleaved
    source = cifar.resolve(tmp_path)
    assert source == cifar.Source("official", folder)
    arrays = cifar.decode(source)
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        assert np.array_equal(getattr(arrays, name), getattr(subset_arrays, name)), name
    assert not arrays.lossy


def test_the_split_picks_the_same_images_from_every_source(
    tmp_path, cifar_subset, subset_arrays, monkeypatch
):
    write_official_batches(tmp_path / "official", subset_arrays, monkeypatch)
    roots = [cifar_subset, make_archive(cifar_subset, tmp_path / "copy.tgz"), tmp_path / "official"]
    val_sets = []
    for root in roots:
        bundle = load(TrainConfig(data_root=str(root), batch_size=30), "cpu")
        images, labels = zip(*bundle.val, strict=True)
        val_sets.append((np.concatenate(images), np.concatenate(labels)))
    for images, labels in val_sets[1:]:
        assert np.array_equal(images, val_sets[0][0]) and np.array_equal(labels, val_sets[0][1])


def test_a_copy_one_level_down_is_found(tmp_path, cifar_subset):
    copy_tree(cifar_subset, tmp_path / "holder" / "cifar10-jpeg")
    assert cifar.resolve(tmp_path / "holder") == cifar.Source("folders", tmp_path / "holder" / "cifar10-jpeg")
    make_archive(cifar_subset, tmp_path / "holder" / "second.tar.gz")
    with pytest.raises(DataError, match="several CIFAR-10 copies") as error:
        cifar.resolve(tmp_path / "holder")
    assert "second.tar.gz" in str(error.value) and "--data-root" in str(error.value)


# ---- the decoded cache ------------------------------------------------------------------------------


def test_decoded_images_are_cached_and_refreshed_when_the_source_changes(tmp_path, cifar_subset, monkeypatch):
    root = copy_tree(cifar_subset, tmp_path / "data")
    cache = tmp_path / "cache"
    first = cifar.load_arrays(root, cache)
    (cache_file,) = cache.glob("cifar10-*.npz")

    def no_decoding(source):
        raise AssertionError("decoded again although the cache is valid")

    with monkeypatch.context() as patch:
        patch.setattr(cifar, "decode", no_decoding)
        cached = cifar.load_arrays(root, cache)
        assert np.array_equal(cached.train_images, first.train_images) and cached.lossy
        # The same copy at another path (moved, linked, mounted elsewhere) is the same content.
        moved = root.rename(tmp_path / "moved")
        assert np.array_equal(cifar.load_arrays(moved, cache).train_images, first.train_images)
        (tmp_path / "link").symlink_to(moved)
        assert np.array_equal(cifar.load_arrays(tmp_path / "link", cache).train_images, first.train_images)
        root = moved.rename(root)
    changed = root / "train" / "dog" / "0000.jpg"
    shutil.copyfile(root / "train" / "dog" / "0001.jpg", changed)
    os.utime(changed, ns=(1, 1))
    refreshed = cifar.load_arrays(root, cache)
    assert len(list(cache.glob("cifar10-*.npz"))) == 2 and cache_file.exists()
    dog = 5 * N_TRAIN
    assert np.array_equal(refreshed.train_images[dog], refreshed.train_images[dog + 1])


# ---- errors -----------------------------------------------------------------------------------------


def assert_actionable(message: str, path: Path) -> None:
    assert str(path) in message
    assert "train/<class>/" in message and "cifar-10-batches-py" in message  # the expected layouts
    assert "--data-root" in message and "internet" in message  # how to obtain it


def test_missing_data_root(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="does not exist") as error:
        cifar.resolve(missing)
    assert_actionable(str(error.value), missing)


def test_the_default_data_folder_named_as_a_path_is_still_the_download_target(tmp_path, monkeypatch):
    # A notebook's runs are given the default folder as a path (default_cifar_source): on a fresh machine
    # without data/ they stopped on "does not exist" instead of downloading as a train command does.
    calls = []
    monkeypatch.setattr(cifar, "download", lambda root: calls.append(root) or cifar.Source("official", root))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.delenv(CIFAR10_ENV, raising=False)
    cifar.resolve(default_cifar_source(report=None))
    cifar.resolve("data")
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "new"))
    cifar.resolve(str(tmp_path / "new"))
    assert [path.absolute() for path in calls] == [tmp_path / "data", tmp_path / "data", tmp_path / "new"]
    with pytest.raises(DataError, match="does not exist"):
        cifar.resolve(str(tmp_path / "data"))  # not the default folder any more


def test_offline_download_explains_what_to_do(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    # torchvision's own download path, down to the network call
    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", offline)
    with pytest.raises(DataError, match="download into it failed") as error:
        cifar.resolve(tmp_path)  # an existing folder with no data: torchvision's root, download target
    assert "URLError" in str(error.value)
    assert_actionable(str(error.value), tmp_path)


def test_download_fetches_the_official_batches(tmp_path, monkeypatch, subset_arrays):
    calls = []

    def fake_download(url, download_root, filename, md5):
        calls.append((download_root, filename))
        write_official_batches(Path(download_root), subset_arrays, monkeypatch)

    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", fake_download)
    arrays = cifar.load_arrays(tmp_path, tmp_path / "cache")
    assert calls == [(str(tmp_path), "cifar-10-python.tar.gz")]
    assert arrays.source == cifar.Source("official", tmp_path / cifar.OFFICIAL_DIR)
    assert np.array_equal(arrays.train_images, subset_arrays.train_images)


def test_a_file_that_is_no_archive(tmp_path):
    junk = tmp_path / "cifar.zip"
    junk.write_bytes(b"not an archive")
    with pytest.raises(DataError, match="not a tar archive") as error:
        cifar.resolve(junk)
    assert_actionable(str(error.value), junk)


def test_a_damaged_archive(tmp_path):
    damaged = tmp_path / "cifar.tar.gz"
    damaged.write_bytes(b"\x1f\x8b\x08\x00 definitely not gzip data")
    with pytest.raises(DataError, match="cannot read the archive") as error:
        cifar.decode(cifar.resolve(damaged))
    assert str(damaged) in str(error.value)


def test_a_missing_split_folder(tmp_path, cifar_subset):
    root = copy_tree(cifar_subset, tmp_path / "data")
    shutil.rmtree(root / "test")
    with pytest.raises(DataError, match="no test/ folder") as error:
        cifar.decode(cifar.resolve(root))
    assert_actionable(str(error.value), root)


def test_wrong_class_names_are_listed(tmp_path, cifar_subset):
    root = copy_tree(cifar_subset, tmp_path / "data")
    (root / "train" / "cat").rename(root / "train" / "kitty")
    with pytest.raises(DataError) as error:
        cifar.decode(cifar.resolve(root))
    message = str(error.value)
    assert "unexpected class folders ['kitty']" in message and "missing class folders ['cat']" in message
    assert str(root / "train") in message and "airplane, automobile, bird, cat" in message


def test_wrong_class_names_in_an_archive(tmp_path, cifar_subset):
    root = copy_tree(cifar_subset, tmp_path / "data")
    (root / "test" / "ship").rename(root / "test" / "boat")
    archive = make_archive(root, tmp_path / "renamed.tar.gz")
    with pytest.raises(DataError, match="unexpected class folders \\['boat'\\]") as error:
        cifar.decode(cifar.resolve(archive))
    assert str(archive) in str(error.value)


def test_a_corrupt_image_is_named(tmp_path, cifar_subset):
    root = copy_tree(cifar_subset, tmp_path / "data")
    corrupt = root / "train" / "frog" / "0004.jpg"
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    with pytest.raises(DataError, match="cannot decode the image") as error:
        cifar.decode(cifar.resolve(root))
    assert str(corrupt) in str(error.value)
    archive = make_archive(root, tmp_path / "corrupt.tar.gz")
    with pytest.raises(DataError, match="cannot decode the image") as error:
        cifar.decode(cifar.resolve(archive))
    assert f"{archive}:cifar10-jpeg/train/frog/0004.jpg" in str(error.value)


def test_images_of_the_wrong_size(tmp_path, cifar_subset):
    root = copy_tree(cifar_subset, tmp_path / "data")
    large = root / "test" / "horse" / "0003.jpg"
    Image.new("RGB", (64, 48)).save(large)
    with pytest.raises(DataError, match="is 64x48; CIFAR-10 images are 32x32") as error:
        cifar.decode(cifar.resolve(root))
    assert str(large) in str(error.value)


def test_incomplete_official_batches(tmp_path, subset_arrays, monkeypatch):
    folder = write_official_batches(tmp_path, subset_arrays, monkeypatch)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError, match="lacks data_batch_3") as error:
        cifar.decode(cifar.resolve(tmp_path))
    assert str(folder) in str(error.value)


# ---- integrity: truncated archives, incomplete data sets ----------------------------------------------
# A tiny data set generated here (2 train and 1 test images per class, as PNG), whose archives can be cut
# anywhere; `small_is_cifar10` makes the checks take its sizes for those of CIFAR-10.
SMALL = {"train": 2, "test": 1}


@pytest.fixture
def small_is_cifar10(monkeypatch):
    monkeypatch.setattr(cifar, "PER_CLASS", SMALL)


def small_tar(order=("test", "train")) -> tuple[bytes, list[int]]:
    """A tar archive of the small set, members class-interleaved, splits in `order`; and the offset where
    each member ends (a cut there leaves whole members only)."""
    rng = np.random.default_rng(0)
    buffer, ends = io.BytesIO(), []
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for split in order:
            for index in range(SMALL[split]):
                for class_name in cifar.CLASSES:
                    png = io.BytesIO()
                    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(png, "PNG")
                    info = tarfile.TarInfo(f"small/{split}/{class_name}/{index:04d}.png")
                    info.size = len(png.getvalue())
                    tar.addfile(info, io.BytesIO(png.getvalue()))
                    ends.append(buffer.tell())
    return buffer.getvalue(), ends


def gzip_cut(data: bytes) -> bytes:
    """`data` gzip-compressed and flushed, but without the end of the stream: a download cut off there."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


def test_the_small_set_and_its_archive_are_whole(tmp_path, small_is_cifar10):
    data, _ = small_tar()
    archive = tmp_path / "small.tar.gz"
    archive.write_bytes(gzip.compress(data))
    arrays = cifar.load_arrays(archive, tmp_path / "cache")
    assert len(arrays.train_labels) == 20 and len(arrays.test_labels) == 10 and not arrays.lossy
    plain = tmp_path / "small.tar"
    plain.write_bytes(data)
    assert np.array_equal(cifar.load_arrays(plain, tmp_path / "cache").train_images, arrays.train_images)


@pytest.mark.parametrize("compressed", [True, False])
def test_an_archive_cut_at_a_member_boundary_is_truncated_and_never_cached(
    tmp_path, small_is_cifar10, compressed
):
    # Issue 10, item 4: every class keeps one of its two train images, and the archive used to be accepted,
    # decoded, cached and trained on.
    data, ends = small_tar()
    cut = data[: ends[len(cifar.CLASSES) * (SMALL["test"] + 1) - 1]]
    archive = tmp_path / ("cut.tar.gz" if compressed else "cut.tar")
    archive.write_bytes(gzip_cut(cut) if compressed else cut)
    with pytest.raises(DataError, match="is truncated") as error:
        cifar.load_arrays(archive, tmp_path / "cache")
    assert str(archive) in str(error.value) and "download it again" in str(error.value)
    assert not list((tmp_path / "cache").glob("*.npz"))


def test_a_small_archive_cut_before_its_train_images_is_reported_as_truncated(tmp_path, small_is_cifar10):
    # Issue 10, item 12: it was reported as holding "no train/<class>/ images".
    data, ends = small_tar()
    archive = tmp_path / "cut.tar.gz"
    archive.write_bytes(gzip_cut(data[: ends[len(cifar.CLASSES) * SMALL["test"] - 1]]))
    with pytest.raises(DataError, match="is truncated") as error:
        cifar.load_arrays(archive, tmp_path / "cache")
    assert "no train" not in str(error.value)


def test_a_data_set_short_of_cifar10s_sizes_is_refused_and_never_cached(tmp_path, small_is_cifar10):
    # Issue 10, item 4: counts against CIFAR-10's sizes (here the small set's), equal per class.
    root = tmp_path / "folders"
    with tarfile.open(fileobj=io.BytesIO(small_tar()[0])) as tar:
        tar.extractall(root, filter="data")
    (root / "small" / "train" / "dog" / "0001.png").unlink()
    cache = tmp_path / "cache"
    with pytest.raises(
        DataError, match=r"does not hold the complete CIFAR-10 \(20 train images \(2 per class\)"
    ):
        cifar.load_arrays(root / "small", cache)
    with pytest.raises(DataError, match=r"it has 19 train images \(dog 1\)\. The copy is incomplete"):
        cifar.load_arrays(root / "small", cache)
    assert not list(cache.glob("*.npz"))
    # a cache file written before the check existed is refused too, and removed
    short = cifar.decode(cifar.resolve(root / "small"))
    stale = cache / f"cifar10-{cifar.fingerprint(cifar.resolve(root / 'small'))}.npz"
    cifar._write_cache(stale, short)
    with pytest.raises(DataError, match="does not hold the complete CIFAR-10"):
        cifar.load_arrays(root / "small", cache)
    assert not stale.exists()


def test_a_cache_folder_that_is_a_file_is_refused_before_decoding(tmp_path, small_is_cifar10, monkeypatch):
    # $ITERAND_DATA_CACHE naming a file showed only when the decoded arrays were written (a warning).
    archive = tmp_path / "small.tar"
    archive.write_bytes(small_tar()[0])
    blocker = tmp_path / "cache"
    blocker.write_text("")
    monkeypatch.setenv("ITERAND_DATA_CACHE", str(blocker / "cifar"))

    def no_decoding(source):
        raise AssertionError("decoded before the cache folder was checked")

    monkeypatch.setattr(cifar, "decode", no_decoding)
    with pytest.raises(DataError, match=rf"^\$ITERAND_DATA_CACHE: {blocker} is a file, not a folder$"):
        cifar.load_arrays(archive)


def test_iterand_data_that_is_a_file_is_named(tmp_path, monkeypatch):
    # The message said "CIFAR-10 data root ... is a file but not a tar archive", naming no variable.
    blocker = tmp_path / "data"
    blocker.write_text("")
    monkeypatch.delenv("ITERAND_CIFAR10", raising=False)
    monkeypatch.setenv("ITERAND_DATA", str(blocker))
    with pytest.raises(DataError, match=rf"^\$ITERAND_DATA: {blocker} is a file, not a folder$"):
        cifar.resolve(None)


def test_damaged_official_batches_fail_torchvisions_integrity_check(tmp_path, subset_arrays, monkeypatch):
    folder = write_official_batches(tmp_path, subset_arrays, monkeypatch)
    test_batch = folder / "test_batch"
    test_batch.write_bytes(test_batch.read_bytes()[:-1] + b"x")  # still unpickles: only the sum tells
    with pytest.raises(DataError, match="fail torchvision's integrity check") as error:
        cifar.decode(cifar.resolve(tmp_path))
    assert "test_batch" in str(error.value) and "data_batch" not in str(error.value)
    assert f"delete {folder}" in str(error.value)


def test_the_official_batches_checked_against_the_published_sums(tmp_path, subset_arrays, monkeypatch):
    # Without the test's checksums, torchvision's own (the real files') reject a copy of other content.
    with monkeypatch.context() as patch:
        folder = write_official_batches(tmp_path, subset_arrays, patch)
    with pytest.raises(DataError, match="fail torchvision's integrity check") as error:
        cifar.decode(cifar.resolve(tmp_path))
    assert all(name in str(error.value) for name in (*cifar.TRAIN_BATCHES, "test_batch", "batches.meta"))
    assert str(folder) in str(error.value)


def test_official_batches_outside_torchvisions_folder_name(tmp_path, subset_arrays, monkeypatch):
    folder = write_official_batches(tmp_path, subset_arrays, monkeypatch)
    renamed = folder.rename(tmp_path / "batches")
    with pytest.raises(DataError, match=f"folder named {cifar.OFFICIAL_DIR}") as error:
        cifar.decode(cifar.resolve(renamed))
    assert str(renamed) in str(error.value)
