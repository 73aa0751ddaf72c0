"""Lexer tests: golden token lists and exact tokens for each lexical rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from guidance_engine.errors import Span
from guidance_engine.template.format import token_listing
from guidance_engine.template.lexer import Token, tokenize

GOLDEN = Path(__file__).parent / "golden"
NAMES = sorted(p.stem for p in GOLDEN.glob("*.hbs"))


def kinds_values(source: str) -> list[tuple[str, str]]:
    return [(t.kind, t.value) for t in tokenize(source)]


@pytest.mark.parametrize("name", NAMES)
def test_golden_tokens(name: str, golden: Callable[[str, str, str], None]) -> None:
    source = (GOLDEN / f"{name}.hbs").read_text(encoding="utf-8")
    golden(name, "tokens", token_listing(tokenize(source)))


def test_simple_tag_tokens_and_spans() -> None:
    assert tokenize("Hi {{name}}") == [
        Token("text", "Hi ", Span(0, 3, 1, 1)),
        Token("open", "{{", Span(3, 5, 1, 4)),
        Token("name", "name", Span(5, 9, 1, 6)),
        Token("close", "}}", Span(9, 11, 1, 10)),
    ]


def test_openers_keep_their_raw_marker() -> None:
    assert kinds_values("{{#if x}}{{~/if~}}{{>p}}") == [
        ("open_block", "{{#"), ("name", "if"), ("name", "x"), ("close", "}}"),
        ("open_close", "{{~/"), ("name", "if"), ("close", "~}}"),
        ("open_partial", "{{>"), ("name", "p"), ("close", "}}"),
    ]  # fmt: skip


def test_tilde_strips_all_whitespace_including_newlines() -> None:
    tokens = tokenize("a \n\t {{~x~}} \n b")
    assert [(t.kind, t.value) for t in tokens if t.kind == "text"] == [("text", "a"), ("text", "b")]
    assert tokens[-1].span == Span(15, 16, 3, 2)


def test_whitespace_is_kept_without_tilde_even_on_standalone_lines() -> None:
    assert kinds_values("{{#if x}}\n  a\n{{/if}}\n")[4:6] == [
        ("text", "\n  a\n"),
        ("open_close", "{{/"),
    ]
    assert kinds_values("{{#if x}}\n  a\n{{/if}}\n")[-1] == ("text", "\n")


def test_tilde_strip_drops_text_that_becomes_empty() -> None:
    assert kinds_values("{{x~}}   {{~y}}") == [
        ("open", "{{"), ("name", "x"), ("close", "~}}"),
        ("open", "{{~"), ("name", "y"), ("close", "}}"),
    ]  # fmt: skip


def test_escaped_mustache_is_text_through_its_closing_braces() -> None:
    assert kinds_values(r"a \{{b}} c") == [("text", "a {{b}} c")]
    assert kinds_values(r"x \}} y") == [("text", "x }} y")]


def test_escaped_backslash_before_a_real_tag() -> None:
    assert kinds_values(r"a \\{{b}}") == [
        ("text", "a \\"), ("open", "{{"), ("name", "b"), ("close", "}}"),
    ]  # fmt: skip


def test_lone_braces_and_backslashes_in_text_are_kept() -> None:
    assert kinds_values("{ } \\n \\") == [("text", "{ } \\n \\")]


def test_comments_short_long_and_with_tilde() -> None:
    assert kinds_values("a {{! hi }} b {{!-- x }} y --}} c {{~!-- z --~}} d") == [
        ("text", "a "), ("comment", " hi "), ("text", " b "), ("comment", " x }} y "),
        ("text", " c"), ("comment", " z "), ("text", "d"),
    ]  # fmt: skip


def test_dict_braces_inside_a_tag_track_depth() -> None:
    assert kinds_values("{{set {'a': {'b': 1}}}}") == [
        ("open", "{{"), ("name", "set"), ("op", "{"), ("string", "a"), ("op", ":"),
        ("op", "{"), ("string", "b"), ("op", ":"), ("int", "1"), ("op", "}"), ("op", "}"),
        ("close", "}}"),
    ]  # fmt: skip


def test_tag_followed_by_a_single_brace_of_text() -> None:
    assert kinds_values('{"a": {{x}}}') == [
        ("text", '{"a": '), ("open", "{{"), ("name", "x"), ("close", "}}"), ("text", "}"),
    ]  # fmt: skip


def test_triple_stash_is_a_plain_tag() -> None:
    assert kinds_values("{{{x}}}") == [("open", "{{{"), ("name", "x"), ("close", "}}}")]


def test_string_escapes_decode_like_python() -> None:
    source = r"""{{'a\nb\t\\\'' "q\"\u00e9\x41\U0001F600" '\d+'}}"""
    strings = [t.value for t in tokenize(source) if t.kind == "string"]
    assert strings == ["a\nb\t\\'", 'q"éA😀', "\\d+"]


def test_numbers_names_and_operators() -> None:
    assert kinds_values("{{f 1 2.5 1e3 @index not_x <= != % arr.0}}")[1:-1] == [
        ("name", "f"), ("int", "1"), ("float", "2.5"), ("float", "1e3"), ("name", "@index"),
        ("name", "not_x"), ("op", "<="), ("op", "!="), ("op", "%"), ("name", "arr"),
        ("op", "."), ("int", "0"),
    ]  # fmt: skip


def test_tags_may_span_lines() -> None:
    tokens = tokenize("{{gen 'x'\n   stop='y'}}")
    assert tokens[3] == Token("name", "stop", Span(13, 17, 2, 4))


def test_strings_may_contain_raw_newlines() -> None:
    # `guidance("{{gen 'x' stop='\n'}}")` in a non-raw Python string puts a real newline there.
    assert kinds_values("{{gen 'x' stop='\n'}}")[3:5] == [("name", "stop"), ("op", "=")]
    assert [t.value for t in tokenize("{{gen 'x' stop='\n'}}") if t.kind == "string"] == ["x", "\n"]


def test_unicode_identifiers_and_whitespace_in_tags() -> None:
    expected = [("open", "{{"), ("name", "名前"), ("close", "}}")]
    assert kinds_values("{{\u00a0名前\u2003}}") == expected
