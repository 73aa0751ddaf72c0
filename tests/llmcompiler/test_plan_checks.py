"""Plans worth running: the degenerate plans of issue 17, refused by the grammar or the planner."""

from __future__ import annotations

import pytest

import guidance_engine as guidance
from guidance_engine.llmcompiler import LLMCompiler
from guidance_engine.llmcompiler.math_tool import MathTool
from guidance_engine.llmcompiler.plan import parse_line
from guidance_engine.llmcompiler.plan_checks import PlanChecks
from guidance_engine.llmcompiler.plan_grammar import call_grammar, plan_grammar
from guidance_engine.llmcompiler.tools import Arg

from .test_agent import JOINER, STORE, search
from .test_plan_grammar import accepts

TOOLS = [search(), MathTool(None).tool()]
HEAD = '1. search("Mount Everest")\n2. search("K2")\n3. math("the difference of $1 and $2")\n'


@pytest.mark.parametrize("line", [
    '4. math(")")', '4. math("*")', '4. math("a * b")', '4. math("a * b", ["$1", "$2"])',
    '4. math("$1 * $2")', '4. math("")', '4. search(")")', '4. search(" K2")', '4. search("")',
])
def test_the_grammar_refuses_math_without_words_and_strings_of_punctuation(line: str) -> None:
    # The plan: `4. math(")")`, `5. math("*")`, then `math("a * b")` seven times.
    assert not accepts(plan_grammar(TOOLS), HEAD + line + "\n5. join()")


@pytest.mark.parametrize("line", [
    '4. math("the ratio of $1 to $2", ["$1", "$2"])', '4. search("$1")', '4. search("K2")',
    '4. search("${3} metres")', '4. math("Everest minus 10%", [$1])',
])
def test_the_grammar_still_takes_worded_problems_names_and_references(line: str) -> None:
    assert accepts(plan_grammar(TOOLS), HEAD + line + "\n5. join()")


def test_react_actions_follow_the_same_string_rules() -> None:
    grammar = call_grammar(TOOLS)
    assert accepts(grammar, 'math("the height of Everest minus that of K2")')
    assert not accepts(grammar, 'math("*")')
    assert not accepts(grammar, 'search(")")')


def test_prose_is_only_for_strings() -> None:
    with pytest.raises(guidance.GuidanceError) as error:
        Arg("n", "number", prose=True)
    assert str(error.value) == "argument 'n' is prose, which needs kind 'str'; found 'number'"


def refusals(question: str, lines: list[str], context: str = "") -> list[str | None]:
    checks = PlanChecks(question)
    checks.add_context(context)
    return [checks.refusal(parse_line(line)) for line in lines]  # type: ignore[arg-type]


def test_the_same_call_twice_is_refused_the_second_time() -> None:
    assert refusals("How much taller is Everest than K2?", [
        '1. search("Mount Everest")', '2. search("K2")', '3. math("a * b", ["$1", "$2"])',
        '4. math("a  *  B", ["$1", "$2"])', '5. search("mount everest")', "6. join()",
    ]) == [None, None, None,
           'math("a  *  B", ["$1", "$2"]) repeats an earlier call; its result is already there',
           'search("mount everest") repeats an earlier call; its result is already there', None]


def test_a_call_naming_nothing_in_the_question_is_refused() -> None:
    assert refusals("How much taller is Everest than K2?", [
        '1. math("a * b")', '2. search("Eiffel Tower")', '3. search("the height")',
    ]) == [
        'math("a * b") fetches nothing the question names: it has no $N and no word of the '
        "question",
        'search("Eiffel Tower") fetches nothing the question names: it has no $N and no word of '
        "the question",
        'search("the height") fetches nothing the question names: it has no $N and no word of '
        "the question",
    ]


def test_a_replan_may_name_what_the_earlier_results_said() -> None:
    assert refusals("Who directed the film?", ['4. search("Sofia Coppola")'],
                    context="Observation: Lost in Translation is by Sofia Coppola.") == [None]


def test_more_tasks_than_the_question_has_facts_are_refused() -> None:
    assert refusals("Which is taller, Mount Everest or K2?", [
        '1. search("Mount Everest")', '2. search("K2")', '3. search("Everest")',
        '4. search("K2 Everest")', '5. search("$1")', "6. join()",
    ]) == [None, None,
           'search("Everest") fetches nothing new: every word of the question it uses (everest) '
           "was used by an earlier search call",
           'search("K2 Everest") fetches nothing new: every word of the question it uses '
           "(everest, k2) was used by an earlier search call", None, None]


def test_calls_without_written_words_are_only_checked_for_repeats() -> None:
    assert refusals("What time is it?", ["1. now()", "2. now()"]) == [
        None, "now() repeats an earlier call; its result is already there"]


def test_the_planner_ends_the_plan_at_a_refused_task_and_runs_none_after_it() -> None:
    plan = (HEAD + '4. math("the difference of $1 and $2")\n'
            '5. search("Mount Everest")\n6. join()')
    llm = guidance.llms.Mock({"assistant\n": [plan, "8849 - 8611"], **JOINER})
    agent = LLMCompiler([search(), MathTool(llm).tool()], llm=llm)
    trace = agent.run("How much taller is Mount Everest than K2?").trace
    assert [t.index for t in trace.tasks] == [1, 2, 3]
    assert trace.plans[0].error == (
        'task 4 refused: math("the difference of $1 and $2") repeats an earlier call; its result '
        "is already there")
    assert "5. search" not in trace.plans[0].text  # the model was stopped at the refused line


def test_a_replan_cannot_repeat_a_call_of_an_earlier_round() -> None:
    llm = guidance.llms.Mock({
        "assistant\n": ['1. search("K2")\n2. join()', '2. search("K2")\n3. join()'],
        "Thought:": ["Missing.", "Done."], "Action:": ["Replan", "Finish"],
        "Replan(": "look again)", "Finish(": "8611 m)",
    })
    trace = LLMCompiler([search()], llm=llm).run("How high is K2?").trace
    assert [t.index for t in trace.tasks] == [1]
    assert trace.plans[1].error == ('task 2 refused: search("K2") repeats an earlier call; its '
                                    "result is already there")
    assert STORE.search("K2") == trace.tasks[0].observation
