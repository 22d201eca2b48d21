"""How a training process uses the CPU: freed memory kept for reuse, and threads that fit the cores.

Measured on 2 cores (AMD EPYC, torch 2.14, Conv6 x0.25, batch 128; ``benchmarks/README.md``):

- Memory. A training step allocates the same large tensors every step (activations, gradients, a few
  MB each). glibc's malloc serves big blocks with fresh ``mmap`` pages and returns them with
  ``munmap`` when freed, and trims the top of its heap, so every step faults in newly mapped pages:
  5,700-15,000 minor page faults and 11-27 ms of system time per step, a quarter of the step.
  ``keep_freed_memory`` makes malloc keep freed memory for the next step instead (no faults after
  the first steps). The price: the process keeps its peak size until it exits (ResNet-18 x1:
  2.4 GB resident instead of 2.0 GB).
- Threads. ``available_cores`` counts the cores this process may run on (its affinity mask, e.g.
  under ``taskset``), which is what the concurrent runs of a sweep share (``iterand.sweeps``).
"""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt(3) parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

__all__ = ["available_cores", "keep_freed_memory"]


def keep_freed_memory() -> bool:
    """Make glibc's malloc reuse freed memory instead of returning it to the OS; False where the C
    library has no ``mallopt`` (not glibc), and nothing changes.

    Two settings: no ``mmap`` for large blocks (they come from the heap, where a freed block is reused
    by the next allocation of its size), and no trimming of the heap (``M_TRIM_THRESHOLD = -1``). They
    apply to the whole process from the call on; the values computed are unchanged.
    """
    if not sys.platform.startswith("linux"):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, -1))


def available_cores() -> int:
    """The number of CPUs this process may run on (its affinity mask), or of the machine where the
    platform has no affinity."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
