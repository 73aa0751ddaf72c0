"""The plan grammar, checked with the constraint engine itself (no model): what it accepts."""

from __future__ import annotations

import pytest

from guidance_engine.constraints import ConstraintSpec, Matcher, TokenIndex, validate
from guidance_engine.llmcompiler.plan import Task, parse_line
from guidance_engine.llmcompiler.plan_grammar import call_grammar, plan_grammar
from guidance_engine.llmcompiler.tools import Arg, Tool

TOOLS = [
    Tool("search", "", (Arg("query"),), str),
    Tool("math", "", (Arg("problem"), Arg("context", "list", required=False)), str),
    Tool("scale", "", (Arg("factor", "number"),), str),
]


def accepts(grammar: str, text: str) -> bool:
    """Whether the engine, on a byte-level vocabulary, lets `text` through and then end."""
    matcher = Matcher(ConstraintSpec(grammar=grammar), TokenIndex.bytes_level())
    for byte in text.encode():
        if byte not in matcher.allowed_tokens():
            return False
        matcher.consume(byte)
    return matcher.is_accepting()


GOOD = [
    '1. join()',
    '1. search("Everest")\n2. search("K2")\n3. math("$1 - $2", ["$1", "${2}"])\n'
    'Thought: done\n4. join()',
    '1. search("a")\n2. math("twice $1")\n3. scale($2)\n4. math("x", [$1, 3, "$3"])\n5. join()',
]
BAD = [
    '1. search("a")',                                  # no join
    '2. search("a")\n3. join()',                       # does not start at 1
    '1. search("a")\n3. join()',                       # skips a number
    '1. search("$1")\n2. join()',                      # refers to itself
    '1. search("a")\n2. search("$3")\n3. join()',      # refers forward
    '1. search("a")\n2. search("$12")\n3. join()',     # $1 followed by a digit
    '1. lookup("a")\n2. join()',                       # unknown tool
    '1. search(["a"])\n2. join()',                     # wrong argument kind
    '1. search("a", "b")\n2. join()',                  # too many arguments
    '1. math()\n2. join()',                            # missing required argument
    '1. join()\n2. join()',                            # anything after join
]


@pytest.mark.parametrize("plan", GOOD)
def test_grammar_accepts_well_formed_plans_and_they_parse(plan: str) -> None:
    grammar = plan_grammar(TOOLS, max_tasks=5)
    assert accepts(grammar, plan)
    tasks = [parse_line(line) for line in plan.split("\n")]
    numbered = [task.index for task in tasks if isinstance(task, Task)]
    assert numbered == list(range(1, len(numbered) + 1))
    assert all(dep < task.index for task in tasks if isinstance(task, Task) for dep in task.deps)


@pytest.mark.parametrize("plan", BAD)
def test_grammar_refuses_what_would_break_the_executor(plan: str) -> None:
    assert not accepts(plan_grammar(TOOLS, max_tasks=5), plan)


def test_plan_length_is_bounded_by_max_tasks() -> None:
    grammar = plan_grammar(TOOLS, max_tasks=2)
    assert accepts(grammar, '1. search("a")\n2. search("b")\n3. join()')
    assert not accepts(grammar, '1. search("a")\n2. search("b")\n3. search("c")\n4. join()')
    assert not accepts(plan_grammar(TOOLS, max_chars=5), '1. search("abcdef")\n2. join()')


def test_replans_continue_numbering_and_may_use_earlier_results() -> None:
    grammar = plan_grammar(TOOLS, first_index=4)
    assert accepts(grammar, '4. math("$1 + $3")\n5. scale($4)\n6. join()')
    assert not accepts(grammar, '1. search("a")\n2. join()')
    assert not accepts(grammar, '4. math("$4")\n5. join()')


def test_react_action_grammar_takes_one_call_or_finish() -> None:
    grammar = call_grammar(TOOLS)
    assert accepts(grammar, 'search("Everest")')
    assert accepts(grammar, 'Finish(Paris (France) "x")')
    assert not accepts(grammar, 'search("$1")')
    assert not accepts(grammar, 'search("a")\n2. join()')


def test_grammars_are_valid_for_the_engine() -> None:
    validate(ConstraintSpec(grammar=plan_grammar(TOOLS, first_index=12, max_tasks=12)))
    with pytest.raises(ValueError, match="tool names must be unique"):
        plan_grammar([TOOLS[0], TOOLS[0]])
