"""Prompt-lookup drafts (`llms/lookup.py`) on vs off: templates that copy from their context and
templates that do not.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_lookup.py [--rounds 5] \\
        [--threads 2] [--drafts 4] [--templates preamble quote json readme count]

One model in one process runs each template with `lookup_tokens=0` and `lookup_tokens=--drafts`,
the two settings taking turns (which goes first alternates by round), twice each time: run 1
with an empty prefix cache, run 2 finding the prompt cached. The table shows the medians of
wall time, forward passes and fed tokens (drafts included), and on/off as a ratio per run; the
outputs of the two settings must be equal (the README template samples its items: the global
torch generator is seeded before every run). The machine is shared: the load average is printed
and only ratios measured in this process are compared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_limit import COUNT, JSON_TEMPLATE, README, SCHEMA
from bench_peers import OUR_PREAMBLE, PREAMBLE

QUOTE = (PREAMBLE + "The clerk also copied the note of day 7 word for word:\n"
         "Day 7:{{gen 'q' stop='\\n'}}")
TEMPLATES: dict[str, tuple[str, dict[str, Any]]] = {
    "preamble": (OUR_PREAMBLE, {}),
    "quote": (QUOTE, {}),
    "json": (JSON_TEMPLATE, {"schema": SCHEMA}),
    "readme": (README, {"id": "e1f491f7"}),
    "count": (COUNT, {}),
}


def run(llm: Any, program: Any, variables: dict[str, Any], drafts: int) -> dict[str, Any]:
    """One run of `program` with `drafts` per pass: seconds, passes, fed tokens, its text."""
    import torch

    llm.lookup_tokens = drafts
    torch.manual_seed(0)  # the README's items sample from torch's global generator
    passes, fed = llm.forward_passes, llm.fed_tokens
    start = time.perf_counter()
    out = program(**variables)
    return {"seconds": time.perf_counter() - start, "passes": llm.forward_passes - passes,
            "fed": llm.fed_tokens - fed, "text": str(out)}


def bench(llm: Any, name: str, rounds: int, drafts: int) -> dict[tuple[int, int], list[Any]]:
    """Per (setting, run number): the runs of every round."""
    import guidance_engine as guidance
    from guidance_engine.llms.kv import PrefixCache

    template, variables = TEMPLATES[name]
    program = guidance(template, llm=llm)
    runs: dict[tuple[int, int], list[Any]] = {}
    for turn in range(rounds):
        order = (0, drafts) if turn % 2 == 0 else (drafts, 0)
        for setting in order:
            llm.prefix_cache = PrefixCache(llm.prefix_cache.max_bytes)  # run 1: nothing cached
            for number in (1, 2):
                runs.setdefault((setting, number), []).append(
                    run(llm, program, variables, setting))
    return runs


def report(name: str, runs: dict[tuple[int, int], list[Any]], drafts: int) -> None:
    texts = {r["text"] for rs in runs.values() for r in rs}
    same = "equal" if len(texts) == 1 else f"DIFFERENT ({len(texts)} texts)"
    for number in (1, 2):
        off, on = runs[(0, number)], runs[(drafts, number)]
        med = {key: [statistics.median(r[key] for r in rs) for rs in (off, on)]
               for key in ("seconds", "passes", "fed")}
        ratio = statistics.median(b["seconds"] / a["seconds"] for a, b in zip(off, on,
                                                                               strict=True))
        print(f"{name:<9} run {number}  off {1000 * med['seconds'][0]:7.0f} ms "
              f"{med['passes'][0]:4.0f} passes {med['fed'][0]:5.0f} fed | on "
              f"{1000 * med['seconds'][1]:7.0f} ms {med['passes'][1]:4.0f} passes "
              f"{med['fed'][1]:5.0f} fed | on/off {ratio:.2f}  outputs {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--drafts", type=int, default=4)
    parser.add_argument("--templates", nargs="+", default=list(TEMPLATES), choices=TEMPLATES)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from guidance_engine.llms.transformers import Transformers

    llm = Transformers()
    for name in args.templates:  # warm-up: the constraint engine's tokenizer, first passes
        bench(llm, name, 1, args.drafts)
    print(f"lookup_tokens {args.drafts} vs 0, {args.threads} threads, {args.rounds} rounds, "
          f"load average before {os.getloadavg()}")
    for name in args.templates:
        report(name, bench(llm, name, args.rounds, args.drafts), args.drafts)
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
