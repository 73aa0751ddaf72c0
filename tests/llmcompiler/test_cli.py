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
from guidance_engine.llmcompiler.benchmarks import load_benchmark
from guidance_engine.llmcompiler.cli import add_commands, make_llm
from guidance_engine.llmcompiler.runner import Store, run_benchmark

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
        "questions                 1", "accuracy                  100.0%",
        "latency mean (s)          2.00"]
    both = cli("evaluate", str(run), str(base))
    assert both.returncode == 0, both.stderr
    lines = {line.split("  ")[0]: line.split() for line in both.stdout.splitlines()}
    assert lines["latency mean (s)"][-1] == "2.50x"
    assert lines["input tokens / question"][-1] == "4.00x"
    missing = cli("evaluate", str(tmp_path / "nope.json"))
    assert missing.returncode == 2
    assert missing.stderr.startswith(f"error: cannot read the store file {tmp_path}/nope.json")


def test_run_rejects_a_missing_data_folder(tmp_path: Path) -> None:
    result = cli("run", "--benchmark", "movie", "--data", str(tmp_path), "--store",
                 str(tmp_path / "s.json"))
    assert result.returncode == 2
    assert result.stderr == (f"error: benchmark 'movie': {tmp_path}/movie_recommendations.json "
                             "does not exist (check --data)\n")


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
