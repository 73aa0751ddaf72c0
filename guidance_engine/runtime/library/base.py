"""What a built-in command sees of the running program, and how commands are declared.

A command is an async function whose first parameter is a `CommandContext`; the rest of its
signature is the template-visible one (0.0.64 names), so `{{gen 'x' stop='.'}}` binds as
`gen(ctx, 'x', stop='.')`. Commands report bad arguments with `ArgumentError`, and steer the
interpreter with the `ControlFlow` exceptions (`Suspend`, `BreakLoop`), never by printing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from guidance_engine.errors import Span
from guidance_engine.llms.arguments import ArgumentError
from guidance_engine.llms.base import (
    LLM,
    GenRequest,
    GenResult,
    Segment,
    SegmentKind,
    SelectRequest,
    SelectResult,
)
from guidance_engine.template.instructions import CallSite, CompiledTemplate

__all__ = ["ArgumentError", "BreakLoop", "Command", "CommandContext", "ControlFlow", "Suspend"]


class ControlFlow(Exception):
    """Raised by a command to steer the interpreter; never reaches the user."""


class Suspend(ControlFlow):
    """Stop here until variable `name` is given (`{{await 'name'}}`, or await_missing)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class BreakLoop(ControlFlow):
    """`{{break}}`: leave the innermost loop."""


class CommandContext(Protocol):
    """The running program as a command sees it."""

    @property
    def span(self) -> Span: ...

    @property
    def site(self) -> CallSite: ...

    @property
    def llm(self) -> LLM: ...

    def prompt(self) -> str:
        """The text the model has seen so far (hidden text excluded)."""
        ...

    def segments(self) -> tuple[Segment, ...]:
        """That text as a structured prompt (role and provenance of each run), for requests."""
        ...

    def append_text(self, text: str, kind: SegmentKind = "value", name: str | None = None) -> None:
        """Add text to the output; `kind` is its provenance ("generated" for model output) and
        `name` the variable a gen or select saved it into (for the view)."""
        ...

    def has_variable(self, name: str) -> bool: ...

    def get_variable(self, name: str) -> Any: ...

    def set_variable(self, name: str, value: Any) -> None:
        """Set a program variable; a dotted name (`this.x`) sets a key of a loop item."""
        ...

    def append_variable(self, name: str, value: Any) -> None: ...

    def pop_variable(self, name: str) -> Any: ...

    async def gen(self, request: GenRequest, name: str | None, stream: bool,
                  list_append: bool = False) -> GenResult:
        """Run a model call; while it streams, partial programs show `name` holding the text so
        far (with `list_append`, as the list's last item)."""
        ...

    async def select(self, request: SelectRequest, name: str | None = None) -> SelectResult: ...

    async def run_template(self, template: CompiledTemplate) -> None:
        """Run another compiled template inline, sharing this program's text and variables."""
        ...


CommandFunc = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Command:
    """A built-in command: `func(ctx, *args, **kwargs)` returns the value to emit (or None)."""

    name: str
    func: CommandFunc

    def __repr__(self) -> str:
        return f"<command {self.name}>"
