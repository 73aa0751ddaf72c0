"""Events: what an execution reports as it runs, in order, while the model works.

The interpreter emits events through a callback; `Program.events()` hands them to any async
consumer, and `str()`, `stream=True`, the notebook view and `log=True` are all built from that
one stream (they never look inside the interpreter). Every event about template text carries
the span of the tag or text that produced it::

    async for event in program.events(name="Bob"):
        ...  # TextEvent('Name: ', span), GenStart('name', span), GenChunk('name', 0, ' Bob', span),
             # GenEnd('name', ' Bob', span), Captured('name', ' Bob'),
             # TextEvent(' Bob', span, kind='generated', name='name'), ..., Finished(program)

A run ends with exactly one of `Finished` (completed or suspended at an `{{await}}`),
`Interrupted` (stopped) or `Failed` (then the iterator raises the error).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from guidance_engine.errors import Span
from guidance_engine.llms.base import (
    GenRequest,
    GenResult,
    GenStats,
    SegmentKind,
    SelectRequest,
    SelectResult,
    TokenMark,
)


@dataclass(frozen=True, slots=True)
class TextEvent:
    """Text appended to the program output.

    `kind` is its provenance, as in the structured prompt: "template" (fixed text), "value" (a
    variable or expression), "generated" (a gen or select result; `name` is the variable it
    saved into, and the `GenEnd` or `Selected` just before it tells which), or "markup" (a
    role's chat markup, between `RoleStart` and `RoleEnd`).
    """

    text: str
    span: Span | None
    kind: SegmentKind = "template"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class GenStart:
    """A `gen` (or a geneach single call) is about to ask the model; `name` is its variable.

    `partial` says how a partial program's variable holds the text while it streams: "set"
    (the variable is the text so far), "append" (`list_append=True`: the list, the text so far
    last) or None (not at all: a geneach single call). `samples` is the gen's `n`.
    """

    name: str | None
    span: Span | None = None
    partial: Literal["set", "append"] | None = None
    samples: int = 1


@dataclass(frozen=True, slots=True)
class GenChunk:
    """A streamed delta of a `gen` that has not finished yet (sample `index`)."""

    name: str | None
    index: int
    text: str
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class GenEnd:
    """The model call of a `gen` returned: `value` is sample 0's text (stop string excluded).

    `logprobs` holds sample 0's (token, logprob) pairs when the gen asked for logprobs.
    `marks` locates the value's healed and forced tokens (`TokenMark`: kind, character range,
    `note` in words), as a local backend reports them; () from remote backends.
    """

    name: str | None
    value: str
    span: Span | None = None
    logprobs: tuple[tuple[str, float], ...] | None = None
    tokens: int = 0  # tokens the model produced for this call (all samples)
    marks: tuple[TokenMark, ...] = ()


@dataclass(frozen=True, slots=True)
class Selected:
    """A `select` chose `choice`; `logprobs` is the normalised log-probability of each option."""

    name: str | None
    choice: str
    logprobs: Mapping[str, float]
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class RoleStart:
    """A role block (`{{#user}}`, `{{#role 'system'}}`, ...) opened; its markup text follows."""

    role: str
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class RoleEnd:
    """A role block closed (after its end markup text)."""

    role: str
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class Captured:
    """A program variable was set (by gen, select, set, block name=, geneach, ...)."""

    name: str
    value: Any


@dataclass(frozen=True, slots=True)
class TextReset:
    """Output was cut back to `length` characters (a hidden block or loop ended)."""

    length: int
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class Suspended:
    """Execution stopped waiting for variable `name` (`{{await}}` or await_missing)."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Finished:
    """The last event of a run that completed or suspended: `program` is the executed Program
    (None only for an interpreter run outside a Program)."""

    program: Any = None


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The run was stopped (KeyboardInterrupt, `stop()`, a cancelled task, the view's stop
    button) before it ended; `program` is the partial program, marked interrupted."""

    program: Any
    reason: str = "interrupted"


@dataclass(frozen=True, slots=True)
class Failed:
    """The run raised `error`; sent just before the iterator raises it. `program` is the
    partial program up to the failure."""

    error: BaseException
    program: Any = None


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
    | GenStart
    | GenChunk
    | GenEnd
    | Selected
    | RoleStart
    | RoleEnd
    | Captured
    | TextReset
    | Suspended
    | Finished
    | Interrupted
    | Failed
    | CommandRecord
    | ModelCallRecord
)
EventSink = Callable[[Event], None]
