"""JSON schemas from the real world: the engine's JSON-schema path next to llguidance used directly.

Over a JSONSchemaBench (MaskBench) sample (`{"schema", "tests": [{"valid", "data"}]}` files),
with the default SmolLM2 tokenizer (no weights), for every schema and both engines:

- compiled / refused (and why) / crashed;
- valid instances accepted and invalid instances rejected, in the compact form (our default
  layout, `json.dumps(data)`) and the flexible form (`"x-guidance": {"whitespace_flexible":
  true}`, `json.dumps(data, indent=2)`). Each instance is replayed as the decoding loop runs
  (`constraints.replay`: forced tokens fed and checked, every other token checked against the
  mask, complete at the end), through the engine's own `Matcher` for us;
- the compile time (cold caches) of what a gen pays before its first mask: for us
  `validate(spec)` then `Matcher(spec, index)` as the Transformers backend does; for llguidance
  `grammar_from_json_schema` then `LLMatcher(tokenizer, grammar)`.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_jsonschema.py
    .venv/bin/python benchmarks/bench_jsonschema.py --limit 5 --half odd   # quick look

`--half even|odd` keeps every other file (sorted by name), so a change tuned on one half can be
reported on the other. The load average is printed first; times are medians/p99 measured
interleaved in one run, so their ratio holds on a busy machine.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llguidance

from guidance_engine.constraints import ConstraintSpec, Matcher, TokenIndex, validate
from guidance_engine.constraints import spec as spec_module
from guidance_engine.constraints.replay import EngineSteps, replay
from guidance_engine.errors import ConstraintError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "jsonschemabench" / "schemas"
FORMS = ("compact", "flexible")
COMPACT = dict(spec_module.JSON_DEFAULTS)
FLEXIBLE = {"whitespace_flexible": True}


@dataclass
class Side:
    """One engine's outcome on one schema."""

    status: str = "compiled"  # compiled | refused | crashed
    reason: str = ""
    seconds: float = 0.0
    valid: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FORMS, 0))
    invalid: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FORMS, 0))
    misses: list[str] = field(default_factory=list)  # valid instances not generated (why)
    leaks: list[str] = field(default_factory=list)  # invalid instances generated


@dataclass
class Record:
    subset: str
    name: str
    n_valid: int
    n_invalid: int
    ours: Side
    direct: Side


def subset_of(path: Path) -> str:
    """'Github_easy---o1.json' -> 'Github_easy', 'BFCL_java_11.json' -> 'BFCL_java'."""
    stem = path.stem.split("---")[0]
    return stem if "---" in path.stem else stem.rsplit("_", 1)[0]


def refusal_reason(message: str) -> str:
    """A short class for an engine's refusal: 'not', 'oneOf', 'unknown format', ..."""
    first = message.strip().split("\n")[0].removeprefix("json_schema cannot be used: ")
    if m := re.search(r"Unimplemented keys: \[(.*?)\]", first):
        return "unimplemented " + m.group(1).replace('"', "")
    if "oneOf constraints are not supported" in first:
        return "oneOf (branches may overlap)"
    if m := re.search(r"Unknown format: (\S+)", first):
        return "unknown format"
    if "circular references with sibling keys" in first:
        return "circular $ref with sibling keys"
    if "not disjoint" in first:
        return "patternProperties not disjoint"
    if "regex" in first:
        return "regex"
    return re.sub(r"\d+", "N", first)[:60]


def with_options(schema: Any, options: dict[str, Any]) -> Any:
    if not isinstance(schema, dict):
        return schema
    return {**schema, "x-guidance": options}


def text_of(data: Any, form: str) -> str:
    if form == "compact":
        return json.dumps(data, ensure_ascii=False)
    return json.dumps(data, ensure_ascii=False, indent=2)


def cold(index: TokenIndex) -> None:
    """Forget every compiled grammar and validation result: the next compile is cold."""
    spec_module.forget_compiled(index)


def compile_ours(schema: Any, index: TokenIndex) -> Side:
    """Time our path (validate, then the matcher) on the compact form; compile the flexible one."""
    side = Side()
    for form, options in (("compact", COMPACT), ("flexible", FLEXIBLE)):
        spec = ConstraintSpec(json_schema=with_options(schema, options))
        start = time.perf_counter()
        try:
            validate(spec, index)
            Matcher(spec, index, check=False)
        except ConstraintError as err:
            side.status, side.reason = "refused", str(err)
        except Exception as err:  # a crash is what we count here
            side.status, side.reason = "crashed", f"{type(err).__name__}: {err}"
        if form == "compact":
            side.seconds = time.perf_counter() - start
        if side.status != "compiled":
            break
    return side


