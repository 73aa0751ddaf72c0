"""Runtime errors: whole messages with the template position and caret, causes chained."""

from __future__ import annotations

from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.errors import (
    ConstraintError,
    ContextOverflowError,
    TemplateRuntimeError,
    TemplateSyntaxError,
    UndefinedVariableError,
)
from guidance_engine.llms.base import GenRequest
from guidance_engine.llms.mock import Mock


def message(template: str, llm: Mock | None = None, **variables: Any) -> str:
    with pytest.raises(TemplateRuntimeError) as info:
        guidance(template, llm=llm)(**variables)
    return str(info.value)


def test_undefined_variable() -> None:
    with pytest.raises(UndefinedVariableError) as info:
        guidance("Hello\n  {{name}}!")()
    assert str(info.value) == (
        "undefined variable 'name': it was not passed to the program, not set earlier by the "
        "template and is not a built-in (line 2, column 5)\n"
        "      {{name}}!\n"
        "        ^"
    )


def test_command_raising_is_wrapped_with_cause() -> None:
    def explode(x: int) -> None:
        raise ValueError(f"bad {x}")

    with pytest.raises(TemplateRuntimeError) as info:
        guidance("a\nb {{explode 3}}")(explode=explode)
    assert str(info.value) == (
        "'explode' failed: ValueError: bad 3 (line 2, column 5)\n"
        "    b {{explode 3}}\n"
        "        ^"
    )
    assert isinstance(info.value.__cause__, ValueError)


def test_async_callable_raising() -> None:
    async def fetch() -> None:
        raise KeyError("k")

    assert message("{{fetch()}}", fetch=fetch) == (
        "'fetch' failed: KeyError: 'k' (line 1, column 3)\n    {{fetch()}}\n      ^")


def test_unknown_keyword() -> None:
    assert message("{{select 'x' bogus=1}}") == (
        "bad argument to 'select': unknown keyword argument 'bogus'; expected one of: hidden, "
        "list_append, logprobs, name, options, seed, temperature (line 1, column 14)\n"
        "    {{select 'x' bogus=1}}\n"
        "                 ^"
    )


def test_too_many_arguments_to_a_python_function() -> None:
    def one(x: int) -> int:
        return x

    assert message("{{one 1 2}}", one=one) == (
        "bad arguments to 'one': too many positional arguments; expected one(x) "
        "(line 1, column 3)\n    {{one 1 2}}\n      ^")


def test_wrong_argument_type() -> None:
    assert message("{{gen 'x' max_tokens='many'}}", Mock()) == (
        "bad argument to 'gen': max_tokens must be an int >= 0 or None; found str 'many' "
        "(line 1, column 11)\n    {{gen 'x' max_tokens='many'}}\n              ^")


def test_wrong_argument_type_in_block() -> None:
    assert message("x{{#each 3}}{{/each}}") == (
        "bad argument to 'each': each needs a list or a dict to iterate over; found int 3 "
        "(line 1, column 5)\n    x{{#each 3}}{{/each}}\n        ^")


def test_operator_failure() -> None:
    assert message("{{x - 1}}", x="s") == (
        "cannot evaluate x - 1: operator '-' failed on str and int: TypeError: unsupported "
        "operand type(s) for -: 'str' and 'int' (line 1, column 3)\n    {{x - 1}}\n      ^")


def test_missing_key_and_index() -> None:
    assert message("{{d.y}}", d={"z": 1}) == (
        "cannot evaluate d.y: dict value has no key or attribute 'y' (line 1, column 3)\n"
        "    {{d.y}}\n      ^")
    assert message("{{xs[5]}}", xs=[1]) == (
        "cannot evaluate xs[5]: list value has no item 5 (line 1, column 3)\n"
        "    {{xs[5]}}\n      ^")


def test_not_callable() -> None:
    assert message("{{x 1}}", x=3) == (
        "'x' is not callable; it is int 3 (line 1, column 3)\n    {{x 1}}\n      ^")


def test_unknown_block_command() -> None:
    assert message("{{#bogus}}x{{/bogus}}") == (
        "unknown block command 'bogus'; expected one of: assistant, block, each, function, "
        "geneach, if, role, select, system, unless, user (line 1, column 4)\n"
        "    {{#bogus}}x{{/bogus}}\n       ^")


def test_no_model() -> None:
    assert message("{{gen 'a'}}") == (
        "no model to run this command: pass llm=... to guidance(...) or set guidance.llm "
        "(line 1, column 3)\n    {{gen 'a'}}\n      ^")


def test_await_inside_parallel_each() -> None:
    assert message("{{#each xs parallel=True hidden=True}}{{await 'z'}}{{/each}}", xs=[1]) == (
        "cannot await 'z' inside each parallel=True: the iterations run concurrently "
        "(line 1, column 39)\n"
        "    {{#each xs parallel=True hidden=True}}{{await 'z'}}{{/each}}\n"
        "                                          ^")


