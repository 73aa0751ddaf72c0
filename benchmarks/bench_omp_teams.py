"""Plain torch, no engine: a forward pass on a second thread once the main thread has run torch.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_omp_teams.py [--threads 2]

SmolLM2 (the engine's converted safetensors, loaded with `from_pretrained`), a 513-token
cache, 20 greedy single-token steps per line, in this order in one process: a persistent
worker thread, the main thread, the worker again (both threads now hold an OpenMP team), the
worker after the main thread freed its team with libgomp's `omp_pause_resource` (called here
through ctypes, as guidance_engine/runtime/threads.py does), the main thread again (its team
is rebuilt), a fresh thread. Each line is ms per token; compare within the run.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def steps(model: Any, ids: Any, n: int = 20) -> float:
    """Median ms per greedy single-token step after a prefill of `ids`."""
    import torch
    from transformers import DynamicCache

    with torch.inference_mode():
        cache = DynamicCache()
        out = model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
        times = []
        for _ in range(n):
            start = time.perf_counter()
            token = out.logits[:, -1].argmax(-1, keepdim=True)
            out = model(input_ids=token, cache=cache, use_cache=True, logits_to_keep=1)
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def release_main_team() -> int:
    """omp_pause_resource(omp_pause_soft, host) on this thread; 0 when libgomp did it."""
    with open("/proc/self/maps", encoding="utf-8") as maps:
        path = next(line.split()[-1] for line in maps if "/libgomp" in line)
    lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)
    return int(lib.omp_pause_resource(1, lib.omp_get_initial_device()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import threading

    import torch
    from transformers import AutoModelForCausalLM

    from guidance_engine.llms.model_store import model_dir, resolve_source

    torch.set_num_threads(args.threads)
    directory = Path(model_dir(resolve_source(None), "quick"))
    worker = ThreadPoolExecutor(1)
    # Loaded on the worker: the main thread runs no torch until its first line below.
    model = worker.submit(lambda: AutoModelForCausalLM.from_pretrained(
        directory, dtype=torch.float32).eval()).result()
    ids = torch.randint(100, 1000, (1, 513))
    print(f"{args.threads} torch threads, load average {os.getloadavg()}")

    def fresh() -> float:
        out: list[float] = []
        thread = threading.Thread(target=lambda: out.append(steps(model, ids)))
        thread.start()
        thread.join()
        return out[0]

    plan = [
        ("worker thread, main thread has not run torch", lambda: worker.submit(
            steps, model, ids).result()),
        ("main thread", lambda: steps(model, ids)),
        ("worker thread, main thread holds its team", lambda: worker.submit(
            steps, model, ids).result()),
        ("main thread again", lambda: steps(model, ids)),
        ("worker thread, after the main thread's team was released", None),
        ("main thread (team rebuilt; the worker's still exists)", lambda: steps(model, ids)),
        ("a fresh thread (main and worker hold teams)", fresh),
    ]
    for label, run in plan:
        if run is None:
            code = release_main_team()
            ms = worker.submit(steps, model, ids).result()
            label += f" (omp_pause_resource -> {code})"
        else:
            ms = run()
        print(f"{ms:6.1f} ms/token  {label}", flush=True)
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
