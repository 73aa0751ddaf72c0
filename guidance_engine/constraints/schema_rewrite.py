"""JSON-schema rewrites: keywords llguidance refuses, replaced by exact equivalents it accepts.

Each rewrite is applied only when the replacement accepts exactly the instances the original
does (or, for `uniqueItems`, when it lists them all); anything else is left as written, and the
engine then refuses it with its own reason. Applied before the schema reaches the engine::

    >>> rewrite({"oneOf": [{"$ref": "#/$defs/a"}, {"type": "null"}],
    ...          "$defs": {"a": {"type": "string"}}})["anyOf"]
    [{'$ref': '#/$defs/a'}, {'type': 'null'}]

- `oneOf` whose branches provably never overlap becomes `anyOf` (exactly one branch matches
  whenever any does). Two branches never overlap when the JSON types they allow are disjoint,
  or, for objects (when a branch or the schema around the `oneOf` allows only objects), when
  both require one property with disjoint `const`/`enum` values, or one branch requires a
  property the other forbids (`false`, or not listed under `"additionalProperties": false`).
  Types and requirements are read through local `$ref`s, `allOf`, `anyOf` and `enum`/`const`
  (llguidance itself reads only inline `type`/`const`/`enum`).
- `oneOf` of branches that only list `required` properties, each other branch missing one of
  them, becomes "an object with one branch's properties and without the others' extra one".
- `dependencies` / `dependentRequired` / `dependentSchemas` become "absent, or present and the
  rest holds" (an `anyOf` per property).
- `not: {}` (nothing matches) becomes `false`; `not: {"required": [a, ...]}` becomes "an object
  in which one of a, ... is absent"; `not: {"type": [...]}` becomes the other types.
- A `format` llguidance does not know but that has an exact regex (`FORMATS`: OpenAPI's
  base64 `byte`) becomes that `pattern`.
- `uniqueItems` on an array of `enum`/`const` items becomes the `enum` of every array of
  distinct values (when there are at most `MAX_UNIQUE_ARRAYS` of them); with `maxItems` <= 1 it
  is dropped (one item is always unique).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any

TYPES = frozenset({"null", "boolean", "object", "array", "string", "number", "integer"})
ANNOTATIONS = frozenset({"title", "description", "$comment", "examples", "default", "$id",
                         "$schema", "deprecated", "readOnly", "writeOnly", "markdownDescription"})
#: Keys that never constrain the instance where they stand (kept as they are by a rewrite).
PASSIVE = ANNOTATIONS | {"x-guidance", "$defs", "definitions"}
MAX_UNIQUE_ARRAYS = 200
#: String formats llguidance does not know, as the regex of exactly their strings.
FORMATS = {
    # OpenAPI's "byte": base64 (RFC 4648, with padding)
    "byte": r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
}
_ALL: frozenset[str] | None = None  # "any value": no restriction known


#: Keywords whose value is a schema or a list of schemas, and those whose value maps names to
#: schemas; everything else (names, numbers, unknown keywords) is data and left as written.
SCHEMA_KEYS = frozenset({"items", "additionalItems", "prefixItems", "additionalProperties",
                         "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "contains",
                         "propertyNames", "unevaluatedItems", "unevaluatedProperties"})
SCHEMA_MAPS = frozenset({"properties", "patternProperties", "definitions", "$defs",
                         "dependentSchemas"})


#: The keywords some rewrite starts from: a schema without any of them is left as it is.
REWRITTEN_KEYS = ("oneOf", "not", "uniqueItems", "dependencies", "dependentRequired",
                  "dependentSchemas", "format")


def rewrite(schema: Any) -> Any:
    """`schema` with the rewrites above applied (a new object; the argument is not changed)."""
    if not isinstance(schema, dict):
        return schema
    return _Rewriter(schema).node(schema, "#")


class _Rewriter:
    """Walks one schema document; `$ref`s are resolved against its root."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: list[str] = []
        # A nested `$id` starts a new document that "#/..." refs inside it point into: then
        # refs are not followed at all (a wrong target could make a proof unsound).
        self.follow = not _collect(root, self.refs, top=True)

    def node(self, schema: Any, path: str) -> Any:
        if isinstance(schema, list):
            return [self.node(x, f"{path}/{i}") for i, x in enumerate(schema)]
        if not isinstance(schema, dict):
            return schema
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key in SCHEMA_KEYS:
                out[key] = self.node(value, f"{path}/{_escape(key)}")
            elif key in SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: self.node(sub, f"{path}/{_escape(key)}/{_escape(name)}")
                            for name, sub in value.items()}
            elif key == "dependencies" and isinstance(value, dict):  # schemas or name lists
                out[key] = {name: sub if isinstance(sub, list) else self.node(
                    sub, f"{path}/{key}/{_escape(name)}") for name, sub in value.items()}
            else:
                out[key] = value
        if isinstance(out.get("oneOf"), list) and self.free(path, "oneOf"):
            # What the siblings already exclude cannot be a double match.
            around = self.types({k: v for k, v in out.items() if k != "oneOf"})
            if self.disjoint(out["oneOf"], around is not None and around <= {"object"}):
                _add_any_of(out, out.pop("oneOf"))
            elif (exclusive := _exclusive_required(out["oneOf"])) is not None:
                del out["oneOf"]
                out["allOf"] = [*out.get("allOf", []), exclusive]
        if out.get("format") in FORMATS:
            out = _format_as_pattern(out)
        for key in ("dependencies", "dependentRequired", "dependentSchemas"):
            if isinstance(out.get(key), dict) and self.free(path, key):
                out = _dependencies(out, key)
        if "not" in out and self.free(path, "not"):
            out = self.negate(out)
        if out.get("uniqueItems") is True and self.free(path, "items"):
            out = self.unique(out)
        return out

    def free(self, path: str, key: str) -> bool:
        """Whether no `$ref` points inside `path/key` (a rewrite there would break it)."""
        inside = f"{path}/{key}"
        return not any(ref == inside or ref.startswith(inside + "/") for ref in self.refs)

    # -- $ref ------------------------------------------------------------------------------

    def resolve(self, schema: Any) -> Any:
        """`schema` with local `$ref`s followed (None when one cannot be)."""
        for _ in range(20):
            if not (isinstance(schema, dict) and isinstance(schema.get("$ref"), str)):
                return schema
            schema = _pointer(self.root, schema["$ref"]) if self.follow else None
        return None

    def parts(self, schema: Any) -> Iterable[dict[str, Any]]:
        """`schema` and what it must also satisfy (`allOf` members), with `$ref`s followed.

        A schema with a `$ref` contributes only the target: validators of drafts up to 7
        ignore the keywords beside a `$ref`. Leaving a keyword out is always safe here, as every
        reader below only narrows with what it finds.
        """
        stack, seen = [schema], 0
        while stack and seen < 64:
            item, seen = self.resolve(stack.pop()), seen + 1
            if not isinstance(item, dict):
                continue
            yield item
            if isinstance(item.get("allOf"), list):
                stack.extend(item["allOf"])

    # -- what a schema allows (over-approximated) -----------------------------------------

    def types(self, schema: Any, depth: int = 0) -> frozenset[str] | None:
        """A superset of the JSON types `schema` accepts (None: any)."""
        if schema is False:
            return frozenset()
        if not isinstance(schema, dict) or depth > 8:
            return _ALL
        allowed: frozenset[str] | None = _ALL
        for part in self.parts(schema):
            for found in self._own_types(part, depth):
                allowed = found if allowed is None else allowed & found
        return allowed

    def _own_types(self, part: dict[str, Any], depth: int) -> Iterable[frozenset[str]]:
        declared = part.get("type")
        if isinstance(declared, str):
            declared = [declared]
        if isinstance(declared, list) and all(t in TYPES for t in declared):
            yield _widen(frozenset(declared))
        if "const" in part:
            yield _widen(frozenset({_type_of(part["const"])}))
        if isinstance(part.get("enum"), list):
            yield _widen(frozenset(_type_of(v) for v in part["enum"]))
        for key in ("anyOf", "oneOf"):
            if isinstance(part.get(key), list):
                union: set[str] = set()
                for branch in part[key]:
                    found = self.types(branch, depth + 1)
                    if found is None:
                        break
                    union |= found
                else:
                    yield frozenset(union)

    def required(self, schema: Any) -> set[str]:
        """Properties `schema` requires (an under-approximation: all of these must be there)."""
        out: set[str] = set()
        for part in self.parts(schema):
            if isinstance(part.get("required"), list):
                out.update(p for p in part["required"] if isinstance(p, str))
        return out

    def values(self, schema: Any, prop: str) -> set[str] | None:
        """A superset of the values property `prop` may take (canonical JSON), None: any."""
        allowed: set[str] | None = None
        for part in self.parts(schema):
            props = part.get("properties")
            if not isinstance(props, dict) or prop not in props:
                continue
            for sub in self.parts(props[prop]):
                found = _finite_values(sub)
                if found is not None:
                    allowed = found if allowed is None else allowed & found
        return allowed

    # -- oneOf --------------------------------------------------------------------------------

    def disjoint(self, branches: list[Any], objects: bool = False) -> bool:
        """Whether no instance can match two of `branches` (`objects`: only objects can come)."""
        facts = [(b, self.types(b), self.required(b)) for b in branches]
        return all(self._pair_disjoint(a, b, objects)
                   for a, b in itertools.combinations(facts, 2))

    def _pair_disjoint(self, a: tuple[Any, frozenset[str] | None, set[str]],
                       b: tuple[Any, frozenset[str] | None, set[str]], objects: bool) -> bool:
        (sa, ta, ra), (sb, tb, rb) = a, b
        if ta is not None and tb is not None and not _overlap(ta, tb):
            return True
        if not (objects or any(t is not None and t <= {"object"} for t in (ta, tb))):
            return False
        # From here an instance matching both is an object.
        for prop in ra & rb:
            va, vb = self.values(sa, prop), self.values(sb, prop)
            if va is not None and vb is not None and not va & vb:
                return True
        return any(self.forbids(sa, p) for p in rb) or any(self.forbids(sb, p) for p in ra)

    def forbids(self, schema: Any, prop: str) -> bool:
        """Whether an object matching `schema` cannot have property `prop`."""
        for part in self.parts(schema):
            props = part.get("properties")
            props = props if isinstance(props, dict) else {}
            if props.get(prop) is False:
                return True
            closed = part.get("additionalProperties") is False and not part.get(
                "patternProperties")
            if closed and prop not in props:
                return True
        return False

    # -- not ----------------------------------------------------------------------------------

    def negate(self, schema: dict[str, Any]) -> dict[str, Any]:
        """`schema` with its `not` replaced by an equivalent the engine accepts, if one is known."""
        inner = self.resolve(schema["not"])
        body = {k: v for k, v in inner.items() if k not in ANNOTATIONS} if isinstance(
            inner, dict) else inner
        replacement: Any
        if body == {} or body is True:
            replacement = False
        elif isinstance(body, dict) and set(body) == {"required"} and _names(body["required"]):
            absent = [{"properties": {name: False}} for name in body["required"]]
            replacement = {"type": "object", **({"anyOf": absent} if len(absent) > 1
                                                 else absent[0])}
        elif isinstance(body, dict) and set(body) == {"type"} and self.types(body) is not None:
            others = _complement(self.types(body) or frozenset())
            if others is None:
                return schema
            replacement = {"type": sorted(others)} if others else False
        else:
            return schema
        out = {k: v for k, v in schema.items() if k != "not"}
        out["allOf"] = [*out.get("allOf", []), replacement]
        return out

    # -- uniqueItems --------------------------------------------------------------------------

    def unique(self, schema: dict[str, Any]) -> dict[str, Any]:
        """`schema` (an array with `uniqueItems`) as the enum of all its arrays, when small."""
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        if isinstance(high, int) and high <= 1:
            return {k: v for k, v in schema.items() if k != "uniqueItems"}
        shape = {k for k in schema if k not in PASSIVE}
        if not shape <= {"type", "items", "uniqueItems", "minItems", "maxItems"}:
            return schema
        if schema.get("type", "array") not in ("array", ["array"]):
            return schema
        choices = self._item_values(schema.get("items"))
        if choices is None or not isinstance(low, int):
            return schema
        top = len(choices) if not isinstance(high, int) else min(high, len(choices))
        count = sum(_arrangements(len(choices), n) for n in range(low, top + 1))
        if count > MAX_UNIQUE_ARRAYS:
            return schema
        arrays = [list(p) for n in range(low, top + 1) for p in itertools.permutations(choices, n)]
        return {**{k: v for k, v in schema.items() if k in PASSIVE}, "enum": arrays}

    def _item_values(self, items: Any) -> list[Any] | None:
        """The distinct values an item may take, when `items` is just an enum/const."""
        items = self.resolve(items)
        if not isinstance(items, dict) or "$ref" in items:
            return None
        shape = {k for k in items if k not in ANNOTATIONS}
        if "const" in shape and shape <= {"const", "type"}:
            values = [items["const"]]
        elif "enum" in shape and shape <= {"enum", "type"} and isinstance(items["enum"], list):
            values = items["enum"]
        else:
            return None
        if "type" in shape:
            allowed = self.types({"type": items["type"]}) or frozenset()
            values = [v for v in values if _type_of(v) in allowed]
        distinct: dict[str, Any] = {}
        for value in values:
            distinct.setdefault(_canon(value), value)
        return list(distinct.values())


