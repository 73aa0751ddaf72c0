"""Constraint-engine benchmark: per-step mask cost on the SmolLM2 vocabulary, compile times and
fast-forward counts for five patterns and a JSON schema; `--model` adds the real-model overhead
comparison (constrained vs unconstrained generation of the same number of tokens, and JSON
generation with fast-forward on vs off).

    .venv/bin/python benchmarks/bench_constraints.py            # no model weights, ~20 s
    .venv/bin/python benchmarks/bench_constraints.py --model    # + the real model (SmolLM2)

Per-step figures come from random-logits decoding (temperature 1.0 over the real vocabulary, as
in the property tests): "engine" is the engine's bit-mask computation alone (`fill_bitmask`),
"apply" is what a decoding loop pays per step (`apply_mask`: bit mask, unpacking to a bool
tensor, `masked_fill_` on the logits). Cold steps (the first pass through new automaton states)
are included, so p99 is honest.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from guidance_engine.constraints import ConstraintSpec, Matcher, TokenIndex, validate

_WORD_TEXT = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu red orange "
    "yellow green blue indigo violet black white grey brown pink cyan magenta olive navy teal "
    "maroon silver gold bronze copper iron zinc"
)
WORDS = _WORD_TEXT.split(" ")  # 50 distinct words for the alternation case
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
CASES: list[tuple[str, ConstraintSpec]] = [
    ("phone", ConstraintSpec(pattern=r"[0-9]{3}-[0-9]{4}")),
    ("date", ConstraintSpec(pattern=r"[0-9]{4}-[0-9]{2}-[0-9]{2}")),
    ("email-like", ConstraintSpec(pattern=r"[a-z0-9._]{1,20}@[a-z0-9]{1,12}\.(com|org|net)")),
    ("JSON-ish", ConstraintSpec(pattern=r'\{"name": "[A-Za-z ]{1,20}", "age": [0-9]{1,3}\}')),
    ("50 options", ConstraintSpec(pattern="(" + "|".join(WORDS[:50]) + ")")),
    ("json_schema", ConstraintSpec(json_schema=SCHEMA)),
]


@dataclass
class Steps:
    engine_us: list[float]
    apply_us: list[float]
    consume_us: list[float]
    sampled: int = 0
    forced: int = 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def decode_runs(index: TokenIndex, spec: ConstraintSpec, runs: int, max_tokens: int) -> Steps:
    """Random-logits decoding; times each step's mask (twice: engine alone, then applied)."""
    steps = Steps([], [], [])
    bits = torch.zeros((index.vocab_size + 31) // 32, dtype=torch.int32)
    gen = torch.Generator().manual_seed(0)
    for _ in range(runs):
        matcher = Matcher(spec, index, check=False)
        while steps_left(matcher, steps, max_tokens):
            forced = matcher.forced_tokens()
            if forced:
                matcher.consume_all(forced)
                steps.forced += len(forced)
                continue
            t0 = time.perf_counter()
            matcher.fill_bitmask(bits)
            t1 = time.perf_counter()
            logits = torch.randn(index.vocab_size, generator=gen)
            t2 = time.perf_counter()
            matcher.apply_mask(logits)
            t3 = time.perf_counter()
            token = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=gen))
            if token in index.eos_ids:
                break
            t4 = time.perf_counter()
            matcher.consume(token)
            t5 = time.perf_counter()
            steps.engine_us.append((t1 - t0) * 1e6)
            steps.apply_us.append((t3 - t2) * 1e6)
            steps.consume_us.append((t5 - t4) * 1e6)
            steps.sampled += 1
    return steps


def steps_left(matcher: Matcher, steps: Steps, max_tokens: int) -> bool:
    return not matcher.is_finished() and len(matcher.tokens) < max_tokens


def compile_ms(index: TokenIndex, spec: ConstraintSpec) -> tuple[float, float]:
    """(validate ms, cold compile ms on the real vocabulary)."""
    t0 = time.perf_counter()
    validate(spec)
    t1 = time.perf_counter()
    index.clear_compiled()
    Matcher(spec, index, check=False)
    t2 = time.perf_counter()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3


