"""Whole error messages, caret snippet included, for malformed templates."""

from __future__ import annotations

import pytest

from guidance_engine.errors import Span, TemplateSyntaxError
from guidance_engine.template.compiler import compile_template
from guidance_engine.template.parser import parse

CASES = {
    "unclosed block": (
        "Hello\n{{#if x}}\n  {{name}}",
        "unexpected end of template; expected '{{/if}}'. The innermost block that needs to be "
        "closed is 'if' (opened at line 2, column 1) (line 3, column 11)\n"
        "      {{name}}\n"
        "              ^",
    ),
    "unclosed nested block names the innermost": (
        "{{#each xs}}{{#select 'a'}}x{{or}}y{{/each}}",
        "mismatched closing tag: found '{{/each}}', expected '{{/select}}'. The innermost block "
        "that needs to be closed is 'select' (opened at line 1, column 13) (line 1, column 36)\n"
        "    {{#each xs}}{{#select 'a'}}x{{or}}y{{/each}}\n"
        "                                       ^",
    ),
    "mismatched close": (
        "{{#if x}}a{{/each}}",
        "mismatched closing tag: found '{{/each}}', expected '{{/if}}'. The innermost block that "
        "needs to be closed is 'if' (opened at line 1, column 1) (line 1, column 11)\n"
        "    {{#if x}}a{{/each}}\n"
        "              ^",
    ),
    "close without open": (
        "text {{/if}}",
        "unexpected closing tag '{{/if}}'; no block is open (line 1, column 6)\n"
        "    text {{/if}}\n"
        "         ^",
    ),
    "else outside a block": (
        "a {{else}} b",
        "unexpected '{{else}}' outside a block; it is only allowed in an if, unless or each "
        "block (line 1, column 3)\n"
        "    a {{else}} b\n"
        "      ^",
    ),
    "elif in each": (
        "{{#each xs}}a{{elif y}}b{{/each}}",
        "unexpected '{{elif}}' in the 'each' block (opened at line 1, column 1); it is only "
        "allowed in an if or unless block (line 1, column 14)\n"
        "    {{#each xs}}a{{elif y}}b{{/each}}\n"
        "                 ^",
    ),
    "else if in each": (
        "{{#each xs}}a{{else if y}}b{{/each}}",
        "unexpected '{{elif}}' in the 'each' block (opened at line 1, column 1); it is only "
        "allowed in an if or unless block (line 1, column 14)\n"
        "    {{#each xs}}a{{else if y}}b{{/each}}\n"
        "                 ^",
    ),
    "or outside select": (
        "{{#if x}}a{{or}}b{{/if}}",
        "unexpected '{{or}}' in the 'if' block (opened at line 1, column 1); it is only allowed "
        "in a select block (line 1, column 11)\n"
        "    {{#if x}}a{{or}}b{{/if}}\n"
        "              ^",
    ),
    "else in a role block": (
        "{{#user}}a{{else}}b{{/user}}",
        "unexpected '{{else}}' in the 'user' block (opened at line 1, column 1); it is only "
        "allowed in an if, unless or each block (line 1, column 11)\n"
        "    {{#user}}a{{else}}b{{/user}}\n"
        "              ^",
    ),
    "second else": (
        "{{#if x}}a{{else}}b{{else}}c{{/if}}",
        "unexpected '{{else}}' after the '{{else}}' of the 'if' block (opened at line 1, "
        "column 1); expected '{{/if}}' (line 1, column 20)\n"
        "    {{#if x}}a{{else}}b{{else}}c{{/if}}\n"
        "                       ^",
    ),
    "elif after else": (
        "{{#if x}}a{{else}}b{{elif y}}c{{/if}}",
        "unexpected '{{elif}}' after the '{{else}}' of the 'if' block (opened at line 1, "
        "column 1); expected '{{/if}}' (line 1, column 20)\n"
        "    {{#if x}}a{{else}}b{{elif y}}c{{/if}}\n"
        "                       ^",
    ),
    "bad number literal": (
        "{{x 12ab}}",
        "bad number literal '12ab'; expected digits, an optional fraction and exponent "
        "(line 1, column 5)\n"
        "    {{x 12ab}}\n"
        "        ^",
    ),
    "bad escape": (
        "{{'\\u12'}}",
        "bad escape '\\u12' in string; expected '\\u' followed by 4 hex digits (line 1, column 4)\n"
        "    {{'\\u12'}}\n"
        "       ^",
    ),
    "unterminated string": (
        "{{gen 'name}}",
        "unterminated string: found end of template, expected a closing ' (line 1, column 7)\n"
        "    {{gen 'name}}\n"
        "          ^",
    ),
    "unterminated string spanning lines": (
        '{{gen "name}}\nmore {{x}}',
        'unterminated string: found end of template, expected a closing " (line 1, column 7)\n'
        '    {{gen "name}}\n'
        "          ^",
    ),
    "unterminated tag at end": (
        "Hi {{name\nBye",
        "unterminated tag: found end of template, expected '}}' to close the tag opened here "
        "(line 1, column 4)\n"
        "    Hi {{name\n"
        "       ^",
    ),
    "unterminated tag before another tag": (
        "Hi {{name\nBye {{x}}",
        "unterminated tag: found '{{' at line 2, column 5, expected '}}' to close the tag "
        "opened here (line 1, column 4)\n"
        "    Hi {{name\n"
        "       ^",
    ),
    "stray close": (
        "Hi {{name}} }} there",
        "unexpected '}}' in text; expected text or a tag opened with '{{' (write '\\}}' for a "
        "literal '}}') (line 1, column 13)\n"
        "    Hi {{name}} }} there\n"
        "                ^",
    ),
    "empty tag": (
        "Hi {{}}",
        "empty tag: expected an expression between '{{' and '}}' (line 1, column 4)\n"
        "    Hi {{}}\n"
        "       ^",
    ),
    "empty tag with tildes": (
        "Hi {{~ ~}}",
        "empty tag: expected an expression between '{{' and '}}' (line 1, column 4)\n"
        "    Hi {{~ ~}}\n"
        "       ^",
    ),
    "bad operator sequence": (
        "{{x + * 2}}",
        "unexpected '*'; expected an expression (line 1, column 7)\n    {{x + * 2}}\n          ^",
    ),
    "operator without right operand": (
        "{{#if x and}}y{{/if}}",
        "unexpected '}}'; expected an expression (line 1, column 12)\n"
        "    {{#if x and}}y{{/if}}\n"
        "               ^",
    ),
    "chained comparison": (
        "{{a < b < c}}",
        "unexpected '<' after a comparison; chained comparisons are not supported (use 'and') "
        "(line 1, column 9)\n"
        "    {{a < b < c}}\n"
        "            ^",
    ),
    "break outside loop": (
        "{{#if x}}{{break}}{{/if}}",
        "unexpected '{{break}}' outside a loop; it is only allowed in the body of an each or "
        "geneach block (line 1, column 10)\n"
        "    {{#if x}}{{break}}{{/if}}\n"
        "             ^",
    ),
    "unclosed long comment": (
        "a\n{{!-- never closed }}",
        "unclosed comment: found end of template, expected '--}}' (line 2, column 1)\n"
        "    {{!-- never closed }}\n"
        "    ^",
    ),
    "unclosed short comment": (
        "{{! never closed",
        "unclosed comment: found end of template, expected '}}' (line 1, column 1)\n"
        "    {{! never closed\n"
        "    ^",
    ),
    "unknown character": (
        "{{x $ y}}",
        "unexpected character '$' in tag; expected a name, a literal, an operator or '}}' "
        "(line 1, column 5)\n"
        "    {{x $ y}}\n"
        "        ^",
    ),
    "if without condition": (
        "{{#if}}a{{/if}}",
        "expected one condition in '{{#if}}', found none (line 1, column 1)\n"
        "    {{#if}}a{{/if}}\n"
        "    ^",
    ),
    "if with two conditions": (
        "{{#if a b}}x{{/if}}",
        "expected one condition in '{{#if}}', found 2 arguments (combine them with 'and' or "
        "'or') (line 1, column 9)\n"
        "    {{#if a b}}x{{/if}}\n"
        "            ^",
    ),
    "if with a negative second argument": (
        "{{#if x -1}}y{{/if}}",
        "expected one condition in '{{#if}}', found 2 arguments (a '-' after a space and "
        "touching its operand starts a new argument; write 'a - 1' to subtract) "
        "(line 1, column 9)\n"
        "    {{#if x -1}}y{{/if}}\n"
        "            ^",
    ),
    "assignment in a condition": (
        "{{#if x = 1}}y{{/if}}",
        "unexpected keyword argument 'x' in '{{#if}}'; expected one condition (write '==' to "
        "compare) (line 1, column 7)\n"
        "    {{#if x = 1}}y{{/if}}\n"
        "          ^",
    ),
    "unclosed call parenthesis": (
        "{{f(1, 2}}",
        "unexpected '}}'; expected ',' or ')' in the argument list (line 1, column 9)\n"
        "    {{f(1, 2}}\n"
        "            ^",
    ),
    "missing block name": (
        "{{#}}",
        "unexpected '}}'; expected a block name after '{{#' (line 1, column 4)\n"
        "    {{#}}\n"
        "       ^",
    ),
    "duplicate keyword": (
        "{{gen 'a' stop='x' stop='y'}}",
        "duplicate keyword argument 'stop' (line 1, column 20)\n"
        "    {{gen 'a' stop='x' stop='y'}}\n"
        "                       ^",
    ),
    "single brace inside tag": (
        "{{x}y}}",
        "unexpected '}' in tag; expected '}}' to close the tag (line 1, column 4)\n"
        "    {{x}y}}\n"
        "       ^",
    ),
    "keyword as a value": (
        "{{and}}",
        "unexpected keyword 'and'; expected an expression (line 1, column 3)\n    {{and}}\n      ^",
    ),
    "too deeply nested": (
        "{{" + "-" * 70 + "x}}",
        "template nested too deeply at '-'; expected at most 64 levels of blocks, brackets and "
        "operators (each operator of a chain such as 'a + b + c' is one level) (line 1, "
        "column 67)\n"
        "    {{" + "-" * 70 + "x}}\n"
        "    " + " " * 66 + "^",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_whole_error_message(case: str) -> None:
    source, expected = CASES[case]
    with pytest.raises(TemplateSyntaxError) as info:
        compile_template(source)
    assert str(info.value) == expected
    assert info.value.source == source


def test_error_carries_span_and_template_name() -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        parse("ab\n{{#if x}}", name="story.hbs")
    assert info.value.span == Span(12, 12, 2, 10)
    assert info.value.name == "story.hbs"
    assert str(info.value).splitlines()[0].endswith("(story.hbs, line 2, column 10)")


def test_literal_followed_by_an_argument_is_a_syntax_error() -> None:
    from guidance_engine.template.compiler import compile_template

    with pytest.raises(TemplateSyntaxError) as err:
        compile_template("{{'a' 'b'}}")
    assert str(err.value) == (
        "unexpected string 'b'; expected '}}' after a literal value (only a name or path can "
        "take arguments) (line 1, column 7)\n    {{'a' 'b'}}\n          ^"
    )


def test_dot_after_a_number_is_a_syntax_error() -> None:
    from guidance_engine.template.compiler import compile_template

    with pytest.raises(TemplateSyntaxError) as err:
        compile_template("{{1.2.3}}")
    assert str(err.value) == (
        "unexpected '.'; expected '}}' or an operator after the number 1.2 (line 1, column 6)"
        "\n    {{1.2.3}}\n         ^"
    )
