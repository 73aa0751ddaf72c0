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
from guidance_engine.llms.base import (
    LLM,
    GenRequest,
    GenResult,
    SegmentKind,
    SelectRequest,
    SelectResult,
)
from guidance_engine.template.instructions import CallSite, CompiledTemplate


class ControlFlow(Exception):
    """Raised by a command to steer the interpreter; never reaches the user."""


class Suspend(ControlFlow):
    """Stop here until variable `name` is given (`{{await 'name'}}`, or await_missing)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class BreakLoop(ControlFlow):
    """`{{break}}`: leave the innermost loop."""


class ArgumentError(Exception):
    """A command argument has the wrong type or value; the interpreter adds the position (the
    keyword's own span when `argument` names a keyword of the call)."""

    def __init__(self, message: str, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


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


_TYPE_NAMES = {str: "a string", int: "an int", float: "a number", bool: "a bool",
               dict: "a dict", list: "a list", type(None): "None"}


def expect(value: Any, types: type | tuple[type, ...], what: str) -> None:
    """Raise ArgumentError unless `value` is one of `types` (`what` names the argument).

    `expect("3", (int, type(None)), "max_tokens")` raises
    "max_tokens must be an int or None; found str '3'".
    """
    wanted = types if isinstance(types, tuple) else (types,)
    # True is an int to Python, but max_tokens=True is a mistake.
    mistaken_bool = isinstance(value, bool) and bool not in wanted
    if mistaken_bool or not isinstance(value, wanted):
        names = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in wanted)
        raise ArgumentError(f"{what} must be {names}; found {type(value).__name__} {value!r}",
                            argument=what)


def as_strings(value: Any, what: str) -> tuple[str, ...]:
    """A stop-like argument: None, a string or a list of strings, as a tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ArgumentError(
        f"{what} must be a string or a list of strings; found {type(value).__name__} {value!r}"
    )
