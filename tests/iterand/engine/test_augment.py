"""Batched CIFAR augmentations (iterand.engine.data.augment) against torchvision's per-image semantics."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torchvision.transforms import RandomResizedCrop

from iterand.engine.data.augment import (
    AUGMENTATIONS,
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentParams,
    Normalization,
    resized_crop,
    sample_flips,
    sample_resized_crop_boxes,
    sample_shift_boxes,
)

SCALE, RATIO = (0.08, 1.0), (3 / 4, 4 / 3)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def uint8_images(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randint(256, (n, 3, size, size), generator=generator(seed), dtype=torch.uint8)


def test_resized_crop_equals_interpolating_each_crop():
    images = torch.rand(8, 3, 40, 40, generator=generator(1)) * 255
    boxes = torch.cat(
        [
            torch.tensor([[0, 0, 40, 40], [3, 5, 11, 17], [39, 39, 1, 1], [0, 10, 40, 13]]),
            sample_resized_crop_boxes(4, 40, 40, generator(2)),
        ]
    )
    out = resized_crop(images, boxes, 32)
    for image, (top, left, h, w), result in zip(images, boxes.tolist(), out, strict=True):
        expected = TF.resized_crop(image, top, left, h, w, [32, 32], antialias=False)
        torch.testing.assert_close(result, expected, atol=2e-3, rtol=0)


def _pixelwise_resized_crop(images, boxes, size, flips):
    """Every output pixel by the bilinear rule of `_taps` with PyTorch's lerp, one index at a time."""
    out = torch.empty(len(images), images.shape[1], size, size)
    for b, (top, left, height, width) in enumerate(boxes.tolist()):

        def taps(start, length, i):
            src = max((i + 0.5) * (length / size) - 0.5, 0.0)
            low = math.floor(src)
            return start + low, start + min(low + 1, length - 1), src - low

        for i in range(size):
            r0, r1, fr = taps(top, height, i)
            for j in range(size):
                c0, c1, fc = taps(left, width, size - 1 - j if flips[b] else j)
                at_c0 = torch.lerp(images[b, :, r0, c0], images[b, :, r1, c0], torch.tensor(fr))
                at_c1 = torch.lerp(images[b, :, r0, c1], images[b, :, r1, c1], torch.tensor(fr))
                out[b, :, i, j] = torch.lerp(at_c0, at_c1, torch.tensor(fc))
    return out


def test_resized_crop_is_bit_identical_to_the_pixelwise_rule():
    # Pins the batched index arithmetic (row copies, the transposed column pass, flips) exactly; the
    # images are not square so that rows and columns cannot be confused.
    images = torch.rand(6, 3, 40, 36, generator=generator(11)) * 255
    boxes = torch.cat(
        [torch.tensor([[0, 0, 40, 36], [39, 0, 1, 36]]), sample_resized_crop_boxes(4, 40, 36, generator(12))]
    )
    flips = torch.tensor([False, True, True, False, True, False])
    assert torch.equal(
        resized_crop(images, boxes, 8, flips), _pixelwise_resized_crop(images, boxes, 8, flips)
    )


