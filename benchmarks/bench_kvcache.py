"""One decode pass on transformers' `DynamicCache` vs our in-place cache (`llms/kv.py`).

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_kvcache.py [--context 530] \\
        [--rounds 200] [--threads 2]

The default model (main thread, `inference_mode`) decodes one token on a cache of `--context`
tokens, cropped back after each pass so every pass sees the same length. Variants take turns
pass by pass in one process (the machine is shared: neighbouring passes see the same load);
the table shows each variant's median and the median of its pass-by-pass ratio to `dynamic`:

  dynamic             `DynamicCache`: each layer's keys and values concatenated every pass
  in-place            `InPlaceCache`: written into a buffer with spare room; the model gets
                      strided views `buf[..., :L, :]`
  in-place contiguous the same with a buffer exactly L + 1 long, so the views are contiguous
                      (attention on strided vs contiguous keys)

Also timed: `KVCache.snapshot()` (a copy; a closing session hands over its buffers instead) and
`restore` + the first pass after it (which copies the snapshot into a buffer of its own).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_peers import PREAMBLE


def prompt_ids(llm: Any, context: int) -> list[int]:
    ids = llm.encode(PREAMBLE)
    while len(ids) < context:
        ids = ids + ids[1:]
    return ids[:context]


def filled(llm: Any, cache: Any, ids: list[int]) -> Any:
    import torch

    with torch.inference_mode():
        llm.model(input_ids=torch.tensor([ids]), cache=cache, use_cache=True, logits_to_keep=1)
    return cache


def contiguous_views(cache: Any, length: int) -> Any:
    """Re-buffer every layer exactly `length` + 1 long: after one more token the views are
    the whole buffers, i.e. contiguous."""
    import torch

    with torch.inference_mode():
        for layer in cache.layers:
            keys, values = layer.keys, layer.values
            shape = (*keys.shape[:2], length + 1, keys.shape[-1])
            bufs = (keys.new_empty(shape), values.new_empty(shape))
            bufs[0][..., :length, :].copy_(keys)
            bufs[1][..., :length, :].copy_(values)
            layer._buffers = bufs
            layer._set_length(length)
    return cache


def time_passes(llm: Any, cache: Any, length: int, passes: int) -> list[float]:
    """Seconds of each one-token pass on `cache`, cropped back to `length` before each."""
    import torch

    token = torch.tensor([[1000]])
    out = []
    for _ in range(passes):
        cache.crop(length - cache.get_seq_length())  # crop takes a negative count
        start = time.perf_counter()
        with torch.inference_mode():
            result = llm.model(input_ids=token, cache=cache, use_cache=True, logits_to_keep=1)
            result.logits[:, -1, :].float()
        out.append(time.perf_counter() - start)
    return out


def timed(func: Callable[[], Any], reps: int) -> float:
    seconds = []
    for _ in range(reps):
        start = time.perf_counter()
        func()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=530)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch
    from transformers import DynamicCache

    from guidance_engine.llms.kv import InPlaceCache, KVCache
    from guidance_engine.llms.transformers import Transformers

    torch.set_num_threads(args.threads)
    llm = Transformers()
    ids = prompt_ids(llm, args.context)
    n = len(ids)
    caches: dict[str, Any] = {
        "dynamic": filled(llm, DynamicCache(), ids),
        "in-place": filled(llm, InPlaceCache(), ids),
        "in-place contiguous": contiguous_views(filled(llm, InPlaceCache(), ids), n),
    }
    seconds: dict[str, list[float]] = {name: [] for name in caches}
    time_passes(llm, caches["dynamic"], n, 3)  # warm-up
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    names = list(caches)
    for i in range(args.rounds):
        turn = names[i % len(names):] + names[: i % len(names)]
        for name in turn:
            seconds[name].extend(time_passes(llm, caches[name], n, 1))
    print(f"one decode pass at {n} tokens of context, {args.threads} torch threads, "
          f"{args.rounds} passes each")
    print("| cache | ms per pass (median) | pass-by-pass ratio to dynamic (median) |\n"
          "|---|---|---|")
    for name, values in seconds.items():
        ratio = statistics.median(a / b for a, b in zip(values, seconds["dynamic"], strict=True))
        print(f"| {name} | {1000 * statistics.median(values):.2f} | {ratio:.3f} |")

    kv = KVCache(caches["in-place"])
    kv.crop(n)
    snap = kv.snapshot()
    print(f"snapshot() of {n} tokens ({snap.nbytes / 2**20:.1f} MiB): "
          f"{1000 * timed(kv.snapshot, 9):.2f} ms")

    def restore_and_pass() -> None:
        time_passes(llm, KVCache.restore(snap).cache, n, 1)

    print(f"restore + first pass: {1000 * timed(restore_and_pass, 9):.2f} ms "
          f"(a pass alone: {1000 * statistics.median(seconds['in-place']):.2f} ms)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
