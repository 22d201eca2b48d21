"""How a training process uses the CPU: freed memory kept for reuse, and threads that fit the cores.

Measured on 2 idle cores (AMD EPYC, Conv6 x0.25, batch 128, one thread; ``benchmarks/results/train_cpu.md``):

- Memory. A training step allocates the same large tensors every step (activations, gradients, a few
  MB each). glibc's malloc serves big blocks with fresh ``mmap`` pages and returns them with
  ``munmap`` when freed, and trims the top of its heap, so every step faults its memory in again: in a
  120-step epoch through the Trainer, 4.2 million minor page faults and 7.9 s of system time beside
  15 s of user time. ``keep_freed_memory`` makes malloc keep freed memory for the next step instead:
  0.24 s of system time, and 1.37x the images/s (1,448 -> 1,981 contiguous, 1,868 -> 2,559
  channels-last). The price: the process keeps its peak size until it exits.
- Threads. ``available_cores`` counts the cores this process may run on: its affinity mask (e.g.
  under ``taskset``), lowered to a cgroup CPU limit where one is set (``docker --cpus``, a Kubernetes
  CPU limit), which the affinity mask does not show. PyTorch's default, a thread per core of the
  machine, oversubscribes such a limit. The concurrent runs of a sweep share these cores
  (``iterand.experiments.launcher``); ``thread_environment`` is the environment that gives a child
  process that many threads, and ``fit_threads`` lowers this process's threads to the cores. The
  OpenMP wait policy is left to the user: on idle cores libgomp's default (waiting threads spin a
  while) trained 2 threads 20 % faster than ``OMP_WAIT_POLICY=PASSIVE`` (4,400 vs 3,680 images/s);
  beside one busy process PASSIVE was 37 % faster (1,940 vs 1,420). Set ``OMP_WAIT_POLICY=PASSIVE`` on
  a CPU you share.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import platform
import sys
from pathlib import Path

# mallopt(3) parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
WAIT_POLICY = "OMP_WAIT_POLICY"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
# Where a process sees its own cgroup: a container's is mounted at the root.
CGROUP = Path("/sys/fs/cgroup")

__all__ = [
    "THREAD_VARIABLES",
    "WAIT_POLICY",
    "available_cores",
    "cpu_description",
    "cpu_limit",
    "fit_threads",
    "keep_freed_memory",
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
    """The number of CPUs this process may run on: its affinity mask (the machine's CPUs where the
    platform has none), or fewer where a cgroup CPU limit grants less (``cpu_limit``)."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    limit = cpu_limit()
    return cores if limit is None else min(cores, limit)


def cpu_limit(cgroup: Path = CGROUP) -> int | None:
    """The CPUs' worth of time per period that a cgroup CPU limit grants, rounded up; None without one.

    Read from cgroup v2's ``cpu.max`` ("QUOTA PERIOD", or "max PERIOD" for none), else from cgroup v1's
    ``cpu/cpu.cfs_quota_us`` and ``cpu/cpu.cfs_period_us`` (quota -1 for none).
    """
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()
    except (OSError, ValueError):
        try:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:  # "max": no limit
        return None
    if quota_us <= 0 or period_us <= 0:
        return None
    return max(1, math.ceil(quota_us / period_us))


def fit_threads() -> int | None:
    """Lower PyTorch's intra-op threads to ``available_cores`` unless the user chose a number (one of
    ``THREAD_VARIABLES`` set); returns the number it had if it lowered it, else None."""
    import torch

    if any(variable in os.environ for variable in THREAD_VARIABLES):
        return None
    threads, cores = torch.get_num_threads(), available_cores()
    if threads <= cores:
        return None
    torch.set_num_threads(cores)
    return threads


@functools.cache  # read once per process: the start-up line and the summary both name the CPU
def cpu_description() -> str:
    """The CPU as speed depends on it: its model name, family and model numbers where Linux gives them,
    and the vector instructions PyTorch's CPU kernels use (``torch.backends.cpu.get_cpu_capability``).

    The model name alone can hide a near threefold difference: in virtual machines two generations of AMD
    EPYC both report "AMD EPYC", and Conv6 x0.25 trained about 2.8x faster on one thread of the AVX-512
    one (family 26) than of the AVX2 one (family 25; ``benchmarks/results/published_cpu.md``).
    """
    import torch

    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if not key.strip():
                    break  # the first processor's block is enough
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    numbers = ", ".join(
        f"{label} {fields[key]}"
        for key, label in (("cpu family", "family"), ("model", "model"))
        if key in fields
    )
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{name} ({numbers}; {capability})" if numbers else f"{name} ({capability})"


def thread_environment(threads: int) -> dict[str, str]:
    """The environment variables that give a new process ``threads`` intra-op threads."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    return dict.fromkeys(THREAD_VARIABLES, str(threads))
