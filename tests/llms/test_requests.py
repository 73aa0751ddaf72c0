"""The request builder: one checked way from arguments to a GenRequest / SelectRequest, used by
gen, select, the loops and the 0.0.64 session call."""

from __future__ import annotations

import pytest

import guidance_engine as guidance
from guidance_engine.errors import ConstraintError
from guidance_engine.llms.arguments import ArgumentError
from guidance_engine.llms.base import GenRequest, Segment, SelectRequest
from guidance_engine.llms.mock import Mock
from guidance_engine.llms.requests import gen_request, json_schema_argument, select_request


def test_a_structured_prompt_gives_text_and_segments() -> None:
    prompt = (Segment("<|user|>", "markup", "user"), Segment("Bob", "value", "user"))
    request = gen_request(prompt, Mock("x"), stop="\n", stop_regex=["a+", "b"], max_tokens=5,
                          json_schema='{"type": "integer"}', temperature=1)
    assert request == GenRequest(prompt="<|user|>Bob", stop=("\n",), stop_regex=("a+", "b"),
                                 max_tokens=5, json_schema={"type": "integer"},
                                 temperature=1.0, segments=prompt)
    assert gen_request("Name:", None).segments == ()  # plain text: one template run


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n": 0}, "n must be an int >= 1; found int 0"),
        ({"max_tokens": -1}, "max_tokens must be an int >= 0 or None; found int -1"),
        ({"top_p": 0}, "top_p must be a number > 0 and <= 1; found int 0"),
        ({"stop": 3}, "stop must be a string or a list of strings; found int 3"),
        ({"pattern": 5}, "pattern must be a string or None; found int 5"),
        ({"json_schema": "[1"}, "json_schema is not valid JSON: Expecting ',' delimiter: line 1 "
                                "column 3 (char 2)"),
        ({"extra": {"top_kk": 3}}, "unknown keyword argument 'top_kk'; did you mean 'top_k'?"),
    ],
)
def test_bad_arguments_name_themselves(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ArgumentError) as info:
        gen_request("x", Mock("x"), **arguments)  # type: ignore[arg-type]
    assert str(info.value) == message
    expected = next(iter(arguments)) if "extra" not in arguments else "top_kk"
    assert info.value.argument == expected


def test_constraints_are_checked_against_the_model_when_built() -> None:
    with pytest.raises(ConstraintError) as info:
        gen_request("x", Mock("x"), pattern="(a)\\1")
    assert "backreferences are not supported" in str(info.value)


def test_json_schema_accepts_dicts_strings_and_pydantic_classes_only() -> None:
    assert json_schema_argument({"type": "string"}) == {"type": "string"}
    with pytest.raises(ArgumentError) as info:
        json_schema_argument('"just a string"')
    assert str(info.value) == "json_schema must be a JSON object; found str 'just a string'"


def test_select_requests_keep_a_repeated_option_once() -> None:
    request = select_request((Segment("Q:"),), ["a", "b", "a"], suffix="'", temperature=0)
    assert request == SelectRequest(prompt="Q:", options=("a", "b"), suffix="'",
                                    segments=(Segment("Q:"),))
    for options, message in ((["a", 1], "options must be a list of strings; found list ['a', 1]"),
                             ([], "select needs at least one option; found none")):
        with pytest.raises(ArgumentError) as info:
            select_request("Q:", options)
        assert str(info.value) == message


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        ("max_tokens", -1, "max_tokens must be an int >= 0 or None; found int -1"),
        ("n", 0, "n must be an int >= 1; found int 0"),
        ("temperature", -0.5, "temperature must be a number >= 0; found float -0.5"),
        ("top_p", 1.5, "top_p must be a number > 0 and <= 1; found float 1.5"),
        ("logprobs", -1, "logprobs must be an int >= 0 or None; found int -1"),
    ],
)
def test_the_session_call_checks_ranges_like_gen(keyword: str, value: float, message: str) -> None:
    llm = Mock("x")
    with llm.session() as s, pytest.raises(guidance.GuidanceError) as info:
        s("Name:", **{keyword: value})
    assert str(info.value) == f"bad argument to the session call: {message}"
    assert llm.calls == []


def test_the_session_call_keeps_its_defaults() -> None:
    llm = Mock("x")
    with llm.session() as s:
        s("Name:", temperature=None, stop=["a", "b"], caching=True)
    assert llm.calls[0] == GenRequest(prompt="Name:", stop=("a", "b"), max_tokens=1000)
