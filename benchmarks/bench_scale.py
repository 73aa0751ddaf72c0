"""Scale-out benchmark: many programs at once against a real vLLM server and a real llama.cpp
server with several slots (both started here on 127.0.0.1 with SmolLM2), and vLLM's prefix
cache on a template with a long preamble.

1. Concurrency: `--programs` programs (each with its own code number and a greedy gen of
   `--tokens` tokens) one at a time, then all at once from asyncio; wall time, programs/s and
   generated tokens/s, and the ratio. The server batches concurrent requests (vLLM: continuous
   batching; llama.cpp: one sequence per slot).
2. vLLM prefix cache: the same template with a ~500-token preamble run twice; prompt tokens
   the server computed vs reused (usage.prompt_tokens_details.cached_tokens) and wall time.

    flock /tmp/heavy.lock env PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_scale.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import guidance_engine as guidance
from guidance_engine.llms.llamacpp_server import LlamaCppServer
from guidance_engine.llms.vllm_server import VLLMServer
from guidance_engine.runtime.events import ModelCallRecord

_TEMPLATE = ("Write one sentence about archive box {{code}}.\nSentence:"
             "{{gen 'text' max_tokens=tokens temperature=0}}")


def _sampled(out: Any) -> int:
    return sum(r.result.stats.sampled_tokens for r in out.log if isinstance(r, ModelCallRecord))


def concurrency(llm: Any, programs: int, tokens: int) -> tuple[float, float, int, int]:
    """(seconds one at a time, seconds all at once, tokens then, tokens now)."""
    serial = guidance(_TEMPLATE, llm=llm, log=True)
    start = time.perf_counter()
    one_by_one = [serial(code=1000 + i, tokens=tokens) for i in range(programs)]
    serial_s = time.perf_counter() - start
    together = guidance(_TEMPLATE, llm=llm, log=True, async_mode=True)

    async def all_at_once() -> list[Any]:
        return list(await asyncio.gather(*(together(code=2000 + i, tokens=tokens)
                                           for i in range(programs))))

    start = time.perf_counter()
    at_once = asyncio.run(all_at_once())
    concurrent_s = time.perf_counter() - start
    return (serial_s, concurrent_s, sum(map(_sampled, one_by_one)),
            sum(map(_sampled, at_once)))


def prefix_cache(llm: Any) -> list[tuple[int, int, float]]:
    """(prompt tokens computed, reused, seconds) for run 1 and run 2 of one template."""
    lines = [f"Shelf {i} of the harbour archive holds letters from year {1800 + i}, sorted by "
             f"month." for i in range(26)]
    program = guidance("\n".join(lines) + "\nThe archive's oldest letter is from"
                       "{{gen 'x' max_tokens=8 temperature=0}}", llm=llm, log=True)
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        out = program()
        seconds = time.perf_counter() - start
        stats = [r.result.stats for r in out.log if isinstance(r, ModelCallRecord)]
        runs.append((sum(s.fed_tokens for s in stats), sum(s.reused_tokens for s in stats),
                     seconds))
    return runs


def _row(name: str, programs: int, result: tuple[float, float, int, int]) -> None:
    serial_s, concurrent_s, serial_tok, concurrent_tok = result
    print(f"{name:<22} {serial_s:8.1f} s {programs / serial_s:7.2f} prog/s "
          f"{serial_tok / serial_s:7.1f} tok/s | {concurrent_s:8.1f} s "
          f"{programs / concurrent_s:7.2f} prog/s {concurrent_tok / concurrent_s:7.1f} tok/s | "
          f"x{serial_s / concurrent_s:.2f}")


def _serve(server: Any, run: Callable[[str], None]) -> None:
    server.start()
    try:
        run(server.base_url)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programs", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1, help="server threads")
    parser.add_argument("--slots", type=int, default=4, help="llama.cpp slots")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}; {args.programs} programs, "
          f"{args.tokens} tokens each, {args.threads} server thread(s)")
    print(f"{'server':<22} {'one at a time':>40} | {'all at once':>40} | speedup")

    def on_vllm(url: str) -> None:
        llm = guidance.llms.OpenAI("smollm2", api_type="vllm", base_url=url, caching=False)
        _row("vLLM 0.32 (CPU)", args.programs, concurrency(llm, args.programs, args.tokens))
        for i, (computed, reused, seconds) in enumerate(prefix_cache(llm), 1):
            print(f"vLLM prefix cache run {i}: {computed} prompt tokens computed, {reused} "
                  f"reused, {seconds:.2f} s")

    def on_llamacpp(url: str) -> None:
        llm = guidance.llms.OpenAI("smollm2", api_type="llamacpp", base_url=url, caching=False)
        _row(f"llama.cpp, {args.slots} slots", args.programs,
             concurrency(llm, args.programs, args.tokens))

    _serve(VLLMServer(n_threads=args.threads), on_vllm)
    _serve(LlamaCppServer(n_threads=args.threads, n_parallel=args.slots,
                          n_ctx=1024 * args.slots), on_llamacpp)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
