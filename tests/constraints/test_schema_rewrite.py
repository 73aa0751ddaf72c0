"""JSON-schema rewrites past llguidance's refusals: exact outputs, what is left alone, and
soundness: replayed on the byte vocabulary, every candidate instance is accepted exactly when
`jsonschema` says it is valid (hand-written schemas), and no invalid instance of the shared
MaskBench sample is accepted where a rewrite applied."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from guidance_engine.constraints import ConstraintSpec, Matcher, TokenIndex, validate
from guidance_engine.constraints.replay import replay
from guidance_engine.constraints.schema_rewrite import rewrite
from guidance_engine.errors import ConstraintError

DRAFT7 = "http://json-schema.org/draft-07/schema#"
# The MaskBench sample lies in shared/ beside the checkout (not in the repository), as in CI.
SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "jsonschemabench" / "schemas"

CIRCLE = {"type": "object", "properties": {"kind": {"const": "circle"}, "r": {"type": "number"}},
          "required": ["kind", "r"]}
SQUARE = {"type": "object", "properties": {"kind": {"enum": ["square", "box"]},
                                           "side": {"type": "integer"}},
          "required": ["kind"]}


def accepts(schema: Any, value: Any, index: TokenIndex, flexible: bool = False) -> bool:
    """Whether a decoding loop can produce `value` (compact, or indented with flexible JSON)."""
    if flexible:
        schema = {**schema, "x-guidance": {"whitespace_flexible": True}}
    matcher = Matcher(ConstraintSpec(json_schema=schema), index)
    return replay(matcher, json.dumps(value, indent=2 if flexible else None), index) is None


def accepts_in_some_order(schema: Any, value: Any, index: TokenIndex, flexible: bool) -> bool:
    """`accepts` for some order of an object's keys (the engine fixes the schema's order)."""
    if not isinstance(value, dict):
        return accepts(schema, value, index, flexible)
    return any(accepts(schema, dict(keys), index, flexible)
               for keys in itertools.permutations(value.items()))


def is_valid(schema: Any, value: Any) -> bool:
    return jsonschema.validators.validator_for(schema)(schema).is_valid(value)


# -- what the rewrites produce ---------------------------------------------------------------


def test_oneof_with_disjoint_types_behind_refs_becomes_anyof() -> None:
    schema = {"$defs": {"s": {"type": "string"}, "n": {"allOf": [{"type": ["integer", "null"]}]}},
              "oneOf": [{"$ref": "#/$defs/s"}, {"$ref": "#/$defs/n"}, {"enum": [[1], {"a": 1}]}]}
    assert rewrite(schema) == {"$defs": schema["$defs"], "anyOf": schema["oneOf"]}


def test_oneof_with_a_required_discriminator_becomes_anyof() -> None:
    schema = {"definitions": {"c": CIRCLE}, "oneOf": [{"$ref": "#/definitions/c"}, SQUARE]}
    assert "anyOf" in rewrite(schema) and "oneOf" not in rewrite(schema)


@pytest.mark.parametrize(
    "branches",
    [
        [{"type": "integer"}, {"type": "number"}],  # 1 is both
        [{"required": ["a"]}, {"required": ["b", "c"]}],  # {"a": 1, "b": 2, "c": 3} is both
        [{"enum": [1, "x"]}, {"enum": [1.0]}],  # 1 == 1.0 in JSON
        [{"type": "string"}, {"$ref": "#/nowhere"}],  # unknown target: anything
        # the discriminator is not required in the second branch: {"r": 1} matches both
        [CIRCLE, {"type": "object", "properties": {"kind": {"const": "sq"}}}],
        # closed, but the other branch's property may match a pattern: {"b": 1} is both
        [{"type": "object", "required": ["b"]},
         {"type": "object", "additionalProperties": False, "patternProperties": {"^b": {}}}],
        # neither branch is only objects: 3 matches both
        [{"properties": {"k": {"const": 1}}, "required": ["k"]},
         {"properties": {"k": {"const": 2}}, "required": ["k"]}],
    ],
)
def test_oneof_that_may_overlap_is_left_alone(branches: list[Any]) -> None:
    assert rewrite({"oneOf": branches}) == {"oneOf": branches}


def test_nothing_is_rewritten_where_a_ref_points_or_a_nested_id_starts() -> None:
    pointed = {"oneOf": [{"type": "string"}, {"type": "null"}],
               "properties": {"a": {"$ref": "#/oneOf/0"}}}
    assert rewrite(pointed) == pointed
    nested = {"$defs": {"x": {"$id": "other.json", "$defs": {"s": {"type": "null"}}}},
              "oneOf": [{"$ref": "#/$defs/x"}, {"type": "string"}]}
    assert rewrite(nested) == nested


def test_not_rewrites() -> None:
    assert rewrite({"properties": {"x": {"not": {}}}}) == {"properties": {"x": {"allOf": [False]}}}
    assert rewrite({"not": {"required": ["a"]}}) == {
        "allOf": [{"type": "object", "properties": {"a": False}}]}
    assert rewrite({"not": {"type": ["number", "string"]}}) == {
        "allOf": [{"type": ["array", "boolean", "null", "object"]}]}
    for kept in ({"not": {"type": "integer"}}, {"not": {"enum": [1]}}, {"not": {"minimum": 3}}):
        assert rewrite(kept) == kept


def test_a_property_named_like_a_keyword_is_not_a_keyword() -> None:
    schema = {"type": "object", "properties": {"not": {"type": "string"},
                                               "oneOf": {"type": "null"}}}
    assert rewrite(schema) == schema


def test_exclusive_required_and_dependencies() -> None:
    assert rewrite({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}) == {"allOf": [
        {"type": "object", "anyOf": [{"required": ["a"], "properties": {"b": False}},
                                     {"required": ["b"], "properties": {"a": False}}]}]}
    assert rewrite({"oneOf": [{"required": ["a"]}, {"required": ["a"]}]}) == {"allOf": [False]}
    kept = {"oneOf": [{"required": ["a"]}, {"required": ["b", "c"]}]}  # two ways to miss b, c
    assert rewrite(kept) == kept
    assert rewrite({"dependencies": {"a": ["b"], "c": {"required": ["d"]}}}) == {"allOf": [
        {"anyOf": [{"properties": {"a": False}}, {"required": ["a", "b"]}]},
        {"anyOf": [{"properties": {"c": False}}, {"allOf": [{"required": ["c"]},
                                                            {"required": ["d"]}]}]}]}


def test_unique_items_on_an_enum_lists_every_array() -> None:
    schema = {"type": "array", "items": {"enum": ["a", "b", 1, 1.0]}, "uniqueItems": True,
              "minItems": 2, "description": "two or three distinct"}
    assert rewrite(schema) == {"description": "two or three distinct", "enum": [
        list(p) for n in (2, 3) for p in itertools.permutations(["a", "b", 1], n)]}
    assert rewrite({"type": "array", "uniqueItems": True, "maxItems": 1}) == {
        "type": "array", "maxItems": 1}
    for kept in ({"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                 {"type": "array", "items": {"enum": list(range(9))}, "uniqueItems": True},
                 {"type": "array", "items": {"enum": [1, 2]}, "uniqueItems": True,
                  "contains": {"const": 1}}):
        assert rewrite(kept) == kept


@pytest.mark.parametrize("flexible", [False, True], ids=["compact", "flexible"])
def test_byte_format_is_exactly_base64(byte_index: TokenIndex, flexible: bool) -> None:
    import base64
    import binascii

    def is_base64(text: str) -> bool:
        try:
            base64.b64decode(text, validate=True)
        except binascii.Error:
            return False
        return True

    schema = {"type": "string", "format": "byte", "maxLength": 12}
    texts = ["", "QQ==", "QUI=", "QUJD", "QUJDRA==", "QQ", "QQ=", "Q===", "QU JD", "QUJD\n",
             "-_ab", "QUJDRA==QQ==", "QUJDREVGR0g="]
    for text in texts:
        expected = is_base64(text) and len(text) <= 12
        assert accepts(schema, text, byte_index, flexible) == expected, text


def test_what_stays_refused_keeps_the_engines_reason() -> None:
    with pytest.raises(ConstraintError) as err:
        validate(ConstraintSpec(json_schema={"oneOf": [{"type": "integer"}, {"type": "number"}]}))
    assert str(err.value) == (
        "json_schema cannot be used: oneOf constraints are not supported. Enable "
        "'coerce_one_of' option to approximate oneOf with anyOf")


# -- soundness and completeness on hand-written schemas --------------------------------------

VALUES: list[Any] = [
    None, True, False, 0, 1, -3, 2.5, "", "a", "circle", "square", "box", [], [1], ["a"],
    ["a", "b"], ["b", "a"], ["a", "a"], ["a", "b", "c"], ["c", "a", "b"], {},
    {"a": 1}, {"b": 2}, {"a": 1, "b": 2}, {"kind": "circle", "r": 1.5},
    {"kind": "circle"}, {"kind": "square"}, {"kind": "box", "side": 2},
    {"kind": "square", "r": 1}, {"kind": "circle", "r": 2, "side": 3},
]
SCHEMAS: dict[str, Any] = {
    "oneOf types via refs": {"$defs": {"s": {"type": "string"}, "n": {"type": "null"}},
                             "oneOf": [{"$ref": "#/$defs/s"}, {"$ref": "#/$defs/n"},
                                       {"type": "array", "items": {"type": "string"}}]},
    "oneOf discriminator": {"definitions": {"c": CIRCLE},
                            "oneOf": [{"$ref": "#/definitions/c"}, SQUARE]},
    "oneOf discriminator in allOf": {"oneOf": [{"allOf": [CIRCLE]}, {"allOf": [SQUARE]}]},
    "oneOf closed objects": {"oneOf": [
        {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
         "additionalProperties": False},
        {"properties": {"b": {"type": "integer"}, "a": False}, "required": ["b"]}]},
    "oneOf inside an object": {"type": "object", "properties": {"r": {"type": "number"}},
                               "oneOf": [{"properties": {"kind": {"const": "circle"}},
                                          "required": ["kind"]},
                                         {"properties": {"kind": {"enum": ["square"]}},
                                          "required": ["kind", "side"]}]},
    "oneOf beside anyOf": {"anyOf": [{"type": "string"}, {"type": "object"}],
                           "oneOf": [{"type": "string", "minLength": 1}, {"type": "object"}]},
    "not required": {"type": "object", "properties": {"a": {"type": "integer"},
                                                      "b": {"type": "integer"}},
                     "not": {"required": ["a", "b"]}},
    "not required, any type": {"not": {"required": ["a"]}},
    "not empty": {"type": "object", "properties": {"a": {"not": {}}, "b": {"type": "integer"}}},
    "not type": {"not": {"type": ["object", "array", "string"]}},
    "oneOf required": {"type": "object", "properties": {"a": {"type": "integer"},
                                                        "b": {"type": "integer"}},
                       "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
    "oneOf required, any type": {"oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
    "oneOf required, one inside another": {"oneOf": [{"required": ["a"]},
                                                     {"required": ["a", "b"]}]},
    "dependencies": {"$schema": DRAFT7, "type": "object",
                     "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                     "dependencies": {"a": ["b"]}},
    "dependencies, schema": {"$schema": DRAFT7, "dependencies": {"kind": {"required": ["r"]}}},
    "dependentRequired": {"dependentRequired": {"b": ["a"]}, "additionalProperties": False,
                          "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}},
    "unique enum": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": True},
    "unique enum, at most 2": {"type": "array", "items": {"enum": ["a", "b", "c"]},
                               "uniqueItems": True, "maxItems": 2},
    "unique, one item": {"type": "array", "items": {"type": "string"}, "uniqueItems": True,
                         "maxItems": 1},
}


@pytest.mark.parametrize("flexible", [False, True], ids=["compact", "flexible"])
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_accepted_exactly_when_valid(byte_index: TokenIndex, name: str, flexible: bool) -> None:
    schema = SCHEMAS[name]
    validate(ConstraintSpec(json_schema=schema))  # llguidance alone refuses most of these
    wrong = [v for v in VALUES
             if accepts_in_some_order(schema, v, byte_index, flexible) != is_valid(schema, v)]
    assert wrong == []
    assert any(is_valid(schema, v) for v in VALUES)


# -- the shared sample: no invalid instance accepted where a rewrite applied -------------------


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="the shared MaskBench sample is not here")
def test_sample_invalid_instances_stay_rejected(byte_index: TokenIndex) -> None:
    checked = 0
    for path in sorted(SAMPLE.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        schema = doc["schema"]
        if rewrite(schema) == schema:
            continue
        try:
            validate(ConstraintSpec(json_schema=schema))
        except ConstraintError:
            continue
        for test in doc["tests"]:
            if not test["valid"]:
                checked += 1
                assert not accepts(schema, test["data"], byte_index), (path.name, test["data"])
    assert checked > 10


def test_the_users_schema_is_never_changed() -> None:
    import copy

    from guidance_engine.constraints import engine_grammar

    schema = {"type": "object", "properties": {"a": {"not": {}}},
              "oneOf": [{"required": ["b"]}, {"required": ["c"]}],
              "x-guidance": {"whitespace_flexible": True}}
    before = copy.deepcopy(schema)
    first = engine_grammar(ConstraintSpec(json_schema=schema))
    assert engine_grammar(ConstraintSpec(json_schema=schema)) == first
    assert schema == before
    assert '"oneOf"' not in first and '"x-guidance": {"whitespace_flexible": true}' in first
