"""format_expr and listing: exact text for each kind of expression and instruction."""

from __future__ import annotations

import pytest

from guidance_engine.errors import Span
from guidance_engine.template import instructions as ins
from guidance_engine.template import nodes
from guidance_engine.template.format import format_expr, format_instruction, format_site
from guidance_engine.template.parser import parse

S = Span(0, 0, 1, 1)


def var(name: str) -> nodes.Var:
    return nodes.Var(name, S)


def lit(value: str | int | float | bool | None) -> nodes.Literal:
    return nodes.Literal(value, S)


def binop(op: str, left: nodes.Expr, right: nodes.Expr) -> nodes.BinOp:
    return nodes.BinOp(op, left, right, S)


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (binop("-", var("a"), binop("-", var("b"), var("c"))), "a - (b - c)"),
        (binop("-", binop("-", var("a"), var("b")), var("c")), "a - b - c"),
        (binop("*", binop("+", var("a"), var("b")), var("c")), "(a + b) * c"),
        (binop("<", binop("<", var("a"), var("b")), var("c")), "(a < b) < c"),
        (binop("and", var("a"), binop("or", var("b"), var("c"))), "a and (b or c)"),
        (nodes.UnaryOp("not", binop("and", var("a"), var("b")), S), "not (a and b)"),
        (nodes.UnaryOp("-", binop("+", var("a"), lit(1)), S), "-(a + 1)"),
        (nodes.UnaryOp("-", nodes.UnaryOp("-", var("a"), S), S), "--a"),
        (binop("not in", var("a"), var("b")), "a not in b"),
        (nodes.GetAttr(binop("+", var("a"), var("b")), "c", S), "(a + b).c"),
        (nodes.GetItem(var("arr"), nodes.UnaryOp("-", lit(1), S), S), "arr[-1]"),
        (nodes.Call(nodes.GetAttr(var("x"), "f", S), (lit("a'b"),), (), S), 'x.f("a\'b")'),
        (
            nodes.Call(var("gen"), (lit("x"),), (nodes.Keyword("stop", lit("\n"), S),), S),
            "gen('x', stop='\\n')",
        ),
        (nodes.ListExpr((lit(1), lit(2.5), lit(True), lit(None)), S), "[1, 2.5, True, None]"),
        (nodes.DictExpr(((lit("a"), nodes.DictExpr((), S)),), S), "{'a': {}}"),
        (nodes.DictExpr(((nodes.DictExpr((), S), lit(1)),), S), "{ {}: 1}"),
        (var("@index"), "@index"),
    ],
)
def test_format_expr(expr: nodes.Expr, text: str) -> None:
    assert format_expr(expr) == text


def test_format_site_shows_only_what_is_set() -> None:
    assert format_site(ins.CallSite()) == "site()"
    site = ins.CallSite("x" * 20 + "end", "start" + "y" * 20, True, "user")
    assert format_site(site) == (
        "site(prev='xxxxxxxxxxxxxend', next='startyyyyyyyyyyy', end, role='user')"
    )


def test_format_instruction_for_every_kind() -> None:
    (output,) = parse("{{f a k=1}}").body
    assert isinstance(output, nodes.Output)
    call = output.expr
    assert isinstance(call, nodes.Call)
    site = ins.CallSite(at_body_end=True)
    rendered = [
        format_instruction(i)
        for i in (
            ins.Text("a\n", S),
            ins.Emit(call, site, S),
            ins.Jump(3, S),
            ins.JumpIfFalse(var("c"), 4, S),
            ins.JumpIfTrue(var("c"), 5, S),
            ins.LoopStart("each", call, 7, None, 8, site, S),
            ins.LoopEnd(6, 8, S),
            ins.EnterBlock(call, 10, S),
            ins.ExitBlock(9, S),
            ins.SelectBlock(call, (12, 13), 14, site, S),
            ins.IncludePartial(call, S),
        )
    ]
    assert rendered == [
        "TEXT 'a\\n'",
        "EMIT f(a, k=1) site(end)",
        "JUMP -> 3",
        "JUMP_IF_FALSE c -> 4",
        "JUMP_IF_TRUE c -> 5",
        "LOOP_START each f(a, k=1) end=7 else=None exit=8 site(end)",
        "LOOP_END start=6 exit=8",
        "ENTER_BLOCK f(a, k=1) end=10",
        "EXIT_BLOCK start=9",
        "SELECT_BLOCK f(a, k=1) options=[12, 13] end=14 site(end)",
        "INCLUDE_PARTIAL f(a, k=1)",
    ]
