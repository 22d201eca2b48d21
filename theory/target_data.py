"""The classification task a target network is trained on: CIFAR-10 read by the training package's own data
code, or, when no copy of CIFAR-10 is named, a synthetic teacher task.

Which one (:func:`load_task`): the ``data_root`` argument (the experiment's parameter ``data_root``), else
the environment variable ``ITERAND_CIFAR10``, names a CIFAR-10 copy (anything ``iterand.engine.data`` reads:
the official batches, class folders, or an archive such as ``cifar10-jpeg.tar.gz``); ``"synthetic"``, or
nothing named at all, selects the synthetic teacher task, and its name says so wherever results go.

This is the one module of ``theory`` that imports ``iterand``, and only inside :func:`cifar10`, so
``import theory`` needs neither torch nor the dataset.

Inputs are vectors: CIFAR-10 images become ``image_size x image_size`` grayscale (luma, then the mean of
each block of pixels), centred by the mean training image and divided by the training inputs' standard
deviation. Centring matters here: the target has no biases, so a constant offset in every pixel would be
one more thing for its weights to cancel. The synthetic task draws N(0, 1) inputs of the same dimension and
labels each by the largest output of a random ReLU network (the "teacher").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from bookkeeping import validation
from bookkeeping.errors import InvalidInput
from bookkeeping.paths import CIFAR10_ENV, SYNTHETIC

CIFAR10_NAME = "cifar10"
TEACHER_NAME = "synthetic teacher"
NO_CIFAR10 = f"no CIFAR-10 named: set data_root or ${CIFAR10_ENV}"

# ITU-R BT.601 luma: the usual RGB -> gray weights.
LUMA = (0.299, 0.587, 0.114)
CIFAR_SIDE = 32
CLASSES = 10
TEACHER_HIDDEN = 16
TEACHER_TRAIN = 50_000
TEACHER_TEST = 10_000
_TEACHER_STREAM = 7  # keeps the teacher's draws apart from every other stream seeded by the same seed


@dataclass(frozen=True, eq=False)
class Task:
    """Inputs ``(N, d)`` float64 and labels ``(N,)`` int64 for training and testing, and where they came from.

    ``name``: ``"cifar10"`` or ``"synthetic teacher"``; ``description``: one line for tables and notebooks.
    """

    name: str
    description: str
    train_inputs: np.ndarray
    train_labels: np.ndarray
    test_inputs: np.ndarray
    test_labels: np.ndarray
    num_classes: int

    @property
    def input_dim(self) -> int:
        return self.train_inputs.shape[1]


def load_task(data_root: str | None, image_size: int, seed: int = 0) -> Task:
    """CIFAR-10 from ``data_root`` (or ``$ITERAND_CIFAR10``) as ``image_size**2``-dimensional grayscale
    vectors, or the synthetic teacher task of the same dimension when neither names a copy (or ``data_root``
    is ``"synthetic"``); ``seed`` draws the synthetic task."""
    image_size = validation.integer_at_least("image_size", image_size, 1)
    root = data_root if data_root is not None else os.environ.get(CIFAR10_ENV) or None
    if root is None:
        return synthetic_teacher(image_size * image_size, seed)
    if root == SYNTHETIC:
        # Chosen on purpose: "no CIFAR-10 named" would be wrong, and with $ITERAND_CIFAR10 set, misleading.
        where = "data_root" if data_root is not None else f"${CIFAR10_ENV}"
        return synthetic_teacher(image_size * image_size, seed, why=f"chosen by {where} {SYNTHETIC!r}")
    return cifar10(root, image_size)


def cifar10(data_root: str, image_size: int) -> Task:
    """CIFAR-10 read by ``iterand.engine.data.cifar`` (which also keeps the decoded images in its cache) as
    centred ``image_size x image_size`` grayscale vectors; ``image_size`` must divide 32."""
    if CIFAR_SIDE % image_size:
        raise InvalidInput(f"image_size must divide {CIFAR_SIDE} for CIFAR-10, got {image_size}")
    # The training package's data code: the same sources, decoding and cache as every training run.
    from iterand.engine.data import cifar

    arrays = cifar.load_arrays(data_root)
    train = _grayscale(arrays.train_images, image_size)
    test = _grayscale(arrays.test_images, image_size)
    mean = train.mean(axis=0)
    scale = (train - mean).std()
    description = (
        f"CIFAR-10 ({arrays.source.kind} at {arrays.source.path}{', lossy JPEG' if arrays.lossy else ''}), "
        f"grayscale {image_size}x{image_size}, centred"
    )
    return Task(
        CIFAR10_NAME,
        description,
        (train - mean) / scale,
        arrays.train_labels.astype(np.int64),
        (test - mean) / scale,
        arrays.test_labels.astype(np.int64),
        len(cifar.CLASSES),
    )


def synthetic_teacher(input_dim: int, seed: int = 0, why: str = NO_CIFAR10) -> Task:
    """N(0, I) inputs labelled by ``argmax`` of a random bias-free ReLU network ``input_dim -> 16 -> 10``
    (N(0, 1) weights, hidden rows of norm 1, readout rows summing to 0, so the classes are about equally
    frequent): a task with a learnable rule and no data files. ``why``: the reason the description gives
    for using it."""
    input_dim = validation.integer_at_least("input_dim", input_dim, 1)
    rng = np.random.default_rng([validation.integer_at_least("seed", seed, 0), _TEACHER_STREAM])
    hidden = rng.standard_normal((TEACHER_HIDDEN, input_dim))
    readout = rng.standard_normal((CLASSES, TEACHER_HIDDEN))
    # Unit hidden rows give every hidden unit the same mean output, and readout rows summing to zero then
    # ignore that common mean: otherwise the class with the largest row sum would take most inputs.
    hidden /= np.linalg.norm(hidden, axis=1, keepdims=True)
    readout -= readout.mean(axis=1, keepdims=True)
    inputs = rng.standard_normal((TEACHER_TRAIN + TEACHER_TEST, input_dim))
    labels = np.argmax(np.maximum(inputs @ hidden.T, 0.0) @ readout.T, axis=1).astype(np.int64)
    description = (
        f"synthetic teacher task ({why}): N(0, I) inputs of "
        f"dimension {input_dim}, labels from a random ReLU network {input_dim}-{TEACHER_HIDDEN}-{CLASSES}"
    )
    split = TEACHER_TRAIN
    return Task(
        TEACHER_NAME,
        description,
        inputs[:split],
        labels[:split],
        inputs[split:],
        labels[split:],
        CLASSES,
    )


def _grayscale(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``(N, 3, 32, 32)`` -> float64 ``(N, size * size)`` in [0, 1]: luma, then block means.

    Both steps are linear, so the block means are taken first, straight from the uint8 pixels (no float
    copy of all 60,000 full-size images)."""
    block = CIFAR_SIDE // size
    shape = (images.shape[0], 3, size, block, size, block)
    pooled = images.reshape(shape).mean(axis=(3, 5), dtype=np.float64) / 255.0
    return np.tensordot(pooled, np.asarray(LUMA), axes=([1], [0])).reshape(images.shape[0], -1)
