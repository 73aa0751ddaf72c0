from __future__ import annotations

import asyncio
import dataclasses

import pytest

import guidance_engine as guidance
from guidance_engine.constraints import ConstraintSpec
from guidance_engine.constraints.dialects import matches
from guidance_engine.llmcompiler.joiner import (
    Joiner,
    format_history,
    joiner_grammar,
    parse_decision,
    strip_action,
)
from guidance_engine.llmcompiler.plan import Task, Thought, parse_line
from guidance_engine.llmcompiler.turns import TurnFormatError


def decide(llm: guidance.llms.Mock, can_replan: bool = True) -> tuple[str, str, str]:
    decision = asyncio.run(Joiner(llm).decide("Which is taller?", "1. search(\"x\")\n"
                                              "Observation: 5 m", can_replan))
    return decision.thought, decision.action, decision.argument


def test_finish_keeps_parentheses_and_quotes_in_the_answer() -> None:
    llm = guidance.llms.Mock({"Thought:": "The north one.", "Action:": "Finish",
                              "Finish(": 'The "Big" Tower (north))'})
    assert decide(llm) == ("The north one.", "Finish", 'The "Big" Tower (north)')
    select, argument = llm.calls[1], llm.calls[2]
    assert select.options == ("Finish", "Replan")  # type: ignore[union-attr]
    assert argument.pattern == "[^\n]*[)]" and argument.stop == ("\n",)  # type: ignore[union-attr]
    assert argument.prompt.endswith("Action: Finish(")


def test_replan_carries_the_reason_and_is_offered_only_while_replans_remain() -> None:
    llm = guidance.llms.Mock({"Thought:": "K2 is missing.", "Action:": "Replan",
                              "Replan(": "search K2 again)"})
    assert decide(llm) == ("K2 is missing.", "Replan", "search K2 again")
    llm = guidance.llms.Mock({"Thought:": "Done.", "Action:": "Replan", "Finish(": "5 m)"})
    assert decide(llm, can_replan=False) == ("Done.", "Finish", "5 m")
    assert llm.calls[1].options == ("Finish",)  # type: ignore[union-attr]


def test_history_lists_task_lines_with_observations_plan_after_plan() -> None:
    first = [parse_line('1. search("a")'), Thought("enough"), parse_line("2. join()")]
    second = [parse_line('3. search("$1")'), parse_line("4. join()")]
    text = format_history([([i for i in first if i], {1: "A."}),
                           ([i for i in second if i], {3: "B."})])
    assert text == ('1. search("a")\nObservation: A.\nThought: enough\n'
                    '3. search("$1")\nObservation: B.')
    assert isinstance(first[0], Task)


def test_strip_action_removes_only_the_closing_parenthesis() -> None:
    assert strip_action("f(x))") == "f(x)"
    assert strip_action("42") == "42"  # a backend that ended before the `)`


def test_an_answer_cut_at_max_tokens_is_kept_not_a_crash() -> None:
    # the Mock counts max_tokens (80 for the argument) in words; no closing parenthesis comes
    rambling = " ".join(f"word{i}" for i in range(100))
    llm = guidance.llms.Mock({"Thought:": "Long.", "Action:": "Finish", "Finish(": rambling})
    thought, action, argument = decide(llm)
    assert (thought, action) == ("Long.", "Finish")
    assert argument == " ".join(f"word{i}" for i in range(80))


class ChatMock(guidance.llms.Mock):
    """A Mock that stands for a chat endpoint: the joiner writes its whole turn as one gen."""

    capabilities = dataclasses.replace(guidance.llms.Mock.capabilities, chat_api=True)


def chat_decide(text: str, can_replan: bool = True) -> tuple[ChatMock, tuple[str, str, str]]:
    llm = ChatMock({"assistant\n": text})
    decision = asyncio.run(Joiner(llm).decide("Which is taller?", 'search("x")\nObservation: 5',
                                              can_replan))
    return llm, (decision.thought, decision.action, decision.argument)


def test_on_a_chat_model_the_turn_is_one_constrained_gen_and_keeps_parens_and_quotes() -> None:
    llm, decision = chat_decide('Thought: The north one.\n'
                                'Action: Finish(The "Big" Tower (north))\n')
    assert decision == ("The north one.", "Finish", 'The "Big" Tower (north)')
    (request,) = llm.calls  # no select, no second gen
    assert request.grammar == joiner_grammar(True)  # type: ignore[union-attr]
    assert request.prompt.endswith("Observation: 5<|im_end|>\n<|im_start|>assistant\n")


def test_on_a_chat_model_replan_carries_its_reason_and_is_refused_once_none_is_left() -> None:
    llm, decision = chat_decide("Thought: K2 is missing.\nAction: Replan(search K2 (the peak))")
    assert decision == ("K2 is missing.", "Replan", "search K2 (the peak)")
    llm, decision = chat_decide("Thought: Done.\nAction: Finish(5 m)", can_replan=False)
    assert decision == ("Done.", "Finish", "5 m")
    assert llm.calls[0].grammar == joiner_grammar(False)  # type: ignore[union-attr]


def test_the_joiner_grammar_accepts_exactly_the_allowed_actions() -> None:
    finish_only = ConstraintSpec(grammar=joiner_grammar(False))
    both = ConstraintSpec(grammar=joiner_grammar(True))
    replan = "Thought: x\nAction: Replan(more)"
    assert matches(both, replan) and not matches(finish_only, replan)
    assert matches(finish_only, 'Thought: x\nAction: Finish(say "hi" (twice))')
    assert not matches(both, "Thought: x\nAction: Answer(5)")


def test_parse_decision_errors_say_what_was_found_and_expected() -> None:
    with pytest.raises(TurnFormatError) as error:
        parse_decision("Thought: Done.\nAction: Replan(more)", can_replan=False)
    assert str(error.value) == ("the joiner's action must be Finish(<answer>) (no replan is "
                                "left); found 'Replan(more)'")
    with pytest.raises(TurnFormatError) as error:
        parse_decision("Thought: Done.\nAction: Answer(5)", can_replan=True)
    assert str(error.value) == ("the joiner's action must be Finish(<answer>) or "
                                "Replan(<reason>); found 'Answer(5)'")
    with pytest.raises(TurnFormatError) as error:
        parse_decision("The answer is 5.", can_replan=True)
    assert str(error.value) == ("the joiner's turn must be 'Thought: <one line>' then 'Action: "
                                "Finish(<answer>) or Replan(<reason>)' on the next line; found "
                                "'The answer is 5.'")


def test_parse_decision_removes_only_the_closing_parenthesis_and_keeps_a_cut_answer() -> None:
    assert parse_decision("Thought: x\nAction: Finish(f(x)))", True) == ("x", "Finish", "f(x))")
    assert parse_decision("Thought: x\nAction: Finish(word0 word1", True) == (
        "x", "Finish", "word0 word1")  # cut at max_tokens, as in the completion path
