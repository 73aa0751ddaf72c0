"""Differential tests against pybars3 on the plain-Handlebars subset.

Templates use variables, dotted paths, #if/#unless/#each with {{else}}, comments, whitespace
control and @index/@key/@first/@last. Two deliberate differences are kept out of the comparison:

- we never HTML-escape prompt text, so our `{{x}}` is compared with pybars3's `{{{x}}}`;
- Handlebars drops the line of a block tag or comment that stands alone on it, while we keep
  every character, so only templates where each such tag shares its line with some other
  non-blank character are compared (`standalone_free`).

Two more Handlebars-vs-Guidance differences are avoided by the generator rather than compared:
booleans render as `true` in Handlebars and `True` here (booleans are only used as conditions),
and inside `{{#each}}` Guidance falls back to outer variables where Handlebars does not (loop
bodies only use `this`, `this.field` and the @-variables).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any, cast

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pybars import Compiler

import guidance_engine as guidance

EXAMPLES = int(os.environ.get("DIFFERENTIAL_EXAMPLES", "150"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TEXT = st.text(alphabet="ab xy.,:;!?<>&\"'~-\n", max_size=6)
WORDS = st.text(alphabet="abcxyz <>&\"'", min_size=0, max_size=5)
TOP_VARIABLES = ["name", "n", "obj.b", "obj.c.d"]
CONDITIONS = ["flag", "empty", "items", "name", "n", "zero", "obj.c"]
LOOPS = {  # loop variable -> what the body may print
    "items": ["this", "@index"],
    "people": ["this.name", "this.age", "@index"],
    "table": ["this", "@key"],
    "matrix": ["@index"],  # rows are lists: printed only through a nested {{#each this}}
    "this": ["this", "@index"],  # a row of the matrix
}
LOOP_CONDITIONS = ["@first", "@last", "this", "@index"]

# A piece of template is (source, standalone_able): block tags and comments are standalone-able.
Piece = tuple[str, bool]


def tag(draw: st.DrawFn, body: str, standalone: bool) -> Piece:
    left = "~" if draw(st.booleans()) else ""
    right = "~" if draw(st.booleans()) else ""
    return "{{" + left + body + right + "}}", standalone


@st.composite
def pieces(draw: st.DrawFn, loop: str | None, depth: int) -> list[Piece]:
    """A sequence of template pieces for a body at `depth`, inside `loop` (or at top level)."""
    result: list[Piece] = []
    for _ in range(draw(st.integers(0, 4))):
        kinds = ["text", "var", "comment"] + (["if", "each"] if depth < 3 else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "text":
            result.append((draw(TEXT), False))
        elif kind == "var":
            names = LOOPS[loop] if loop else TOP_VARIABLES
            result.append(tag(draw, draw(st.sampled_from(names)), False))
        elif kind == "comment":
            comment = draw(st.sampled_from(["! note ", "!-- a b --"]))  # pybars3: no }} inside
            result.append(tag(draw, comment, True))
        elif kind == "if":
            result += draw(if_block(loop, depth))
        elif loop in (None, "matrix"):
            result += draw(each_block(depth, loop))
    return result


@st.composite
def if_block(draw: st.DrawFn, loop: str | None, depth: int) -> list[Piece]:
    name = draw(st.sampled_from(["if", "unless"]))
    cond = draw(st.sampled_from(LOOP_CONDITIONS if loop else CONDITIONS))
    result = [tag(draw, f"#{name} {cond}", True), *draw(pieces(loop, depth + 1))]
    if name == "if" and draw(st.booleans()):  # pybars3 ignores {{else}} inside #unless
        result += [tag(draw, "else", True), *draw(pieces(loop, depth + 1))]
    return [*result, tag(draw, f"/{name}", True)]


@st.composite
def each_block(draw: st.DrawFn, depth: int, outer: str | None) -> list[Piece]:
    """An each block at top level (`outer` None) or over a row inside the matrix loop."""
    loop = "this" if outer else draw(st.sampled_from(["items", "matrix", "people", "table"]))
    result = [tag(draw, f"#each {loop}", True), *draw(pieces(loop, depth + 1))]
    if draw(st.booleans()):  # the else body runs in the enclosing context
        result += [tag(draw, "else", True), *draw(pieces(outer, depth + 1))]
    return [*result, tag(draw, "/each", True)]


def standalone_free(template: list[Piece]) -> bool:
    """True when every block tag or comment shares its line with a non-blank character that is
    not itself part of a block tag or comment (pybars3 also drops a line holding only several
    such tags)."""
    source = "".join(text for text, _ in template)
    # The source with block tags and comments blanked out (they hold no newlines).
    visible = "".join(" " * len(text) if standalone else text for text, standalone in template)
    offset = 0
    for text, standalone in template:
        if standalone:
            line_start = source.rfind("\n", 0, offset) + 1
            line_end = source.find("\n", offset + len(text))
            line_end = len(source) if line_end == -1 else line_end
            if not visible[line_start:line_end].strip():
                return False
        offset += len(text)
    return True


DATA = st.fixed_dictionaries(
    {
        "name": WORDS,
        "n": st.integers(-3, 3),
        "zero": st.just(0),
        "flag": st.booleans(),
        "empty": st.just([]),
        "obj": st.fixed_dictionaries({"b": WORDS, "c": st.fixed_dictionaries({"d": WORDS})}),
        "items": st.lists(WORDS, max_size=3),
        "people": st.lists(
            st.fixed_dictionaries({"name": WORDS, "age": st.integers(0, 99)}), max_size=3
        ),
        "table": st.dictionaries(st.sampled_from(["k1", "k2", "k3"]), WORDS, max_size=3),
        "matrix": st.lists(st.lists(WORDS, max_size=2), max_size=3),
    }
)


def pybars_render(source: str, data: dict[str, Any]) -> str:
    """pybars3's output, with every `{{x}}` made a non-escaping `{{{x}}}`."""
    unescaped = re.sub(r"\{\{(~?)([A-Za-z@][\w.@]*)(~?)\}\}", r"{{\1{\2}\3}}", source)
    unescaped = unescaped.replace("{{{else}}}", "{{else}}").replace("{{~{else}}}", "{{~else}}")
    unescaped = unescaped.replace("{{{else}~}}", "{{else~}}").replace("{{~{else}~}}", "{{~else~}}")
    return str(Compiler().compile(unescaped)(data))


def our_render(source: str, data: dict[str, Any]) -> str:
    program = cast(Callable[..., Any], guidance)  # the module is callable at run time
    return str(program(source, llm=guidance.llms.Mock())(**data))


@SETTINGS
@given(pieces(None, 0), DATA)
def test_same_output_as_pybars(template: list[Piece], data: dict[str, Any]) -> None:
    assume(standalone_free(template))
    source = "".join(text for text, _ in template)
    assert our_render(source, data) == pybars_render(source, data), source


def test_known_examples_match_pybars() -> None:
    data = {"items": ["a", "<b>"], "obj": {"b": "&"}, "flag": False}
    source = (
        "List: {{#each items}}{{@index}}={{this}}{{#unless @last}}, {{/unless}}{{/each}}.\n"
        "x {{~! gone ~}} y {{obj.b}} {{#if flag}}yes{{else}}no{{/if}} z  {{~#if items~}}  !  "
        "{{~/if}}"
    )
    expected = "List: 0=a, 1=<b>.\nxy & no z!"
    assert pybars_render(source, data) == expected
    assert our_render(source, data) == expected
