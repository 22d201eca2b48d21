"""The base distributions of the random samples.

- ``uniform``: U[-1, 1], the default of the subset-sum statements.
- ``product``: ``b * a`` with ``a, b`` independent U[-1, 1]: the summands of the network construction.
- ``normal``: N(0, 1).

All draws come from an explicit ``numpy.random.Generator`` so every experiment is reproducible from its seed.
"""

from __future__ import annotations

import numpy as np

from bookkeeping import validation

DISTRIBUTIONS = ("uniform", "product", "normal")


def sample(distribution: str, size, rng: np.random.Generator) -> np.ndarray:
    """Draw an array of ``size`` i.i.d. samples from the named base distribution."""
    validation.choice("distribution", distribution, DISTRIBUTIONS)
    if distribution == "uniform":
        return rng.uniform(-1.0, 1.0, size)
    if distribution == "product":
        return rng.uniform(-1.0, 1.0, size) * rng.uniform(-1.0, 1.0, size)
    return rng.standard_normal(size)
