from __future__ import annotations

import asyncio

import guidance_engine as guidance
from guidance_engine.llmcompiler.joiner import Joiner, format_history, strip_action
from guidance_engine.llmcompiler.plan import Task, Thought, parse_line


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
