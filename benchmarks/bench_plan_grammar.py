"""Plans sampled at temperature 1.0 under the plan grammar on the default model: do all parse?

The real planner template (ParallelQA tools and examples) runs on SmolLM2-135M with `n` samples
decoded as one batch per call, each batch with its own seed, over the ParallelQA questions in
turn. Every plan is checked as the executor needs it: each line parses, tasks are numbered
1, 2, 3... in order, `$N` only names earlier tasks, tools are known, and `join()` ends the plan.
Results are appended to a JSON-lines file, so the run can be split into chunks (`--minutes`)
that each hold the heavy lock briefly, and resumed:

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_plan_grammar.py --count 1000 \\
        --batch 50 --minutes 8 --out runs/plans.jsonl     # repeat until it reports 1000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from guidance_engine.llmcompiler.benchmarks import load_benchmark
from guidance_engine.llmcompiler.plan import PlanSyntaxError, Task, parse_line
from guidance_engine.llmcompiler.planner import Planner
from guidance_engine.llms.transformers import Transformers


def problems(text: str) -> str | None:
    """Why `text` is not an executable plan, or None."""
    try:
        items = [parse_line(line) for line in text.split("\n")]
    except PlanSyntaxError as error:
        return str(error)
    tasks = [item for item in items if isinstance(item, Task)]
    if not tasks or not tasks[-1].is_join or items[-1] != tasks[-1]:
        return "does not end with join()"
    if [t.index for t in tasks] != list(range(1, len(tasks) + 1)):
        return "numbering is not 1, 2, 3, ..."
    if any(dep >= task.index for task in tasks for dep in task.deps):
        return "refers to a later task"
    if any(task.tool not in ("search", "math") for task in tasks[:-1]):
        return "unknown tool"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=8.0, help="stop after this long")
    parser.add_argument("--out", default="runs/plans.jsonl")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    print(f"load average {os.getloadavg()[0]:.2f}; {len(done)} plans already sampled")
    bench = load_benchmark("parallelqa")
    llm = Transformers()
    planner = Planner(bench.tools(llm), llm=llm, examples=bench.examples("planner"), max_tasks=3,
                      max_chars=40, max_list=3, max_tokens=1500, temperature=1.0)
    deadline = time.monotonic() + args.minutes * 60
    while len(done) < args.count and time.monotonic() < deadline:
        batch = len(done) // args.batch
        question = bench.questions[batch % len(bench.questions)].question
        planner.seed = 1000 + batch
        start = time.perf_counter()
        plans = planner.program(**planner.variables(question, samples=args.batch),
                                silent=True)["plan"]
        seconds = (time.perf_counter() - start) / len(plans)
        with out.open("a", encoding="utf-8") as handle:
            for plan in plans:
                record = {"plan": plan, "problem": problems(plan), "seconds": seconds}
                handle.write(json.dumps(record) + "\n")
                done.append(record)
        print(f"{len(done)} plans, {seconds:.2f} s per plan", flush=True)
    bad = [r for r in done if r["problem"]]
    mean_chars = sum(len(r["plan"]) for r in done) / max(1, len(done))
    print(f"{len(done)} plans sampled at temperature 1.0: {len(done) - len(bad)} parse and "
          f"execute, {len(bad)} do not; mean plan length {mean_chars:.0f} characters")
    for record in bad[:5]:
        print("  ", record["problem"], repr(record["plan"][:200]))


if __name__ == "__main__":
    main()
