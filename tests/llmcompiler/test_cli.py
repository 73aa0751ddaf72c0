"""The benchmark CLI: store files, resume, evaluate (as a subprocess), and a real-model run."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler import LLMCompiler
from guidance_engine.llmcompiler import cli as llmcompiler_cli
from guidance_engine.llmcompiler.benchmarks import load_benchmark
from guidance_engine.llmcompiler.cli import add_commands, check_endpoint, main, make_llm
from guidance_engine.llmcompiler.runner import Store, run_benchmark
from guidance_engine.llmcompiler.tools import Tool

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "guidance_engine.cli", "llmcompiler", *args],
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)


def test_store_is_written_per_question_and_a_rerun_resumes(data_dir: Path, tmp_path: Path) -> None:
    bench = load_benchmark("hotpotqa", data_dir)
    questions = bench.questions[:3]
    llm = guidance.llms.Mock({"assistant\n": '1. search("Ed Wood")\n2. join()',
                              "Thought:": "Both American.", "Action:": "Finish",
                              "Finish(": "yes)"})
    agent = LLMCompiler(bench.tools(llm), llm=llm, **bench.agent_examples())
    path = tmp_path / "store.json"
    store = Store.open(path, {"benchmark": "hotpotqa", "agent": "llmcompiler"})
    asyncio.run(run_benchmark(agent, questions[:2], store, keep_trace=True, progress=False))
    saved = json.loads(path.read_text())
    assert list(saved["results"]) == [q.id for q in questions[:2]]
    first = saved["results"][questions[0].id]
    assert (first["answer"], first["label"], first["correct"]) == ("yes", "yes", True)
    assert "known as Ed Wood" in first["trace"]["tasks"][0]["observation"]
    calls = len(llm.calls)
    resumed = Store.open(path, {"benchmark": "hotpotqa", "agent": "llmcompiler"})
    asyncio.run(run_benchmark(agent, questions, resumed, progress=False))
    assert list(json.loads(path.read_text())["results"]) == [q.id for q in questions]
    assert len(llm.calls) == calls + 4  # only the third question ran: plan + 3 joiner calls
    with pytest.raises(GuidanceError) as error:
        Store.open(path, {"benchmark": "movie"})
    assert str(error.value) == (f"{path} holds a run with benchmark='hotpotqa', not 'movie'; "
                                "use another --store file (or delete it) to start a new run")


def test_evaluate_prints_figures_and_ratios_as_a_subprocess(tmp_path: Path) -> None:
    def store(name: str, latency: float, tokens: int) -> Path:
        usage = {"input_tokens": tokens, "output_tokens": 10, "model_calls": 2}
        results = {"1": {"answer": "4", "label": "4", "latency": latency, "usage": usage,
                         "replans": 0}}
        (tmp_path / name).write_text(json.dumps({"config": {}, "results": results}))
        return tmp_path / name

    run, base = store("run.json", 2.0, 500), store("base.json", 5.0, 2000)
    single = cli("evaluate", str(run))
    assert single.returncode == 0, single.stderr
    assert single.stdout.splitlines()[:3] == [
        "questions                     1", "accuracy                      100.0%",
        "accuracy 95% CI               20.7%-100.0%"]
    both = cli("evaluate", str(run), str(base))
    assert both.returncode == 0, both.stderr
    lines = {line.split("  ")[0]: line.split() for line in both.stdout.splitlines()}
    assert lines["latency mean (s)"][-1] == "2.50x"
    assert lines["input tokens / question"][-1] == "4.00x"
    missing = cli("evaluate", str(tmp_path / "nope.json"))
    assert missing.returncode == 2
    assert missing.stderr == (f"error: cannot read a store file from {tmp_path}/nope.json: No "
                              "such file or directory\n")


def test_run_rejects_a_missing_data_folder(tmp_path: Path) -> None:
    result = cli("run", "--benchmark", "movie", "--data", str(tmp_path), "--store",
                 str(tmp_path / "s.json"))
    assert result.returncode == 2
    assert result.stderr == (f"error: benchmark 'movie': {tmp_path}/movie_recommendations.json "
                             "does not exist (check --data or "
                             "$GUIDANCE_ENGINE_LLMCOMPILER_DATA)\n")


def llm_for(*args: str) -> Any:
    parser = argparse.ArgumentParser()
    add_commands(parser)
    parsed = parser.parse_args(["run", "--benchmark", "movie", "--data", "d", "--store", "s",
                                *args])
    with contextlib.ExitStack() as stack:
        return make_llm(parsed, stack)


def test_chat_follows_the_model_or_chat_and_self_hosted_servers_default_to_completions() -> None:
    local = ("--model_name", "smollm2", "--api_base", "http://127.0.0.1:9/v1")
    assert llm_for("--model_type", "llamacpp", *local).chat_mode is False
    assert llm_for("--model_type", "llamacpp", "--chat", *local).chat_mode is True
    assert llm_for("--model_type", "vllm", "--chat", *local).chat_mode is True
    hosted = ("--api_key", "k", "--model_type", "openai", "--model_name")
    assert llm_for(*hosted, "gpt-4o-mini").chat_mode is True
    assert llm_for(*hosted, "gpt-3.5-turbo-instruct").chat_mode is False
    with pytest.raises(GuidanceError) as error:
        llm_for("--chat")
    assert str(error.value).startswith("--chat needs a server (--model_type openai, azure,")


def parse_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The last stderr line of a command line argparse refuses (exit status 2)."""
    parser = argparse.ArgumentParser(prog="run")
    add_commands(parser)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["run", "--benchmark", "movie", "--data", "d", "--store", "s", *args])
    assert exit_.value.code == 2
    return capsys.readouterr().err.splitlines()[-1]


