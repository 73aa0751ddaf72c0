"""LlamaCpp vs Transformers on the same SmolLM2 (the GGUF itself vs its fp32 conversion).

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_llamacpp.py --threads 1

Sections, all measured in one run:
  speed    decode tokens/s of one long greedy gen, and the README's RPG-character template
           (bench_transformers.RPG) run 1 (fresh model: nothing cached) and run 2 (the KV cache
           of run 1 reused), with the greedy values of both backends side by side
  select   exactness: every option's normalised logprob on LlamaCpp against Transformers on
           the same selects (the largest difference is the quantisation noise)
  healing  token healing: the healed gens of the tests and a few more, token for token

The README target is run 2 of the template at least 2.5x faster on LlamaCpp. The load average
is printed first: on a shared machine, compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_transformers import RPG, table

import guidance_engine
from guidance_engine.llms.base import LLM, GenRequest, SelectRequest

guidance: Any = guidance_engine
GREEDY = ("name", "age", "armor")  # the template's greedy values; the items are sampled
LONG = "Write a long story about a dragon who learns to cook.\n\nOnce upon a time"
SELECTS = [
    ('The knight wore armor made of "', ("leather", "chainmail", "plate", "plate armor"), '"'),
    ("Full plate armor is also called", (" plate", " plate armor"), "."),
    ("He wore a suit of", (" plate", " plate armor"), "."),
    ("Is water wet? Answer:", (" yes", " no", " maybe"), ""),
    ('"weapon": "', ("sword", "axe", "mace", "spear", "bow", "crossbow"), '"'),
    ("The capital of France is", (" Paris", " London", " Berlin", " Rome"), "."),
]
HEALING = [
    'The link is <a href="http:', "The capital of Fr", "The capital of France is ",
    "The traveller was Mara Quill, a cartographer, aged 34.\nAge: ",
    "The traveller was Mara Quill, a cartographer, aged 34.\nName: ",
    'The following is a character profile in JSON format.\n{\n    "name": "',
]


def tokens_per_second(llm: LLM, repeats: int) -> float:
    """Sampled tokens per second of a 128-token greedy gen on a warm session."""
    rates = []
    with llm.session() as session:
        for _ in range(repeats):
            started = time.perf_counter()
            result = asyncio.run(session.gen(GenRequest(LONG, max_tokens=128)))
            rates.append(result.stats.sampled_tokens / (time.perf_counter() - started))
    return statistics.median(rates)


def template_runs(llm: LLM) -> tuple[float, float, Any, Any]:
    """Seconds of run 1 and run 2 of the README template, and both outputs."""
    program = guidance(RPG, llm=llm)
    started = time.perf_counter()
    first = program(id="e1f491f7")
    middle = time.perf_counter()
    second = program(id="e1f491f7")
    return middle - started, time.perf_counter() - middle, first, second


def bench_speed(fast: LLM, slow: LLM, repeats: int) -> None:
    rows = []
    outputs = {}
    for label, llm in (("LlamaCpp", fast), ("Transformers", slow)):
        rate = tokens_per_second(llm, repeats)
        run1, run2, first, second = template_runs(llm)
        outputs[label] = (first, second)
        rows.append([label, rate, run1, run2])
    table("Decode speed and the README template", ["backend", "tokens/s", "run 1 s", "run 2 s"],
          rows)
    print(f"\nLlamaCpp / Transformers: tokens/s {rows[0][1] / rows[1][1]:.2f}x, template run 1 "
          f"{rows[1][2] / rows[0][2]:.2f}x faster, run 2 {rows[1][3] / rows[0][3]:.2f}x faster")
    same = []
    for name in GREEDY:
        values = [outputs[label][run][name] for label in outputs for run in (0, 1)]
        same.append([name, repr(values[0]), repr(values[2]), len(set(values)) == 1])
    table("Greedy values of the template (run 1 = run 2 on each backend)",
          ["variable", "LlamaCpp", "Transformers", "same"], same)


def bench_select(fast: LLM, slow: LLM) -> None:
    rows, worst = [], 0.0
    for prompt, options, suffix in SELECTS:
        results = []
        for llm in (fast, slow):
            with llm.session() as session:
                started = time.perf_counter()
                result = asyncio.run(session.select(SelectRequest(prompt, options,
                                                                  suffix=suffix)))
                results.append((result, time.perf_counter() - started))
        (a, ta), (b, tb) = results
        diff = max(abs(a.logprobs[o] - b.logprobs[o]) for o in options)
        worst = max(worst, diff)
        rows.append([prompt[-24:], len(options), a.choice, b.choice, diff,
                     a.stats.forward_passes, ta * 1000, tb * 1000])
    table("Select: LlamaCpp's exact scores against Transformers'",
          ["prompt (end)", "options", "LlamaCpp", "Transformers", "max |dlogp|",
           "requests", "LlamaCpp ms", "Transformers ms"], rows)
    print(f"\nlargest option logprob difference: {worst:.3f} nats; choices agree "
          f"{sum(r[2] == r[3] for r in rows)}/{len(rows)}")


def bench_healing(fast: LLM, slow: LLM) -> None:
    rows = []
    for prompt in HEALING:
        texts = []
        for llm in (fast, slow):
            with llm.session() as session:
                result = asyncio.run(session.gen(GenRequest(prompt, max_tokens=6,
                                                             logprobs=1)))
                assert result.logprobs is not None
                healed = result.marks[0].chosen if result.marks else ""
                texts.append((healed, [e.token for e in result.logprobs[0]]))
        (ha, ta), (hb, tb) = texts
        agree = next((i for i, (x, y) in enumerate(zip(ta, tb, strict=False)) if x != y),
                     min(len(ta), len(tb)))
        rows.append([prompt[-20:], ha, hb, ha == hb, f"{agree}/{max(len(ta), len(tb))}",
                     "".join(ta)])
    table("Token healing: the healed token and the tokens after it",
          ["prompt (end)", "LlamaCpp healed", "Transformers healed", "same",
           "same tokens", "LlamaCpp value"], rows)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", default=["speed", "select", "healing"])
    parser.add_argument("--threads", type=int, default=1, help="threads for both backends")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import torch

    from guidance_engine.llms.llamacpp import LlamaCpp
    from guidance_engine.llms.transformers import Transformers

    torch.set_num_threads(args.threads)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f}; {args.threads} thread(s) per backend; "
          f"{os.cpu_count()} CPUs")
    fast, slow = LlamaCpp(n_threads=args.threads), Transformers()
    if "speed" in args.sections:
        bench_speed(fast, slow, args.repeats)
    if "select" in args.sections:
        bench_select(fast, slow)
    if "healing" in args.sections:
        bench_healing(fast, slow)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
