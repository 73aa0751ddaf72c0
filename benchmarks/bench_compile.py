"""Template front-end benchmark: lex, parse and compile a ~1 MB template built from the golden
corpus (every construct of the language, repeated), best of `--repeat` runs.

    .venv/bin/python benchmarks/bench_compile.py            # ~1 MB, best of 3
    .venv/bin/python benchmarks/bench_compile.py --mb 4     # a larger template

It prints the load average first (other jobs share the cores) and the throughput in MB/s and
tags/s, so runs on a busy machine can be compared by ratio. To compare two checkouts, run the
script with each one's package first on PYTHONPATH in the same session.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from guidance_engine.template.compiler import compile_template
from guidance_engine.template.lexer import tokenize
from guidance_engine.template.parser import parse

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "template" / "golden"


def corpus(megabytes: float) -> str:
    """The golden templates, each one balanced on its own, repeated to `megabytes` MB."""
    unit = "\n".join(p.read_text(encoding="utf-8") for p in sorted(GOLDEN.glob("*.hbs")))
    target = int(megabytes * 1024 * 1024)
    return (unit + "\n") * (target // (len(unit) + 1) + 1)


def best_of(repeat: int, func: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1.0, help="template size in MB (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per stage (best is kept)")
    args = parser.parse_args()
    source = corpus(args.mb)
    tags = source.count("{{")
    print(f"load average {os.getloadavg()[0]:.2f}; template {len(source) / 2**20:.2f} MB, "
          f"{tags} tags; best of {args.repeat}")
    print(f"{'stage':<28} {'seconds':>8} {'MB/s':>7} {'tags/s':>9}")
    stages: list[tuple[str, Callable[[], Any]]] = [
        ("tokenize", lambda: tokenize(source)),
        ("tokenize + parse", lambda: parse(source)),
        ("compile_template (all)", lambda: compile_template(source)),
    ]
    for label, func in stages:
        seconds = best_of(args.repeat, func)
        mb = len(source) / 2**20 / seconds
        print(f"{label:<28} {seconds:>8.3f} {mb:>7.2f} {tags / seconds:>9.0f}")


if __name__ == "__main__":
    main()
