"""Static analysis tests: the generic expression walk and the queries built on it."""

from __future__ import annotations

from guidance_engine.errors import Span
from guidance_engine.template.analysis import (
    child_exprs,
    command_calls,
    instruction_exprs,
    names_read,
    static_value,
    walk,
)
from guidance_engine.template.compiler import compile_template
from guidance_engine.template.format import format_expr
from guidance_engine.template.nodes import ListExpr, Literal, UnaryOp, Var

S = Span(0, 0, 1, 1)


def exprs(source: str) -> list[str]:
    instructions = compile_template(source).instructions
    return [format_expr(e) for root in instruction_exprs(instructions) for e in walk(root)]


def test_walk_visits_every_expression_kind_parents_first_in_source_order() -> None:
    assert exprs("{{f a.b c[-1] (not d) [e, 1] {'k': g} x=h + 2}}") == [
        "f(a.b, c[-1], not d, [e, 1], {'k': g}, x=h + 2)", "f",
        "a.b", "a", "c[-1]", "c", "-1", "1", "not d", "d",
        "[e, 1]", "e", "1", "{'k': g}", "'k'", "g", "h + 2", "h", "2",
    ]


def test_instruction_exprs_covers_conditions_loops_blocks_selects_and_partials() -> None:
    source = ("{{#if a}}{{#unless b}}{{/unless}}{{/if}}{{#each xs}}{{/each}}"
              "{{#user}}{{/user}}{{#select 'o'}}p{{or}}q{{/select}}{{>part y}}")
    assert [format_expr(e) for e in instruction_exprs(compile_template(source).instructions)] == [
        "a", "b", "each(xs)", "user()", "select('o')", "part(y)",
    ]


def test_names_read_includes_commands_helpers_and_nested_names() -> None:
    source = "{{#if ok}}{{gen 'a' max_tokens=n stop=(add s t)}}{{/if}}{{items[i].x}}"
    assert names_read(compile_template(source).instructions) == {
        "ok", "gen", "n", "add", "s", "t", "items", "i",
    }


def test_names_read_is_iterative_on_deep_expressions() -> None:
    source = "{{" + "not " * 60 + "x}}"
    assert names_read(compile_template(source).instructions) == {"x"}


def test_command_calls_finds_nested_calls_and_skips_shadowed_commands() -> None:
    analysis = compile_template(
        "{{gen 'a'}} {{f (gen 'b')}} {{#select 'c'}}x{{/select}} {{select 'd' options=o}}"
    ).analysis
    found = [format_expr(c) for c in command_calls(analysis, ("gen", "select"))]
    assert found == ["gen('a')", "gen('b')", "select('d', options=o)"]
    shadowed = [format_expr(c) for c in command_calls(analysis, ("gen", "select"), {"gen"})]
    assert shadowed == ["select('d', options=o)"]
    assert [format_expr(c) for c in analysis.select_blocks] == ["select('c')"]
    assert analysis.names == {"gen", "f", "select", "o"}


def test_static_value_of_literals_known_names_negatives_lists_and_dicts() -> None:
    assert static_value(Literal("x", S), {}) == (True, "x")
    assert static_value(Var("n", S), {"n": 3}) == (True, 3)
    assert static_value(Var("n", S), {}) == (False, None)
    assert static_value(UnaryOp("-", Literal(2, S), S), {}) == (True, -2)
    assert static_value(UnaryOp("-", Literal("a", S), S), {}) == (False, None)
    assert static_value(ListExpr((Literal(1, S), Var("n", S)), S), {"n": 2}) == (True, [1, 2])
    assert static_value(ListExpr((Literal(1, S), Var("m", S)), S), {})[0] is False


def test_child_exprs_of_leaves_is_empty() -> None:
    assert child_exprs(Literal(1, S)) == ()
    assert child_exprs(Var("x", S)) == ()
