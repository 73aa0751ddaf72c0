"""How long the planner model takes just to read a plan's results, next to ReAct's whole answer.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_read_floor.py \\
        --llmcompiler movie-llmc.json --react movie-react.json --model_path <gguf> [--threads 2]

Both files are `guidance-engine llmcompiler run --logging` stores of the same questions. For
each question answered by both, the observations LLMCompiler's joiner read (every task's line
and observation, as the trace holds them) are sent to a fresh llama.cpp server with
`cache_prompt` off and one token to write, and the server's own `timings.prompt_ms` is the time
any agent needs to read those results once. A speedup over ReAct can be no larger than ReAct's
latency divided by that floor, whatever the planner and the joiner do besides. Prints one row
per question, the means, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import urllib.request
from pathlib import Path
from typing import Any

from guidance_engine.llmcompiler.runner import read_store
from guidance_engine.llms.cpu import physical_cores
from guidance_engine.llms.llamacpp_server import LlamaCppServer


def observations(record: dict[str, Any]) -> str:
    """The results block of a logged LLMCompiler run: every task's line and observation."""
    tasks = record["trace"]["tasks"]
    if not tasks:
        raise SystemExit(f"question {record['trace']['question']!r} has no tasks in its trace "
                         "(was the run stored with --logging?)")
    return "\n".join(f"{task['line']}\nObservation: {task['observation']}" for task in tasks)


def prefill_seconds(base_url: str, prompt: str) -> tuple[int, float]:
    """(prompt tokens, seconds) the server reports for reading `prompt` with nothing cached."""
    body = json.dumps({"prompt": prompt, "max_tokens": 1, "temperature": 0,
                       "cache_prompt": False}).encode()
    request = urllib.request.Request(f"{base_url}/completions", body,
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        timings = json.loads(response.read())["timings"]
    return int(timings["prompt_n"]), float(timings["prompt_ms"]) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--llmcompiler", type=Path, required=True, help="LLMCompiler store")
    parser.add_argument("--react", type=Path, required=True, help="ReAct store, same questions")
    parser.add_argument("--model_path", required=True, help="the planner GGUF both runs used")
    parser.add_argument("--threads", type=int, default=physical_cores())
    args = parser.parse_args()
    compiler, react = (read_store(path)["results"] for path in (args.llmcompiler, args.react))
    shared = [key for key in compiler if key in react]
    if not shared:
        raise SystemExit(f"no question is in both {args.llmcompiler} and {args.react}")
    print(f"load average before {os.getloadavg()}, threads {args.threads}")
    rows = []
    with LlamaCppServer(model=args.model_path, n_threads=args.threads, n_ctx=8192) as server:
        prefill_seconds(server.base_url, "warm up")
        for key in shared:
            tokens, seconds = prefill_seconds(server.base_url, observations(compiler[key]))
            rows.append((key, tokens, seconds, compiler[key]["latency"], react[key]["latency"]))
    print(f"{'question':>8} {'obs tokens':>10} {'read s':>7} {'LLMC s':>7} {'ReAct s':>8} "
          f"{'ReAct/read':>10}")
    for key, tokens, seconds, llmc, react_s in rows:
        print(f"{key:>8} {tokens:>10} {seconds:>7.2f} {llmc:>7.2f} {react_s:>8.2f} "
              f"{react_s / seconds:>10.2f}")
    mean = [statistics.fmean(column) for column in list(zip(*rows, strict=True))[1:]]
    print(f"{'mean':>8} {mean[0]:>10.0f} {mean[1]:>7.2f} {mean[2]:>7.2f} {mean[3]:>8.2f} "
          f"{mean[3] / mean[1]:>10.2f}")
    print(f"read rate {sum(r[1] for r in rows) / sum(r[2] for r in rows):.1f} tokens/s; "
          f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
