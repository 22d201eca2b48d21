"""CIFAR augmentations as batched tensor operations, and the normalisation constants.

Two recipes (`AUGMENTATIONS`, picked by `TrainConfig.augmentation`):

- "iterand" (the official IteRand code): zero-pad 4, RandomResizedCrop to 32 with torchvision's defaults
  (scale (0.08, 1), ratio (3/4, 4/3)), horizontal flip with probability 0.5, ImageNet mean/std.
- "standard" (the edge-popup code): zero-pad 4, a random 32x32 window (RandomCrop(32, padding=4)),
  horizontal flip, CIFAR-10 mean/std. The constants are the per-channel mean/std of the official train
  pixels, (0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616).

Both are "pad, take a box, resample it to the output size, maybe flip": one random box per image, then
one bilinear resampling pass over the whole batch (`resized_crop`). The random numbers of a whole epoch
are drawn up front on the CPU from a seeded `torch.Generator` (`Augmentation.sample`), so they do not
depend on the device, and applying them on the device needs no host synchronisation.

How close this is to torchvision's per-image transforms (which the official code runs on PIL images):

- Boxes follow `RandomResizedCrop.get_params` exactly in distribution: up to 10 attempts of (area
  fraction ~ U(scale), log aspect ~ U(log ratio)), sides rounded half-to-even, the first attempt that fits
  wins, the fallback is torchvision's central crop; the offset is uniform over the valid positions.
  The uniforms are float64 and drawn in batches, so the individual draws differ from torchvision's.
- The resampling equals torchvision's tensor `resized_crop(..., antialias=False)`, i.e. bilinear
  interpolation with half-pixel centres on the cropped image (edge pixels clamped to the crop), which is
  what PIL does when it enlarges. PIL's bilinear filter also low-pass filters when it shrinks (boxes
  bigger than 32, at most 40/32 = 1.25x here); that antialiasing is not reproduced, and the result is not
  rounded back to uint8 before normalisation.
- "standard" boxes are 32x32, so the resampling is an exact pixel copy of the padded image.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from iterand.engine.data import to_device

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

RESIZED_CROP_SCALE = (0.08, 1.0)
RESIZED_CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)
RESIZED_CROP_ATTEMPTS = 10
FLIP_PROBABILITY = 0.5


@dataclass(frozen=True)
class Normalization:
    """Maps pixel values in [0, 255] (any dtype) to float32 `(x / 255 - mean) / std`."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, images: Tensor) -> Tensor:
        shift, scale = _affine(self.mean, self.std, images.device)
        return (images.float() - shift) / scale