def compile_direct(schema: Any, ll: llguidance.LLTokenizer) -> tuple[Side, dict[str, Any]]:
    """Time llguidance used directly on the compact form; compile the flexible one."""
    side, made = Side(), {}
    for form, options in (("compact", COMPACT), ("flexible", FLEXIBLE)):
        start = time.perf_counter()
        try:
            grammar = llguidance.LLMatcher.grammar_from_json_schema(with_options(schema, options))
            engine = llguidance.LLMatcher(ll, grammar, log_level=0)
        except Exception as err:  # a crash is what we count here
            side.status, side.reason = "crashed", f"{type(err).__name__}: {err}"
            break
        if form == "compact":
            side.seconds = time.perf_counter() - start
        if engine.is_error():
            side.status, side.reason = "refused", engine.get_error()
            break
        made[form] = engine
    return side, made


def run_instances(side: Side, fresh: Any, tests: list[dict[str, Any]], index: TokenIndex) -> None:
    """Replay every instance in both forms; `fresh(form)` gives a new matcher's steps."""
    for form in FORMS:
        for test in tests:
            why = replay(fresh(form), text_of(test["data"], form), index)
            if test["valid"]:
                side.valid[form] += why is None
                if why is not None:
                    side.misses.append(f"{form}: {why}")
            else:
                side.invalid[form] += why is not None
                if why is None:
                    side.leaks.append(f"{form}: {text_of(test['data'], form)[:200]}")


def measure(path: Path, index: TokenIndex) -> Record:
    doc = json.loads(path.read_text(encoding="utf-8"))
    schema, tests = doc["schema"], doc["tests"]
    cold(index)
    direct, engines = compile_direct(schema, index.ll)
    cold(index)
    ours = compile_ours(schema, index)
    if direct.status == "compiled":
        run_instances(direct, lambda f: EngineSteps(engines[f].deep_copy(), index.vocab_size),
                      tests, index)
    if ours.status == "compiled":
        specs = {f: ConstraintSpec(json_schema=with_options(schema, o))
                 for f, o in (("compact", COMPACT), ("flexible", FLEXIBLE))}
        run_instances(ours, lambda f: Matcher(specs[f], index, check=False), tests, index)
    n_valid = sum(1 for t in tests if t["valid"])
    return Record(subset_of(path), path.name, n_valid, len(tests) - n_valid, ours, direct)


# ---------------------------------------------------------------------------------------------
# Report


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def side_counts(records: list[Record], which: str) -> dict[str, int]:
    out: collections.Counter[str] = collections.Counter()
    for r in records:
        side: Side = getattr(r, which)
        out[side.status] += 1
        if side.status == "compiled":
            out["n_valid"] += r.n_valid
            out["n_invalid"] += r.n_invalid
            for form in FORMS:
                out[f"valid_{form}"] += side.valid[form]
                out[f"invalid_{form}"] += side.invalid[form]
    return dict(out)


def row(label: str, records: list[Record]) -> str:
    o, d = side_counts(records, "ours"), side_counts(records, "direct")

    def frac(c: dict[str, int], key: str, total: str) -> str:
        return f"{c.get(key, 0)}/{c.get(total, 0)}"

    cells = [label, str(len(records)),
             f"{o.get('compiled', 0)} / {d.get('compiled', 0)}",
             f"{o.get('refused', 0)} / {d.get('refused', 0)}",
             f"{o.get('crashed', 0)} / {d.get('crashed', 0)}"]
    for form in FORMS:
        key = "valid_" + form
        cells.append(f"{frac(o, key, 'n_valid')} / {frac(d, key, 'n_valid')}")
    for form in FORMS:
        cells.append(f"{frac(o, 'invalid_' + form, 'n_invalid')} / "
                     f"{frac(d, 'invalid_' + form, 'n_invalid')}")
    return "| " + " | ".join(cells) + " |"


