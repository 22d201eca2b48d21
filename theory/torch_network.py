"""The pruned random network ``g`` (and a target ``f``) as a PyTorch module.

:func:`to_torch` gives an ``nn.Sequential`` of bias-free ``nn.Linear`` layers with a ReLU between them. The
layers of ``g`` are pruned with ``torch.nn.utils.prune.custom_from_mask``: each keeps its random weights as
``weight_orig`` and the binary mask as the buffer ``weight_mask``, and its forward pass uses their product,
so the module holds the same random values and masks as :class:`theory.network.PrunedNetwork` and computes
the same function (float64 by default).

torch is imported inside the functions, so ``import theory`` does not load it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bookkeeping.errors import InvalidInput
from theory import network


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside the block (the previous setting is restored after).

    The networks of the theory module are small: on a shared 2-core machine, splitting their products over
    threads made training 10-20 times slower than one thread, and one thread also makes the float results
    independent of the machine's number of cores.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def to_torch(model: network.PrunedNetwork | network.Target, dtype=None):
    """The ``torch.nn.Sequential`` computing ``model``'s forward pass (dtype: torch.float64 by default)."""
    import torch
    from torch import nn
    from torch.nn.utils import prune, skip_init

    dtype = torch.float64 if dtype is None else dtype
    if isinstance(model, network.PrunedNetwork):
        pairs = []
        for layer in model.layers:
            pairs += [(layer.first, layer.first_mask), (layer.second, layer.second_mask)]
    elif isinstance(model, network.Target):
        pairs = [(weight, None) for weight in model.weights]
    else:
        raise InvalidInput(
            f"model must be a theory.network.PrunedNetwork or Target, got {type(model).__name__}"
        )
    modules: list[nn.Module] = []
    for i, (weight, mask) in enumerate(pairs):
        # skip_init: the weights are set below, so building never moves torch's global random state
        linear = skip_init(nn.Linear, weight.shape[1], weight.shape[0], bias=False, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(weight))
        if mask is not None:
            prune.custom_from_mask(linear, "weight", torch.as_tensor(mask))
        modules += [nn.ReLU(), linear] if i else [linear]
    return nn.Sequential(*modules)