def test_numbers_and_latencies_are_checked_with_the_option_named(
        capsys: pytest.CaptureFixture[str]) -> None:
    # --N 0 used to mean every question, --N -1 all but the last; --max_replans -1 stored None
    # answers without asking the model; --tool_latency -1 was taken as 0, inf never returned.
    assert parse_error(capsys, "--N", "0") == (
        "run run: error: argument --N: expected a whole number >= 1; found '0'")
    assert parse_error(capsys, "--max_replans", "-1") == (
        "run run: error: argument --max_replans: expected a whole number >= 0; found '-1'")
    assert parse_error(capsys, "--max_iterations", "0") == (
        "run run: error: argument --max_iterations: expected a whole number >= 1; found '0'")
    assert parse_error(capsys, "--threads", "two") == (
        "run run: error: argument --threads: expected a whole number >= 1; found 'two'")
    assert parse_error(capsys, "--tool_latency", "-1") == (
        "run run: error: argument --tool_latency: tool latency '-1' is not understood; "
        "expected seconds >= 0 (e.g. 0.6) or 'paper'")


def test_a_missing_command_is_named_as_the_user_types_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "guidance-engine llmcompiler: error: the following arguments are required: "
        "{run,evaluate,show}")


def test_server_options_are_named_when_missing_or_malformed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LLAMA_BASE_URL", "VLLM_BASE_URL", "AZURE_OPENAI_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)

    def error(*args: str) -> str:
        with pytest.raises(GuidanceError) as raised:
            llm_for(*args)
        return str(raised.value)

    assert error("--model_type", "llamacpp") == (
        "--model_type llamacpp needs --model_path X.gguf (a server is started on it) or "
        "--api_base URL (a running server)")
    assert error("--model_type", "vllm", "--model_name", "m") == (
        "--model_type vllm needs --api_base, the server's address (http://host:port/v1)")
    assert error("--model_type", "vllm", "--model_name", "m", "--api_base", "localhost:8000") == (
        "--api_base 'localhost:8000' is not a URL; expected http://host:port/v1")
    assert error("--model_type", "vllm", "--model_path", "q.gguf", "--model_name", "m") == (
        "--model_path is for --model_type llamacpp (a server is started on it) or transformers; "
        "--model_type vllm takes --api_base")
    assert error("--model_type", "llamacpp", "--model_path", "q.gguf", "--api_base",
                 "http://127.0.0.1:9/v1") == (
        "--model_path starts a llama.cpp server and --api_base names a running one; expected "
        "one of them, not both")
    assert error("--model_type", "azure", "--model_name", "m") == (
        "--model_type azure needs --api_key (or the AZURE_OPENAI_API_KEY environment variable)")


def test_a_completions_endpoint_without_a_chat_template_asks_for_chat() -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser)
    local = ["--model_name", "m", "--api_base", "http://127.0.0.1:9/v1"]
    for kind, expect_error in (("vllm", True), ("llamacpp", False)):
        args = parser.parse_args(["run", "--benchmark", "movie", "--data", "d", "--store", "s",
                                  "--model_type", kind, *local])
        with contextlib.ExitStack() as stack:
            llm = make_llm(args, stack)
        if not expect_error:  # llama.cpp's server reports the chat template itself
            check_endpoint(args, llm)
            continue
        with pytest.raises(GuidanceError) as error:
            check_endpoint(args, llm)
        assert str(error.value) == (
            "--model_type vllm on the completions endpoint cannot format the agents' chat turns "
            "for 'm' (only llama.cpp's server reports its chat template); pass --chat to use the "
            "chat endpoint")
        args.chat = True
        with contextlib.ExitStack() as stack:
            check_endpoint(args, make_llm(args, stack))


