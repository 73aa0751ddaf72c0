from __future__ import annotations

import dataclasses

import pytest

import guidance_engine as guidance
from guidance_engine.constraints import ConstraintSpec, Matcher, TokenIndex
from guidance_engine.constraints.dialects import matches
from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.docstore import Doc, Docstore
from guidance_engine.llmcompiler.math_tool import MathTool
from guidance_engine.llmcompiler.react import ReAct
from guidance_engine.llmcompiler.tools import Arg, Tool
from guidance_engine.llmcompiler.turns import TurnFormatError

STORE = Docstore([Doc("Mount Everest", (), "Mount Everest is 8,849 m high."),
                  Doc("K2", (), "K2 is 8,611 m high.")])


def accepts(agent: ReAct, action: str) -> bool:
    """Whether `agent`'s action grammar lets `action` through (byte-level vocabulary)."""
    matcher = Matcher(ConstraintSpec(grammar=agent.action_grammar()), TokenIndex.bytes_level())
    for byte in action.encode():
        if byte not in matcher.allowed_tokens():
            return False
        matcher.consume(byte)
    return matcher.is_accepting()


def tools(llm: guidance.llms.Mock) -> list[Tool]:
    return [Tool("search", "search(entity: str) -> str", (Arg("entity"),), STORE.search),
            MathTool(llm).tool()]


def test_react_calls_one_tool_per_turn_and_finishes() -> None:
    llm = guidance.llms.Mock({
        "Thought:": ["I need Everest.", "I need K2.", "I compute.", "Done."],
        "Action:": ['search("Mount Everest")', 'search("K2")', 'math("Everest minus K2")',
                    "Finish(238 m (781 ft))"],
        "assistant\n": ["8849 - 8611"],
    })
    result = ReAct(tools(llm), llm=llm).run("How much taller is Everest than K2?")
    assert result.answer == "238 m (781 ft)"
    steps = result.trace.steps
    assert [s.observation for s in steps] == ["Mount Everest is 8,849 m high.",
                                              "K2 is 8,611 m high.", "238", ""]
    math_prompt = next(c.prompt for c in llm.calls if getattr(c, "grammar", None) == "arithmetic")
    assert "- Mount Everest is 8,849 m high.\n- K2 is 8,611 m high." in math_prompt
    last_prompt = llm.calls[-1].prompt
    assert ('Action: search("K2")\nObservation: K2 is 8,611 m high.\n'
            "Thought: I compute.\nAction: math(\"Everest minus K2\")\nObservation: 238\n"
            "Thought: Done.\nAction: ") in last_prompt
    assert result.trace.usage.model_calls == 9  # 4 thoughts + 4 actions + 1 math


def test_react_gives_up_after_max_iterations() -> None:
    llm = guidance.llms.Mock({"Thought:": "Again.", "Action:": 'search("Nowhere")'})
    result = ReAct(tools(llm), llm=llm, max_iterations=3).run("?")
    assert result.answer is None and len(result.trace.steps) == 3
    assert result.trace.steps[0].observation.startswith("Could not find [Nowhere]. Similar:")


def test_react_math_takes_the_problem_only_and_reads_the_observations() -> None:
    llm = guidance.llms.Mock({"Thought:": "x", "Action:": "Finish(x)"})
    agent = ReAct(tools(llm), llm=llm)
    assert accepts(agent, 'math("Everest minus K2")')
    # a context list would let the model invent facts it never looked up
    assert not accepts(agent, 'math("Everest minus K2", ["Everest is 9 km"])')
    assert accepts(agent, 'search("K2")') and accepts(agent, "Finish(K2)")
    shown = [tool.description for tool in agent.shown]
    assert shown[1].startswith("math(problem: str) -> float") and "observations" in shown[1]
    assert "context" not in shown[1]


def test_react_without_context_tools_offers_the_full_signature() -> None:
    llm = guidance.llms.Mock({"Thought:": "x", "Action:": "Finish(x)"})
    agent = ReAct(tools(llm), llm=llm, context_tools={})
    assert accepts(agent, 'math("Everest minus K2", ["Everest is 9 km"])')


