"""Compiler tests: golden instruction listings, exact layouts and call sites."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from guidance_engine.errors import Span
from guidance_engine.template import instructions as ins
from guidance_engine.template import nodes
from guidance_engine.template.compiler import compile_template
from guidance_engine.template.format import format_instruction, listing

GOLDEN = Path(__file__).parent / "golden"
NAMES = sorted(p.stem for p in GOLDEN.glob("*.hbs"))


def ops(source: str) -> list[str]:
    return [format_instruction(i) for i in compile_template(source).instructions]


@pytest.mark.parametrize("name", NAMES)
def test_golden_listing(name: str, golden: Callable[[str, str, str], None]) -> None:
    source = (GOLDEN / f"{name}.hbs").read_text(encoding="utf-8")
    golden(name, "listing", listing(compile_template(source, name)))


def test_listing_format_matches_the_instructions_docstring() -> None:
    assert listing(compile_template("Name: {{gen 'name'}}{{#if adult}}!{{/if}}")) == (
        "0000 TEXT 'Name: '                       @1:1\n"
        "0001 EMIT gen('name') site(prev='Name: ') @1:7\n"
        "0002 JUMP_IF_FALSE adult -> 4            @1:21\n"
        "0003 TEXT '!'                            @1:34"
    )


def test_if_elif_else_layout() -> None:
    assert ops("{{#if a}}A{{elif b}}B{{else}}C{{/if}}") == [
        "JUMP_IF_FALSE a -> 3",
        "TEXT 'A'",
        "JUMP -> 7",
        "JUMP_IF_FALSE b -> 6",
        "TEXT 'B'",
        "JUMP -> 7",
        "TEXT 'C'",
    ]


def test_if_without_else_has_no_trailing_jump() -> None:
    assert ops("{{#if a}}A{{elif b}}B{{/if}}.") == [
        "JUMP_IF_FALSE a -> 3",
        "TEXT 'A'",
        "JUMP -> 5",
        "JUMP_IF_FALSE b -> 5",
        "TEXT 'B'",
        "TEXT '.'",
    ]


def test_unless_jumps_if_true() -> None:
    assert ops("{{#unless a}}A{{else}}B{{/unless}}") == [
        "JUMP_IF_TRUE a -> 3",
        "TEXT 'A'",
        "JUMP -> 4",
        "TEXT 'B'",
    ]


def test_empty_if_body_still_jumps_correctly() -> None:
    assert ops("{{#if a}}{{else}}B{{/if}}") == ["JUMP_IF_FALSE a -> 2", "JUMP -> 3", "TEXT 'B'"]


def test_each_with_else_layout() -> None:
    compiled = compile_template("{{#each xs}}<{{this}}>{{else}}none{{/each}}!")
    assert compiled.instructions[0] == ins.LoopStart(
        kind="each",
        call=compiled.instructions[0].call,  # type: ignore[union-attr]
        end=4,
        else_start=5,
        exit=6,
        site=ins.CallSite(prev_text="", next_text="!", at_body_end=False, role=None),
        span=Span(0, 12, 1, 1),
    )
    assert [format_instruction(i) for i in compiled.instructions] == [
        "LOOP_START each each(xs) end=4 else=5 exit=6 site(next='!')",
        "TEXT '<'",
        "EMIT this site(prev='<', next='>')",
        "TEXT '>'",
        "LOOP_END start=0 exit=6",
        "TEXT 'none'",
        "TEXT '!'",
    ]
    assert compiled.instructions[4].span == Span(34, 43, 1, 35)


def test_geneach_layout_and_site_around_the_block() -> None:
    assert ops("[{{#geneach 'xs' join=', '}}\"{{gen 'this'}}\"{{/geneach}}]") == [
        "TEXT '['",
        "LOOP_START geneach geneach('xs', join=', ') end=5 else=None exit=6 "
        "site(prev='[', next=']')",
        "TEXT '\"'",
        "EMIT gen('this') site(prev='\"', next='\"')",
        "TEXT '\"'",
        "LOOP_END start=1 exit=6",
        "TEXT ']'",
    ]


def test_select_block_layout() -> None:
    assert ops("\"{{#select 'a'}}yes{{or}}no {{x}}{{or}}{{/select}}\"") == [
        "TEXT '\"'",
        "SELECT_BLOCK select('a') options=[2, 3, 5] end=5 site(prev='\"', next='\"')",
        "TEXT 'yes'",
        "TEXT 'no '",
        "EMIT x site(prev='no ', end)",
        "TEXT '\"'",
    ]


def test_block_role_and_partial_layout() -> None:
    assert ops("{{#block name='b' hidden=True}}x{{/block}}{{>p a k=1}}") == [
        "ENTER_BLOCK block(name='b', hidden=True) end=2",
        "TEXT 'x'",
        "EXIT_BLOCK start=0",
        "INCLUDE_PARTIAL p(a, k=1)",
    ]


def test_role_sites_use_innermost_role() -> None:
    source = (
        "{{#system}}{{gen 'a'}}{{/system}}{{#user}}{{#assistant}}{{gen 'b'}}{{/assistant}}"
        "{{/user}}{{#role 'tool'}}{{gen 'c'}}{{/role}}{{#role name='critic'}}{{gen 'd'}}"
        "{{/role}}{{#role who}}{{gen 'e'}}{{/role}}{{#block}}{{gen 'f'}}{{/block}}"
    )
    sites = [i.site for i in compile_template(source).instructions if isinstance(i, ins.Emit)]
    assert [s.role for s in sites] == ["system", "assistant", "tool", "critic", "role", None]
    assert all(s.at_body_end for s in sites)


def test_site_inside_a_role_block_keeps_the_role_through_nested_blocks() -> None:
    compiled = compile_template("{{#assistant}}{{#if x}}'{{gen 'a'}}'{{/if}}{{/assistant}}")
    emit = compiled.instructions[3]
    assert isinstance(emit, ins.Emit)
    assert emit.site == ins.CallSite(
        prev_text="'", next_text="'", at_body_end=False, role="assistant"
    )


def test_emit_keeps_the_expression_and_span() -> None:
    (emit,) = compile_template("{{x}}").instructions
    assert emit == ins.Emit(
        nodes.Var("x", Span(2, 3, 1, 3)), ins.CallSite(at_body_end=True), Span(0, 5, 1, 1)
    )


def test_compiled_template_keeps_source_and_text_is_one_instruction() -> None:
    compiled = compile_template("just text\nand more")
    assert compiled.source == "just text\nand more"
    assert compiled.instructions == (ins.Text("just text\nand more", Span(0, 18, 1, 1)),)


def test_empty_template_compiles_to_nothing() -> None:
    assert compile_template("").instructions == ()
