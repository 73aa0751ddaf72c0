"""`guidance-engine llmcompiler run|evaluate`: benchmark runs and their scoring.

    guidance-engine llmcompiler run --benchmark hotpotqa \\
        --store runs/hotpot.json --N 20 --model_type llamacpp --model_path qwen.gguf --stream
    guidance-engine llmcompiler run ... --react --store runs/hotpot-react.json
    guidance-engine llmcompiler evaluate runs/hotpot.json runs/hotpot-react.json

`register(subparsers)` adds the `llmcompiler` command to the main CLI; `main(argv)` runs it alone
(`python -m guidance_engine.llmcompiler.cli run ...`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import Any

from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.benchmarks import (
    BENCHMARKS,
    Benchmark,
    Question,
    load_benchmark,
)
from guidance_engine.llmcompiler.evaluate import format_comparison, format_summary, summarize
from guidance_engine.llmcompiler.runner import Agent, Store, read_store, run_benchmark
from guidance_engine.llmcompiler.tools import Latency
from guidance_engine.llms import LLM

MODEL_TYPES = ("transformers", "openai", "azure", "vllm", "friendli", "llamacpp")


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add `llmcompiler run` and `llmcompiler evaluate` to an argparse subparsers object."""
    parser = subparsers.add_parser("llmcompiler", help="LLMCompiler and ReAct benchmark runs",
                                   description="LLMCompiler and ReAct benchmark runs")
    add_commands(parser)
    return parser


def add_commands(parser: argparse.ArgumentParser) -> None:
    """`run` and `evaluate` under `parser`."""
    commands = parser.add_subparsers(dest="llmcompiler_command", required=True,
                                     metavar="{run,evaluate,show}")
    _add_run(commands.add_parser("run", help="answer a benchmark's questions into a store file"))
    evaluate = commands.add_parser("evaluate", help="accuracy, latency and tokens of a run")
    evaluate.add_argument("store", help="the store file of a run")
    evaluate.add_argument("baseline", nargs="?", help="a second run to compare against")
    evaluate.set_defaults(run=_reporting_errors(evaluate_command))
    show = commands.add_parser("show", help="a timeline picture of one question's run (SVG/HTML)")
    show.add_argument("store", help="the store file of a run made with --logging")
    show.add_argument("question_id", help="the question's id (a key of the store's results)")
    show.add_argument("--output", default=None,
                      help="the picture's file, .svg or .html (default: STORE-QUESTION_ID.html "
                           "next to the store)")
    show.set_defaults(run=_reporting_errors(show_command))


