"""How many threads a local model should use by default: this machine's physical cores.

Hyper-threads share one core's arithmetic units, so a matrix-heavy decode loop gains nothing
from them; cores the process may not run on (a CPU affinity mask, a container's cpuset) do not
count either::

    >>> physical_cores()  # on a 4-core, 8-thread laptop
    4

On a machine shared with other jobs fewer threads are faster (the threads of one forward pass
wait on each other at every step): pass `n_threads=1` / `--threads 1` there.
"""

from __future__ import annotations

import os


def physical_cores() -> int:
    """Physical cores this process may use (at least 1)."""
    import psutil

    physical = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    logical = os.cpu_count() or physical
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    # An affinity mask of k logical CPUs holds at most k cores, and at most its share of them.
    share = max(1, allowed * physical // logical)
    return max(1, min(physical, share))
