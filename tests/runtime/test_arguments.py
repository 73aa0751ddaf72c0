"""Argument checking of gen, select and program options, before any model call, with the
argument's position and a did-you-mean for misspelled keywords."""

from __future__ import annotations

from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.llms.base import SelectRequest
from guidance_engine.llms.mock import Mock


def error_of(template: str, llm: Mock, **variables: Any) -> str:
    with pytest.raises(guidance.TemplateRuntimeError) as info:
        guidance(template, llm=llm)(**variables)
    return str(info.value)


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("n=0", "n must be an int >= 1; found int 0"),
        ("temperature=-1", "temperature must be a number >= 0; found int -1"),
        ("max_tokens=-1", "max_tokens must be an int >= 0 or None; found int -1"),
        ("top_p=0", "top_p must be a number > 0 and <= 1; found int 0"),
        ("top_p=1.5", "top_p must be a number > 0 and <= 1; found float 1.5"),
        ("logprobs='x'", "logprobs must be an int >= 0 or None; found str 'x'"),
        ("seed='abc'", "seed must be an int >= 0 or None; found str 'abc'"),
        ("n=True", "n must be an int >= 1; found bool True"),
    ],
)
def test_bad_gen_values_fail_before_any_model_call_at_the_argument(
    argument: str, message: str
) -> None:
    llm = Mock("never")
    template = "A {{gen 'first'}} B {{gen 'x' " + argument + "}}"
    column = template.index(argument) + 1
    assert error_of(template, llm) == (
        f"bad argument to 'gen': {message} (line 1, column {column})\n    {template}\n"
        f"    {' ' * (column - 1)}^"
    )
    assert llm.calls == []  # the first gen never ran


def test_values_passed_to_the_program_are_checked_before_any_model_call() -> None:
    llm = Mock("never")
    message = error_of("{{gen 'a'}}{{gen 'x' n=k}}", llm, k=0)
    assert message.splitlines()[0] == (
        "bad argument to 'gen': n must be an int >= 1; found int 0 (line 1, column 22)")
    assert llm.calls == []


def test_values_computed_at_run_time_are_checked_at_the_call() -> None:
    llm = Mock("ok")
    message = error_of("{{gen 'a'}}{{gen 'x' n=(subtract 1 1)}}", llm)
    assert message.splitlines()[0] == (
        "bad argument to 'gen': n must be an int >= 1; found int 0 (line 1, column 22)")
    assert len(llm.calls) == 1  # only the first gen, which was fine


def test_misspelled_gen_keyword_is_an_error_with_a_did_you_mean() -> None:
    llm = Mock("never")
    assert error_of("{{gen 'a'}} {{gen 'x' max_token=1}}", llm) == (
        "bad argument to 'gen': unknown keyword argument 'max_token'; did you mean "
        "'max_tokens'? (line 1, column 23)\n"
        "    {{gen 'a'}} {{gen 'x' max_token=1}}\n"
        "                          ^"
    )
    assert llm.calls == []


class StrictMock(Mock):
    sampling_kwargs = frozenset()


def test_sampling_keywords_pass_only_to_a_model_that_declares_them() -> None:
    llm = Mock("ok")
    guidance("{{gen 'x' top_k=40 repetition_penalty=1.3}}", llm=llm)()
    assert llm.calls[0].extra == {"top_k": 40, "repetition_penalty": 1.3}  # type: ignore[union-attr]
    strict = StrictMock("ok")
    assert error_of("{{gen 'x' top_k=40}}", strict).splitlines()[0] == (
        "bad argument to 'gen': unknown keyword argument 'top_k'; did you mean 'top_p'? "
        "(line 1, column 11)")
    assert error_of("{{gen 'x' frobnicate=2}}", strict).splitlines()[0] == (
        "bad argument to 'gen': unknown keyword argument 'frobnicate'; expected one of: "
        "allow_partial, grammar, hidden, json_schema, list_append, logprobs, max_tokens, n, "
        "name, pattern, save_prompt, save_stop_text, seed, stop, stop_regex, stream, "
        "temperature, token_healing, top_p (line 1, column 11)")


def test_gen_keyword_computed_by_a_helper_is_checked_when_the_gen_runs() -> None:
    llm = StrictMock("ok")
    message = error_of("{{gen 'a'}}{{#each [1]}}{{gen 'x' tempreature=this}}{{/each}}", llm)
    assert message.splitlines()[0].startswith(
        "bad argument to 'gen': unknown keyword argument 'tempreature'; did you mean "
        "'temperature'?")
    assert llm.calls == []


