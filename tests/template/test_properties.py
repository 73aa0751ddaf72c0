"""Property tests: the front end never crashes, spans stay inside the source, and
`format_expr` is the inverse of the parser on expressions."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import guidance_engine as guidance
from guidance_engine.errors import Span, TemplateSyntaxError
from guidance_engine.template import instructions as ins
from guidance_engine.template import nodes
from guidance_engine.template.compiler import compile_template
from guidance_engine.template.format import format_expr
from guidance_engine.template.lexer import tokenize
from guidance_engine.template.parser import KEYWORDS, parse

GOLDEN = Path(__file__).parent / "golden"
VALID = [p.read_text(encoding="utf-8") for p in sorted(GOLDEN.glob("*.hbs"))] + [
    "{{#if a}}x{{elif b}}y{{else}}z{{/if}}",
    "{{#each xs}}{{@index}}{{#unless @last}}, {{/unless}}{{else}}-{{/each}}",
    "{{~#user~}} {{gen 'q' stop=\"\\n\"}} {{~/user~}}",
    "{{set {'a': [1, -2.5]}}}{{add x -1}}{{f(a, k=v)}}",
]
SPECIAL = "{}~#/>!'\"\\ \n@.-()[]=,:*+<>"
ALPHABET = SPECIAL + "abxyz019_ "
# TEMPLATE_EXAMPLES=20000 for a deeper search; the default keeps `make test` quick.
FAST = settings(
    max_examples=int(os.environ.get("TEMPLATE_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SPAN = Span(0, 0, 1, 1)


def compiles_or_syntax_error(source: str) -> ins.CompiledTemplate | None:
    """Compiles `source`; a TemplateSyntaxError is fine, anything else fails the test."""
    try:
        return compile_template(source)
    except TemplateSyntaxError as error:
        assert error.span is not None and error.source == source
        assert 0 <= error.span.start <= len(source)
        return None


@FAST
@given(st.text(alphabet=ALPHABET, max_size=60))
def test_random_text_only_raises_syntax_errors(source: str) -> None:
    compiles_or_syntax_error(source)


@FAST
@given(st.text(max_size=40))
def test_random_unicode_only_raises_syntax_errors(source: str) -> None:
    compiles_or_syntax_error(source)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    source = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(source)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(SPECIAL))
        if op == "insert":
            source = source[:position] + char + source[position:]
        elif op == "delete":
            source = source[:position] + source[position + 1 :]
        else:
            source = source[:position] + char + source[position + 1 :]
    return source


@FAST
@given(mutated())
def test_mutated_templates_only_raise_syntax_errors(source: str) -> None:
    compiled = compiles_or_syntax_error(source)
    if compiled is not None:
        check_spans(source, compiled)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated(), st.text(alphabet=ALPHABET, max_size=40)))
def test_program_construction_only_raises_syntax_errors(source: str) -> None:
    make_program = cast(Callable[..., Any], guidance)  # the module is callable at run time
    with contextlib.suppress(TemplateSyntaxError):
        make_program(source, llm=guidance.llms.Mock())


def all_spans(value: Any) -> list[Span]:
    """Every Span reachable from a node, instruction or tuple of them."""
    if isinstance(value, Span):
        return [value]
    if isinstance(value, tuple):
        return [span for item in value for span in all_spans(item)]
    if hasattr(value, "__dataclass_fields__"):
        return [span for f in fields(value) for span in all_spans(getattr(value, f.name))]
    return []


def check_spans(source: str, compiled: ins.CompiledTemplate) -> None:
    tokens = tokenize(source)
    for before, after in itertools.pairwise(tokens):
        assert before.span.end <= after.span.start  # in order, never overlapping
    spans = all_spans(tuple(tokens)) + all_spans(parse(source).body)
    spans += all_spans(compiled.instructions)
    for span in spans:
        assert 0 <= span.start <= span.end <= len(source)
        assert Span.at(source, span.start, span.end) == span
    count = len(compiled.instructions)
    for instruction in compiled.instructions:
        for name in ("target", "end", "exit", "start", "else_start"):
            value = getattr(instruction, name, None)
            assert value is None or 0 <= value <= count


def test_valid_templates_spans_point_inside_the_source() -> None:
    for source in VALID:
        check_spans(source, compile_template(source))


@FAST
@given(st.text(alphabet=st.characters(blacklist_characters="{}\\"), max_size=50))
def test_text_without_braces_is_one_text_node(source: str) -> None:
    assert parse(source).body == (
        (nodes.Text(source, Span.at(source, 0, len(source))),) if source else ()
    )


# ---------------------------------------------------------------- round trip


NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True).filter(
    lambda n: n not in KEYWORDS and n not in ("True", "False", "None")
)
VAR_NAMES = NAMES | st.sampled_from(["this", "@index", "@first", "@last", "@key", "@prefix"])
LITERALS = st.one_of(
    st.text(max_size=8),
    st.integers(0, 10**6),
    st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
    st.sampled_from([True, False, None]),
).map(lambda value: nodes.Literal(value, SPAN))
BINARY_OPS = ["or", "and", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "is", "is not",
              "+", "-", "*", "/", "%"]  # fmt: skip


def extend(children: st.SearchStrategy[nodes.Expr]) -> st.SearchStrategy[nodes.Expr]:
    keywords = st.lists(st.tuples(NAMES, children), max_size=2, unique_by=lambda kv: kv[0])
    return st.one_of(
        st.builds(lambda o, n: nodes.GetAttr(o, n, SPAN), children, NAMES),
        st.builds(lambda o, i: nodes.GetItem(o, i, SPAN), children, children),
        st.builds(
            lambda f, a, k: nodes.Call(
                f, tuple(a), tuple(nodes.Keyword(n, v, SPAN) for n, v in k), SPAN
            ),
            children,
            st.lists(children, max_size=3),
            keywords,
        ),
        st.builds(
            lambda op, x: nodes.UnaryOp(op, x, SPAN), st.sampled_from(["not", "-"]), children
        ),
        st.builds(
            lambda op, a, b: nodes.BinOp(op, a, b, SPAN),
            st.sampled_from(BINARY_OPS),
            children,
            children,
        ),
        st.builds(lambda items: nodes.ListExpr(tuple(items), SPAN), st.lists(children, max_size=3)),
        st.builds(
            lambda items: nodes.DictExpr(tuple(items), SPAN),
            st.lists(st.tuples(children, children), max_size=2),
        ),
    )


EXPRESSIONS = st.recursive(
    st.one_of(LITERALS, VAR_NAMES.map(lambda n: nodes.Var(n, SPAN))), extend, max_leaves=12
)


def strip(value: Any) -> Any:
    """A span-free, type-exact structure (so `Literal(1)` differs from `Literal(True)`)."""
    if isinstance(value, tuple):
        return tuple(strip(item) for item in value)
    if hasattr(value, "__dataclass_fields__"):
        parts = [strip(getattr(value, f.name)) for f in fields(value) if f.name != "span"]
        return (type(value).__name__, *parts)
    return (type(value).__name__, value)


# Hypothesis warns about the size of the nested strategy's repr; it says nothing about our code.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@FAST
@given(EXPRESSIONS)
def test_format_expr_round_trips_through_the_parser(expr: nodes.Expr) -> None:
    text = format_expr(expr)
    assume(len(text) < 2000)
    (output,) = parse("{{ " + text + " }}").body
    assert isinstance(output, nodes.Output)
    assert strip(output.expr) == strip(expr), text


def test_format_expr_examples() -> None:
    (output,) = parse("{{add x -1 k=(a or b) and c}}").body
    assert isinstance(output, nodes.Output)
    assert format_expr(output.expr) == "add(x, -1, k=(a or b) and c)"
    (output,) = parse("{{(a < b) < -(c + d) * e.f[0]}}").body
    assert isinstance(output, nodes.Output)
    assert format_expr(output.expr) == "(a < b) < -(c + d) * e.f[0]"


def corpus_expressions(value: Any) -> list[nodes.Expr]:
    """Every tag expression and block call in a parsed template."""
    if isinstance(value, nodes.Output):
        return [value.expr]
    if isinstance(value, nodes.Block | nodes.Partial):
        found: list[nodes.Expr] = [value.call]
        if isinstance(value, nodes.Block):
            for section in value.sections:
                found += [*section.args, *corpus_expressions(section.body)]
        return found
    if isinstance(value, tuple):
        return [expr for item in value for expr in corpus_expressions(item)]
    return []


def test_format_expr_round_trips_every_expression_of_the_corpus() -> None:
    expressions = [e for source in VALID for e in corpus_expressions(parse(source).body)]
    expressions = [e for e in expressions if strip(e) != strip(nodes.Var("break", SPAN))]
    assert len(expressions) > 80
    for expr in expressions:
        (output,) = parse("{{ " + format_expr(expr) + " }}").body
        assert isinstance(output, nodes.Output)
        assert strip(output.expr) == strip(expr), format_expr(expr)


# ---------------------------------------------------------------- limits: chains and partials

_CHAIN_OPS = ["+", " - ", "*", " and ", " or ", " == ", "/", " in "]


@st.composite
def chained(draw: st.DrawFn, depth: int = 0) -> str:
    """An expression mixing long operator chains, postfix chains, brackets and prefixes."""
    kind = draw(st.sampled_from(["atom", "chain", "postfix", "paren", "prefix", "list"]
                                if depth < 4 else ["atom", "chain", "postfix"]))
    if kind == "atom":
        return draw(st.sampled_from(["1", "x", "'s'", "True"]))
    if kind == "chain":
        # Only the outermost chain is long: nested long chains multiply (130**3 operands
        # built a multi-gigabyte template and got pytest killed for memory).
        length = draw(st.integers(1, 130 if depth == 0 else 6))
        op = draw(st.sampled_from(_CHAIN_OPS))
        operand = draw(chained(depth + 1)) if depth < 3 else "1"
        return op.join([operand] * length)
    if kind == "postfix":
        links = draw(st.lists(st.sampled_from([".a", "[0]", ".b"]), max_size=130))
        return "x" + "".join(links)
    inner = draw(chained(depth + 1))
    if kind == "paren":
        count = draw(st.integers(1, 40))
        return "(" * count + inner + ")" * count
    if kind == "prefix":
        return draw(st.sampled_from(["-", "not ", "- -"])) + "(" + inner + ")"
    return "[" + inner + ", 1]"


def _self_dict() -> dict[Any, Any]:
    d: dict[Any, Any] = {}
    d.update({"a": d, "b": [d], 0: d})
    return d


@settings(max_examples=int(os.environ.get("TEMPLATE_EXAMPLES", "100")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(chained(), st.integers(0, 70))
def test_chains_compile_to_a_syntax_error_or_run_without_recursion_errors(
    expr: str, blocks: int
) -> None:
    """Long chains, deep brackets and blocks: a TemplateSyntaxError at compile time, or a run
    that ends normally or with a positioned GuidanceError, never a RecursionError."""
    source = "{{#if x}}" * blocks + "{{" + expr + "}}" + "{{/if}}" * blocks
    try:
        program = guidance(source, llm=guidance.llms.Mock())
    except TemplateSyntaxError as error:
        assert error.span is not None and 0 <= error.span.start <= len(source)
        return
    try:
        program(x=_self_dict())
    except guidance.GuidanceError as error:
        assert not isinstance(error.__cause__, RecursionError)


@settings(max_examples=int(os.environ.get("TEMPLATE_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=4),
       st.integers(0, 120))
def test_partials_that_include_each_other_fail_cleanly(
    edges: list[tuple[int, bool]], n: int
) -> None:
    """Programs including each other (themselves too), with or without a condition that ends
    the recursion: they run, or fail with a positioned error listing the include chain."""
    programs: dict[str, Any] = {}
    for index, (target, guarded) in enumerate(edges):
        include = f"{{{{>p{target % len(edges)} n=(subtract n 1)}}}}"
        body = f"{{{{#if n}}}}{include}{{{{/if}}}}" if guarded else include
        programs[f"p{index}"] = guidance(f"[{index}]{body}")
    try:
        out = programs["p0"](n=n, **programs)
    except guidance.TemplateRuntimeError as error:
        assert error.span is not None
        assert "nested too deeply" in error.message and "include chain: " in error.message
        return
    assert str(out).startswith("[0]")