def _add_run(run: argparse.ArgumentParser) -> None:
    run.add_argument("--benchmark", choices=BENCHMARKS, required=True)
    run.add_argument("--data", default=None,
                     help="folder with the benchmark JSON files (default: the data shipped with "
                          "the package, or $GUIDANCE_ENGINE_LLMCOMPILER_DATA)")
    run.add_argument("--store", required=True, help="results file (resumed if it exists)")
    run.add_argument("--logging", action="store_true", help="keep each question's full trace")
    run.add_argument("--stream", action="store_true", help="dispatch tasks while planning")
    run.add_argument("--react", action="store_true", help="run the ReAct baseline instead")
    run.add_argument("--tools_api", action="store_true",
                     help="run the server's own OpenAI tools API (parallel function calling) "
                          "as the baseline instead")
    run.add_argument("--N", type=_count(1), default=None, help="only the first N questions")
    run.add_argument("--split", choices=("all", "design", "report"), default="all",
                     help="design: the questions at even positions (what prompts and rules may "
                          "be tuned on), report: the odd ones (what results are reported on)")
    run.add_argument("--model_type", choices=MODEL_TYPES, default="transformers")
    run.add_argument("--model_name", default=None, help="model name (server) or path/id (local)")
    run.add_argument("--model_path", default=None,
                     help="a GGUF file: with llamacpp, start llama.cpp's server on it")
    run.add_argument("--api_base", default=None, help="the server's base URL (.../v1)")
    run.add_argument("--api_key", default=None)
    run.add_argument("--chat", action="store_true",
                     help="use the chat endpoint (llamacpp, vllm: completions by default; "
                          "openai, azure, friendli: decided by the model name)")
    run.add_argument("--tool_latency", default="0", type=_latency,
                     help="simulated tool latency: seconds (0.6) or 'paper' (~0.6 s, stragglers)")
    run.add_argument("--seed", type=int, default=0, help="seed of the simulated latencies")
    run.add_argument("--max_replans", type=_count(0), default=2)
    run.add_argument("--max_iterations", type=_count(1), default=10, help="ReAct's turn limit")
    run.add_argument("--threads", type=_count(1), default=None,
                     help="CPU threads for a local model (default: the machine's physical cores; "
                          "1 on a shared machine)")
    run.add_argument("--n_ctx", type=_count(1), default=8192,
                     help="context of a started server (a prompt that does not fit is an error)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(run=_reporting_errors(run_command))


def _count(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number no smaller than `least` (argparse names the option)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise argparse.ArgumentTypeError(
                f"expected a whole number >= {least}; found {text!r}")
        return value

    return parse


def _latency(text: str) -> str:
    """An argparse type: the `--tool_latency` text, once `Latency.parse` understands it."""
    try:
        Latency.parse(text)
    except GuidanceError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def make_llm(args: argparse.Namespace, stack: contextlib.ExitStack) -> LLM:
    """The model named by the arguments; a started llama.cpp server is stopped by `stack`."""
    if args.model_type == "transformers":
        if args.chat:
            raise GuidanceError("--chat needs a server (--model_type openai, azure, vllm, "
                                "friendli or llamacpp); a transformers model has no endpoint")
        import torch

        from guidance_engine.llms import Transformers

        torch.set_num_threads(local_threads(args))
        return Transformers(args.model_path or args.model_name)
    from guidance_engine.llms import OpenAI

    _check_server_options(args)
    base_url = args.api_base
    name = args.model_name
    if args.model_type == "llamacpp" and args.model_path:
        from guidance_engine.llms import LlamaCppServer

        name = name or "planner"
        server = LlamaCppServer(model=args.model_path, n_threads=local_threads(args),
                                n_ctx=args.n_ctx, alias=name)
        stack.enter_context(server)
        base_url = server.base_url
    if not name:
        raise GuidanceError(f"--model_type {args.model_type} needs --model_name")
    # The agents run on either endpoint (the joiner and ReAct write one gen per turn on a chat
    # model). Self-hosted servers default to completions, which the benchmarks were run with.
    # The generation cache stays off: a cached answer would make latencies meaningless.
    chat_mode = True if args.chat else (
        None if args.model_type in ("openai", "azure", "friendli") else False)
    llm: LLM = OpenAI(name, api_key=args.api_key, base_url=base_url, api_type=args.model_type,
                      chat_mode=chat_mode, caching=False)
    return llm


def local_threads(args: argparse.Namespace) -> int:
    """The threads of a local model (`--threads`, else the physical cores), said on stderr."""
    from guidance_engine.llms import physical_cores

    threads: int = args.threads or physical_cores()
    why = "--threads" if args.threads else "the machine's physical cores; --threads to change"
    print(f"threads: {threads} ({why})", file=sys.stderr)
    return threads


def _check_server_options(args: argparse.Namespace) -> None:
    """A server model's missing key or address, named by the CLI's options (before any call)."""
    from guidance_engine.llms import PROFILES

    kind = args.model_type
    profile = PROFILES[kind]
    if args.model_path and kind != "llamacpp":
        raise GuidanceError(f"--model_path is for --model_type llamacpp (a server is started on "
                            f"it) or transformers; --model_type {kind} takes --api_base")
    if args.model_path and args.api_base:
        raise GuidanceError("--model_path starts a llama.cpp server and --api_base names a "
                            "running one; expected one of them, not both")
    missing = profile.missing(profile.resolve_key(args.api_key),
                              profile.resolve_base(args.api_base))
    if missing == "api_key":
        raise GuidanceError(f"--model_type {kind} needs --api_key (or the {profile.key_env[0]} "
                            "environment variable)")
    if args.api_base is not None and not args.api_base.startswith(("http://", "https://")):
        raise GuidanceError(f"--api_base {args.api_base!r} is not a URL; expected "
                            "http://host:port/v1")
    if missing != "base_url" or (kind == "llamacpp" and args.model_path):
        return
    if kind == "llamacpp":
        raise GuidanceError("--model_type llamacpp needs --model_path X.gguf (a server is started "
                            "on it) or --api_base URL (a running server)")
    raise GuidanceError(f"--model_type {kind} needs --api_base, the server's address "
                        "(http://host:port/v1)")


def check_endpoint(args: argparse.Namespace, llm: LLM) -> None:
    """The agents' templates have role blocks: on a completions endpoint they need the model's
    chat template, which the CLI can only get from llama.cpp's server."""
    if llm.capabilities.roles:
        return
    raise GuidanceError(
        f"--model_type {args.model_type} on the completions endpoint cannot format the agents' "
        f"chat turns for {args.model_name!r} (only llama.cpp's server reports its chat "
        "template); pass --chat to use the chat endpoint"
    )


def make_agent(args: argparse.Namespace, bench: Benchmark, llm: LLM) -> Agent:
    from guidance_engine.llmcompiler.agent import LLMCompiler
    from guidance_engine.llmcompiler.react import ReAct

    tools = bench.tools(llm, Latency.parse(args.tool_latency, seed=args.seed))
    if args.tools_api:
        from guidance_engine.llmcompiler.tool_calling import ToolCalling

        return ToolCalling(tools, llm=llm, max_iterations=args.max_iterations)
    if args.react:
        return ReAct(tools, llm=llm, examples=bench.examples("react"),
                     max_iterations=args.max_iterations)
    return LLMCompiler(tools, llm=llm, stream=args.stream, max_replans=args.max_replans,
                       planner_examples=bench.examples("planner"),
                       joiner_examples=bench.examples("joiner"))


def run_command(args: argparse.Namespace) -> int:
    bench = load_benchmark(args.benchmark, args.data)
    bench.docstore  # noqa: B018 - a malformed docstore is reported before any model loads
    questions = split_questions(bench.questions, args.split)
    questions = questions[: args.N] if args.N else questions
    config = {key: getattr(args, key) for key in (
        "benchmark", "model_type", "model_name", "model_path", "tool_latency", "seed",
        "stream", "max_replans", "max_iterations", "chat", "split")}
    if args.react and args.tools_api:
        raise GuidanceError("--react and --tools_api name two baselines; expected one of them")
    if args.tools_api and args.model_type == "transformers":
        raise GuidanceError("--tools_api needs a server with an OpenAI tools API (--model_type "
                            "llamacpp, vllm or openai); a transformers model has none")
    config["agent"] = "tools" if args.tools_api else "react" if args.react else "llmcompiler"
    store = Store.open(args.store, config)
    try:
        with contextlib.ExitStack() as stack:
            llm = make_llm(args, stack)
            check_endpoint(args, llm)
            agent = make_agent(args, bench, llm)
            asyncio.run(run_benchmark(agent, questions, store, keep_trace=args.logging,
                                      progress=not args.quiet))
    except KeyboardInterrupt:
        print(f"interrupted: {len(store.results)} answer(s) are saved in {store.path}; run the "
              "same command again to answer the rest", file=sys.stderr)
        return 130
    print(format_summary(summarize(store.results)))
    return 0


def split_questions(questions: tuple[Question, ...], split: str) -> tuple[Question, ...]:
    """All questions, or the design half (even positions) or the report half (odd ones)."""
    if split == "all":
        return questions
    return questions[0 if split == "design" else 1::2]


def evaluate_command(args: argparse.Namespace) -> int:
    run = read_store(args.store)
    _check_answered(run, args.store)
    if args.baseline is None:
        print(format_summary(summarize(run["results"])))
        return 0
    baseline = read_store(args.baseline)
    _check_answered(baseline, args.baseline)
    mine, theirs = (data.get("config", {}).get("benchmark") for data in (run, baseline))
    if mine and theirs and mine != theirs:
        raise GuidanceError(f"{args.store} is a {mine} run but the baseline {args.baseline} is "
                            f"a {theirs} run; expected two runs of one benchmark")
    print(format_comparison(summarize(run["results"]), summarize(baseline["results"]),
                            (args.store, args.baseline)))
    return 0


def show_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from guidance_engine.llmcompiler.timeline import trace_of_question
    from guidance_engine.llmcompiler.timeline_svg import write_picture

    timeline = trace_of_question(read_store(args.store), args.store, args.question_id)
    store = Path(args.store)
    output = args.output or str(store.with_name(f"{store.stem}-{args.question_id}.html"))
    write_picture(timeline, output)
    print(f"wrote {output}")
    return 0


def _check_answered(data: dict[str, Any], path: str) -> None:
    if not data["results"]:
        raise GuidanceError(f"{path} holds no answered questions; nothing to evaluate")


def _reporting_errors(command: Callable[[argparse.Namespace], int]
                      ) -> Callable[[argparse.Namespace], int]:
    """A user error (bad data folder, unreadable store) is one line on stderr and exit 2."""
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except GuidanceError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2

    return run


def main(argv: list[str] | None = None) -> int:
    """`python -m guidance_engine.llmcompiler.cli run ...`: `guidance-engine llmcompiler run`."""
    parser = argparse.ArgumentParser(prog="guidance-engine llmcompiler",
                                     description="LLMCompiler and ReAct benchmark runs")
    add_commands(parser)
    args = parser.parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
