"""Constraints in a server's own dialect, and client-side checking of what a server returned.

A remote server constrains decoding itself when it can; which request fields it takes depends on
the server. This module is the one place that knows those dialects::

    >>> server_constraint(ConstraintSpec(pattern=r"\\d{3}"), "llamacpp")
    {'grammar': '%llguidance {}\\nstart: /[0-9]{3}/'}
    >>> server_constraint(ConstraintSpec(pattern=r"\\d{3}"), "vllm")
    {'structured_outputs': {'regex': '[0-9]{3}'}}
    >>> server_constraint(ConstraintSpec(pattern=r"\\d{3}"), "vllm-guided")  # vLLM < 0.10.2
    {'guided_regex': '[0-9]{3}'}

Which kinds each dialect expresses is the data `DIALECTS`; a backend's `Capabilities` are built
from it, and `LLM.validate_request` refuses a kind a server lacks before any request. Whatever
the server did, `matches(spec, text)` checks the returned value with the same engine the local
backends use (on a byte-level vocabulary, no tokenizer needed).
"""

from __future__ import annotations

import json
import re
from typing import Any

import llguidance

from guidance_engine.constraints.spec import (
    ConstraintSpec,
    engine_grammar,
    load_grammar,
    schema_dict,
)
from guidance_engine.constraints.vocab import TokenIndex
from guidance_engine.errors import ConstraintError

#: Dialects and the constraint kinds each one expresses: the engine's own ("llguidance", local
#: models) and each server type's request fields. Data for the backends' `Capabilities`
#: (`llms/openai_profiles.py`), which the request checks read.
DIALECTS: dict[str, frozenset[str]] = {
    "llguidance": frozenset({"pattern", "json_schema", "grammar", "options"}),
    "llamacpp": frozenset({"pattern", "json_schema", "grammar", "options"}),
    "vllm": frozenset({"pattern", "json_schema", "grammar", "options"}),
    "vllm-guided": frozenset({"pattern", "json_schema", "grammar", "options"}),
    "friendli": frozenset({"pattern", "json_schema"}),
    "openai": frozenset({"json_schema"}),
    "azure": frozenset({"json_schema"}),
}


def constraint_kind(spec: ConstraintSpec) -> str | None:
    """Which constraint `spec` holds: 'pattern', 'json_schema', 'grammar', 'options' or None."""
    for kind in ("pattern", "json_schema", "grammar", "options"):
        if getattr(spec, kind) is not None:
            return kind
    return None


#: vLLM's first release with `structured_outputs`; the `guided_*` fields went in 0.12.0.
VLLM_STRUCTURED_OUTPUTS = (0, 10, 2)


def vllm_dialect(version: str | None) -> str:
    """The constraint dialect of a vLLM server from its `/version`: "vllm" (current,
    `structured_outputs`) or "vllm-guided" (the `guided_*` fields of servers before 0.10.2).
    An unknown version is taken as current::

        >>> vllm_dialect("0.32.0"), vllm_dialect("0.9.1"), vllm_dialect(None)
        ('vllm', 'vllm-guided', 'vllm')
    """
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version or "")
    if match is None:
        return "vllm"
    found = tuple(int(part or 0) for part in match.groups())
    return "vllm" if found >= VLLM_STRUCTURED_OUTPUTS else "vllm-guided"


def server_constraint(spec: ConstraintSpec, server: str, chat: bool = False) -> dict[str, Any]:
    """The request fields that make `server` enforce `spec` ({} when it has no constraint);
    `chat` says the request goes to the chat endpoint (vLLM: a JSON schema as
    `response_format` there)."""
    kind = constraint_kind(spec)
    if kind is None:
        return {}
    if kind not in DIALECTS.get(server, frozenset()):  # the backend's Capabilities refuse first
        raise ConstraintError(f"{kind}= has no form in the {server!r} dialect")
    if server == "llamacpp":
        if kind == "json_schema":
            return {"json_schema": schema_dict(spec.json_schema)}
        return {"grammar": "%llguidance {}\n" + _lark(spec)}
    if server == "vllm":
        return _vllm(spec, kind, chat)
    if server == "vllm-guided":
        return _vllm_guided(spec, kind)
    schema = schema_dict(spec.json_schema) if spec.json_schema is not None else None
    if kind == "pattern":  # friendli
        return {"response_format": {"type": "regex", "schema": spec.pattern}}
    return {"response_format": {"type": "json_schema", "json_schema": {
        "name": str((schema or {}).get("title") or "value"), "schema": schema,
        "strict": server in ("openai", "azure")}}}


