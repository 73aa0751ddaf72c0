"""Remote backend benchmark: a program with 3 gens after a ~500-token preamble, run against
llama.cpp's server (started here on 127.0.0.1, SmolLM2 GGUF, 1 thread).

1. Server prompt caching on vs off: wall time and the prompt tokens the server actually
   evaluated (usage: prompt_tokens - cached_tokens), summed over the program's 3 requests. With
   caching on, a session sticks to one slot, so each request reuses the previous one's prefix;
   every run has its own preamble, so nothing is reused from an earlier run.
2. Generation cache: a cached rerun (no request at all) vs the first run.

    flock /tmp/heavy.lock env PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_remote.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import guidance_engine as guidance
from guidance_engine.llms import cache_store
from guidance_engine.llms.llamacpp_server import LlamaCppServer
from guidance_engine.runtime.events import ModelCallRecord

_FACTS = [
    "The archive keeps {n} boxes of letters from the harbour office, sorted by year.",
    "Each box holds about {n} envelopes, and most are written in a careful, slanted hand.",
    "Clerk number {n} noted the ships that arrived late because of autumn storms.",
    "A ledger from year {n} lists cargo: salt, timber, wool, copper and dried fish.",
]


def preamble(run: int, tokens: int = 500) -> str:
    """Fixed text of about `tokens` SmolLM2 tokens (~18 tokens per sentence). It starts with
    the run number, so no run reuses another run's prompt: only reuse within a run counts."""
    lines = [_FACTS[i % len(_FACTS)].format(n=i + 3) for i in range(tokens // 18)]
    return f"Archive visit {run}. Notes:\n" + "\n".join(lines) + "\n\n"


TEMPLATE = (
    "{{preamble}}Q: What goods does the ledger list?\nA:{{gen 'a' max_tokens=12 stop='\\n'}}\n"
    "Q: Who noted the late ships?\nA:{{gen 'b' max_tokens=12 stop='\\n'}}\n"
    "Q: How are the letters sorted?\nA:{{gen 'c' max_tokens=12 stop='\\n'}}"
)


def run(llm: Any, text: str) -> tuple[float, int, int]:
    """Wall seconds, prompt tokens evaluated by the server, prompt tokens reported."""
    start = time.perf_counter()
    out = guidance(TEMPLATE, llm=llm, log=True)(preamble=text)
    wall = time.perf_counter() - start
    stats = [r.result.stats for r in out.log if isinstance(r, ModelCallRecord)]
    return wall, sum(s.fed_tokens for s in stats), sum(s.prompt_tokens for s in stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    runs = iter(range(10**6))
    with LlamaCppServer(n_threads=args.threads, n_ctx=8192, n_parallel=2) as server:
        def llm(**kw: Any) -> Any:
            return guidance.llms.OpenAI("smollm2", api_type="llamacpp",
                                        base_url=server.base_url, **kw)

        on, off = llm(caching=False), llm(caching=False, prompt_cache=False)
        run(on, preamble(next(runs)))  # warm-up: model pages
        rows: dict[str, list[tuple[float, int, int]]] = {"off": [], "on": []}
        for _ in range(args.repeats):  # interleaved, so load changes hit both alike
            rows["off"].append(run(off, preamble(next(runs))))
            rows["on"].append(run(on, preamble(next(runs))))
        print(f"\n3 gens after a {rows['on'][0][2] // 3 - 10}-token preamble, "
              f"{args.repeats} runs each (medians)")
        print(f"{'server prompt cache':<22}{'wall s':>9}{'prompt tokens evaluated':>26}")
        med: dict[str, tuple[float, float]] = {}
        for name, values in rows.items():
            med[name] = (statistics.median(v[0] for v in values),
                         statistics.median(v[1] for v in values))
            print(f"{name:<22}{med[name][0]:>9.3f}{med[name][1]:>26.0f}")
        print(f"ratio off/on: wall {med['off'][0] / med['on'][0]:.1f}x, "
              f"tokens evaluated {med['off'][1] / max(med['on'][1], 1):.1f}x")
        with tempfile.TemporaryDirectory() as tmp:
            cache_store.DEFAULT = cache_store.GenerationCache(Path(tmp))
            cached = llm(caching=True)
            text = preamble(next(runs))
            first = run(cached, text)[0]
            again = statistics.median(run(cached, text)[0] for _ in range(args.repeats))
        print(f"\ngeneration cache: first run {first:.3f} s, cached rerun {again * 1000:.1f} ms "
              f"(no request), ratio {first / again:.0f}x")


if __name__ == "__main__":
    main()
