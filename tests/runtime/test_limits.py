"""Partials and parsed templates nest at most MAX_INCLUDE_DEPTH levels: deeper (or endless)
inclusion is a positioned TemplateRuntimeError listing the include chain, not a RecursionError."""

from __future__ import annotations

import pytest

import guidance_engine as guidance
from guidance_engine.runtime.interpreter import MAX_INCLUDE_DEPTH


def test_a_partial_including_itself_is_a_positioned_error_with_the_chain() -> None:
    p = guidance("x{{>p}}")
    with pytest.raises(guidance.TemplateRuntimeError) as info:
        p(p=p)
    assert str(info.value) == (
        "partials and parsed templates nested too deeply: expected at most 50 levels (a partial "
        "that includes itself needs a condition that ends the recursion); include chain: the "
        "program at line 1, column 2 -> partial 'p' at line 1, column 2 -> partial 'p' at line "
        "1, column 2 -> ... (46 more) ... -> partial 'p' at line 1, column 2 -> partial 'p' at "
        "line 1, column 2 (partial 'p', line 1, column 2)\n    x{{>p}}\n     ^"
    )
    assert not getattr(info.value, "__notes__", None)  # one chain, not 50 notes


def test_terminating_recursive_partials_run_up_to_the_limit() -> None:
    assert MAX_INCLUDE_DEPTH == 50
    countdown = guidance("{{n}} {{#if n}}{{>countdown n=(subtract n 1)}}{{/if}}")
    out = countdown(countdown=countdown, n=49)
    assert str(out).split() == [str(i) for i in range(49, -1, -1)]


def test_a_terminating_partial_deeper_than_the_limit_fails_cleanly() -> None:
    countdown = guidance("{{#if n}}{{>countdown n=(subtract n 1)}}{{/if}}")
    with pytest.raises(guidance.TemplateRuntimeError) as info:
        countdown(countdown=countdown, n=400)  # used to need ~1000 Python frames
    assert info.value.message.startswith("partials and parsed templates nested too deeply")
    assert info.value.span is not None and info.value.span.column == 10


def test_mutually_including_partials_name_both_in_the_chain() -> None:
    a = guidance("a{{>b}}")
    b = guidance("b{{>a}}")
    with pytest.raises(guidance.TemplateRuntimeError) as info:
        a(a=a, b=b)
    assert "include chain: the program at line 1, column 2 -> partial 'b' at line 1, column 2 " \
        "-> partial 'a' at line 1, column 2 -> ..." in info.value.message


def test_a_parse_that_parses_itself_is_a_positioned_error() -> None:
    with pytest.raises(guidance.TemplateRuntimeError) as info:
        guidance("{{parse t}}")(t="a{{parse t}}")
    assert "include chain: the program at line 1, column 3 -> <parse> at line 1, column 4" in (
        info.value.message)