def test_an_action_cut_at_max_tokens_is_an_error_observation_not_a_crash() -> None:
    # the Mock counts max_tokens in words
    rambling = 'math("the size = 5,500,000 * 0.65 = 3,575,000 km2 = 3,575,000 km2'
    llm = guidance.llms.Mock({"Thought:": ["a", "b"], "Action:": [rambling, "Finish(x)"]})
    result = ReAct(tools(llm), llm=llm, action_tokens=6).run("?")
    assert result.answer == "x"
    cut = result.trace.steps[0]
    assert cut.action.startswith('math("the size') and cut.observation.startswith("Error: ")


class ChatMock(guidance.llms.Mock):
    """A Mock that stands for a chat endpoint: each ReAct turn is one gen."""

    capabilities = dataclasses.replace(guidance.llms.Mock.capabilities, chat_api=True)


def test_on_a_chat_model_each_turn_is_one_gen_after_a_transcript_of_the_steps() -> None:
    llm = ChatMock({"assistant\n": [
        'Thought: I need Everest.\nAction: search("Mount Everest")\n',
        'Thought: I need K2.\nAction: search("K2")',
        'Thought: I compute.\nAction: math("Everest minus K2")',
        "8849 - 8611",  # the math tool's own gen
        "Thought: Done.\nAction: Finish(238 m (781 ft))"]})
    agent = ReAct(tools(llm), llm=llm, answer_forms=False)  # a free-text answer
    result = agent.run("How much taller is Everest than K2?")
    assert result.answer == "238 m (781 ft)"
    steps = result.trace.steps
    assert [(s.thought, s.observation) for s in steps] == [
        ("I need Everest.", "Mount Everest is 8,849 m high."),
        ("I need K2.", "K2 is 8,611 m high."), ("I compute.", "238"), ("Done.", "")]
    turns = [c for c in llm.calls if getattr(c, "grammar", None) == agent.chat_turn_grammar()]
    assert len(turns) == 4 and result.trace.usage.model_calls == 5
    assert turns[-1].prompt.endswith(
        "<|im_start|>user\nQuestion: How much taller is Everest than K2?\n"
        'Thought: I need Everest.\nAction: search("Mount Everest")\n'
        "Observation: Mount Everest is 8,849 m high.\n"
        'Thought: I need K2.\nAction: search("K2")\nObservation: K2 is 8,611 m high.\n'
        'Thought: I compute.\nAction: math("Everest minus K2")\nObservation: 238<|im_end|>\n'
        "<|im_start|>assistant\n")


def test_the_chat_turn_grammar_takes_the_same_actions_as_the_completion_one() -> None:
    agent = ReAct(tools(ChatMock()), llm=ChatMock())
    spec = ConstraintSpec(grammar=agent.chat_turn_grammar())
    assert matches(spec, 'Thought: x\nAction: math("Everest minus K2")\n')
    assert matches(spec, "Thought: x\nAction: Finish(K2 (8,611 m))")
    assert not matches(spec, 'Thought: x\nAction: math("Everest minus K2", ["9 km"])')
    assert not matches(spec, 'Thought: x\nAction: fly("K2")')


def test_on_a_chat_model_a_malformed_turn_is_an_error_naming_the_tools() -> None:
    llm = ChatMock("K2 is shorter.")
    with pytest.raises(TurnFormatError) as error:
        ReAct(tools(llm), llm=llm).run("?")
    assert str(error.value) == ("ReAct's turn must be 'Thought: <one line>' then 'Action: a call "
                                "of search, math or Finish(<answer>)' on the next line; found "
                                "'K2 is shorter.'")


def test_react_refuses_a_tool_named_like_its_final_answer() -> None:
    finish = Tool("Finish", "Finish(answer: str)", (Arg("answer"),), str)
    with pytest.raises(GuidanceError) as error:
        ReAct([tools(guidance.llms.Mock())[0], finish], llm=guidance.llms.Mock())
    assert str(error.value) == ("ReAct: a tool named 'Finish' would be read as the final answer; "
                                "expected another name")