def print_tables(records: list[Record]) -> None:
    print("\nours / llguidance directly; valid = accepted, invalid = rejected "
          "(over the schemas that engine compiled)\n")
    print("| subset | schemas | compiled | refused | crashed | valid compact | valid flexible "
          "| invalid compact | invalid flexible |")
    print("|" + "---|" * 9)
    by_subset: dict[str, list[Record]] = collections.defaultdict(list)
    for r in records:
        by_subset[r.subset].append(r)
    for name in sorted(by_subset):
        print(row(name, by_subset[name]))
    print(row("**all**", records))
    both = [r for r in records if r.ours.status == r.direct.status == "compiled"]
    print(row("**both compile**", both))
    print_reasons(records)
    print_times(records)


def print_reasons(records: list[Record]) -> None:
    print("\n| refusal reason | ours | llguidance |\n|---|---|---|")
    counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for r in records:
        for i, side in enumerate((r.ours, r.direct)):
            if side.status != "compiled":
                counts[side.status + ": " + refusal_reason(side.reason)][i] += 1
    for reason, (ours, direct) in sorted(counts.items(), key=lambda kv: -sum(kv[1])):
        print(f"| {reason} | {ours} | {direct} |")


def print_times(records: list[Record]) -> None:
    both = [r for r in records if r.ours.status == r.direct.status == "compiled"]
    ours = [r.ours.seconds * 1e3 for r in both]
    direct = [r.direct.seconds * 1e3 for r in both]
    if not both:
        return
    print(f"\ncompile time (ms, cold, {len(both)} schemas both compile)\n")
    print("| | median | p99 | max |\n|---|---|---|---|")
    for label, values in (("ours (validate + Matcher)", ours), ("llguidance directly", direct)):
        print(f"| {label} | {statistics.median(values):.2f} | {pct(values, 0.99):.1f} | "
              f"{max(values):.1f} |")
    ratio = statistics.median(ours) / statistics.median(direct)
    per_schema = statistics.median(o / d for o, d in zip(ours, direct, strict=True) if d > 0)
    print(f"| ratio ours / llguidance | {ratio:.2f}x | {pct(ours, .99) / pct(direct, .99):.2f}x "
          f"| {max(ours) / max(direct):.2f}x |")
    print(f"\nmedian of per-schema ratios: {per_schema:.2f}x")


def print_details(records: list[Record]) -> None:
    """Schemas only we compile, and every valid instance we miss or invalid one we accept."""
    for r in records:
        gained = r.ours.status == "compiled" != r.direct.status
        if gained or r.ours.misses or r.ours.leaks:
            print(f"  {r.name}: {'compiled past llguidance; ' if gained else ''}"
                  f"valid {r.ours.valid} of {r.n_valid} (llguidance {r.direct.valid}), "
                  f"invalid rejected {r.ours.invalid} of {r.n_invalid}; "
                  f"misses {r.ours.misses[:2]} leaks {r.ours.leaks[:2]}")


# ---------------------------------------------------------------------------------------------


def files(data: Path, half: str, limit: int | None, subsets: list[str] | None) -> Iterator[Path]:
    paths = sorted(data.glob("*.json"))
    if half != "all":
        paths = paths[0 if half == "even" else 1 :: 2]
    seen: collections.Counter[str] = collections.Counter()
    for path in paths:
        subset = subset_of(path)
        if subsets and subset not in subsets:
            continue
        seen[subset] += 1
        if limit is None or seen[subset] <= limit:
            yield path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="directory of MaskBench files")
    parser.add_argument("--half", choices=("all", "even", "odd"), default="all")
    parser.add_argument("--limit", type=int, default=None, help="schemas per subset")
    parser.add_argument("--subset", action="append", help="only these subsets (repeatable)")
    parser.add_argument("--details", action="store_true", help="list lost/leaked instances")
    args = parser.parse_args()
    from guidance_engine.llms.model_store import load_tokenizer

    index = TokenIndex.for_tokenizer(load_tokenizer())
    index.ll  # noqa: B018 - build the engine's tokenizer outside the timings
    print(f"load average {os.getloadavg()[0]:.2f}; llguidance {llguidance.__version__}; "
          f"tokenizer {index.name} ({index.vocab_size} tokens); half {args.half}")
    start = time.perf_counter()
    records = [measure(p, index) for p in files(args.data, args.half, args.limit, args.subset)]
    print_tables(records)
    if args.details:
        print_details(records)
    print(f"\n{len(records)} schemas in {time.perf_counter() - start:.0f} s; "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
