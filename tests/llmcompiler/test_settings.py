"""An agent's settings and question are checked when given, naming the agent and the setting."""

from __future__ import annotations

from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler import LLMCompiler, ReAct
from guidance_engine.llmcompiler.tools import Arg, Tool

SEARCH = Tool("search", "search(query: str)", (Arg("query"),), str.upper)


def refused(agent: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(GuidanceError) as error:
        agent(*args, llm=guidance.llms.Mock(), **kwargs)
    return str(error.value)


def test_the_tools_must_be_a_list_of_uniquely_named_tools() -> None:
    for agent in (LLMCompiler, ReAct):
        name = agent.__name__
        assert refused(agent, []) == f"{name} needs at least one tool; found none"
        assert refused(agent, [SEARCH, SEARCH]) == (
            f"{name}: two tools are named 'search'; expected unique names")
        assert refused(agent, SEARCH) == (
            f"{name}: tools must be a list of Tool objects; found a Tool")
        assert refused(agent, [SEARCH, str.lower]) == (
            f"{name}: tools must be Tool objects; found a method_descriptor (wrap a function "
            "with Tool.from_function)")


def test_limits_that_would_answer_without_asking_the_model_are_refused() -> None:
    # max_replans=-1 used to skip planning and store an answer of None for every question.
    assert refused(LLMCompiler, [SEARCH], max_replans=-1) == (
        "LLMCompiler: max_replans must be a whole number >= 0; found -1")
    assert refused(ReAct, [SEARCH], max_iterations=0) == (
        "ReAct: max_iterations must be a whole number >= 1; found 0")
    assert refused(LLMCompiler, [SEARCH], max_tasks=0) == (
        "LLMCompiler: max_tasks must be a whole number >= 1; found 0")
    assert refused(LLMCompiler, [SEARCH], max_concurrency=0) == (
        "LLMCompiler: max_concurrency must be None (no limit) or a whole number > 0; found 0")
    assert refused(LLMCompiler, [SEARCH], task_timeout=-1) == (
        "LLMCompiler: task_timeout must be None (no limit) or a number of seconds > 0; found -1")
    assert refused(ReAct, [SEARCH], task_timeout=0) == (
        "ReAct: task_timeout must be None (no limit) or a number of seconds > 0; found 0")


def test_examples_must_be_text() -> None:
    assert refused(LLMCompiler, [SEARCH], planner_examples=["1. search(\"x\")"]) == (
        "LLMCompiler: planner_examples must be text (a str); found a list")
    assert refused(LLMCompiler, [SEARCH], joiner_examples=None) == (
        "LLMCompiler: joiner_examples must be text (a str); found None")
    assert refused(ReAct, [SEARCH], examples=b"x") == (
        "ReAct: examples must be text (a str); found a bytes")


def test_an_empty_question_is_refused_before_any_model_call() -> None:
    llm = guidance.llms.Mock()
    for agent in (LLMCompiler([SEARCH], llm=llm), ReAct([SEARCH], llm=llm)):
        name = type(agent).__name__
        for question in ("", "  \n", None):
            with pytest.raises(GuidanceError) as error:
                agent.run(question)  # type: ignore[arg-type]
            assert str(error.value) == (f"{name}: the question must be non-empty text; "
                                        f"found {question!r}")
    assert llm.calls == []

