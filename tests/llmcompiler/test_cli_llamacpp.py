"""The benchmark CLI through the OpenAI-compatible backend: `--model_type llamacpp --model_path`
starts llama.cpp's server on the default model's GGUF, runs, and stops it, as a user would.

ParallelQA runs on Transformers in test_real_model.py; here HotpotQA runs LLMCompiler and Movie
runs ReAct, so every data set goes through the CLI on a real model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guidance_engine.llms.model_store import default_gguf_path

from .test_cli import cli

pytestmark = pytest.mark.server


def server_run(store: Path, *extra: str) -> dict[str, object]:
    done = cli("run", "--N", "1", "--logging", "--quiet",
               "--model_type", "llamacpp", "--model_path", str(default_gguf_path()),
               "--threads", "1", "--store", str(store), *extra)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = json.loads(store.read_text())
    assert saved["config"]["model_type"] == "llamacpp"
    return next(iter(saved["results"].values()))


def test_llmcompiler_on_hotpotqa_through_llamacpp(tmp_path: Path) -> None:
    record = server_run(tmp_path / "llmc.json", "--benchmark", "hotpotqa", "--stream")
    trace = record["trace"]
    assert isinstance(trace, dict)
    assert trace["plans"][0]["text"].rstrip().endswith("join()")
    assert trace["tasks"] and all(t["tool"] == "search" for t in trace["tasks"])
    assert trace["joins"] and trace["joins"][-1]["action"] in ("Finish", "Replan")
    usage = record["usage"]
    assert isinstance(usage, dict) and usage["input_tokens"] > 0


def test_react_on_movie_through_llamacpp(tmp_path: Path) -> None:
    record = server_run(tmp_path / "react.json", "--benchmark", "movie", "--react",
                        "--max_iterations", "3")
    trace = record["trace"]
    assert isinstance(trace, dict)
    steps = trace["steps"]
    assert 1 <= len(steps) <= 3 and all(step["action"] for step in steps)
    searches = [s for s in steps if s["action"].startswith("search(")]
    assert all(s["observation"] for s in searches)
