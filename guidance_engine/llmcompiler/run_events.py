"""Live events of an LLMCompiler run: the plan streaming, each task's start and end, the joiner.

The planner, the task fetching unit and the agent `emit` them while they work; whoever wants
them (the timeline picture, a log) installs a sink for the run with `watching`. Without a sink
`emit` does nothing. The sink is a context variable, so it follows the run into every asyncio
task it starts and never leaks into another run::

    seen = []
    with watching(seen.append):
        result = await agent.arun("Which is larger, ...?")
    seen[0]    # PlanStarted(round=0, time=0.0)

Times are seconds since the run started (the agent's clock, as in `Trace`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias


@dataclass(frozen=True)
class PlanStarted:
    """Round `round` (0: the first plan, 1: the first replan, ...) starts planning."""

    round: int
    time: float


@dataclass(frozen=True)
class PlanText:
    """The planner wrote `text` (a streamed piece of the plan)."""

    text: str
    time: float


@dataclass(frozen=True)
class PlanEnded:
    """The plan of round `round` is complete (`error`: why it ended early, if it did)."""

    round: int
    time: float
    text: str
    error: str | None = None
    start: float | None = None  # when the planner began (as the trace records it)


@dataclass(frozen=True)
class TaskStarted:
    """Task `index` (of plan round `round`) calls `tool` with `args` (after `$N` substitution)."""

    index: int
    round: int
    tool: str
    line: str
    args: tuple[Any, ...]
    time: float


@dataclass(frozen=True)
class TaskEnded:
    """Task `index` finished (also one that never ran: a failed dependency, a bad reference;
    then `start` equals `time`)."""

    index: int
    round: int
    tool: str
    line: str
    args: tuple[Any, ...]
    start: float
    time: float
    observation: str
    error: bool = False


@dataclass(frozen=True)
class JoinStarted:
    round: int
    time: float


@dataclass(frozen=True)
class JoinEnded:
    """The joiner decided: `action` is 'Finish' (the answer is `argument`) or 'Replan'."""

    round: int
    time: float
    action: str
    argument: str
    thought: str = ""
    start: float | None = None  # when the joiner began (as the trace records it)


RunEvent: TypeAlias = (PlanStarted | PlanText | PlanEnded | TaskStarted | TaskEnded
                       | JoinStarted | JoinEnded)
RunSink = Callable[[RunEvent], None]

_SINK: contextvars.ContextVar[RunSink | None] = contextvars.ContextVar(
    "llmcompiler_run_events", default=None)


def emit(event: RunEvent) -> None:
    """Hand `event` to the sink of the run this code is part of (none: nothing happens)."""
    sink = _SINK.get()
    if sink is not None:
        sink(event)


@contextlib.contextmanager
def watching(sink: RunSink) -> Iterator[None]:
    """Send the events of runs started inside this block (and their tasks) to `sink`."""
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)
