"""Running an agent over a benchmark into a store file that is written after every question.

The store is JSON: `{"config": {...}, "results": {id: {question, label, answer, latency, usage,
replans[, trace]}}}`. A run that finds the store already there keeps its results and answers
only the questions still missing, so an interrupted run resumes where it stopped::

    store = Store.open("hotpot.json", config={"benchmark": "hotpotqa", "agent": "llmcompiler"})
    await run_benchmark(agent, bench.questions[:10], store, progress=True)
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.benchmarks import Question
from guidance_engine.llmcompiler.evaluate import is_correct
from guidance_engine.llmcompiler.jsonfile import json_kind, read_json
from guidance_engine.llmcompiler.trace import AgentResult

# Settings that say whose answers a store holds: results recorded without them are not resumed.
_IDENTITY = ("benchmark", "agent", "model_type", "model_name", "model_path")
# What scoring reads from each stored result.
_RECORD = ("label", "answer", "latency", "usage")


class Agent(Protocol):
    async def arun(self, question: str) -> AgentResult: ...


@dataclass
class Store:
    """The results file, rewritten atomically after every answered question."""

    path: Path
    config: dict[str, Any]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    @staticmethod
    def open(path: str | Path, config: dict[str, Any]) -> Store:
        path = Path(path)
        if not path.exists():
            _check_writable(path)
            return Store(path, dict(config))
        data = read_store(path)
        old = data.get("config", {})
        # Every recorded setting changes the answers or the latencies: a resumed run that
        # differs in one would mix two runs' results under the new settings.
        for key in config:
            if key in old and old[key] != config[key]:
                raise GuidanceError(
                    f"{path} holds a run with {key}={old[key]!r}, not {config[key]!r}; "
                    "use another --store file (or delete it) to start a new run"
                )
            if key in _IDENTITY and key not in old and data["results"]:
                raise GuidanceError(
                    f"{path} holds results without a recorded {key}, so they may be from "
                    f"another run than {key}={config[key]!r}; use another --store file"
                )
        return Store(path, {**old, **config}, dict(data["results"]))

    def add(self, question: Question, result: AgentResult, keep_trace: bool) -> dict[str, Any]:
        record: dict[str, Any] = {
            "question": question.question,
            "label": question.answer,
            "answer": result.answer,
            "correct": is_correct(result.answer, question.answer),
            "latency": result.trace.latency,
            "usage": result.trace.usage.as_dict(),
            "replans": result.trace.replans,
        }
        if keep_trace:
            record["trace"] = result.trace.as_dict()
        self.results[question.id] = record
        self.save()
        return record

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"config": self.config, "results": self.results}, indent=1)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            if self.path.exists():  # keep the user's permissions (mkstemp makes it private)
                os.chmod(temporary, stat.S_IMODE(self.path.stat().st_mode))
            os.replace(temporary, self.path)  # a crash never leaves a half-written store
        except BaseException:
            Path(temporary).unlink(missing_ok=True)  # and an interrupt leaves no stray file
            raise


def _check_writable(path: Path) -> None:
    """A new store's folder exists (made if need be) and is writable: found now, not after the
    first question has been answered."""
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise GuidanceError(f"cannot create the folder of the store file {path}: {blocking} is "
                            "a file; expected a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GuidanceError(f"cannot create the folder of the store file {path}: "
                            f"{error.strerror or error}") from None
    if not os.access(path.parent, os.W_OK):
        raise GuidanceError(f"cannot write the store file {path}: its folder is read-only")


def read_store(path: str | Path) -> dict[str, Any]:
    """A store file's `{"config", "results"}`, every record checked to have what scoring reads."""
    data = read_json(path, "a store file")
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise GuidanceError(f"{path} is not a store file: expected {{'config', 'results'}}")
    if not isinstance(data.get("config", {}), dict):
        raise GuidanceError(f"{path}: 'config' is a JSON {json_kind(data['config'])}; "
                            "expected an object of run settings")
    for key, record in data["results"].items():
        problem = _record_problem(record)
        if problem is not None:
            raise GuidanceError(f"{path}: the result of question {key!r} {problem}")
    return data


def _record_problem(record: Any) -> str | None:
    """What is wrong with one stored result, or None."""
    if not isinstance(record, dict):
        return f"is a JSON {json_kind(record)}; expected an object"
    missing = [name for name in _RECORD if name not in record]
    if missing:
        return f"lacks {', '.join(map(repr, missing))}"
    usage = record["usage"]
    if not isinstance(usage, dict) or not all(
            _is_number(usage.get(name)) for name in ("input_tokens", "output_tokens")):
        return f"has usage {usage!r:.80}; expected {{'input_tokens': N, 'output_tokens': N}}"
    if record["answer"] is not None and not isinstance(record["answer"], str):
        return f"has answer {record['answer']!r:.40}; expected a string or null"
    for name in ("latency", "replans"):
        if name in record and not _is_number(record[name]):
            return f"has {name} {record[name]!r:.40}; expected a number"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


async def run_benchmark(
    agent: Agent,
    questions: Sequence[Question],
    store: Store,
    keep_trace: bool = False,
    progress: bool = True,
) -> Store:
    """Answer every question not yet in `store`, saving after each one."""
    todo = [q for q in questions if q.id not in store.results]
    bar = _progress(len(questions), len(questions) - len(todo), progress)
    correct = sum(bool(r.get("correct")) for r in store.results.values())
    try:
        for question in todo:
            result = await agent.arun(question.question)
            correct += store.add(question, result, keep_trace)["correct"]
            if bar is not None:
                bar.update(1)
                bar.set_postfix(accuracy=f"{correct / len(store.results):.0%}",
                                latency=f"{result.trace.latency:.1f}s")
    finally:
        if bar is not None:
            bar.close()
    return store


def _progress(total: int, done: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, unit="question", dynamic_ncols=True)
