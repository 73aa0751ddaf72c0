"""Whole assistant turns: which path a model takes, the turn grammar, and parsing a turn."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import guidance_engine as guidance
from guidance_engine.constraints import ConstraintSpec, validate
from guidance_engine.constraints.dialects import matches
from guidance_engine.llmcompiler.planner import Planner
from guidance_engine.llmcompiler.tools import Tool
from guidance_engine.llmcompiler.turns import (
    Turn,
    TurnFormatError,
    chat_turns,
    enforced_grammar,
    parse_turn,
    turn_grammar,
)

GRAMMAR = turn_grammar("/Finish\\([^\\n]{0,20}\\)/")


@pytest.fixture
def default_llm() -> Iterator[None]:
    saved = guidance.llm
    yield
    guidance.llm = saved


def server(api_type: str, chat_mode: bool = True) -> guidance.llms.OpenAI:
    return guidance.llms.OpenAI("m", api_type=api_type, api_key="k", chat_mode=chat_mode,
                                base_url="http://127.0.0.1:9/v1", api_version="2024-06-01")


def test_a_turn_is_a_thought_line_then_an_action_line() -> None:
    text = 'Thought: It says "5 m" (north).\nAction: Finish(5 m (north))\n'
    assert parse_turn(text, "the joiner", "Finish(<answer>)") == Turn(
        'It says "5 m" (north).', "Finish(5 m (north))")


@pytest.mark.parametrize("text", ["Finish(5)", "Thought: a\nb\nAction: Finish(5)",
                                  "Thought: a\nAction: Finish(5)\nObservation: 5"])
def test_a_malformed_turn_says_what_was_expected_and_found(text: str) -> None:
    with pytest.raises(TurnFormatError) as error:
        parse_turn(text, "ReAct", "a call or Finish(<answer>)")
    assert str(error.value) == ("ReAct's turn must be 'Thought: <one line>' then 'Action: a call "
                                f"or Finish(<answer>)' on the next line; found {text!r}")


def test_a_long_malformed_turn_is_shortened_in_the_error() -> None:
    with pytest.raises(TurnFormatError, match=r"found 'xxx+\.\.\.'$"):
        parse_turn("x" * 500, "ReAct", "Finish(<answer>)")


def test_the_turn_grammar_holds_the_shape_and_may_end_with_one_newline() -> None:
    spec = ConstraintSpec(grammar=GRAMMAR)
    validate(spec)
    assert matches(spec, "Thought: ok (really).\nAction: Finish(a (b))")
    assert matches(spec, "Thought: ok.\nAction: Finish(a)\n")
    assert not matches(spec, "Thought: ok.\nAction: Finish(a)\nObservation: x")
    assert not matches(spec, "Thought: \nAction: Finish(a)")  # the thought says something
    assert not matches(spec, "Action: Finish(a)")


def test_the_path_follows_the_models_chat_mode(default_llm: None) -> None:
    assert not chat_turns(guidance.llms.Mock())
    assert chat_turns(server("llamacpp")) and not chat_turns(server("llamacpp", False))
    guidance.llm = server("vllm")
    assert chat_turns(None)  # the default model, read when the agent runs


def test_a_grammar_is_sent_only_where_the_backend_enforces_it() -> None:
    assert enforced_grammar(guidance.llms.Mock(), GRAMMAR) == GRAMMAR
    assert enforced_grammar(server("llamacpp"), GRAMMAR) == GRAMMAR
    assert enforced_grammar(server("vllm"), GRAMMAR) == GRAMMAR
    for api_type in ("openai", "azure", "friendli"):  # checked by the parsers instead
        assert enforced_grammar(server(api_type), GRAMMAR) is None
    planner = Planner([Tool.from_function(len, "size", "size(x: str)")], llm=server("openai"))
    assert planner.variables("?")["grammar"] is None
