"""Resource limits of the front end: nesting (blocks, brackets and operator chains) is bounded at
compile time with a positioned error, so no later stage can hit Python's recursion limit."""

from __future__ import annotations

from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.errors import TemplateSyntaxError
from guidance_engine.template.compiler import compile_template
from guidance_engine.template.parser import MAX_NESTING

TOO_DEEP = (
    "template nested too deeply at {found}; expected at most 64 levels of blocks, brackets and "
    "operators (each operator of a chain such as 'a + b + c' is one level) (line 1, column {col})"
)


def run(template: str, **variables: Any) -> str:
    return str(guidance(template, llm=guidance.llms.Mock())(**variables))


def syntax_error(template: str) -> TemplateSyntaxError:
    with pytest.raises(TemplateSyntaxError) as info:
        compile_template(template)
    return info.value


@pytest.mark.parametrize(
    ("joiner", "found"), [("+", "'+'"), (" and ", "keyword 'and'"), (" or ", "keyword 'or'"),
                          ("*", "'*'"), ("-", "'-'")],
)
def test_long_operator_chain_is_refused_at_compile_time(joiner: str, found: str) -> None:
    # 491 terms used to compile and then raise a raw RecursionError when run.
    template = "{{" + joiner.join(["1"] * 491) + "}}"
    error = syntax_error(template)
    offset = 2 + 65 * (len(joiner) + 1) - len(joiner) + (1 if joiner.startswith(" ") else 0)
    assert str(error).splitlines()[0] == TOO_DEEP.format(found=found, col=offset + 1)
    assert template[error.span.start :].startswith(joiner.strip())  # the 65th operator
    assert template[: error.span.start].count(joiner.strip()) == 64


def test_long_attribute_chain_is_refused_at_compile_time() -> None:
    template = "{{x" + ".a" * 976 + "}}"
    error = syntax_error(template)
    assert str(error).splitlines()[0] == TOO_DEEP.format(found="'.'", col=4 + 2 * 64)


def test_a_chain_of_64_operators_is_accepted_and_runs() -> None:
    assert run("{{" + "+".join(["1"] * 65) + "}}") == "65"
    assert run("{{x" + ".a" * 64 + "}}", x=_loop_dict()) == "{'a': {...}}"
    assert run("{{" + " and ".join(["1"] * 65) + "}}") == "1"


def test_chains_add_to_the_depth_of_their_operands() -> None:
    # 32 nested parentheses, each holding a chain of 32: 1024 levels if chains were free.
    deep = "(" * 32 + "1" + "+1)" * 32 + "+1" * 32
    error = syntax_error("{{" + deep + "}}")
    assert error.message.startswith("template nested too deeply at '+'")


def test_64_levels_are_allowed_and_the_65th_is_refused() -> None:
    assert MAX_NESTING == 64
    blocks = "{{#if x}}" * 64 + "y" + "{{/if}}" * 64
    assert run(blocks, x=True) == "y"
    error = syntax_error("{{#if x}}" * 65 + "{{/if}}" * 65)
    assert str(error).splitlines()[0] == TOO_DEEP.format(found="'{{#'", col=1 + 9 * 64)
    assert run("{{" + "(" * 64 + "7" + ")" * 64 + "}}") == "7"
    error = syntax_error("{{" + "(" * 65 + "7" + ")" * 65 + "}}")
    assert str(error).splitlines()[0] == TOO_DEEP.format(found="'('", col=3 + 64)
    assert run("{{" + "-" * 64 + "1}}") == "1"


def test_blocks_and_operators_share_one_budget() -> None:
    inside = "{{#if x}}" * 60 + "{{" + "+".join(["1"] * 5) + "}}" + "{{/if}}" * 60
    assert run(inside, x=True) == "5"
    error = syntax_error("{{#if x}}" * 60 + "{{" + "+".join(["1"] * 6) + "}}" + "{{/if}}" * 60)
    assert error.message.startswith("template nested too deeply at '+'")


def test_each_closes_geneach_as_in_0064() -> None:
    llm = guidance.llms.Mock(["a", "b"])
    out = guidance("{{#geneach 'items' num_iterations=2}}<{{gen 'this'}}>{{/each}}", llm=llm)()
    assert out["items"] == ["a", "b"]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{#each xs}}{{/geneach}}",
         "mismatched closing tag: found '{{/geneach}}', expected '{{/each}}'. The innermost "
         "block that needs to be closed is 'each' (opened at line 1, column 1)"),
        ("{{#geneach 'x'}}{{/if}}",
         "mismatched closing tag: found '{{/if}}', expected '{{/geneach}}'. The innermost "
         "block that needs to be closed is 'geneach' (opened at line 1, column 1)"),
        ("{{#if x}}{{/each}}",
         "mismatched closing tag: found '{{/each}}', expected '{{/if}}'. The innermost "
         "block that needs to be closed is 'if' (opened at line 1, column 1)"),
    ],
)
def test_other_mismatched_closing_tags_stay_errors(template: str, message: str) -> None:
    assert syntax_error(template).message == message


def _loop_dict() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["a"] = d
    return d