def mask_table(index: TokenIndex, runs: int, max_tokens: int) -> None:
    head = (
        f"{'constraint':<12} {'validate':>9} {'compile':>8} {'steps':>6} {'engine med':>11} "
        f"{'engine p99':>11} {'apply med':>10} {'apply p99':>10} {'commit med':>11} "
        f"{'forced/all':>11}"
    )
    print(head)
    print("-" * len(head))
    all_engine: list[float] = []
    for name, spec in CASES:
        val_ms, comp_ms = compile_ms(index, spec)
        s = decode_runs(index, spec, runs, max_tokens)
        all_engine += s.engine_us
        med, p99 = statistics.median(s.engine_us), percentile(s.engine_us, 0.99)
        amed, ap99 = statistics.median(s.apply_us), percentile(s.apply_us, 0.99)
        cmed = statistics.median(s.consume_us)
        share = f"{s.forced}/{s.forced + s.sampled}"
        print(
            f"{name:<12} {val_ms:>7.2f}ms {comp_ms:>6.2f}ms {len(s.engine_us):>6} "
            f"{med:>9.1f}us {p99:>9.1f}us {amed:>8.1f}us {ap99:>8.1f}us {cmed:>9.1f}us "
            f"{share:>11}"
        )
    med, p99 = statistics.median(all_engine), percentile(all_engine, 0.99)
    print(f"\nall steps: engine median {med:.1f} us (goal <= 50), p99 {p99:.1f} us (goal <= 1000)")


# ---------------------------------------------------------------------------------------------
# Real model (run by the lead; needs guidance_engine.llms.transformers)

MODEL_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("phone", "Call me at 555-", {"pattern": r"[0-9]{3}-[0-9]{4}"}),
    ("date", "The meeting is on", {"pattern": r" [0-9]{4}-[0-9]{2}-[0-9]{2}"}),
    ("json_schema", "A person as JSON: ", {"json_schema": SCHEMA}),
    ("arithmetic", "An arithmetic expression: ", {"grammar": "arithmetic"}),
]


def timed_gen(llm: Any, request: Any) -> tuple[Any, float, int]:
    """(result, wall seconds, forward passes) of one gen in a fresh session."""
    session = llm.session()
    passes = llm.forward_passes
    start = time.perf_counter()
    result = asyncio.run(session.gen(request))
    wall = time.perf_counter() - start
    session.close()
    return result, wall, llm.forward_passes - passes


def best_of(reps: int, fn: Callable[[], tuple[Any, float, int]]) -> tuple[Any, float, int]:
    runs = [fn() for _ in range(reps)]
    return min(runs, key=lambda r: r[1])


def model_table(reps: int, llm: Any = None) -> None:
    """The real-model tables; `llm` defaults to the default Transformers model."""
    from guidance_engine.llms.base import GenRequest

    if llm is None:
        from guidance_engine.llms.transformers import Transformers

        llm = Transformers()
    print(
        f"\n{'gen':<12} {'tokens':>6} {'forced':>6} {'constr s':>9} {'free s':>8} "
        f"{'per-token ratio':>16}"
    )
    for name, prompt, kwargs in MODEL_CASES:
        req = GenRequest(prompt=prompt, max_tokens=48, temperature=0.0, **kwargs)
        res, wall_c, _ = best_of(reps, partial(timed_gen, llm, req))
        n = res.stats.sampled_tokens + res.stats.forced_tokens
        free = GenRequest(prompt=prompt, max_tokens=n, temperature=0.0)
        res_u, wall_u, _ = best_of(reps, partial(timed_gen, llm, free))
        n_u = max(1, res_u.stats.sampled_tokens)
        ratio = (wall_c / max(1, n)) / (wall_u / n_u)
        print(
            f"{name:<12} {n:>6} {res.stats.forced_tokens:>6} {wall_c:>8.3f}s {wall_u:>7.3f}s "
            f"{ratio:>15.3f}x"
        )
    # fast-forward on vs off: the backend honours extra={"fast_forward": False} if it can
    print(f"\n{'json_schema':<12} {'forward passes':>15} {'wall s':>8}")
    passes_seen = []
    for label, extra in [("ff on", {}), ("ff off", {"fast_forward": False})]:
        req = GenRequest(
            prompt="A person as JSON: ", json_schema=SCHEMA, max_tokens=64, extra=extra
        )
        _, wall, passes = best_of(reps, partial(timed_gen, llm, req))
        print(f"{label:<12} {passes:>15} {wall:>7.3f}s")
        passes_seen.append(passes)
    if len(set(passes_seen)) == 1:
        print("(same pass count: this backend ignores extra={'fast_forward': False})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="decoding runs per constraint")
    parser.add_argument("--max-tokens", type=int, default=48, help="token budget per run")
    parser.add_argument("--model", action="store_true", help="also time the real model")
    parser.add_argument("--reps", type=int, default=3, help="model runs per case (best kept)")
    args = parser.parse_args(argv)

    from guidance_engine.llms.model_store import load_tokenizer

    tokenizer = load_tokenizer()
    start = time.perf_counter()
    index = TokenIndex.for_tokenizer(tokenizer)
    print(
        f"SmolLM2 vocab {index.vocab_size} tokens: index built in "
        f"{time.perf_counter() - start:.2f} s (once per tokenizer)\n"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} CPUs (other work inflates p99)\n")
    mask_table(index, args.runs, args.max_tokens)
    if args.model:
        model_table(args.reps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
