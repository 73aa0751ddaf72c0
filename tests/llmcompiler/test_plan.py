from __future__ import annotations

import pytest

from guidance_engine.llmcompiler.plan import (
    PlanStream,
    PlanSyntaxError,
    Ref,
    Task,
    Thought,
    parse_line,
)


def test_task_lines_parse_strings_numbers_lists_and_references() -> None:
    task = parse_line('3. math("($1 - ${2}) / 2", ["$1", [$2, 4.5]], -3)')
    assert task == Task(3, "math", ("($1 - ${2}) / 2", ("$1", (Ref(2), 4.5)), -3),
                        'math("($1 - ${2}) / 2", ["$1", [$2, 4.5]], -3)'.join(("3. ", "")))
    assert isinstance(task, Task) and task.deps == frozenset({1, 2})


def test_escapes_quotes_and_parentheses_inside_strings() -> None:
    task = parse_line(r'1. search("the \"Big\" (one)")')
    assert isinstance(task, Task) and task.args == ('the "Big" (one)',)


def test_thoughts_joins_and_blank_lines() -> None:
    assert parse_line("Thought: I can answer now.") == Thought("I can answer now.")
    assert parse_line("4. join()<END_OF_PLAN>") == Task(4, "join", (), "4. join()")
    assert parse_line("   ") is None


def test_malformed_lines_say_what_was_expected_and_where() -> None:
    with pytest.raises(PlanSyntaxError) as error:
        parse_line('2. search("x" "y")')
    assert str(error.value) == (
        "expected ',' or ')'; found '\"y\")' (plan line '2. search(\"x\" \"y\")', column 15)")
    with pytest.raises(PlanSyntaxError) as error:
        parse_line("I will search now")
    assert str(error.value) == ("expected 'N. tool(arguments)', 'Thought: ...' or 'N. join()' "
                                "(plan line 'I will search now', column 1)")
    with pytest.raises(PlanSyntaxError, match="expected a closing"):
        parse_line('1. search("open')


def test_stream_hands_out_each_line_as_soon_as_it_is_complete() -> None:
    stream = PlanStream()
    pieces = ['1. sea', 'rch("a")', '\n2. search', '("b")\nThought: ok\n3', '. join', '()']
    seen = [[getattr(item, "index", item) for item in stream.feed(piece)] for piece in pieces]
    assert seen == [[], [], [1], [2, Thought("ok")], [], [3]]
    assert stream.joined and stream.feed("<END_OF_PLAN>") == [] and stream.close() == []


def test_stream_close_parses_the_last_line_without_newline() -> None:
    stream = PlanStream()
    assert stream.feed('1. search("a")') == []
    assert [task.index for task in stream.close()] == [1]  # type: ignore[union-attr]
