"""Answers of the asked form: the rules (on questions written here, none from the data), the
constraints the joiner and ReAct finish under, and SmolLM2 held to a listed option."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.constraints import ConstraintSpec
from guidance_engine.constraints.dialects import matches
from guidance_engine.llmcompiler import LLMCompiler, ReAct
from guidance_engine.llmcompiler.answer_form import (
    NUMBER_PATTERN,
    TEXT,
    AnswerForm,
    answer_form,
)
from guidance_engine.llmcompiler.joiner import Joiner, joiner_grammar
from guidance_engine.llmcompiler.plan_grammar import call_grammar
from guidance_engine.llms.base import SelectRequest

from .test_agent import search


@pytest.mark.parametrize(("question", "looked_up", "form"), [
    ("Is the Rhine longer than the Elbe?", (), AnswerForm("yes_no")),
    ("Were Ada Lovelace and Alan Turing both born in London?", (), AnswerForm("yes_no")),
    ("Did Tom Waits record with Keith Richards or Mick Jagger?", (),
     AnswerForm("choice", ("Keith Richards", "Mick Jagger"))),
    ("Which lake is deeper, Lake Baikal or Lake Tahoe?", (),
     AnswerForm("choice", ("Lake Baikal", "Lake Tahoe"))),
    ("Which city, Lyon or Porto, lies farther north?", (), AnswerForm("choice", ("Lyon", "Porto"))),
    ("If the Rhine were 10% longer and the Elbe 20% shorter, which river would be longer?",
     ("Rhine", "Elbe", "river"), AnswerForm("choice", ("Rhine", "Elbe"))),
    ("If the Rhine were 10% longer, which one would be longer?", ("Rhine",), TEXT),
    ("Which label released both Kind of Blue and Time Out?", ("Kind of Blue", "Time Out"), TEXT),
    ("Among the ratios of A to B and of C to D, which value is the largest?", (),
     AnswerForm("number")),
    ("How many people live in Lyon and Porto combined?", (), AnswerForm("number")),
    ("What is the ratio of the Rhine's length to the Elbe's?", (), AnswerForm("number")),
    ("Where was Ada Lovelace born?", (), TEXT),
    ("Find a film like Alien and Heat\nOptions:\nRonin\nCasablanca\nBambi\n", (),
     AnswerForm("choice", ("Ronin", "Casablanca", "Bambi"))),
])
def test_the_form_a_question_asks_for(question: str, looked_up: tuple[str, ...],
                                      form: AnswerForm) -> None:
    assert answer_form(question, looked_up) == form


def test_a_name_inside_a_longer_looked_up_name_is_not_a_second_option() -> None:
    form = answer_form("If the Sahara Desert grew 5% and the Gobi Desert shrank, which is larger?",
                       ["Sahara", "Sahara Desert", "gobi desert"])
    assert form.options == ("Sahara Desert", "Gobi Desert")


@pytest.mark.parametrize(("form", "good", "bad"), [
    (AnswerForm("yes_no"), ["Finish(yes)", "Finish(no)"], ["Finish(Yes, both)", "Finish(Ferns)"]),
    (AnswerForm("choice", ("Lake Baikal", "Lake Tahoe")), ["Finish(Lake Tahoe)"],
     ["Finish(Lake Titicaca)", "Finish(1642)"]),
    (AnswerForm("number"), ["Finish(1.94)", "Finish(-3)", "Finish(40,900)"],
     ["Finish(1.94 m)", "Finish(8849 / 5895)", "Finish(Mariana Trench)"]),
    (TEXT, ["Finish(Paris (France))"], ["Finish(a\nb)"]),
])
def test_the_joiner_and_react_can_only_finish_with_the_asked_form(
        form: AnswerForm, good: list[str], bad: list[str]) -> None:
    turn = ConstraintSpec(grammar=joiner_grammar(True, form))
    action = ConstraintSpec(grammar=call_grammar([search()], answer=form.lark()))
    for text in good:
        assert matches(turn, f"Thought: t\nAction: {text}") and matches(action, text)
    for text in bad:
        assert not matches(turn, f"Thought: t\nAction: {text}") and not matches(action, text)
    assert matches(turn, "Thought: t\nAction: Replan(the height is missing)")
    assert matches(action, 'search("Lake Tahoe")')


def decide(llm: Any, question: str, form: AnswerForm) -> Any:
    joiner = Joiner(llm=llm)
    return asyncio.run(joiner.decide(question, "1. search(\"x\")\nObservation: x", True,
                                     form=form))


def test_the_completion_joiner_selects_among_the_options_and_is_told_them() -> None:
    llm = guidance.llms.Mock({"Thought:": "Both are.", "Action:": "Finish", "(": "yes)"})
    decision = decide(llm, "Are Lyon and Porto both ports?", AnswerForm("yes_no"))
    assert (decision.action, decision.argument) == ("Finish", "yes")
    selects = [c for c in llm.calls if isinstance(c, SelectRequest)]
    assert [s.options for s in selects] == [("Finish", "Replan"), ("yes", "no")]
    assert selects[0].prompt.rstrip().endswith(
        "The question asks yes or no: finish with Finish(yes) or Finish(no).<|im_end|>\n"
        "<|im_start|>assistant\nThought: Both are.\nAction:")


def test_the_completion_joiner_holds_a_number_answer_to_the_number_pattern() -> None:
    llm = guidance.llms.Mock({"Thought:": "It is 1.9.", "Action:": "Finish", "(": "1.94)"})
    decision = decide(llm, "What is the ratio of A to B?", AnswerForm("number"))
    assert decision.argument == "1.94"
    (gen,) = [c for c in llm.calls if getattr(c, "name", None) == "argument"]
    assert gen.pattern == NUMBER_PATTERN + r"\)"


def test_a_replan_reason_stays_free_text_whatever_the_form() -> None:
    llm = guidance.llms.Mock({"Thought:": "Missing.", "Action:": "Replan",
                              "(": "search Porto)"})
    decision = decide(llm, "Are Lyon and Porto both ports?", AnswerForm("yes_no"))
    assert (decision.action, decision.argument) == ("Replan", "search Porto")


def test_llmcompiler_and_react_take_the_options_from_the_question() -> None:
    question = "Which lake is deeper, Lake Baikal or Lake Tahoe?"
    llm = guidance.llms.Mock({"assistant\n": '1. search("Lake Baikal")\n2. join()',
                              "Thought:": "Baikal.", "Action:": "Finish", "(": "Lake Baikal)"})
    assert LLMCompiler([search()], llm=llm).run(question).answer == "Lake Baikal"
    assert [c.options for c in llm.calls if isinstance(c, SelectRequest)][-1] == (
        "Lake Baikal", "Lake Tahoe")
    react_llm = guidance.llms.Mock({"Thought:": "Baikal.", "Action:": "Finish(Lake Baikal)"})
    agent = ReAct([search()], llm=react_llm)
    assert agent.run(question).answer == "Lake Baikal"
    (action,) = [c for c in react_llm.calls if getattr(c, "name", None) == "action"]
    assert action.grammar == call_grammar(agent.shown, answer='("Lake Baikal" | "Lake Tahoe")')


@pytest.mark.model
def test_smollm2_joiner_answers_with_one_of_the_listed_options(smol_llm: Any) -> None:
    question = ("Find a movie similar to Alien, Heat, Ronin\nOptions:\nThe Terminator\n"
                "Mary Poppins\nBambi\nThe Sound of Music\n")
    form = answer_form(question)
    history = ('1. search("Alien")\nObservation: Alien is a 1979 science fiction horror film.\n'
               '2. search("The Terminator")\nObservation: The Terminator is a 1984 science '
               "fiction action film.")
    decision = asyncio.run(Joiner(llm=smol_llm).decide(question, history, False, form=form))
    assert decision.action == "Finish" and decision.argument in form.options


def test_free_text_adds_no_instruction_and_the_other_forms_one_line() -> None:
    assert answer_form("Who founded the city?").instruction() == ""
    assert answer_form("Is Everest taller than K2?").instruction() == (
        "The question asks yes or no: finish with Finish(yes) or Finish(no).")
