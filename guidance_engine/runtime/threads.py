"""One OpenMP thread team at a time, so model work on a worker thread runs at full speed.

GNU OpenMP (libgomp: PyTorch's CPU kernels, MKL and oneDNN on Linux) gives every thread that
starts a parallel region a team of helper threads of its own. Between regions the helpers spin
(~300k iterations, a few ms) before sleeping, but only while the process holds no more OpenMP
threads than CPUs; past that they spin 100 iterations and sleep on a futex, so each of the
hundreds of parallel regions in a forward pass pays a wake-up. A caller that has run any torch
code keeps its team, the model worker gets a second one, and from then on both threads run at
about one-thread speed (SmolLM2 on 2 threads: 36 ms a token becomes ~61 ms).

`release_thread_pool()` frees the calling thread's team (OpenMP 5.0 `omp_pause_resource`, host
device); libgomp builds a new one the next time that thread runs a parallel region, which costs
a thread start. The runtime calls it on the caller's thread when a run starts, before its model
work moves to a worker. Nothing happens where libgomp is not loaded (no torch yet, macOS, an
Intel OpenMP build).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from typing import Any

_OMP_PAUSE_SOFT = 1
_lock = threading.Lock()
_gomp: Any = None  # the loaded libgomp (ctypes handle) once found
_absent = False  # torch is loaded without a usable libgomp: never look again


def release_thread_pool() -> bool:
    """Free the calling thread's OpenMP team, if it has one; whether libgomp did so."""
    lib = _libgomp()
    if lib is None:
        return False
    return int(lib.omp_pause_resource(_OMP_PAUSE_SOFT, lib.omp_get_initial_device())) == 0


def _libgomp() -> Any:
    """The libgomp this process has loaded (never loads one), or None.

    Looked up once torch is imported (torch brings its OpenMP runtime with it), and then only
    once: a run on the Mock or a remote server costs a dictionary lookup.
    """
    global _gomp, _absent
    with _lock:
        if _gomp is None:
            if _absent or "torch" not in sys.modules:
                return None
            path = _loaded_path("libgomp")
            lib = None if path is None else ctypes.CDLL(
                path, mode=getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_GLOBAL)
            if lib is None or not hasattr(lib, "omp_pause_resource"):  # OpenMP 5.0 (GCC 9) on
                _absent = True
                return None
            lib.omp_pause_resource.restype = ctypes.c_int
            lib.omp_pause_resource.argtypes = [ctypes.c_int, ctypes.c_int]
            lib.omp_get_initial_device.restype = ctypes.c_int
            _gomp = lib
        return _gomp


def _loaded_path(prefix: str) -> str | None:
    """The file of a shared library whose name starts with `prefix` mapped into this process."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(maxsplit=5)[-1]
                if os.path.basename(path).startswith(prefix) and ".so" in path:
                    return path
    except OSError:  # not Linux
        return None
    return None
