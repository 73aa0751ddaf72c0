"""Events: what an execution reports as it runs (text, gen chunks, captures, log records).

The interpreter emits events through a callback; display and streaming consume them and never
look inside the interpreter. Log records (`CommandRecord`, `ModelCallRecord`) are what
`Program.log` holds when a program runs with `log=True`::

    TextEvent(text='Name: ', span=Span(0, 6, 1, 1))
    GenChunk(name='name', index=0, text=' Bob')
    Captured(name='name', value=' Bob')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from guidance_engine.errors import Span
from guidance_engine.llms.base import GenRequest, GenResult, GenStats, SelectRequest, SelectResult


@dataclass(frozen=True, slots=True)
class TextEvent:
    """Text appended to the program output (fixed text, a value, a committed gen)."""

    text: str
    span: Span | None


@dataclass(frozen=True, slots=True)
class GenChunk:
    """A streamed delta of a `gen` that has not finished yet (sample `index`)."""

    name: str | None
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class Captured:
    """A program variable was set (by gen, select, set, block name=, geneach, ...)."""

    name: str
    value: Any


@dataclass(frozen=True, slots=True)
class TextReset:
    """Output was cut back to `length` characters (a hidden block or loop ended)."""

    length: int


@dataclass(frozen=True, slots=True)
class Suspended:
    """Execution stopped waiting for variable `name` (`{{await}}` or await_missing)."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Finished:
    """The execution ran to the end of the template."""


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """One executed command: its name, evaluated arguments and result."""

    name: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    result: Any
    span: Span


@dataclass(frozen=True, slots=True)
class ModelCallRecord:
    """One model call: the request as sent, the result and its token statistics."""

    kind: str  # 'gen' or 'select'
    request: GenRequest | SelectRequest
    result: GenResult | SelectResult
    stats: GenStats = field(default_factory=GenStats)


Event: TypeAlias = (
    TextEvent
    | GenChunk
    | Captured
    | TextReset
    | Suspended
    | Finished
    | CommandRecord
    | ModelCallRecord
)
EventSink = Callable[[Event], None]
