"""LLMCompiler vs ReAct on ParallelQA, HotpotQA and Movie, on one model through llama.cpp's server.

Both agents use the same model (served by llama.cpp, reached through the OpenAI-compatible
backend on the completions endpoint, generation cache off), the same tools and docstores, and the
same seeded simulated tool latency (`Latency.paper`: ~0.5 s, 15% stragglers of ~1.1 s, so a mean
near the paper's measured ~0.6 s). For each question the two agents run back to back, so their
ratio is measured under the same machine load. Three parts:

- `compare`: per subset, accuracy of both, latency ratio (ReAct / LLMCompiler), input-token ratio,
  beside the paper's figures; also ParallelQA with streaming off (same questions);
- `overhead`: k independent calls of a tool with latency L: is wall <= planner + 1.1 L + joiner?
  streaming on and off.

Results go to store files in `--out` (resumed: each invocation stops after `--minutes`, so a run
can be split into short holds of the heavy lock), and the report is printed from them:

    make planner-model
    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_llmcompiler.py \\
        --model_path ~/.cache/guidance_engine/planner/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf \\
        --N 15 --minutes 45        # repeat until it prints the report
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from pathlib import Path
from typing import Any

from guidance_engine.llmcompiler.agent import LLMCompiler
from guidance_engine.llmcompiler.benchmarks import BENCHMARKS, find_data_dir, load_benchmark
from guidance_engine.llmcompiler.evaluate import summarize
from guidance_engine.llmcompiler.react import ReAct
from guidance_engine.llmcompiler.runner import Store
from guidance_engine.llmcompiler.tools import Arg, Latency, Tool
from guidance_engine.llms.base import LLM

PAPER_SPEEDUP = {"parallelqa": 2.15, "hotpotqa": 1.80, "movie": 3.74}
OVERHEAD_K, OVERHEAD_L = 4, 1.0
OVERHEAD_EXAMPLES = """Example:

