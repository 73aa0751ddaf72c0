"""LlamaCpp vs Transformers on the same SmolLM2 (the GGUF itself vs its fp32 conversion).

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_llamacpp.py --threads 1

Sections, all measured in one run:
  speed    decode tokens/s of one long greedy gen, and the README's RPG-character template
           (bench_transformers.RPG) run 1 (its first run) and run 2 (the KV cache of the run
           before reused; median of --repeats runs): as written (the items are sampled, so
           their lengths differ between backends and runs; sampled tokens are shown) and with
           greedy items (the same text on both backends), greedy values side by side
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
from guidance_engine.runtime.events import ModelCallRecord

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


def template_runs(llm: LLM, template: str, warm: int) -> dict[str, Any]:
    """Run 1 of `template` and `warm` more runs (each a run 2: the cache of the last run
    warm): seconds and sampled tokens of each, and the outputs."""
    program = guidance(template, llm=llm)
    seconds, tokens, outputs = [], [], []
    for _ in range(1 + warm):
        started = time.perf_counter()
        out = program(id="e1f491f7", log=True)
        seconds.append(time.perf_counter() - started)
        tokens.append(sum(r.stats.sampled_tokens for r in out.log
                          if isinstance(r, ModelCallRecord)))
        outputs.append(out)
    return {"run1": seconds[0], "run2": statistics.median(seconds[1:]),
            "tokens1": tokens[0], "tokens2": statistics.median(tokens[1:]), "outputs": outputs}


def bench_speed(fast: LLM, slow: LLM, repeats: int) -> None:
    rates = {label: tokens_per_second(llm, repeats)
             for label, llm in (("LlamaCpp", fast), ("Transformers", slow))}
    table("Decode speed: one 128-token greedy gen (median)", ["backend", "tokens/s"],
          [[label, rate] for label, rate in rates.items()])
    print(f"\nLlamaCpp / Transformers: {rates['LlamaCpp'] / rates['Transformers']:.2f}x")
    greedy_items = RPG.replace("temperature=0.7", "temperature=0")
    for title, template in (("the README template (items sampled, temperature 0.7)", RPG),
                            ("the README template, items greedy too", greedy_items)):
        runs = {label: template_runs(llm, template, repeats)
                for label, llm in (("LlamaCpp", fast), ("Transformers", slow))}
        table(f"Run time of {title}; run 2 = median of {repeats} runs after run 1",
              ["backend", "run 1 s", "run 2 s", "tokens run 1", "tokens run 2"],
              [[label, r["run1"], r["run2"], r["tokens1"], r["tokens2"]]
               for label, r in runs.items()])
        fast_runs, slow_runs = runs["LlamaCpp"], runs["Transformers"]
        print(f"\nLlamaCpp faster: run 1 {slow_runs['run1'] / fast_runs['run1']:.2f}x, "
              f"run 2 {slow_runs['run2'] / fast_runs['run2']:.2f}x")
        names = GREEDY if template is RPG else (*GREEDY, "items")
        same = []
        for name in names:
            values = {label: {repr(out[name]) for out in r["outputs"]}
                      for label, r in runs.items()}
            same.append([name, " / ".join(sorted(values["LlamaCpp"])),
                         " / ".join(sorted(values["Transformers"])),
                         values["LlamaCpp"] == values["Transformers"]
                         and len(values["LlamaCpp"]) == 1])
        table("Greedy values, every run", ["variable", "LlamaCpp", "Transformers", "same"],
              same)


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
        rows.append([repr(prompt[-24:]), len(options), repr(a.choice), repr(b.choice), diff,
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
        rows.append([repr(prompt[-20:]), repr(ha), repr(hb), ha == hb,
                     f"{agree}/{max(len(ta), len(tb))}", repr("".join(ta))])
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