def test_select_keywords_and_values_are_checked_too() -> None:
    llm = Mock("never")
    assert error_of("{{select 'x' options=o tempreature=1}}", llm, o=["a"]).splitlines()[0] == (
        "bad argument to 'select': unknown keyword argument 'tempreature'; did you mean "
        "'temperature'? (line 1, column 24)")
    assert error_of("{{#select 'x' seed=-2}}a{{or}}b{{/select}}", llm).splitlines()[0] == (
        "bad argument to 'select': seed must be an int >= 0 or None; found int -2 "
        "(line 1, column 15)")
    assert error_of("{{#select 'x' tempreature=1}}a{{or}}b{{/select}}", llm).splitlines()[0] == (
        "bad argument to 'select': unknown keyword argument 'tempreature'; did you mean "
        "'temperature'? (line 1, column 15)")
    assert llm.calls == []


def test_duplicate_select_options_are_merged_keeping_the_first() -> None:
    llm = Mock()
    out = guidance("{{select 'x' options=o logprobs='p'}}", llm=llm)(o=[" yes", " yes", " no"])
    (request,) = [call for call in llm.calls if isinstance(call, SelectRequest)]
    assert request.options == (" yes", " no")
    assert sorted(out["p"]) == [" no", " yes"]
    llm = Mock()
    guidance("{{#select 'x'}}a{{or}}b{{or}}a{{/select}}", llm=llm)()
    assert llm.calls[0].options == ("a", "b")  # type: ignore[union-attr]


def test_llm_must_be_a_model() -> None:
    expected = ("llm must be a model such as guidance.llms.Transformers() or "
                "guidance.llms.Mock(); found str 'gpt'")
    with pytest.raises(guidance.GuidanceError) as info:
        guidance("{{gen 'x'}}", llm="gpt")  # type: ignore[arg-type]
    assert str(info.value) == expected
    with pytest.raises(guidance.GuidanceError) as info:
        guidance("{{gen 'x'}}")(llm="gpt")
    assert str(info.value) == expected


def test_misspelled_program_option_is_an_error_unless_the_template_reads_it() -> None:
    program = guidance("Hi {{name}}", llm=Mock())
    with pytest.raises(guidance.GuidanceError) as info:
        program(name="Bob", silnet=True)
    assert str(info.value) == (
        "unknown program option 'silnet'; did you mean 'silent'? ('silnet' is not a variable "
        "the template reads either; the options are: llm, silent, stream, async_mode, "
        "caching, await_missing, log)")
    with pytest.raises(guidance.GuidanceError, match="did you mean 'stream'"):
        guidance("Hi", strem=True)
    with pytest.raises(guidance.GuidanceError, match="did you mean 'log'"):
        program(name="Bob", lg=True)
    # a variable the template reads, or one far from every option, is just a variable
    assert str(guidance("{{silnet}}", llm=Mock())(silnet="quiet")) == "quiet"
    assert program(name="Bob", unused=1)["unused"] == 1
    # a variable read only by a partial program is a variable too
    sub = guidance("{{lg}}")
    assert str(guidance("{{>sub}}", llm=Mock())(sub=sub, lg="x")) == "x"


def test_model_sampling_keywords_are_range_checked() -> None:
    llm = Mock("never")
    assert error_of("{{gen 'x' repetition_penalty=0}}", llm).splitlines()[0] == (
        "bad argument to 'gen': repetition_penalty must be a number > 0; found int 0 "
        "(line 1, column 11)")
    assert error_of("{{gen 'x' typical_p=1.5}}", llm).splitlines()[0] == (
        "bad argument to 'gen': typical_p must be a number > 0 and <= 1; found float 1.5 "
        "(line 1, column 11)")
    assert error_of("{{gen 'x' top_k=v}}", llm, v="many").splitlines()[0] == (
        "bad argument to 'gen': top_k must be an int >= 0 or None; found str 'many' "
        "(line 1, column 11)")
    assert llm.calls == []


def test_a_json_schema_that_is_not_json_names_the_keyword() -> None:
    llm = Mock("never")
    message = error_of("{{gen 'x' json_schema='{nope'}}", llm)
    assert message.splitlines()[0] == (
        "bad argument to 'gen': json_schema is not valid JSON: Expecting property name enclosed "
        "in double quotes: line 1 column 2 (char 1) (line 1, column 11)")
    assert llm.calls == []