@functools.cache
def _affine(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> tuple[Tensor, Tensor]:
    # Built once per device: creating them per batch would copy from the host at every step.
    shape = (1, -1, 1, 1)
    shift = torch.tensor(mean, dtype=torch.float32).mul(255.0).view(shape)
    scale = torch.tensor(std, dtype=torch.float32).mul(255.0).view(shape)
    return to_device(shift, device), to_device(scale, device)


IMAGENET_NORMALIZATION = Normalization(IMAGENET_MEAN, IMAGENET_STD)
CIFAR10_NORMALIZATION = Normalization(CIFAR10_MEAN, CIFAR10_STD)


@dataclass(frozen=True)
class AugmentParams:
    """Per-image random choices: boxes (n, 4) int64 as (top, left, height, width) in the padded image,
    and flips (n,) bool."""

    boxes: Tensor
    flips: Tensor

    def __getitem__(self, index: slice) -> AugmentParams:
        return AugmentParams(self.boxes[index], self.flips[index])


@dataclass(frozen=True)
class Augmentation:
    """A batched train-time augmentation: pad, random box, bilinear resample to `size`, random flip,
    normalise.

    `crop` is "resized" (RandomResizedCrop boxes) or "shift" (`size` x `size` windows at a uniform
    offset, i.e. RandomCrop)."""

    name: str
    pad: int
    crop: str
    size: int
    normalization: Normalization
    description: str

    def sample(self, n: int, height: int, width: int, generator: torch.Generator) -> AugmentParams:
        """Draw the random choices for `n` images of `height` x `width` (before padding), on the CPU."""
        padded_h, padded_w = height + 2 * self.pad, width + 2 * self.pad
        if self.crop == "resized":
            boxes = sample_resized_crop_boxes(n, padded_h, padded_w, generator)
        else:
            boxes = sample_shift_boxes(n, padded_h, padded_w, self.size, generator)
        return AugmentParams(boxes, sample_flips(n, generator))

    def __call__(self, images: Tensor, params: AugmentParams) -> Tensor:
        """Augment a uint8 batch (B, C, H, W) with `params` (on the same device): float32, normalised."""
        padded = (F.pad(images, (self.pad,) * 4) if self.pad else images).float()
        return self.normalization(resized_crop(padded, params.boxes, self.size, params.flips))


AUGMENTATIONS = {
    "iterand": Augmentation(
        "iterand",
        pad=4,
        crop="resized",
        size=32,
        normalization=IMAGENET_NORMALIZATION,
        description="zero-pad 4, RandomResizedCrop(32, scale=(0.08, 1), ratio=(3/4, 4/3)), "
        "horizontal flip p=0.5, ImageNet mean/std",
    ),
    "standard": Augmentation(
        "standard",
        pad=4,
        crop="shift",
        size=32,
        normalization=CIFAR10_NORMALIZATION,
        description="RandomCrop(32, padding=4) (zero padding), horizontal flip p=0.5, "
        f"CIFAR-10 mean {CIFAR10_MEAN} / std {CIFAR10_STD}",
    ),
}


def imagenet_augmentation(size: int) -> Augmentation:
    """RandomResizedCrop(size) + flip + ImageNet mean/std without padding: the ImageNet train transform
    for images already held as fixed-size tensors (the synthetic ImageNet-shaped set)."""
    return Augmentation(
        "imagenet",
        pad=0,
        crop="resized",
        size=size,
        normalization=IMAGENET_NORMALIZATION,
        description=f"RandomResizedCrop({size}), horizontal flip p=0.5, ImageNet mean/std",
    )


def sample_flips(n: int, generator: torch.Generator) -> Tensor:
    return torch.rand(n, generator=generator) < FLIP_PROBABILITY


def sample_shift_boxes(n: int, height: int, width: int, size: int, generator: torch.Generator) -> Tensor:
    """`size` x `size` boxes at offsets uniform over every position inside `height` x `width`."""
    offsets = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    top = (offsets[:, 0] * (height - size + 1)).long()
    left = (offsets[:, 1] * (width - size + 1)).long()
    sides = torch.full((n,), size, dtype=torch.long)
    return torch.stack([top, left, sides, sides], dim=1)


def sample_resized_crop_boxes(
    n: int,
    height: int,
    width: int,
    generator: torch.Generator,
    scale: tuple[float, float] = RESIZED_CROP_SCALE,
    ratio: tuple[float, float] = RESIZED_CROP_RATIO,
    attempts: int = RESIZED_CROP_ATTEMPTS,
) -> Tensor:
    """torchvision's RandomResizedCrop box rule, for `n` images at once (see the module docstring)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    u_scale = torch.rand(n, attempts, generator=generator, dtype=torch.float64)
    u_ratio = torch.rand(n, attempts, generator=generator, dtype=torch.float64)
    target_area = area * (scale[0] + (scale[1] - scale[0]) * u_scale)
    aspect = torch.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * u_ratio)
    w = torch.sqrt(target_area * aspect).round().long()
    h = torch.sqrt(target_area / aspect).round().long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.int().argmax(dim=1, keepdim=True)  # first fitting attempt (0 when none fits)
    found = fits.any(dim=1)
    fallback_h, fallback_w = _central_crop_size(height, width, ratio)
    h = torch.where(found, h.gather(1, first).squeeze(1), fallback_h)
    w = torch.where(found, w.gather(1, first).squeeze(1), fallback_w)
    u_offset = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    top = torch.where(found, (u_offset[:, 0] * (height - h + 1)).long(), (height - h) // 2)
    left = torch.where(found, (u_offset[:, 1] * (width - w + 1)).long(), (width - w) // 2)
    return torch.stack([top, left, h, w], dim=1)


def _central_crop_size(height: int, width: int, ratio: tuple[float, float]) -> tuple[int, int]:
    """torchvision's fallback when no attempt fits: the largest central box whose aspect is in range."""
    in_ratio = width / height
    if in_ratio < min(ratio):
        return round(width / min(ratio)), width
    if in_ratio > max(ratio):
        return height, round(height * max(ratio))
    return height, width


def resized_crop(images: Tensor, boxes: Tensor, size: int, flips: Tensor | None = None) -> Tensor:
    """Resample box `boxes[i]` (top, left, height, width) of `images[i]` to `size` x `size`, bilinearly.

    Same values as `F.interpolate(crop, size, mode="bilinear", align_corners=False, antialias=False)`
    on each cropped image, computed for the batch: rows first, then columns (on the transposed rows). A
    flipped image reads its columns in reverse order, which costs nothing extra."""
    rows_lo, rows_hi, row_frac = _taps(boxes[:, 0], boxes[:, 2], size)
    cols_lo, cols_hi, col_frac = _taps(boxes[:, 1], boxes[:, 3], size)
    if flips is not None:
        flip = flips[:, None]
        cols_lo = torch.where(flip, cols_lo.flip(1), cols_lo)
        cols_hi = torch.where(flip, cols_hi.flip(1), cols_hi)
        col_frac = torch.where(flip, col_frac.flip(1), col_frac)
    rows = _interpolate_rows(images, rows_lo, rows_hi, row_frac)
    columns = _interpolate_rows(rows.transpose(2, 3).contiguous(), cols_lo, cols_hi, col_frac)
    return columns.transpose(2, 3).contiguous()


def _interpolate_rows(images: Tensor, low: Tensor, high: Tensor, frac: Tensor) -> Tensor:
    """Row i of image b is `lerp(images[b, :, low[b, i]], images[b, :, high[b, i]], frac[b, i])`:
    (B, C, len(low[b]), W).

    Whole rows are copied (`index_select` on the batch seen as one stack of rows): on a CPU this is
    about twice as fast as an element-wise `gather` of the same values."""
    batch, channels, height, width = images.shape
    stack = images.reshape(batch * channels * height, width)
    first_row = torch.arange(batch * channels, device=images.device).view(batch, channels, 1) * height

    def take(rows: Tensor) -> Tensor:
        index = (first_row + rows[:, None, :]).reshape(-1)
        return stack.index_select(0, index).view(batch, channels, rows.shape[1], width)

    return torch.lerp(take(low), take(high), frac[:, None, :, None].to(images.dtype))


def _taps(start: Tensor, length: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Source indices (low, high) and interpolation weights along one axis, (B, size) each, following
    PyTorch's bilinear rule: source = (dst + 0.5) * length / size - 0.5, clamped below at 0."""
    scale = length.float()[:, None] / size
    dst = torch.arange(size, device=start.device, dtype=torch.float32)
    src = ((dst + 0.5) * scale - 0.5).clamp(min=0.0)
    low = src.floor()
    frac = src - low
    low = low.long()
    high = torch.minimum(low + 1, length[:, None] - 1)
    return start[:, None] + low, start[:, None] + high, frac
