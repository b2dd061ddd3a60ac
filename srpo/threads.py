"""CPU threads of a stage process: as many as the cores that are free when it starts, and said out loud.

Two habits of PyTorch's CPU thread pool make a shared machine much slower than its fair share would explain:
it starts one thread per core whether or not other processes use them, and its OpenMP threads spin while they
wait for each other (GNU OpenMP busy-waits by default). With one competing process on 2 cores, a 2-thread
matmul waits at every barrier for the thread that lost its core. So each stage process (a) asks OpenMP to
sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``, set before torch loads; the OpenMP spec, "OMP_WAIT_POLICY")
and (b) runs the recipe's fixed thread count (``torch_threads``; the tiny recipes use 1 where a second thread
buys little, so a competing process costs a fair share, not a stalled barrier), or with ``torch_threads: 0`` the
cores that are free when the stage starts, measured from ``/proc/stat`` over half a second. Each stage prints
one line with its settings and the free cores it saw.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__package__)

WAIT_POLICY = "PASSIVE"


def quiet_openmp() -> None:
    """Ask OpenMP threads to sleep while idle. Takes effect only before torch is first imported in the process
    (the stage entry points call it first; subprocesses inherit the variable)."""
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a SLURM or cgroup cpuset), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return idle, sum(fields[:8])


def free_cores(window_s: float = 0.5) -> int | None:
    """Cores left idle by the rest of the machine over ``window_s`` seconds (rounded, at least 1), or None
    where ``/proc/stat`` cannot be read. This process sleeps meanwhile, so it does not count itself."""
    before = _cpu_times()
    if before is None:
        return None
    time.sleep(window_s)
    after = _cpu_times()
    total = after[1] - before[1]
    if total <= 0:
        return None
    idle_share = (after[0] - before[0]) / total
    machine = os.cpu_count() or 1
    return max(1, min(usable_cores(), round(idle_share * machine)))


def choose(requested: int, free: int | None, cores: int) -> int:
    """Threads to use: ``requested`` as it is when set (a fixed count keeps a seed's numbers the same under any
    load: the thread count changes the order of floating-point sums), else (0, "auto") the free cores when
    known, else every usable core.

    >>> choose(2, free=1, cores=2), choose(0, free=1, cores=2), choose(0, free=None, cores=4)
    (2, 1, 4)
    """
    if requested > 0:
        return requested
    return max(1, min(cores, free if free is not None else cores))


def configure(requested: int, *, label: str = "stage", adapt: bool = True) -> int:
    """Set torch's intra-op threads for this process and print one line saying why; returns the count.

    ``requested``: the recipe's ``torch_threads`` (0 = auto: the launcher's ``OMP_NUM_THREADS`` when it set one,
    else the free cores). ``adapt=False`` skips measuring the free cores (half a second)."""
    import torch

    cores = usable_cores()
    launcher = os.environ.get("OMP_NUM_THREADS") if requested == 0 else None  # accelerate/torchrun: 1 per rank
    free = free_cores() if adapt else None
    n = torch.get_num_threads() if launcher else choose(requested, free, cores)
    torch.set_num_threads(n)
    setting = f"auto, OMP_NUM_THREADS={launcher} from the launcher" if launcher else requested or "auto"
    busy = f"; only {free} free: expect a proportional slowdown" if free is not None and free < n else ""
    log.info(
        f"{label}: threads: torch {n} (torch_threads {setting}, usable cores {cores}, "
        f"free now {free if free is not None else 'not measured'}{busy}), "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}"
    )
    return n