def write_store(path: Path, benchmark: str, results: dict[str, Any]) -> str:
    path.write_text(json.dumps({"config": {"benchmark": benchmark}, "results": results}))
    return str(path)


def test_evaluate_refuses_empty_malformed_and_cross_benchmark_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = {"answer": "a", "label": "a", "latency": 1.0,
              "usage": {"input_tokens": 5, "output_tokens": 1}}
    movie = write_store(tmp_path / "movie.json", "movie", {"0": record})
    hotpot = write_store(tmp_path / "hotpot.json", "hotpotqa", {"0": record})
    empty = write_store(tmp_path / "empty.json", "movie", {})
    bad = write_store(tmp_path / "bad.json", "movie", {"0": {"answer": "a"}})

    def refused(*args: str) -> str:
        assert main(["evaluate", *args]) == 2
        return capsys.readouterr().err

    assert refused(empty) == f"error: {empty} holds no answered questions; nothing to evaluate\n"
    assert refused(movie, empty) == (
        f"error: {empty} holds no answered questions; nothing to evaluate\n")
    assert refused(movie, hotpot) == (
        f"error: {movie} is a movie run but the baseline {hotpot} is a hotpotqa run; expected "
        "two runs of one benchmark\n")
    assert refused(bad) == (
        f"error: {bad}: the result of question '0' lacks 'label', 'latency', 'usage'\n")
    assert main(["evaluate", movie, movie]) == 0


def test_an_interrupted_run_exits_130_and_keeps_every_answer_for_the_resume(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    searches: list[str] = []

    def search(entity: str) -> str:
        searches.append(entity)
        if len(searches) == 3:
            raise KeyboardInterrupt  # Ctrl-C while the third question runs
        return "found"

    def mock_llm(args: argparse.Namespace, stack: contextlib.ExitStack) -> Any:
        return guidance.llms.Mock({"assistant\n": '1. search("Ed Wood")\n2. join()',
                                   "Thought:": "ok.", "Action:": "Finish", "Finish(": "yes)"})

    def agent_with(args: argparse.Namespace, bench: Any, llm: Any) -> LLMCompiler:
        tool = bench.search_tool()
        # The mock plans the same search for every question: no plan checks.
        return LLMCompiler([Tool("search", tool.description, tool.args, search)], llm=llm,
                           check_plans=False)

    monkeypatch.setattr(llmcompiler_cli, "make_llm", mock_llm)
    monkeypatch.setattr(llmcompiler_cli, "make_agent", agent_with)
    store = tmp_path / "run.json"
    command = ["run", "--benchmark", "hotpotqa", "--data", str(data_dir), "--store", str(store),
               "--N", "4", "--quiet"]
    assert main(command) == 130
    assert capsys.readouterr().err == (f"interrupted: 2 answer(s) are saved in {store}; run the "
                                       "same command again to answer the rest\n")
    questions = load_benchmark("hotpotqa", data_dir).questions
    assert list(json.loads(store.read_text())["results"]) == [q.id for q in questions[:2]]
    assert main(command) == 0
    assert list(json.loads(store.read_text())["results"]) == [q.id for q in questions[:4]]
    assert len(searches) == 5  # the resume ran only the third and fourth questions


def test_a_local_model_runs_on_the_physical_cores_and_the_cli_says_so(
    data_dir: Path, tmp_path: Path
) -> None:
    from guidance_engine.llms.cpu import physical_cores

    missing = tmp_path / "no-model"
    base = ("run", "--benchmark", "movie", "--data", str(data_dir), "--store",
            str(tmp_path / "s.json"), "--model_path", str(missing))
    default = cli(*base)
    assert default.returncode == 2
    assert default.stderr.splitlines()[0] == (
        f"threads: {physical_cores()} (the machine's physical cores; --threads to change)")
    chosen = cli(*base, "--threads", "1")
    assert chosen.stderr.splitlines()[0] == "threads: 1 (--threads)"


def test_split_takes_the_even_or_the_odd_positions() -> None:
    from guidance_engine.llmcompiler.cli import split_questions

    questions = load_benchmark("movie").questions
    design, report = split_questions(questions, "design"), split_questions(questions, "report")
    assert (len(design), len(report)) == (30, 30)
    assert design[:2] == (questions[0], questions[2]) and report[:2] == (questions[1],
                                                                          questions[3])
    assert split_questions(questions, "all") == questions