def test_partial_must_be_a_program() -> None:
    assert message("{{>p}}", p=3) == (
        "a partial must be a program; found int (line 1, column 4)\n    {{>p}}\n       ^")


def test_error_inside_a_loop_points_at_the_tag() -> None:
    assert message("{{#each xs}}\n{{this.name}}{{/each}}", xs=[{"name": 1}, {}]) == (
        "cannot evaluate this.name: dict value has no key or attribute 'name' "
        "(line 2, column 3)\n    {{this.name}}{{/each}}\n      ^")


def test_parse_syntax_error_names_the_parsed_text_and_notes_the_tag() -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        guidance("x {{parse t}}")(t="{{#if")
    assert str(info.value) == (
        "unterminated tag: found end of template, expected '}}' to close the tag opened here "
        "(<parse>, line 1, column 1)\n    {{#if\n    ^")
    assert info.value.__notes__ == ["while running 'parse' at line 1, column 5"]


def test_error_means_no_program_is_returned_and_nothing_is_mutated() -> None:
    program = guidance("{{gen 'a'}}{{boom}}", llm=Mock("x"))
    with pytest.raises(UndefinedVariableError):
        program()
    assert str(program) == "{{gen 'a'}}{{boom}}" and program.variables() == {}


class Strict(Mock):
    """A Mock whose constraint check rejects a pattern containing '('."""

    def validate_request(self, request: GenRequest) -> None:
        if request.pattern is not None and "(" in request.pattern:
            raise ConstraintError(f"pattern {request.pattern!r} is not a valid regex")


def test_literal_constraints_are_validated_before_any_model_call() -> None:
    llm = Strict("ok")
    with pytest.raises(ConstraintError) as info:
        guidance("{{gen 'a'}} then\n{{gen 'b' pattern='(x'}}", llm=llm)()
    assert str(info.value) == (
        "pattern '(x' is not a valid regex (line 2, column 3)\n"
        "    {{gen 'b' pattern='(x'}}\n      ^")
    assert llm.calls == []


def test_variable_constraints_are_validated_when_the_gen_runs() -> None:
    llm = Strict("ok")
    with pytest.raises(ConstraintError) as info:
        guidance("{{gen 'a'}}{{gen 'b' pattern=p}}", llm=llm)(p="(x")
    assert str(info.value) == (
        "pattern '(x' is not a valid regex (line 1, column 14)\n"
        "    {{gen 'a'}}{{gen 'b' pattern=p}}\n                 ^")


def test_model_errors_keep_their_type_and_gain_a_note() -> None:
    class Overflowing(Mock):
        def session(self) -> Any:
            inner = super().session()

            class S(type(inner)):  # type: ignore[misc]
                async def gen(self, request: GenRequest, on_chunk: Any = None) -> Any:
                    raise ContextOverflowError("prompt of 9 tokens exceeds the context of 8")

            return S(self)

    with pytest.raises(ContextOverflowError) as info:
        guidance("ab {{gen 'x'}}", llm=Overflowing())()
    assert info.value.__notes__ == ["while running 'gen' at line 1, column 6"]


def test_save_stop_text_without_a_name() -> None:
    assert message("{{gen save_stop_text=True}}", Mock("x")) == (
        "bad argument to 'gen': save_stop_text=True needs a name for gen (or give the "
        "variable name: save_stop_text='var') (line 1, column 3)\n"
        "    {{gen save_stop_text=True}}\n      ^")


def test_error_in_an_each_body_points_at_the_tag_inside_the_loop() -> None:
    assert message("{{#each xs}}\n  {{this.nope}}{{/each}}", xs=[{}]) == (
        "cannot evaluate this.nope: dict value has no key or attribute 'nope' "
        "(line 2, column 5)\n"
        "      {{this.nope}}{{/each}}\n"
        "        ^"
    )


def test_error_in_a_geneach_body_points_at_the_tag_inside_the_loop() -> None:
    template = "{{#geneach 'xs' num_iterations=2}}\n- {{gen 'this' max_tokens='a'}}{{/geneach}}"
    assert message(template, Mock("x")) == (
        "bad argument to 'gen': max_tokens must be an int >= 0 or None; found str 'a' "
        "(line 2, column 16)\n"
        "    - {{gen 'this' max_tokens='a'}}{{/geneach}}\n"
        "                   ^"
    )


def test_error_in_a_partial_names_the_partial_and_where_it_was_included() -> None:
    sub = guidance("line one\n{{missing}}")
    with pytest.raises(UndefinedVariableError) as info:
        guidance("A\n\n  {{>sub}}")(sub=sub)
    assert str(info.value) == (
        "undefined variable 'missing': it was not passed to the program, not set earlier by "
        "the template and is not a built-in (partial 'sub', line 2, column 3)\n"
        "    {{missing}}\n"
        "      ^"
    )
    assert info.value.__notes__ == ["while including partial 'sub' at line 3, column 3"]