# ---------------------------------------------------------------------------------------------


def _collect(schema: Any, refs: list[str], top: bool = False) -> bool:
    """Gather every `$ref` of a schema document into `refs`; True if it has a nested `$id`."""
    if isinstance(schema, list):
        return any([_collect(x, refs) for x in schema])
    if not isinstance(schema, dict):
        return False
    nested = not top and (isinstance(schema.get("$id"), str) or isinstance(schema.get("id"), str))
    if isinstance(schema.get("$ref"), str):
        refs.append(schema["$ref"])
    for key, value in schema.items():
        if key in SCHEMA_KEYS:
            nested |= _collect(value, refs)
        elif key in SCHEMA_MAPS and isinstance(value, dict):
            nested |= any([_collect(sub, refs) for sub in value.values()])
    return nested


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _pointer(root: dict[str, Any], ref: str) -> Any:
    """The node a local `$ref` ('#/definitions/a~1b') points at, or None."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for raw in ref[2:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _widen(types: frozenset[str]) -> frozenset[str]:
    """Integers are numbers: a set allowing "number" also allows "integer"."""
    return types | {"integer"} if "number" in types else types


def _overlap(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(_widen(a) & _widen(b))


def _complement(types: frozenset[str]) -> frozenset[str] | None:
    """The types outside `types` (None: not expressible, "number but not integer")."""
    types = _widen(types)
    if "integer" in types and "number" not in types:
        return None
    return frozenset(TYPES - types - ({"number"} if "number" in types else set()))


def _canon(value: Any) -> str:
    """JSON equality as string equality: 1 == 1.0, true != 1, key order ignored."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, list):
        return "[" + ",".join(_canon(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{json.dumps(k)}:{_canon(v)}" for k, v in items) + "}"
    return json.dumps(value)


def _finite_values(schema: dict[str, Any]) -> set[str] | None:
    if "const" in schema:
        return {_canon(schema["const"])}
    if isinstance(schema.get("enum"), list):
        return {_canon(v) for v in schema["enum"]}
    return None


def _names(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _arrangements(k: int, n: int) -> int:
    """Ordered selections of n distinct values out of k: k! / (k - n)!."""
    out = 1
    for i in range(n):
        out *= k - i
    return out if n <= k else 0


def _exclusive_required(branches: list[Any]) -> Any:
    """`oneOf` of branches that only require properties, as "an object with exactly one branch's
    properties": branch i holds and every other branch j misses its one property not in i.

    >>> _exclusive_required([{"required": ["a"]}, {"required": ["b"]}])["anyOf"][0]
    {'required': ['a'], 'properties': {'b': False}}

    None when some other branch j misses more than one property of branch i (then "j fails"
    is a choice between properties, not written here). A branch whose properties include
    another's can never be the only match, and is left out. Non-objects match every branch,
    so they are excluded.
    """
    needs: list[set[str]] = []
    for branch in branches:
        shape = set(branch) - ANNOTATIONS if isinstance(branch, dict) else None
        if shape != {"required"} or not _names(branch["required"]):
            return None
        needs.append(set(branch["required"]))
    if len(needs) < 2:
        return None
    alive = []
    for i, mine in enumerate(needs):
        others = [theirs - mine for j, theirs in enumerate(needs) if j != i]
        if any(not extra for extra in others):
            continue  # another branch's properties are all here too: never the only match
        if any(len(extra) > 1 for extra in others):
            return None
        absent = sorted({name for extra in others for name in extra})
        alive.append({"required": sorted(mine),
                      "properties": {name: False for name in absent}})
    return {"type": "object", "anyOf": alive} if alive else False


def _dependencies(schema: dict[str, Any], key: str) -> dict[str, Any]:
    """`dependencies` / `dependentRequired` / `dependentSchemas` as "absent, or present and
    then ...": an `anyOf` per property, exact for objects and (like the keyword) vacuous for
    anything else."""
    clauses = []
    for name, then in schema[key].items():
        if isinstance(then, list) and all(isinstance(n, str) for n in then):
            if key == "dependentSchemas":
                return schema
            present: Any = {"required": [name, *then]}
        elif isinstance(then, dict | bool) and key != "dependentRequired":
            present = {"allOf": [{"required": [name]}, then]}
        else:
            return schema
        clauses.append({"anyOf": [{"properties": {name: False}}, present]})
    out = {k: v for k, v in schema.items() if k != key}
    out["allOf"] = [*out.get("allOf", []), *clauses]
    return out


def _format_as_pattern(schema: dict[str, Any]) -> dict[str, Any]:
    """A string `format` from `FORMATS` as its regex (beside any `pattern` already there)."""
    out = {k: v for k, v in schema.items() if k != "format"}
    out["allOf"] = [*out.get("allOf", []), {"pattern": FORMATS[schema["format"]]}]
    return out


def _add_any_of(schema: dict[str, Any], branches: list[Any]) -> None:
    if "anyOf" in schema:
        schema["allOf"] = [*schema.get("allOf", []), {"anyOf": branches}]
    else:
        schema["anyOf"] = branches
