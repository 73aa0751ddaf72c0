"""The checks made before a program's first model call, on what the compiler's analysis found.

For every `{{gen}}`, `{{select}}` and `{{#select}}` tag that calls the built-in command (not a
variable of the same name), each keyword must be one the command takes (or, for `gen`, one the
model declares in `sampling_kwargs`), and each value known up front (a literal, or a variable
passed to the program) must be in range; every pattern, stop regex, JSON schema and grammar known
up front must be one the model can enforce. So in

    {{gen 'a'}} {{gen 'b' max_token=5}} {{gen 'c' pattern='['}}

the misspelled `max_token` is reported before the first gen runs, at the keyword. These checks
need the model and the program's variables, so they run when a program (or a partial, or a
parsed template) starts; the template's analysis itself is made once, by the compiler.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from guidance_engine.errors import ConstraintError, Span, TemplateRuntimeError
from guidance_engine.llms.arguments import ArgumentError, check_keywords, check_values
from guidance_engine.llms.base import LLM, GenRequest
from guidance_engine.llms.requests import gen_request
from guidance_engine.runtime.library.gen import gen
from guidance_engine.runtime.library.select import select
from guidance_engine.template.analysis import command_calls, static_value
from guidance_engine.template.instructions import Analysis, CompiledTemplate
from guidance_engine.template.nodes import Call, Var

_CONSTRAINTS = ("pattern", "json_schema", "grammar", "stop_regex")


def _parameters(func: Callable[..., Any]) -> tuple[str, ...]:
    params = list(inspect.signature(func).parameters.values())[1:]  # after the context
    return tuple(p.name for p in params if p.kind is not p.VAR_KEYWORD)


_GEN_KEYWORDS = _parameters(gen)
_SELECT_KEYWORDS = _parameters(select)
_SELECT_BLOCK_KEYWORDS = ("name", "logprobs", "list_append", "hidden", "temperature", "seed")


def check_before_run(
    template: CompiledTemplate, known: Mapping[str, Any], llm: LLM, name: str | None = None
) -> None:
    """Raise the first argument or constraint error of `template` (named `name`) that is known
    before it runs with the variables `known` on `llm`, positioned at its keyword or tag."""
    for command, error, span in argument_errors(template.analysis, known, llm.sampling_kwargs):
        raise TemplateRuntimeError(f"bad argument to {command!r}: {error}", span,
                                   template.source, name=name)
    for request, span in constraint_requests(template.analysis, known):
        try:
            llm.validate_request(request)
        except ConstraintError as exc:
            if exc.span is not None:
                raise
            raise ConstraintError(exc.message, span, template.source, name=name) from exc


def argument_errors(
    analysis: Analysis, known: Mapping[str, Any], sampling_kwargs: frozenset[str]
) -> Iterator[tuple[str, ArgumentError, Span]]:
    """(command, error, span of the keyword) for every argument that is wrong before running."""
    for call in command_calls(analysis, ("gen", "select"), shadowed=known):
        yield from _check_call(call, known, sampling_kwargs)
    if "select" not in known:
        for call in analysis.select_blocks:
            yield from _check_call(call, known, frozenset(), block=True)


def _check_call(
    call: Call, known: Mapping[str, Any], sampling_kwargs: frozenset[str], block: bool = False
) -> Iterator[tuple[str, ArgumentError, Span]]:
    assert isinstance(call.func, Var)
    command = call.func.name
    if block:
        keywords: tuple[str, ...] = _SELECT_BLOCK_KEYWORDS
    else:
        keywords = _GEN_KEYWORDS if command == "gen" else _SELECT_KEYWORDS
    accepted = sampling_kwargs if command == "gen" else frozenset()
    for kw in call.kwargs:
        try:
            check_keywords([kw.name], keywords, accepted)
            ok, value = static_value(kw.value, known)
            if ok:
                check_values(command, {kw.name: value})
        except ArgumentError as error:
            yield command, error, kw.span


def constraint_requests(
    analysis: Analysis, known: Mapping[str, Any] | None = None
) -> Iterator[tuple[GenRequest, Span]]:
    """A constraint-only GenRequest for every `gen` whose constraint arguments are known up front:
    literals, or plain names of `known` variables (those passed to the program)."""
    known = known or {}
    for call in command_calls(analysis, ("gen",), shadowed=known):
        request = _constraint_request(call, known)
        if request is not None:
            yield request, call.span


def _constraint_request(call: Call, known: Mapping[str, Any]) -> GenRequest | None:
    """The gen's constraint arguments that have a value before the run (the others are checked
    when the gen runs, as are arguments of a wrong type)."""
    fields: dict[str, Any] = {}
    for kw in call.kwargs:
        if kw.name in _CONSTRAINTS:
            ok, value = static_value(kw.value, known)
            if ok and value is not None:
                fields[kw.name] = value
    if not fields:
        return None
    try:
        return gen_request("", None, **fields)
    except ArgumentError:
        return None
