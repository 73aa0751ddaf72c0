"""The three benchmark subsets (ParallelQA, HotpotQA comparison, movie recommendation).

The data ships with the package (`data/`, with its licences in `data/LICENSES.md`); another
folder of the same layout can be named (`--data`, `$GUIDANCE_ENGINE_LLMCOMPILER_DATA`). Each
benchmark has its questions, a docstore for `search`, and its own planner, joiner and ReAct
examples (template files under `prompts/<benchmark>/`)::

    bench = load_benchmark("hotpotqa")
    tools = bench.tools(llm, latency=Latency.paper(seed=0))
    agent = LLMCompiler(tools, llm=llm, **bench.agent_examples())
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.docstore import Docstore
from guidance_engine.llmcompiler.jsonfile import read_json, records
from guidance_engine.llmcompiler.math_tool import MathTool
from guidance_engine.llmcompiler.tools import NO_LATENCY, Arg, Latency, Tool
from guidance_engine.llms import LLM

BENCHMARKS = ("parallelqa", "hotpotqa", "movie")
DATA_ENV = "GUIDANCE_ENGINE_LLMCOMPILER_DATA"
PROMPTS = Path(__file__).parent / "prompts"
DATA = Path(__file__).parent / "data"
_FILES = {
    "parallelqa": ("parallelqa_dataset.json", "parallelqa_docs.json"),
    "hotpotqa": ("hotpotqa_comparison.json", "hotpotqa_docs.json"),
    "movie": ("movie_recommendations.json", "movie_docs.json"),
}
SEARCH_DESCRIPTION = (
    "search(entity: str) -> str: looks up one entity (a place, person, film, object, ...) in an "
    "encyclopedia and returns the first sentences of its article. Search one entity per call, "
    "by its name alone (\"Mount Everest\", not \"height of Mount Everest\")."
)


def find_data_dir() -> Path:
    """`$GUIDANCE_ENGINE_LLMCOMPILER_DATA` if set, else the data shipped in the package."""
    if override := os.environ.get(DATA_ENV):
        return Path(override)
    return DATA


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: str


@dataclass(frozen=True)
class Benchmark:
    name: str
    questions: tuple[Question, ...]
    docs_path: Path

    @cached_property
    def docstore(self) -> Docstore:
        return Docstore.load(self.docs_path)

    def search_tool(self, latency: Latency = NO_LATENCY) -> Tool:
        store = self.docstore
        return Tool("search", SEARCH_DESCRIPTION, (Arg("entity"),), store.search, latency)

    def tools(self, llm: LLM | None, latency: Latency = NO_LATENCY) -> list[Tool]:
        """`search` for every benchmark; ParallelQA also has `math` (which calls `llm`)."""
        tools = [self.search_tool(latency)]
        if self.name == "parallelqa":
            tools.append(MathTool(llm).tool(latency))
        return tools

    def examples(self, kind: str) -> str:
        """`planner`, `joiner` or `react` examples for this benchmark."""
        return (PROMPTS / self.name / f"{kind}_examples.txt").read_text(encoding="utf-8").strip()

    def agent_examples(self) -> dict[str, str]:
        return {"planner_examples": self.examples("planner"),
                "joiner_examples": self.examples("joiner")}


def load_benchmark(name: str, data_dir: str | Path | None = None) -> Benchmark:
    """Read a benchmark's questions and locate its docstore in `data_dir` (by default
    `find_data_dir()`: the shipped data unless $GUIDANCE_ENGINE_LLMCOMPILER_DATA says otherwise)."""
    if name not in _FILES:
        raise GuidanceError(f"unknown benchmark {name!r}; expected one of {', '.join(BENCHMARKS)}")
    folder = find_data_dir() if data_dir is None else Path(data_dir)
    questions_file, docs_file = (folder / f for f in _FILES[name])
    for path in (questions_file, docs_file):
        if not path.is_file():
            raise GuidanceError(f"benchmark {name!r}: {path} does not exist "
                                f"(check --data or ${DATA_ENV})")
    data = records(read_json(questions_file, f"the {name} questions"), questions_file,
                   ("id", "question", "answer"))
    questions = tuple(Question(str(r["id"]), str(r["question"]), str(r["answer"])) for r in data)
    seen: dict[str, int] = {}
    for position, question in enumerate(questions):
        if question.id in seen:
            # The store keys answers by id: a repeated id would overwrite an earlier answer.
            raise GuidanceError(f"{questions_file}: records {seen[question.id]} and {position} "
                                f"have the same id {question.id!r}; expected unique ids")
        seen[question.id] = position
    return Benchmark(name, questions, docs_file)