def _vllm(spec: ConstraintSpec, kind: str, chat: bool) -> dict[str, Any]:
    if kind == "json_schema":
        # Whitespace between JSON tokens is the server's setting (vLLM's
        # --structured-outputs-config '{"disable_any_whitespace": true}' makes it compact).
        schema = schema_dict(spec.json_schema)
        if chat:
            return {"response_format": {"type": "json_schema", "json_schema": {
                "name": str(schema.get("title") or "value"), "schema": schema}}}
        return {"structured_outputs": {"json": schema}}
    if kind == "pattern":
        return {"structured_outputs": {"regex": _rust_regex(spec)}}
    if kind == "options":
        return {"structured_outputs": {"choice": list(spec.options or ())}}
    # vLLM picks its backend per server, not per request; the `%llguidance` header makes the
    # default ("auto") choose llguidance, which reads our Lark dialect as we mean it.
    return {"structured_outputs": {"grammar": "%llguidance {}\n" + _lark(spec)}}


def _vllm_guided(spec: ConstraintSpec, kind: str) -> dict[str, Any]:
    if kind == "pattern":
        return {"guided_regex": _rust_regex(spec)}
    if kind == "json_schema":
        return {"guided_json": schema_dict(spec.json_schema)}
    if kind == "options":
        return {"guided_choice": list(spec.options or ())}
    return {"guided_grammar": _lark(spec), "guided_decoding_backend": "guidance"}


def _rust_regex(spec: ConstraintSpec) -> str:
    """The pattern as the engines read it (`\\d` is [0-9], as for the local backends)."""
    lark = _lark(spec)
    return lark[len("start: /"):-1]


def _lark(spec: ConstraintSpec) -> str:
    """A Lark grammar (llguidance dialect) whose `start` rule is the value."""
    if spec.pattern is not None:
        return "start: /" + llguidance.regex_to_lark(spec.pattern, "d") + "/"
    if spec.options is not None:
        return "start: " + " | ".join(json.dumps(o, ensure_ascii=False) for o in spec.options)
    if spec.grammar is not None:
        return load_grammar(spec.grammar)
    raise AssertionError("json_schema is sent as a schema, not a grammar")


def matches(spec: ConstraintSpec, text: str) -> bool:
    """Whether `text` is a complete value of `spec` (pattern/json_schema/grammar/options).

    >>> digits = ConstraintSpec(pattern=r"\\d+")
    >>> matches(digits, "123"), matches(digits, "12a")
    (True, False)
    """
    return check_value(spec, text) == "complete"


def check_value(spec: ConstraintSpec, text: str) -> str:
    """"complete" (a whole value), "partial" (the start of one) or "invalid" (not even that)."""
    if constraint_kind(spec) is None:
        return "complete"
    schema = None
    if spec.json_schema is not None:
        # servers format JSON their own way: any whitespace between tokens is accepted here
        schema = schema_dict(spec.json_schema)
        schema["x-guidance"] = {"whitespace_flexible": True, "item_separator": ",",
                                "key_separator": ":", **dict(schema.get("x-guidance") or {})}
    only = ConstraintSpec(pattern=spec.pattern, json_schema=schema, grammar=spec.grammar,
                          options=spec.options)
    matcher = TokenIndex.bytes_level().compile(engine_grammar(only))
    for byte in text.encode("utf-8"):
        if not matcher.consume_token(byte):
            return "invalid"
    return "complete" if matcher.is_accepting() else "partial"


def check_cut_value(
    spec: ConstraintSpec, text: str, gen_name: str | None, allow_partial: bool
) -> str:
    """`check_value` for a value that max_tokens ended: one cut before it was complete is an
    `IncompleteOutputError` unless the gen allows partial values (every backend's rule)."""
    verdict = check_value(spec, text)
    if verdict == "partial" and not allow_partial:
        from guidance_engine.constraints import incomplete_output_error  # imports torch

        raise incomplete_output_error(spec, text, gen_name=gen_name, reason="max_tokens")
    return verdict
