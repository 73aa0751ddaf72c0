"""Constraint specs: what a gen's output must look like, turned into one engine grammar and checked.

A `ConstraintSpec` is plain data (pattern, JSON schema, grammar or options, plus stop strings and
a healing prefix). `engine_grammar(spec)` turns it into the grammar the engine compiles, shaped

    start: heal value stop?
    heal: "<healing prefix>"              (only when there is one)
    value: /pattern/ | "opt" | ... | @value (JSON schema or Lark sub-grammar) | /(?s:.*)/
    stop[capture]: "<stop>" | /<stop regex>/   (only for a constrained value)

(a JSON schema or Lark grammar with neither healing prefix nor stops goes to the engine alone,
as llguidance's own grammar for it: the Lark wrapper would double the compile time).

`validate(spec, index=None)` raises `ConstraintError` with the engine's reason for anything it
cannot honour. It compiles the grammar once, on the model's vocabulary when given one (a `Matcher`
for the spec then reuses that compile), else on the 257-token byte vocabulary (no model)::

    >>> validate(ConstraintSpec(pattern=r"(a)\\1"))
    Traceback (most recent call last):
    ConstraintError: pattern '(a)\\1' is not supported: backreferences are not supported
        (a)\\1
           ^^
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import llguidance

from guidance_engine.constraints.schema_rewrite import REWRITTEN_KEYS, rewrite
from guidance_engine.constraints.vocab import TokenIndex, unpack_mask
from guidance_engine.errors import ConstraintError


class RequestConstraints(Protocol):
    """The fields of a gen request that say what its text must be (`llms.base.GenRequest` has
    them); named here so that constraints never import the model layer above them."""

    @property
    def pattern(self) -> str | None: ...
    @property
    def json_schema(self) -> Any: ...
    @property
    def grammar(self) -> str | None: ...
    @property
    def stop(self) -> tuple[str, ...]: ...
    @property
    def stop_regex(self) -> tuple[str, ...]: ...


#: JSON is generated compactly (one space after ':' and ','): fixed keys then form one forced
#: run that fast-forward feeds as a prefill, and the model cannot wander off into whitespace.
JSON_DEFAULTS: dict[str, Any] = {
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
}
#: The `x-guidance` options that together decide where whitespace may go. They depend on each
#: other (llguidance's separators are "," and ":" with flexible whitespace around them unless
#: the separators are given), so our compact layout is used only when the schema sets none of
#: them; one of them set means the whole layout is llguidance's, exactly as it documents it.
JSON_LAYOUT_OPTIONS = frozenset(
    {"whitespace_flexible", "whitespace_pattern", "item_separator", "key_separator"}
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ConstraintSpec:
    """What the generated text must be: at most one of pattern / json_schema / grammar / options.

    The generated text is `healing_prefix + value + stop`, where `value` fully matches the
    constraint and `stop` (optional, only with a constraint) is one of `stop` / a `stop_regex`
    match. Without a constraint any text is allowed after the healing prefix (stop strings are
    then the backend's job, as for any unconstrained gen).
    """

    pattern: str | None = None
    json_schema: Mapping[str, Any] | Any | None = field(default=None, hash=False)
    grammar: str | None = None
    options: tuple[str, ...] | None = None
    stop: tuple[str, ...] = ()
    stop_regex: tuple[str, ...] = ()
    healing_prefix: str = ""

    @staticmethod
    def for_request(request: RequestConstraints, healing_prefix: str = "") -> ConstraintSpec:
        """The constraint a backend enforces for one gen request."""
        return ConstraintSpec(
            pattern=request.pattern,
            json_schema=request.json_schema,
            grammar=request.grammar,
            stop=request.stop,
            stop_regex=request.stop_regex,
            healing_prefix=healing_prefix,
        )

    @property
    def constrained(self) -> bool:
        """Whether the value itself is constrained (healing alone is not a constraint)."""
        parts = (self.pattern, self.json_schema, self.grammar, self.options)
        return any(x is not None for x in parts)

    def describe(self) -> str:
        """The constraint in words, for error messages: "pattern '[0-9]+'"."""
        if self.pattern is not None:
            return f"pattern {self.pattern!r}"
        if self.json_schema is not None:
            text = json.dumps(self.json_schema, sort_keys=True, default=repr)
            return f"json_schema {_short(text)}"
        if self.grammar is not None:
            return f"grammar {_short(self.grammar)!r}"
        if self.options is not None:
            return f"options {list(self.options)!r}"
        return "healing prefix" if self.healing_prefix else "no constraint"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Grammar files


def grammar_dir() -> Path:
    """The directory of the grammars shipped with the package."""
    return Path(str(resources.files("guidance_engine") / "grammars"))


def shipped_grammars() -> list[str]:
    """Names usable as `grammar=`: ['arithmetic', 'json', 'llmcompiler_plan', ...]."""
    return sorted(p.stem for p in grammar_dir().glob("*.lark"))


def load_grammar(grammar: str) -> str:
    """Lark text for a shipped grammar name, a path to a .lark file, or inline Lark text.

    >>> load_grammar("arithmetic").startswith("//")
    True
    """
    if _NAME.fullmatch(grammar):
        path = grammar_dir() / f"{grammar}.lark"
        if path.is_file():
            return path.read_text(encoding="utf-8")
        raise ConstraintError(
            f"unknown grammar {grammar!r}: expected one of the shipped grammars "
            f"({', '.join(shipped_grammars())}), a path to a .lark file, or inline Lark text"
        )
    if grammar.endswith(".lark") and "\n" not in grammar:
        path = Path(grammar).expanduser()
        if not path.is_file():
            raise ConstraintError(f"grammar file {grammar!r} does not exist")
        return path.read_text(encoding="utf-8")
    return grammar


# ---------------------------------------------------------------------------------------------
# Building the engine grammar


def schema_dict(schema: Any) -> dict[str, Any]:
    """A JSON schema as a dict: a mapping as is, a JSON string parsed, a pydantic model class via
    its schema. The one reading of `json_schema=` (templates, session calls, backends).

    >>> schema_dict('{"type": "integer"}')
    {'type': 'integer'}
    """
    if isinstance(schema, Mapping):
        return dict(schema)
    if isinstance(schema, str):
        try:
            loaded = json.loads(schema)
        except json.JSONDecodeError as exc:
            raise ConstraintError(f"json_schema is not valid JSON: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConstraintError(f"json_schema must be a JSON object; found "
                                  f"{type(loaded).__name__} {loaded!r}")
        return loaded
    to_schema = getattr(schema, "model_json_schema", None)
    if isinstance(schema, type) and callable(to_schema):
        return dict(to_schema())
    raise ConstraintError(
        "json_schema must be a dict, a JSON string or a pydantic model class; "
        f"found {type(schema).__name__} {schema!r}"
    )


def _lark_string(text: str) -> str:
    # JSON string syntax is a subset of what the engine's Lark strings accept.
    return json.dumps(text, ensure_ascii=False)


def _lark_regex(pattern: str) -> str:
    # `\d` means [0-9] (what a user of a language model means), `/` is escaped for /.../.
    return "/" + llguidance.regex_to_lark(pattern, "d") + "/"


def _value_rule(spec: ConstraintSpec) -> tuple[str, dict[str, Any] | None]:
    """The `value` rule's body, and the named sub-grammar it references, if any."""
    if spec.pattern is not None:
        return _lark_regex(spec.pattern), None
    if spec.options is not None:
        alts = [_lark_string(o) for o in spec.options if o]
        body = " | ".join(alts) if alts else '""'
        return (f"({body})?" if "" in spec.options and alts else body), None
    if spec.json_schema is not None:
        schema = dict(_rewritten(json.dumps(schema_dict(spec.json_schema))))
        schema["x-guidance"] = json_options(schema.get("x-guidance"))
        return "@value", {"name": "value", "json_schema": schema}
    if spec.grammar is not None:
        return "@value", {"name": "value", "lark_grammar": load_grammar(spec.grammar)}
    return "/(?s:.*)/", None


def json_options(given: Any) -> dict[str, Any]:
    """The `x-guidance` options the engine gets for a schema whose own are `given`.

    >>> json_options(None)["item_separator"], json_options({"whitespace_flexible": True})
    (', ', {'whitespace_flexible': True})
    """
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise ConstraintError(
            f'json_schema: "x-guidance" must be an object of options, found {type(given).__name__}'
        )
    options = dict(given)
    if JSON_LAYOUT_OPTIONS.isdisjoint(options):
        options = {**JSON_DEFAULTS, **options}
    return options


@functools.lru_cache(maxsize=64)
def _rewritten(schema_text: str) -> dict[str, Any]:
    """The schema (as JSON text) with `schema_rewrite` applied; remembered, because a gen is
    checked and then matched, often in a loop, and the rewrite walks the whole schema. The
    result is shared: callers copy it before changing it."""
    schema: dict[str, Any] = json.loads(schema_text)
    if any(f'"{key}"' in schema_text for key in REWRITTEN_KEYS):  # else nothing to walk for
        schema = rewrite(schema)
    return schema


def engine_grammar(spec: ConstraintSpec) -> str:
    """The engine's grammar (a JSON string) for `spec`; see the module docstring for its shape."""
    body, sub = _value_rule(spec)
    start = ["value"]
    lines = [f"value: {body}"]
    if spec.healing_prefix:
        start.insert(0, "heal")
        lines.append(f"heal: {_lark_string(spec.healing_prefix)}")
    stops = [_lark_string(s) for s in spec.stop] + [_lark_regex(r) for r in spec.stop_regex]
    if stops and spec.constrained:
        start.append("stop?")
        lines.append(f"stop[capture]: {' | '.join(stops)}")
    if sub is not None and start == ["value"]:
        # The sub-grammar alone: wrapping it in a Lark rule doubles the engine's compile time.
        return json.dumps({"grammars": [{k: v for k, v in sub.items() if k != "name"}]})
    lark = "\n".join([f"start: {' '.join(start)}", *lines])
    grammars: list[dict[str, Any]] = [{"lark_grammar": lark}]
    if sub is not None:
        grammars.append(sub)
    return json.dumps({"grammars": grammars})


# ---------------------------------------------------------------------------------------------
# Validation


def validate(spec: ConstraintSpec, index: TokenIndex | None = None) -> None:
    """Raise `ConstraintError` (with the engine's reason) if `spec` cannot be honoured.

    Compiles the constraint once, on `index` (the model's vocabulary: a `Matcher` for the same
    spec then reuses that compile from the index's cache) or, without one, on the 257-token
    byte vocabulary (no model needed). A spec that passed is remembered on the index, so a gen
    inside a loop is checked once. Only when the engine refuses is each part checked on its own,
    so that the message names the part at fault.

    >>> validate(ConstraintSpec(pattern="[0-9]+"))       # passes: returns None
    """
    _check_shape(spec)
    if not spec.constrained:  # nothing for the engine to compile: stops are the backend's
        for regex in spec.stop_regex:
            _check_regex(regex, "stop_regex")
        return
    index = index or TokenIndex.bytes_level()
    bare = ConstraintSpec(**_constraint_only(spec), stop=spec.stop, stop_regex=spec.stop_regex)
    grammar = engine_grammar(bare)
    if index.checked(grammar):
        return
    matcher = index.compile(grammar)
    if matcher.is_error():
        _raise_for_part(bare, matcher.get_error())
    # The engine proves a JSON schema satisfiable itself ("Unsatisfiable schema: ..." above).
    if spec.json_schema is None and not _satisfiable(matcher, index):
        raise ConstraintError(f"{spec.describe()} can never match: no text satisfies it")
    index.mark_checked(grammar)


def forget_compiled(index: TokenIndex | None = None) -> None:
    """Forget compiled grammars and checked specs (of `index` and the byte vocabulary): the
    next compile is cold. Benchmarks use it."""
    for each in (index, TokenIndex.bytes_level()):
        if each is not None:
            each.clear_compiled()
    _rewritten.cache_clear()


def _check_shape(spec: ConstraintSpec) -> None:
    """The checks that need no engine: one constraint at most, no empty options or stops."""
    given = [
        name
        for name in ("pattern", "json_schema", "grammar", "options")
        if getattr(spec, name) is not None
    ]
    if len(given) > 1:
        raise ConstraintError(
            f"a gen takes at most one of pattern=, json_schema=, grammar=, options=; "
            f"got {' and '.join(n + '=' for n in given)}"
        )
    if spec.options is not None and not spec.options:
        raise ConstraintError("options= is empty: expected at least one option")
    if any(s == "" for s in spec.stop):
        raise ConstraintError("stop strings must not be empty (found '' in stop=)")


def _raise_for_part(spec: ConstraintSpec, reason: str) -> None:
    """The engine refused `spec`'s grammar: raise the error naming the part at fault."""
    if spec.pattern is not None:
        _check_regex(spec.pattern, "pattern")
    for regex in spec.stop_regex:
        _check_regex(regex, "stop_regex")
    if spec.json_schema is not None:
        raise ConstraintError(f"json_schema cannot be used: {reason.strip()}")
    if spec.grammar is not None:
        raise ConstraintError(f"grammar {_short(spec.grammar)!r} is invalid: {reason.strip()}")
    raise ConstraintError(f"{spec.describe()} cannot be used: {reason.strip()}")


def _check_regex(regex: str, what: str) -> None:
    grammar = llguidance.LLMatcher.grammar_from_regex(regex)
    reason = llguidance.LLMatcher.validate_grammar(grammar)
    if reason:
        raise ConstraintError(f"{what} {regex!r} is not supported: {_regex_reason(reason)}")


def _regex_reason(reason: str) -> str:
    """The engine's regex error, cut down to its own explanation and caret snippet.

    The engine reports `...regex parse error:\\n    <regex>\\n    ^^^\\nerror: <why>\\n<grammar
    echo>`; we keep "<why>" and the regex snippet, and drop the echo of our wrapper grammar.
    """
    head, sep, rest = reason.partition("regex parse error:\n")
    if not sep:  # a one-line reason: drop the location prefix and the grammar echo
        first = reason.strip().split("\n")[0]
        return first.split("(in regex): ", 1)[-1]
    lines = rest.split("\n")
    why = next((ln[len("error: ") :] for ln in lines if ln.startswith("error: ")), "")
    snippet = [ln for ln in lines[: lines.index("error: " + why)] if ln.strip()] if why else []
    return "\n".join([why or head.strip(), *snippet])


def _satisfiable(matcher: llguidance.LLMatcher, index: TokenIndex) -> bool:
    """Whether the value matches some text: it is complete, or some non-EOS token is allowed."""
    if matcher.is_accepting():
        return True
    bits = unpack_mask(matcher.compute_bitmask(), index.vocab_size)
    bits[list(index.eos_ids)] = 0
    return bool(bits.any())


def _constraint_only(spec: ConstraintSpec) -> dict[str, Any]:
    return {
        "pattern": spec.pattern,
        "json_schema": spec.json_schema,
        "grammar": spec.grammar,
        "options": spec.options,
    }
