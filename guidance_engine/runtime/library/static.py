"""Argument checks that need no model call, run before a program's first one.

For every `{{gen}}`, `{{select}}` and `{{#select}}` tag that calls the built-in command (not a
variable of the same name), each keyword must be one the command takes (or, for `gen`, one the
model declares in `sampling_kwargs`), and each value known up front (a literal, or a variable
passed to the program) must be in range. So in

    {{gen 'a'}} {{gen 'b' max_token=5}}

the misspelled `max_token` is reported before the first gen runs, at the keyword.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from guidance_engine.errors import Span
from guidance_engine.llms.arguments import ArgumentError, check_keywords, check_values
from guidance_engine.runtime.library.gen import gen
from guidance_engine.runtime.library.select import select
from guidance_engine.template import instructions as ins
from guidance_engine.template.analysis import command_calls, static_value
from guidance_engine.template.nodes import Call, Var


def _parameters(func: Callable[..., Any]) -> tuple[str, ...]:
    params = list(inspect.signature(func).parameters.values())[1:]  # after the context
    return tuple(p.name for p in params if p.kind is not p.VAR_KEYWORD)


_GEN_KEYWORDS = _parameters(gen)
_SELECT_KEYWORDS = _parameters(select)
_SELECT_BLOCK_KEYWORDS = ("name", "logprobs", "list_append", "hidden", "temperature", "seed")


def argument_errors(
    instructions: tuple[ins.Instruction, ...],
    known: Mapping[str, Any],
    sampling_kwargs: frozenset[str],
) -> Iterator[tuple[str, ArgumentError, Span]]:
    """(command, error, span of the keyword) for every argument that is wrong before running."""
    for instruction in instructions:
        for call in command_calls((instruction,), ("gen", "select"), shadowed=known):
            yield from _check_call(call, known, sampling_kwargs)
        if isinstance(instruction, ins.SelectBlock) and "select" not in known:
            yield from _check_call(instruction.call, known, frozenset(), block=True)


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
