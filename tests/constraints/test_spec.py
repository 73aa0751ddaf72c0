"""ConstraintSpec → engine grammar, grammar lookup, and validation errors (exact messages)."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic
import pytest

from guidance_engine.constraints import (
    ConstraintSpec,
    Matcher,
    TokenIndex,
    engine_grammar,
    load_grammar,
    shipped_grammars,
    validate,
)
from guidance_engine.constraints.spec import JSON_DEFAULTS
from guidance_engine.errors import ConstraintError


def _lark(spec: ConstraintSpec) -> list[dict[str, object]]:
    grammars: list[dict[str, object]] = json.loads(engine_grammar(spec))["grammars"]
    return grammars


def test_pattern_with_heal_and_stops() -> None:
    spec = ConstraintSpec(
        pattern="[0-9]+/x", stop=("\n", '"'), stop_regex=("END[0-9]",), healing_prefix=' "'
    )
    assert _lark(spec) == [
        {
            "lark_grammar": "start: heal value stop?\n"
            "value: /[0-9]+\\/x/\n"
            'heal: " \\""\n'
            'stop[capture]: "\\n" | "\\"" | /END[0-9]/'
        }
    ]


def test_options_with_an_empty_option() -> None:
    spec = ConstraintSpec(options=("yes", "no", ""), stop=("\n",))
    assert _lark(spec) == [
        {"lark_grammar": 'start: value stop?\nvalue: ("yes" | "no")?\nstop[capture]: "\\n"'}
    ]


def test_json_schema_is_a_named_subgrammar_with_compact_defaults() -> None:
    spec = ConstraintSpec(json_schema={"type": "integer"}, healing_prefix=":")
    assert _lark(spec) == [
        {"lark_grammar": 'start: heal value\nvalue: @value\nheal: ":"'},
        {
            "name": "value",
            "json_schema": {
                "type": "integer",
                "x-guidance": {
                    "whitespace_flexible": False,
                    "item_separator": ", ",
                    "key_separator": ": ",
                },
            },
        },
    ]


def test_user_json_options_win() -> None:
    schema = {"type": "object", "x-guidance": {"whitespace_flexible": True}}
    assert _lark(ConstraintSpec(json_schema=schema, stop=("\n",)))[1]["json_schema"] == schema


def test_a_bare_json_schema_goes_to_the_engine_alone() -> None:
    # no healing prefix, no stop: no Lark wrapper (it would double the compile time)
    assert _lark(ConstraintSpec(json_schema={"type": "integer"})) == [
        {"json_schema": {"type": "integer", "x-guidance": JSON_DEFAULTS}}
    ]
    assert _lark(ConstraintSpec(grammar="start: /a+/")) == [{"lark_grammar": "start: /a+/"}]


def test_unconstrained_spec_ignores_stops() -> None:
    spec = ConstraintSpec(stop=("\n",), healing_prefix="a")
    assert not spec.constrained
    assert _lark(spec) == [{"lark_grammar": 'start: heal value\nvalue: /(?s:.*)/\nheal: "a"'}]


def test_shipped_grammars_and_lookup(tmp_path: Path) -> None:
    assert shipped_grammars() == ["arithmetic", "json", "llmcompiler_plan"]
    assert "expr: term (ADD_OP term)*" in load_grammar("arithmetic")
    path = tmp_path / "yn.lark"
    path.write_text('start: "yes" | "no"\n')
    assert load_grammar(str(path)) == 'start: "yes" | "no"\n'
    assert load_grammar('start: "a"') == 'start: "a"'
    validate(ConstraintSpec(grammar=str(path)))
    for name in shipped_grammars():
        validate(ConstraintSpec(grammar=name))


def test_describe() -> None:
    assert ConstraintSpec(pattern="[0-9]+").describe() == "pattern '[0-9]+'"
    assert ConstraintSpec(grammar="arithmetic").describe() == "grammar 'arithmetic'"
    assert ConstraintSpec(options=("a", "b")).describe() == "options ['a', 'b']"
    assert (
        ConstraintSpec(json_schema={"type": "integer"}).describe()
        == 'json_schema {"type": "integer"}'
    )
    assert ConstraintSpec().describe() == "no constraint"


ERRORS = [
    (
        ConstraintSpec(pattern="(?=a)b"),
        "pattern '(?=a)b' is not supported: look-around, including look-ahead and look-behind,"
        " is not supported\n    (?=a)b\n    ^^^",
    ),
    (
        ConstraintSpec(pattern=r"(a)\1"),
        "pattern '(a)\\\\1' is not supported: backreferences are not supported\n"
        "    (a)\\1\n       ^^",
    ),
    (
        ConstraintSpec(pattern="[a-"),
        "pattern '[a-' is not supported: unclosed character class\n    [a-\n    ^",
    ),
    (
        ConstraintSpec(pattern=r"\bfoo"),
        "pattern '\\\\bfoo' is not supported: lookarounds not supported yet; WordUnicode in"
        " regex /\\bfoo/",
    ),
    (
        ConstraintSpec(pattern=r"[^\s\S]"),
        "pattern '[^\\\\s\\\\S]' can never match: no text satisfies it",
    ),
    (
        ConstraintSpec(pattern="x", stop_regex=("(?=y)",)),
        "stop_regex '(?=y)' is not supported: look-around, including look-ahead and look-behind,"
        " is not supported\n    (?=y)\n    ^^^",
    ),
    (
        ConstraintSpec(grammar="start: ("),
        "grammar 'start: (' is invalid: 1(9): Expected token ')', found '\\n' (at \"\\n\" ('\\n'))"
        "\n   1 | start: (\n               ^",
    ),
    (
        ConstraintSpec(grammar="start: foo"),
        "grammar 'start: foo' is invalid: at 1(8): unknown name: \"foo\"\n"
        "   1 | start: foo\n              ^",
    ),
    (
        ConstraintSpec(grammar="nope"),
        "unknown grammar 'nope': expected one of the shipped grammars (arithmetic, json,"
        " llmcompiler_plan), a path to a .lark file, or inline Lark text",
    ),
    (
        ConstraintSpec(grammar="/no/such/file.lark"),
        "grammar file '/no/such/file.lark' does not exist",
    ),
    (
        ConstraintSpec(json_schema={"type": "strin"}),
        "json_schema cannot be used: Invalid type: strin",
    ),
    (
        ConstraintSpec(json_schema={"type": "integer", "minimum": 5, "maximum": 3}),
        "json_schema cannot be used: Unsatisfiable schema: minimum (5) is greater than maximum (3)",
    ),
    (
        ConstraintSpec(json_schema={"type": "array", "contains": {"const": 1}}),
        'json_schema cannot be used: Unimplemented keys: ["contains"]',
    ),
    (
        ConstraintSpec(pattern="a", grammar="b"),
        "a gen takes at most one of pattern=, json_schema=, grammar=, options=;"
        " got pattern= and grammar=",
    ),
    (ConstraintSpec(pattern="a", stop=("",)), "stop strings must not be empty (found '' in stop=)"),
    (ConstraintSpec(options=()), "options= is empty: expected at least one option"),
]


@pytest.mark.parametrize(("spec", "message"), ERRORS)
def test_validation_errors(spec: ConstraintSpec, message: str) -> None:
    with pytest.raises(ConstraintError) as info:
        validate(spec)
    assert str(info.value) == message


def test_valid_specs_pass() -> None:
    validate(ConstraintSpec(pattern=r"[0-9]{3}-[0-9]{4}", stop=("\n",), stop_regex=(r"\.",)))
    validate(ConstraintSpec(options=("yes", "no")))
    validate(ConstraintSpec(json_schema={"type": "object"}))
    validate(ConstraintSpec(healing_prefix=":"))


def test_pydantic_model_class_as_schema(byte_index: TokenIndex) -> None:
    class Person(pydantic.BaseModel):
        name: str
        age: int

    spec = ConstraintSpec(json_schema=Person)
    validate(spec)
    matcher = Matcher(spec, byte_index)
    matcher.consume_all(list(b'{"name": "Al", "age": 3}'), forced=False)
    assert matcher.is_finished() and matcher.result().complete
    with pytest.raises(ConstraintError) as info:
        validate(ConstraintSpec(json_schema=[1, 2]))
    assert str(info.value) == (
        "json_schema must be a dict, a JSON string or a pydantic model class; found list [1, 2]"
    )
    validate(ConstraintSpec(json_schema='{"type": "integer"}'))  # a JSON string, as gen takes
