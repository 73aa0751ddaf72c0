"""The default model (SmolLM2-135M) end to end: plans sampled under the grammar always parse,
and the CLI runs LLMCompiler and ReAct on a ParallelQA question as a user would.

The full 1,000-plan check runs in `benchmarks/bench_plan_grammar.py` (about 11 minutes here, so
it is kept out of `make test`); this test samples 60 plans, 30 per batched call, over 2 questions
(200 plans took ~7 minutes of `make test`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from guidance_engine.llmcompiler.benchmarks import load_benchmark
from guidance_engine.llmcompiler.plan import Task, parse_line
from guidance_engine.llmcompiler.planner import Planner

from .test_cli import cli

SAMPLES, BATCH = 60, 30


def check_plan(text: str, first_index: int = 1, joined: bool = True) -> list[Task]:
    """Every line parses, numbering runs in order, `$N` only looks back, join ends it (unless
    the plan was ended at a refused task: `joined=False`)."""
    items = [parse_line(line) for line in text.split("\n")]
    tasks = [item for item in items if isinstance(item, Task)]
    assert [t.index for t in tasks] == list(range(first_index, first_index + len(tasks))), text
    assert not joined or (tasks[-1].is_join and items[-1] == tasks[-1]), text
    assert all(dep < task.index for task in tasks for dep in task.deps), text
    assert all(task.tool in ("search", "math") for task in tasks[:-1]), text
    return tasks


def test_plans_sampled_at_temperature_one_all_parse(smol_llm: Any, data_dir: Path) -> None:
    bench = load_benchmark("parallelqa", data_dir)
    # The grammar bounds a plan to ~1,300 characters, so 1,500 tokens can never cut one.
    planner = Planner(bench.tools(smol_llm), llm=smol_llm, examples=bench.examples("planner"),
                      max_tasks=3, max_chars=40, max_list=3, max_tokens=1500, temperature=1.0)
    plans: list[str] = []
    for batch in range(SAMPLES // BATCH):
        planner.seed = 1234 + batch
        variables = planner.variables(bench.questions[batch].question, samples=BATCH)
        plans += planner.program(**variables, silent=True)["plan"]
    assert len(plans) == SAMPLES and len(set(plans)) > SAMPLES // 2
    for plan in plans:
        check_plan(plan)


@pytest.mark.model
def test_cli_runs_llmcompiler_and_react_on_the_default_model(tmp_path: Path) -> None:
    common = ["--benchmark", "parallelqa", "--N", "1", "--logging", "--quiet"]
    compiler = cli("run", *common, "--stream", "--store", str(tmp_path / "llmc.json"))
    assert compiler.returncode == 0, compiler.stderr
    react = cli("run", *common, "--react", "--max_iterations", "4",
                "--store", str(tmp_path / "react.json"))
    assert react.returncode == 0, react.stderr

    record = next(iter(json.loads((tmp_path / "llmc.json").read_text())["results"].values()))
    assert isinstance(record["answer"], str) and record["answer"]
    trace = record["trace"]
    plan = trace["plans"][0]
    refused = plan["error"] is not None  # a refused task ends the plan at its line
    assert not refused or " refused: " in plan["error"], plan["error"]
    tasks = check_plan(plan["text"], joined=not refused)
    assert [t["index"] for t in trace["tasks"]] == [t.index for t in tasks[:-1]]
    assert all(t["start"] <= t["end"] <= trace["joins"][0]["start"] for t in trace["tasks"])
    assert trace["joins"][-1]["action"] == "Finish" and record["usage"]["input_tokens"] > 0

    record = next(iter(json.loads((tmp_path / "react.json").read_text())["results"].values()))
    steps = record["trace"]["steps"]
    assert 1 <= len(steps) <= 4 and all(step["action"] for step in steps)
    assert record["answer"] is None or steps[-1]["action"].startswith("Finish(")

    table = cli("evaluate", str(tmp_path / "llmc.json"), str(tmp_path / "react.json"))
    assert table.returncode == 0 and "latency mean (s)" in table.stdout
