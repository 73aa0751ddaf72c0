"""JSON schemas: the `x-guidance` layout options mean what llguidance means by them.

Replayed as a decoding loop (`constraints.replay`) on the 257-token byte vocabulary, so every
byte of the text is checked against the mask.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from guidance_engine.constraints import ConstraintSpec, Matcher, TokenIndex
from guidance_engine.constraints.replay import replay
from guidance_engine.constraints.spec import json_options
from guidance_engine.errors import ConstraintError

AB = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}
NESTED = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "pos": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]},
    },
    "required": ["name", "tags", "pos"],
}
NESTED_VALUE = {"name": "Bob", "tags": ["x", "y"], "pos": {"x": 1.5}}


def _with(schema: dict[str, Any], options: dict[str, Any] | None) -> dict[str, Any]:
    return schema if options is None else {**schema, "x-guidance": options}


def _replay(schema: dict[str, Any], text: str, index: TokenIndex) -> str | None:
    return replay(Matcher(ConstraintSpec(json_schema=schema), index), text, index)


def test_flexible_whitespace_accepts_the_issue_minimal_case(byte_index: TokenIndex) -> None:
    schema = _with(AB, {"whitespace_flexible": True})
    assert _replay(schema, '{\n  "a": 1,\n  "b": 2\n}', byte_index) is None


@pytest.mark.parametrize("indent", [None, 1, 2, 4, "\t"])
def test_flexible_whitespace_accepts_any_json_layout(
    byte_index: TokenIndex, indent: int | str | None
) -> None:
    schema = _with(NESTED, {"whitespace_flexible": True})
    for separators in [(",", ":"), (", ", ": "), (" , ", " : ")]:
        text = json.dumps(NESTED_VALUE, indent=indent, separators=separators)
        assert _replay(schema, text, byte_index) is None, text


def test_compact_is_the_default(byte_index: TokenIndex) -> None:
    assert _replay(AB, '{"a": 1, "b": 2}', byte_index) is None
    assert _replay(AB, '{"a":1,"b":2}', byte_index) == (
        "forced b'{\"a\": ' at byte 0 but the text has b'{\"a\":1,\"b\":2}'"
    )
    assert _replay(AB, '{"a": 1,\n  "b": 2\n}', byte_index) == (
        "forced b' \"b\": ' at byte 8 but the text has b'\\n  \"b\": 2\\n}'"
    )


@pytest.mark.parametrize(
    ("options", "accepted"),
    [
        # What llguidance itself accepts for each setting (checked against it below).
        ({"whitespace_flexible": False}, ['{"a":1,"b":2}']),
        # llguidance's whitespace_flexible defaults to true: whitespace around the separators
        ({"item_separator": ", "}, ['{"a": 1, "b": 2}', '{ "a" : 1 }']),
        ({"whitespace_pattern": "[ ]?"}, ['{"a":1,"b":2}', '{"a": 1, "b": 2}', '{ "a" : 1 }']),
        ({"whitespace_flexible": True}, ['{"a":1,"b":2}', '{"a": 1, "b": 2}', '{ "a" : 1 }',
                                         '{\n  "a": 1,\n  "b": 2\n}']),
    ],
)
def test_layout_options_mean_what_llguidance_means(
    byte_index: TokenIndex, options: dict[str, Any], accepted: list[str]
) -> None:
    import llguidance

    schema = _with({**AB, "required": ["a"]}, options)
    texts = ['{"a":1,"b":2}', '{"a": 1, "b": 2}', '{ "a" : 1 }', '{\n  "a": 1,\n  "b": 2\n}']
    ours = [t for t in texts if _replay(schema, t, byte_index) is None]
    direct = llguidance.LLMatcher.grammar_from_json_schema(schema)
    theirs = []
    for text in texts:
        engine = llguidance.LLMatcher(byte_index.ll, direct, log_level=0)
        if engine.consume_tokens(list(text.encode())) and engine.is_accepting():
            theirs.append(text)
    assert ours == theirs == accepted


def test_other_options_keep_the_compact_layout() -> None:
    assert json_options({"coerce_one_of": True}) == {
        "whitespace_flexible": False,
        "item_separator": ", ",
        "key_separator": ": ",
        "coerce_one_of": True,
    }
    assert json_options({"whitespace_flexible": True}) == {"whitespace_flexible": True}


def test_x_guidance_must_be_an_object() -> None:
    with pytest.raises(ConstraintError) as err:
        json_options(True)
    assert str(err.value) == 'json_schema: "x-guidance" must be an object of options, found bool'


def test_validation_and_the_matcher_share_one_compile(
    smol: TokenIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guidance_engine.constraints import validate, vocab

    compiled: list[str] = []
    real = vocab._compile

    def counting(ll: Any, grammar: str) -> Any:
        compiled.append(grammar)
        return real(ll, grammar)

    monkeypatch.setattr(vocab, "_compile", counting)
    smol.clear_compiled()
    spec = ConstraintSpec(json_schema={**AB, "title": "one compile"})
    validate(spec, smol)
    first = Matcher(spec, smol)  # checks again: remembered, not recompiled
    second = Matcher(spec, smol, check=False)
    assert len(compiled) == 1
    assert replay(first, '{"a": 1, "b": 2}', smol) is None
    assert replay(second, '{"a": 3, "b": 4}', smol) is None
