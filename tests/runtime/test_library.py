"""Library internals: stop inference, static constraint discovery, single_call splitting."""

from __future__ import annotations

import pydantic
import pytest

from guidance_engine.llms.arguments import ArgumentError, as_strings, expect
from guidance_engine.llms.base import GenRequest
from guidance_engine.llms.mock import Mock
from guidance_engine.llms.requests import json_schema_argument
from guidance_engine.runtime.library import builtins
from guidance_engine.runtime.library.gen import infer_stop
from guidance_engine.runtime.library.loops import each_options, single_call_items
from guidance_engine.runtime.library.static import constraint_requests
from guidance_engine.template.compiler import compile_template
from guidance_engine.template.instructions import CallSite


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        (CallSite(prev_text='x = "', next_text='", y'), ('"',)),
        (CallSite(prev_text="x = '", next_text="'"), ("'",)),
        (CallSite(prev_text='x = "', next_text="'"), ()),  # not a pair of quotes
        (CallSite(at_body_end=True, role="user"), ("<|im_end|>",)),
        (CallSite(next_text="\nB:", at_body_end=False, role="user"), ()),  # 0.0.64: no next text
        (CallSite(next_text="</answer>\nB:"), ("</answer>",)),
        (CallSite(next_text="<answer>"), ()),
        (CallSite(), ()),
    ],
)
def test_infer_stop(site: CallSite, expected: tuple[str, ...]) -> None:
    assert infer_stop(site, Mock()) == expected


def test_static_constraints_only_for_literal_arguments() -> None:
    compiled = compile_template(
        "{{gen 'a' pattern='[0-9]+'}}{{gen 'b' pattern=p}}{{set 'c' (gen 'c' grammar='json')}}"
        "{{gen 'd' json_schema={'type': 'string'}}}{{gen 'e'}}")
    found = [(request, span.column) for request, span in constraint_requests(
        compiled.analysis)]
    assert found == [
        (GenRequest(prompt="", pattern="[0-9]+"), 3),
        (GenRequest(prompt="", grammar="json"), 61),
        (GenRequest(prompt="", json_schema={"type": "string"}), 88),
    ]


def test_static_constraints_skip_a_gen_that_a_variable_replaces() -> None:
    compiled = compile_template("{{gen 'a' pattern='['}}")
    assert list(constraint_requests(compiled.analysis, {"gen": lambda *a, **k: ""})) == []


def test_schema_dict() -> None:
    class Point(pydantic.BaseModel):
        x: int

    assert json_schema_argument(Point) == Point.model_json_schema()
    assert json_schema_argument('{"type": "integer"}') == {"type": "integer"}
    with pytest.raises(ArgumentError) as info:
        json_schema_argument("{nope")
    assert str(info.value) == (
        "json_schema is not valid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)")


def test_expect_and_as_strings() -> None:
    with pytest.raises(ArgumentError) as info:
        expect(True, (int, type(None)), "max_tokens")
    assert str(info.value) == "max_tokens must be an int or None; found bool True"
    assert as_strings(["a", "b"], "stop") == ("a", "b")
    with pytest.raises(ArgumentError) as info:
        as_strings(3, "stop")
    assert str(info.value) == "stop must be a string or a list of strings; found int 3"


def test_each_options_accepts_iterables_and_dicts() -> None:
    assert each_options(range(2)).items == [(None, 0), (None, 1)]
    assert each_options({"k": 1}).items == [("k", 1)]
    assert each_options(None).items == []


def test_single_call_items() -> None:
    lines = [("text", "\n- "), ("gen", None)]
    assert single_call_items("\n- a\n- b c", lines, "") == ["a", "b c"]
    quoted = [("text", '"'), ("gen", None), ("text", '"')]
    assert single_call_items('"x", "y"', quoted, ", ") == ["x", "y"]
    fields = [("text", "Q: "), ("gen", "q"), ("text", "? A: "), ("gen", "a")]
    assert single_call_items("Q: a? A: b\nQ: c? A: d", fields, "\n") == [
        {"q": "a", "a": "b"}, {"q": "c", "a": "d"}]
    assert single_call_items("", fields, "\n") == []
    assert single_call_items("garbage", fields, "\n") == []


def test_0_0_64_operator_names_are_registered_for_the_prefix_call_form() -> None:
    table = builtins()
    assert (table["=="]("a", "a"), table[">"](3, 2), table["<"](3, 2)) == (True, True, False)