def test_flips_mirror_the_output_columns():
    images = torch.rand(5, 3, 40, 40, generator=generator(3)) * 255
    boxes = sample_resized_crop_boxes(5, 40, 40, generator(4))
    flips = torch.tensor([True, False, True, True, False])
    flipped = resized_crop(images, boxes, 32, flips)
    plain = resized_crop(images, boxes, 32)
    torch.testing.assert_close(flipped[flips], plain[flips].flip(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(flipped[~flips], plain[~flips], atol=0, rtol=0)


def test_standard_crops_are_exact_shifts_of_the_zero_padded_image():
    images = uint8_images(64)
    standard = AUGMENTATIONS["standard"]
    params = standard.sample(64, 32, 32, generator(5))
    out = standard(images, params)
    padded = F.pad(images.float(), (4, 4, 4, 4))
    for i, ((top, left, h, w), flip) in enumerate(
        zip(params.boxes.tolist(), params.flips.tolist(), strict=True)
    ):
        assert (h, w) == (32, 32)
        window = padded[i : i + 1, :, top : top + 32, left : left + 32]
        expected = standard.normalization(window.flip(3) if flip else window)[0]
        assert torch.equal(out[i], expected)


def test_shift_offsets_are_uniform_over_all_nine_positions():
    n = 18_000
    boxes = sample_shift_boxes(n, 40, 40, 32, generator(6))
    for column in (0, 1):
        counts = torch.bincount(boxes[:, column], minlength=9)
        assert len(counts) == 9  # offsets 0..8 only
        expected, sigma = n / 9, math.sqrt(n * (1 / 9) * (8 / 9))
        assert ((counts - expected).abs() < 5 * sigma).all(), counts


def test_flip_probability_is_one_half():
    n = 20_000
    rate = sample_flips(n, generator(7)).float().mean().item()
    assert abs(rate - 0.5) < 4 * math.sqrt(0.25 / n)


def test_resized_crop_boxes_lie_in_the_image_within_scale_and_ratio():
    height, width = 40, 40
    top, left, h, w = sample_resized_crop_boxes(20_000, height, width, generator(8)).double().unbind(1)
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + h <= height).all() and (left + w <= width).all()
    # Sides are rounded to integers: the unrounded sides (within 0.5) satisfy the bounds.
    area = height * width
    assert ((h - 0.5) * (w - 0.5) <= SCALE[1] * area).all()
    assert ((h + 0.5) * (w + 0.5) >= SCALE[0] * area).all()
    assert ((w - 0.5) / (h + 0.5) <= RATIO[1]).all()
    assert ((w + 0.5) / (h - 0.5) >= RATIO[0]).all()


def test_resized_crop_boxes_follow_torchvision_in_distribution():
    n = 4000
    ours = sample_resized_crop_boxes(n, 40, 40, generator(9)).double()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(9)
        image = torch.empty(3, 40, 40)
        theirs = torch.tensor(
            [RandomResizedCrop.get_params(image, list(SCALE), list(RATIO)) for _ in range(n)]
        )
    theirs = theirs.double()
    for column, name in enumerate(("top", "left", "height", "width")):
        a, b = ours[:, column], theirs[:, column]
        standard_error = math.sqrt((a.var() + b.var()).item() / n)
        assert abs(a.mean() - b.mean()) < 4 * standard_error, name
    area_ours = (ours[:, 2] * ours[:, 3]).mean() / 1600
    area_theirs = (theirs[:, 2] * theirs[:, 3]).mean() / 1600
    assert abs(area_ours - area_theirs) < 0.03


@pytest.mark.parametrize("shape", [(40, 40), (10, 40), (40, 10)])
def test_fallback_is_torchvisions_central_crop(shape):
    height, width = shape
    impossible = (2.0, 3.0)  # every attempt is larger than the image
    boxes = sample_resized_crop_boxes(3, height, width, generator(10), scale=impossible)
    expected = RandomResizedCrop.get_params(torch.empty(3, height, width), list(impossible), list(RATIO))
    assert boxes.tolist() == [list(expected)] * 3


def test_sampling_is_a_function_of_the_seed():
    augment = AUGMENTATIONS["iterand"]
    first = augment.sample(100, 32, 32, generator(11))
    again = augment.sample(100, 32, 32, generator(11))
    other = augment.sample(100, 32, 32, generator(12))
    assert torch.equal(first.boxes, again.boxes) and torch.equal(first.flips, again.flips)
    assert not torch.equal(first.boxes, other.boxes)


def test_normalization_constants_of_each_recipe():
    assert AUGMENTATIONS["iterand"].normalization == Normalization(IMAGENET_MEAN, IMAGENET_STD)
    assert AUGMENTATIONS["standard"].normalization == Normalization(CIFAR10_MEAN, CIFAR10_STD)
    assert CIFAR10_MEAN == (0.4914, 0.4822, 0.4465) and CIFAR10_STD == (0.2470, 0.2435, 0.2616)
    images = uint8_images(4)
    normalize = Normalization(IMAGENET_MEAN, IMAGENET_STD)
    expected = TF.normalize(images.float() / 255, list(IMAGENET_MEAN), list(IMAGENET_STD))
    torch.testing.assert_close(normalize(images), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["iterand", "standard"])
def test_augmented_batches_keep_shape_and_pixel_range(name):
    augment = AUGMENTATIONS[name]
    images = uint8_images(256)
    out = augment(images, augment.sample(256, 32, 32, generator(13)))
    assert out.shape == (256, 3, 32, 32) and out.dtype == torch.float32
    mean = torch.tensor(augment.normalization.mean).view(1, 3, 1, 1)
    std = torch.tensor(augment.normalization.std).view(1, 3, 1, 1)
    pixels = out * std + mean  # bilinear weights are convex: values stay in [0, 1]
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5


def test_iterand_recipe_pads_four_zero_pixels_before_cropping():
    white = torch.full((1, 3, 32, 32), 255, dtype=torch.uint8)
    augment = AUGMENTATIONS["iterand"]
    whole_padded_image = AugmentParams(torch.tensor([[0, 0, 40, 40]]), torch.tensor([False]))
    out = augment(white, whole_padded_image)
    pixels = out * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    # 40 -> 32 pixels: output pixel 0 samples source 0.125, inside the 4-pixel zero border.
    torch.testing.assert_close(pixels[0, :, 0, 0], torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(pixels[0, :, 16, 16], torch.ones(3), atol=1e-5, rtol=0)