Question: What are the codes of red and blue?
1. lookup("red")
2. lookup("blue")
3. join()"""
OVERHEAD_QUESTION = "What are the codes of amber, basil, cedar and dune?"


def agents(name: str, llm: LLM, latency: Latency) -> dict[str, Any]:
    bench = load_benchmark(name, DATA)
    tools = bench.tools(llm, latency)
    made: dict[str, Any] = {
        "llmcompiler": LLMCompiler(tools, llm=llm, planner_examples=bench.examples("planner"),
                                   joiner_examples=bench.examples("joiner"), stream=True),
        "react": ReAct(tools, llm=llm, examples=bench.examples("react"), max_iterations=10),
    }
    if name == "parallelqa":
        made["nostream"] = LLMCompiler(tools, llm=llm, stream=False,
                                       planner_examples=bench.examples("planner"),
                                       joiner_examples=bench.examples("joiner"))
    return made


async def compare(llm: LLM, out: Path, n: int, deadline: float, subsets: list[str]) -> bool:
    """Answer questions until done or out of time; True when every store is complete.

    Before a subset is measured, each agent answers one question from outside the measured set
    (untimed), so that neither meets a cold server prompt cache. The agents then take turns
    going first, question by question, so that neither always runs on the other's warm cache.
    """
    complete = True
    for name in subsets:
        made = agents(name, llm, Latency.paper(seed=0))
        every = load_benchmark(name, DATA).questions
        questions = every[:n]
        stores = {kind: Store.open(out / f"{name}-{kind}.json",
                                   {"benchmark": name, "agent": kind}) for kind in made}
        if any(len(s.results) < len(questions) for s in stores.values()):
            for agent in made.values():
                await agent.arun(every[-1].question)  # warm-up, not recorded
        for i, question in enumerate(questions):
            order = list(made.items())
            order = order[i % len(order):] + order[:i % len(order)]
            for kind, agent in order:
                if question.id in stores[kind].results:
                    continue
                if time.monotonic() > deadline:
                    return False
                result = await agent.arun(question.question)
                record = stores[kind].add(question, result, keep_trace=True)
                print(f"{name} {question.id} {kind}: {record['latency']:.1f}s "
                      f"answer={record['answer']!r} label={record['label']!r}", flush=True)
        complete = complete and all(len(s.results) >= len(questions) for s in stores.values())
    return complete


def overhead_tool() -> Tool:
    codes = {"amber": 11, "basil": 22, "cedar": 33, "dune": 44, "red": 1, "blue": 2}
    return Tool("lookup", "lookup(name: str) -> str: the code of one name.", (Arg("name"),),
                lambda name: f"The code of {name} is {codes.get(name.lower(), 0)}.",
                Latency.fixed(OVERHEAD_L))


async def overhead(llm: LLM, out: Path, deadline: float, repeats: int = 3) -> bool:
    for stream in (True, False):
        agent = LLMCompiler([overhead_tool()], llm=llm, planner_examples=OVERHEAD_EXAMPLES,
                            stream=stream)
        store = Store.open(out / f"overhead-{'stream' if stream else 'nostream'}.json",
                           {"benchmark": "overhead", "agent": "llmcompiler"})
        for i in range(repeats):
            if str(i) in store.results:
                continue
            if time.monotonic() > deadline:
                return False
            from guidance_engine.llmcompiler.benchmarks import Question

            result = await agent.arun(OVERHEAD_QUESTION)
            store.add(Question(str(i), OVERHEAD_QUESTION, "11, 22, 33, 44"), result, True)
    return True


def report(out: Path, subsets: list[str]) -> None:
    print(f"\nload average {os.getloadavg()[0]:.2f}")
    print("\n| subset | N | accuracy LLMCompiler | accuracy ReAct | latency LLMCompiler (s) | "
          "latency ReAct (s) | speedup | paper speedup | input tokens LLMC / ReAct | "
          "token ratio | replans |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in subsets:
        llmc = summarize(Store.open(out / f"{name}-llmcompiler.json", {}).results)
        react = summarize(Store.open(out / f"{name}-react.json", {}).results)
        if not llmc.n or not react.n:
            continue
        print(f"| {name} | {llmc.n} | {llmc.accuracy:.0%} | {react.accuracy:.0%} | "
              f"{llmc.latency_mean:.1f} | {react.latency_mean:.1f} | "
              f"{react.latency_mean / llmc.latency_mean:.2f}x | {PAPER_SPEEDUP[name]:.2f}x | "
              f"{llmc.input_tokens:.0f} / {react.input_tokens:.0f} | "
              f"{react.input_tokens / llmc.input_tokens:.2f}x | {llmc.replans:.2f} |")
    nostream = summarize(Store.open(out / "parallelqa-nostream.json", {}).results)
    stream = summarize(Store.open(out / "parallelqa-llmcompiler.json", {}).results)
    if nostream.n:
        print(f"\nParallelQA streaming on / off: {stream.latency_mean:.1f} s / "
              f"{nostream.latency_mean:.1f} s mean latency (N={nostream.n}), "
              f"{nostream.latency_mean / stream.latency_mean:.2f}x")
    report_overhead(out)


def report_overhead(out: Path) -> None:
    for kind in ("stream", "nostream"):
        store = Store.open(out / f"overhead-{kind}.json", {})
        for key, record in store.results.items():
            trace = record["trace"]
            planner = sum(p["end"] - p["start"] for p in trace["plans"])
            joiner = sum(j["end"] - j["start"] for j in trace["joins"])
            bound = planner + 1.1 * OVERHEAD_L + joiner
            tasks = len(trace["tasks"])
            verdict = "ok" if record["latency"] <= bound else "OVER"
            print(f"overhead {kind} #{key}: {tasks} tasks of {OVERHEAD_L:.1f} s, wall "
                  f"{record['latency']:.2f} s, planner {planner:.2f} + 1.1 L + joiner "
                  f"{joiner:.2f} = {bound:.2f} s -> {verdict}, replans {record['replans']}")
    waits = [_tool_span(r["trace"]) for kind in ("stream", "nostream")
             for r in Store.open(out / f"overhead-{kind}.json", {}).results.values()]
    if waits:
        print(f"tool phase (first start to last end): median {statistics.median(waits):.2f} s")


def _tool_span(trace: dict[str, Any]) -> float:
    tasks = [t for t in trace["tasks"] if t["plan"] == 0]
    return max(t["end"] for t in tasks) - min(t["start"] for t in tasks) if tasks else 0.0


async def main_async(args: argparse.Namespace) -> None:
    from guidance_engine.llms.llamacpp_server import LlamaCppServer
    from guidance_engine.llms.openai import OpenAI

    deadline = time.monotonic() + args.minutes * 60
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(LlamaCppServer(
            model=args.model_path, n_threads=args.threads, n_ctx=args.n_ctx,
            n_parallel=args.parallel, alias="planner"))
        llm = OpenAI("planner", api_type="llamacpp", base_url=server.base_url,
                     chat_mode=False, caching=False)
        done = await compare(llm, out, args.N, deadline, args.subsets)
        done = done and await overhead(llm, out, deadline)
    report(out, args.subsets)
    print("complete" if done else "\nout of time: run the same command again to continue")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_path", required=True)
    parser.add_argument("--N", type=int, default=15, help="questions per subset")
    parser.add_argument("--subsets", nargs="+", default=list(BENCHMARKS), choices=BENCHMARKS)
    parser.add_argument("--minutes", type=float, default=9.0)
    parser.add_argument("--out", default="runs/bench_llmcompiler")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=4, help="server slots")
    parser.add_argument("--n_ctx", type=int, default=16384, help="shared by the slots")
    parser.add_argument("--report", action="store_true", help="only print the report")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    if args.report:
        report(Path(args.out), args.subsets)
        return
    asyncio.run(main_async(args))


DATA = find_data_dir()

if __name__ == "__main__":
    main()
