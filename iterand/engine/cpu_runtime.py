"""How a training process uses the CPU: freed memory kept for reuse, and threads that fit the cores.

Measured on 2 cores (AMD EPYC, Conv6 x0.25, batch 128; ``benchmarks/results/train_cpu.md``):

- Memory. A training step allocates the same large tensors every step (activations, gradients, a few
  MB each). glibc's malloc serves big blocks with fresh ``mmap`` pages and returns them with
  ``munmap`` when freed, and trims the top of its heap, so every step faults in newly mapped pages:
  5,700-15,000 minor page faults and 11-27 ms of system time per step, a quarter of the step.
  ``keep_freed_memory`` makes malloc keep freed memory for the next step instead (no faults after
  the first steps). The price: the process keeps its peak size until it exits (ResNet-18 x1:
  2.4 GB resident instead of 2.0 GB).
- Waiting threads. PyTorch's OpenMP runtime (libgomp) lets a thread that waits for the others spin
  for a while. On a CPU shared with any other busy process the spinning thread burns the time its
  partner needs: with one single-threaded process beside it, 2 threads trained 104-160 images/s
  spinning and 993-1,078 sleeping (``OMP_WAIT_POLICY=PASSIVE``), and 1 thread 1,310. On idle cores
  spinning is faster (4,470-4,730 vs 3,580-3,780 images/s): set ``OMP_WAIT_POLICY=ACTIVE`` on a
  machine of your own. ``sleep_waiting_threads`` sets the default; libgomp reads it once, when torch
  is imported, so ``python -m iterand`` calls it first.
- Threads. ``available_cores`` counts the cores this process may run on (its affinity mask, e.g.
  under ``taskset``), which is what the concurrent runs of a sweep share (``iterand.experiments.launcher``);
  ``thread_environment`` is the environment that gives a child process that many threads.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import MutableMapping

# mallopt(3) parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
WAIT_POLICY = "OMP_WAIT_POLICY"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

__all__ = [
    "THREAD_VARIABLES",
    "WAIT_POLICY",
    "available_cores",
    "keep_freed_memory",
    "sleep_waiting_threads",
    "thread_environment",
]


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


def sleep_waiting_threads(environ: MutableMapping[str, str] = os.environ) -> None:
    """Default ``OMP_WAIT_POLICY`` to ``PASSIVE`` (a value already set wins). Effective only before torch
    is imported."""
    environ.setdefault(WAIT_POLICY, "PASSIVE")


def thread_environment(threads: int) -> dict[str, str]:
    """The environment variables that give a new process ``threads`` intra-op threads."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    return dict.fromkeys(THREAD_VARIABLES, str(threads))
