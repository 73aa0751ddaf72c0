"""Parser tests: golden AST dumps and the exact tree for each grammar rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from guidance_engine.errors import Span
from guidance_engine.template import nodes
from guidance_engine.template.parser import parse

GOLDEN = Path(__file__).parent / "golden"
NAMES = sorted(p.stem for p in GOLDEN.glob("*.hbs"))


def sexpr(expr: nodes.Expr) -> str:
    """A compact, span-free rendering: `(call add x (- 1))`."""
    match expr:
        case nodes.Literal(value=value):
            return repr(value)
        case nodes.Var(name=name):
            return name
        case nodes.GetAttr(obj=obj, name=name):
            return f"(. {sexpr(obj)} {name})"
        case nodes.GetItem(obj=obj, index=index):
            return f"([] {sexpr(obj)} {sexpr(index)})"
        case nodes.Call(func=func, args=args, kwargs=kwargs):
            parts = [
                sexpr(func),
                *map(sexpr, args),
                *(f"{k.name}={sexpr(k.value)}" for k in kwargs),
            ]
            return f"(call {' '.join(parts)})"
        case nodes.UnaryOp(op=op, operand=operand):
            return f"({op} {sexpr(operand)})"
        case nodes.BinOp(op=op, left=left, right=right):
            return f"({op} {sexpr(left)} {sexpr(right)})"
        case nodes.ListExpr(items=items):
            return f"[{' '.join(map(sexpr, items))}]"
        case nodes.DictExpr(items=items):
            return "{" + " ".join(f"{sexpr(k)}:{sexpr(v)}" for k, v in items) + "}"
    raise AssertionError(expr)


def tag(source: str) -> str:
    """The s-expression of the single `{{...}}` tag in `source`."""
    (node,) = parse(source).body
    assert isinstance(node, nodes.Output)
    return sexpr(node.expr)


@pytest.mark.parametrize("name", NAMES)
def test_golden_ast(name: str, golden: Callable[[str, str, str], None]) -> None:
    source = (GOLDEN / f"{name}.hbs").read_text(encoding="utf-8")
    golden(name, "ast", nodes.dump(parse(source)))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{x}}", "x"),
        ("{{a.b.c}}", "(. (. a b) c)"),
        ("{{arr[0]}}", "([] arr 0)"),
        ("{{arr[-1]}}", "([] arr (- 1))"),
        ("{{arr[@index]}}", "([] arr @index)"),
        ("{{arr.0.name}}", "(. ([] arr 0) name)"),
        ("{{this.name}}", "(. this name)"),
        ("{{@first}}", "@first"),
        ("{{True}}", "True"),
        ("{{None}}", "None"),
        ("{{[1, 'a', [2.5]]}}", "[1 'a' [2.5]]"),
        ("{{ {'a': 1, 2: None} }}", "{'a':1 2:None}"),
        ("{{[]}}", "[]"),
    ],
)
def test_paths_and_literals(source: str, expected: str) -> None:
    assert tag(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{add 1 2}}", "(call add 1 2)"),
        ("{{add(1, 2)}}", "(call add 1 2)"),
        ("{{add (add 1 2) 3}}", "(call add (call add 1 2) 3)"),
        ("{{add(add(1, 2), 3)}}", "(call add (call add 1 2) 3)"),
        ("{{gen 'x' stop='\\n' max_tokens=5}}", "(call gen 'x' stop='\\n' max_tokens=5)"),
        ("{{gen(name='x', temperature=0.7)}}", "(call gen name='x' temperature=0.7)"),
        ("{{f (g k=1) k = 2}}", "(call f (call g k=1) k=2)"),
        ("{{f()}}", "(call f)"),
        ("{{x.y(1)[0]}}", "([] (call (. x y) 1) 0)"),
        ("{{set {'a': 1}}}", "(call set {'a':1})"),
    ],
)
def test_call_forms(source: str, expected: str) -> None:
    assert tag(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{add x -1}}", "(call add x (- 1))"),
        ("{{add x -y}}", "(call add x (- y))"),
        ("{{add x - 1}}", "(call add (- x 1))"),
        ("{{add x-1}}", "(call add (- x 1))"),
        ("{{add x- 1}}", "(call add (- x 1))"),
        ("{{add -1 -2}}", "(call add (- 1) (- 2))"),
        ("{{x -1}}", "(call x (- 1))"),
        ("{{add(x -1)}}", "(call add (- x 1))"),
        ("{{add (x -1)}}", "(call add (call x (- 1)))"),
        ("{{f x > y -1}}", "(call f (> x y) (- 1))"),
    ],
)
def test_unary_minus_rule(source: str, expected: str) -> None:
    assert tag(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{1 + 2 * 3}}", "(+ 1 (* 2 3))"),
        ("{{(1 + 2) * 3}}", "(* (+ 1 2) 3)"),
        ("{{1 - 2 - 3}}", "(- (- 1 2) 3)"),
        ("{{a / b % c}}", "(% (/ a b) c)"),
        ("{{-a * b}}", "(* (- a) b)"),
        ("{{--a}}", "(- (- a))"),
        ("{{-a.b}}", "(- (. a b))"),
        ("{{a or b and c}}", "(or a (and b c))"),
        ("{{not a and b}}", "(and (not a) b)"),
        ("{{not not a}}", "(not (not a))"),
        ("{{not a == b}}", "(not (== a b))"),
        ("{{a + 1 < b * 2}}", "(< (+ a 1) (* b 2))"),
        ("{{x not in y}}", "(not in x y)"),
        ("{{x is not None}}", "(is not x None)"),
        ("{{x is y or z in w}}", "(or (is x y) (in z w))"),
        ("{{a <= b}}{{a >= b}}", None),
    ],
)
def test_operator_precedence(source: str, expected: str | None) -> None:
    if expected is None:
        assert [sexpr(n.expr) for n in parse(source).body if isinstance(n, nodes.Output)] == [
            "(<= a b)",
            "(>= a b)",
        ]
    else:
        assert tag(source) == expected


def test_if_condition_is_one_infix_argument() -> None:
    (block,) = parse("{{#if x > 1}}big{{/if}}").body
    assert isinstance(block, nodes.Block)
    assert sexpr(block.call) == "(call if (> x 1))"
    assert block.open_span == Span(0, 13, 1, 1)
    assert block.span == Span(0, 23, 1, 1)


def test_sections_with_else_if_and_elif() -> None:
    (block,) = parse("{{#if a}}A{{elif b}}B{{else if c}}C{{else}}D{{/if}}").body
    assert isinstance(block, nodes.Block)
    summary = [
        (
            s.separator,
            [sexpr(a) for a in s.args],
            [n.text for n in s.body if isinstance(n, nodes.Text)],
        )
        for s in block.sections
    ]
    assert summary == [
        (None, [], ["A"]),
        ("elif", ["b"], ["B"]),
        ("elif", ["c"], ["C"]),
        ("else", [], ["D"]),
    ]
    assert block.sections[2].span == Span(21, 34, 1, 22)


def test_select_block_options_split_on_or() -> None:
    (block,) = parse("{{#select 'x'}}a{{or}}b {{y}}{{or}}{{/select}}").body
    assert isinstance(block, nodes.Block)
    assert [s.separator for s in block.sections] == [None, "or", "or"]
    assert [len(s.body) for s in block.sections] == [1, 2, 0]


def test_comment_between_texts_merges_them() -> None:
    body = parse("a {{! c }}b").body
    assert body == (nodes.Text("a b", Span(0, 11, 1, 1)),)


def test_partial_with_arguments() -> None:
    (node,) = parse("{{>tools.search q k=3}}").body
    assert isinstance(node, nodes.Partial)
    assert sexpr(node.call) == "(call (. tools search) q k=3)"


def test_break_allowed_anywhere_inside_a_loop_body() -> None:
    template = parse("{{#each xs}}{{#if x}}{{break}}{{/if}}{{/each}}")
    assert "Var 'break'" in nodes.dump(template)


def test_nested_blocks_and_custom_block_names() -> None:
    (block,) = parse("{{#user}}{{#my_cmd 1 k=2}}x{{/my_cmd}}{{/user}}").body
    assert isinstance(block, nodes.Block)
    inner = block.sections[0].body[0]
    assert isinstance(inner, nodes.Block)
    assert sexpr(inner.call) == "(call my_cmd 1 k=2)"


def test_template_keeps_its_source() -> None:
    assert parse("x {{y}}").source == "x {{y}}"


def test_prefix_comparison_form_of_0_0_64() -> None:
    from guidance_engine.template.nodes import dump
    from guidance_engine.template.parser import parse

    tree = parse("{{#if (== this.role 'user')}}u{{/if}}")
    assert "Call @1:8\n" in dump(tree) and "Var '==' @1:8" in dump(tree)


def test_prefix_comparison_needs_two_arguments() -> None:
    from guidance_engine.errors import TemplateSyntaxError
    from guidance_engine.template.parser import parse

    with pytest.raises(TemplateSyntaxError) as err:
        parse("{{#if (> a)}}x{{/if}}")
    assert str(err.value) == (
        "the prefix form '(> a b)' takes exactly two arguments; found 1 positional and 0 "
        "keyword (line 1, column 8)\n    {{#if (> a)}}x{{/if}}\n           ^"
    )
