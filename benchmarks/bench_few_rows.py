"""Passes that feed a few tokens: torch's own `linear` vs the few-row route (`llms/few_rows.py`).

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_few_rows.py [--context 530] \\
        [--rounds 15] [--threads 2] [--rows 1 2 3 4 5 6 8 10]

The default model (float32, main thread, `inference_mode`) extends a cache of `--context` tokens
by k tokens, cropped back after each pass, and keeps the logits of the last one (a decode pass
after template text) or of all k (`keep=k`: the healed pass, a select's trie). Both routes take
turns pass by pass in one process, so neighbouring passes see the same load. The table shows
each route's median in ms and as a multiple of torch's one-token pass, and the largest logit
difference between the routes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_kvcache import prompt_ids


def one_pass(llm: Any, kv: Any, context: int, k: int, keep: int, few: bool) -> tuple[float, Any]:
    import torch

    from guidance_engine.llms.few_rows import few_row_products

    kv.crop(context)
    ids = torch.tensor([[1000 + i for i in range(k)]])
    start = time.perf_counter()
    with torch.inference_mode(), few_row_products() if few else contextlib.nullcontext():
        out = llm.model(input_ids=ids, cache=kv.cache, use_cache=True,
                        logits_to_keep=keep).logits
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--context", type=int, default=530)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 8, 10])
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from guidance_engine.llms.kv import KVCache
    from guidance_engine.llms.transformers import Transformers

    llm = Transformers()
    kv = KVCache()
    llm.extend(kv, prompt_ids(llm, args.context))
    cases = [(k, 1) for k in args.rows] + [(k, k) for k in args.rows if k > 1]
    times: dict[tuple[int, int, bool], list[float]] = {}
    diffs: dict[tuple[int, int], float] = {}
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    for _ in range(args.rounds):
        for k, keep in cases:
            outs = []
            for few in (False, True):
                seconds, out = one_pass(llm, kv, args.context, k, keep, few)
                times.setdefault((k, keep, few), []).append(seconds)
                outs.append(out)
            diffs[(k, keep)] = float((outs[0] - outs[1]).abs().max())
    base = statistics.median(times[(1, 1, False)])
    print(f"load average at end: {os.getloadavg()[0]:.2f}; context {args.context}, "
          f"{args.threads} threads, {args.rounds} rounds; x = multiple of torch's 1-token pass")
    print("| tokens fed | logits kept | torch ms | x | few-row ms | x | max logit diff |")
    print("|---|---|---|---|---|---|---|")
    for k, keep in cases:
        torch_ms = statistics.median(times[(k, keep, False)])
        few_ms = statistics.median(times[(k, keep, True)])
        print(f"| {k} | {keep} | {torch_ms * 1e3:.1f} | {torch_ms / base:.2f} | "
              f"{few_ms * 1e3:.1f} | {few_ms / base:.2f} | {diffs[(k, keep)]:.1e} |")


if __name__ == "__main__":
    main()
