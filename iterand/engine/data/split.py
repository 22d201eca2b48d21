"""The seeded train/validation split (the official code's ``train_val_split``: 10% of CIFAR-10, 1% of
ImageNet).

The validation part is `int(n * val_fraction)` examples chosen by a shuffle with its own seed
(`split_seed`, 777 in the official code), independent of the run seed, so every run of a sweep sees the
same split. The official code takes `torch.randperm(n)` from a generator seeded with 777 over the
torchvision order; here the shuffle is NumPy's legacy `RandomState(split_seed).permutation(n)`, whose
stream NumPy guarantees never to change, so the split is the same under every torch and NumPy version.

The split is defined on example indices. For CIFAR-10 the index order is the canonical class-major order
of `iterand.engine.data.cifar` (both the official batches and class folders give it), so the same indices
select the same images whichever source was read. Consequence: the 5,000 validation images are not the
ones the official code happens to pick (its indices refer to the interleaved batch order), but their
number and the procedure are the same.
"""

from __future__ import annotations

import numpy as np


def split_indices(n: int, val_fraction: float, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) index arrays, each sorted, disjoint, together `range(n)`; `int(n * val_fraction)`
    examples go to validation."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    val_size = int(n * val_fraction)
    order = np.random.RandomState(split_seed).permutation(n)
    return np.sort(order[: n - val_size]), np.sort(order[n - val_size :])
