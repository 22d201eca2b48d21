"""Single-process or DDP execution, decided by the environment ``torchrun`` sets.

``torchrun`` exports ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; without
them the run is one process (rank 0 of 1). The backend is NCCL on CUDA and gloo on CPU. Only rank 0
logs and writes files (``Context.is_main``); every rank keeps a full copy of the model, and gradients are
averaged by ``DistributedDataParallel``. Evaluation sums (loss, correct, count) are all-reduced.

A process group that already exists (created by a caller, e.g. a test with ``torch.multiprocessing``)
is used as it is and left for its creator to destroy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from bookkeeping.errors import InvalidInput

__all__ = [
    "Context",
    "all_reduce_sum",
    "barrier",
    "broadcast_object",
    "cleanup",
    "process_rank",
    "resolve_device",
    "setup",
    "sync_buffers",
    "wrap",
]


@dataclass(frozen=True)
class Context:
    """Where this process stands: its rank among ``world_size`` processes, and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"environment variable {name} must be an integer, got {value!r}") from None


def resolve_device(request: str, local_rank: int = 0, world_size: int = 1) -> torch.device:
    """The device named by ``config.device``: "auto" (CUDA when available, else CPU), "cpu", "cuda" or
    "cuda:N". Under DDP each process uses the GPU of its local rank, so "cuda:N" is refused there."""
    if request == "auto":
        request = "cuda" if torch.cuda.is_available() else "cpu"
    if request == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise InvalidInput(f"device is {request!r} but CUDA is not available here: use device=cpu or auto")
    if request == "cuda":
        return torch.device("cuda", local_rank)
    if world_size > 1:
        raise InvalidInput(
            f"device {request!r} pins one GPU, but torchrun started {world_size} processes: use device=auto "
            "or cuda (each process takes the GPU of its LOCAL_RANK)"
        )
    return torch.device(request)


def process_rank() -> int:
    """This process's global rank as torchrun exports it (0 without torchrun)."""
    return _env_int("RANK", 0)


def setup(device_request: str = "auto") -> Context:
    """Join the process group described by the environment (if any) and pick this process's device."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank = process_rank()
    local_rank = _env_int("LOCAL_RANK", 0)
    if world_size < 1 or not 0 <= rank < world_size:
        raise InvalidInput(f"RANK ({rank}) and WORLD_SIZE ({world_size}) must satisfy 0 <= RANK < WORLD_SIZE")
    device = resolve_device(device_request, local_rank, world_size)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    owns_group = False
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world_size, device_id=_device_id(device))
        owns_group = True
    return Context(rank, world_size, local_rank, device, owns_group)


def _device_id(device: torch.device) -> torch.device | None:
    # Binding NCCL to the device up front avoids a guessed device at the first collective.
    return device if device.type == "cuda" else None


def wrap(model: nn.Module, ctx: Context) -> nn.Module:
    """``model`` itself in a single process, else a ``DistributedDataParallel`` around it."""
    if not ctx.distributed:
        return model
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def all_reduce_sum(tensor: torch.Tensor, ctx: Context) -> torch.Tensor:
    """Sum ``tensor`` over all ranks in place (nothing to do in a single process) and return it."""
    if ctx.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_object(obj: Any, ctx: Context) -> Any:
    """Rank 0's ``obj`` on every rank (other ranks pass None). Only rank 0 reads the run directory, so
    a multi-node run resumes without a shared filesystem."""
    if not ctx.distributed:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0, device=ctx.device if ctx.device.type == "cuda" else None)
    return holder[0]


def gather_objects(obj: Any, ctx: Context) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not ctx.distributed:
        return [obj]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def sync_buffers(model: nn.Module, ctx: Context) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics).

    DDP broadcasts them at the start of each training forward pass, after which each rank updates them
    with its own batch; syncing before evaluation makes every rank evaluate the model rank 0 saves.
    """
    if ctx.distributed:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def cleanup(ctx: Context) -> None:
    """Leave the process group if ``setup`` created it."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()
