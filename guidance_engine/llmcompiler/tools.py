"""Tools: named async callables with typed arguments, shown to the planner and run by the executor.

A `Tool` wraps a function (async, or sync and then run in a worker thread so the event loop stays
free), the description the planner reads, the argument types the plan grammar enforces and an
optional simulated latency::

    >>> tool = Tool.from_function(lambda query: query.upper(), "search", "search(query: str)")
    >>> tool.args
    (Arg(name='query', kind='str', required=True),)
    >>> asyncio.run(tool.call(["x"]))
    'X'
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import math
import random
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from guidance_engine.errors import GuidanceError

ArgKind = Literal["str", "number", "list"]
_KINDS: tuple[ArgKind, ...] = ("str", "number", "list")


@dataclass(frozen=True)
class Arg:
    """One positional argument: `kind` decides what the plan grammar lets the planner write.

    `str`: a quoted string (it may contain `$N`) or a bare `$N`; `number`: a number or `$N`;
    `list`: `[...]` of strings, numbers and `$N`. Optional arguments may be left out at the end.
    A written string starts with a letter, a digit or `$N`; a `prose` one (math's problem) starts
    with a word of two or more letters and a space, so `")"`, `"*"` or `"a * b"` cannot be written.
    """

    name: str
    kind: ArgKind = "str"
    required: bool = True
    prose: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise GuidanceError(
                f"argument {self.name!r} has kind {self.kind!r}; expected one of {_KINDS}"
            )
        if self.prose and self.kind != "str":
            raise GuidanceError(f"argument {self.name!r} is prose, which needs kind 'str'; "
                                f"found {self.kind!r}")


@dataclass(frozen=True)
class Latency:
    """Simulated tool latency in seconds, seeded and drawn per call.

    Each call waits `base ± jitter`; with probability `straggler_rate` it waits
    `straggler ± jitter` instead. The draw depends only on the seed, the tool and the call's
    arguments, so the same call waits the same time in every run and in every agent (LLMCompiler
    and ReAct see identical tool latencies), whatever order calls happen in.

        >>> Latency.fixed(0.5).draw("search", ("x",))
        0.5
    """

    base: float = 0.0
    jitter: float = 0.0
    straggler_rate: float = 0.0
    straggler: float = 0.0
    seed: int = 0

    @staticmethod
    def fixed(seconds: float) -> Latency:
        return Latency(base=seconds)

    @staticmethod
    def paper(seed: int = 0) -> Latency:
        """Mean ~0.6 s with stragglers ~1.1 s, like the tool latencies the paper measured."""
        return Latency(base=0.5, jitter=0.1, straggler_rate=0.15, straggler=1.1, seed=seed)

    @staticmethod
    def parse(text: str, seed: int = 0) -> Latency:
        """`0` / `0.6` (fixed seconds) or `paper` (the straggler distribution)."""
        if text == "paper":
            return Latency.paper(seed)
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds >= 0):
            raise GuidanceError(
                f"tool latency {text!r} is not understood; expected seconds >= 0 (e.g. 0.6) or "
                "'paper'"
            )
        return Latency(base=seconds, seed=seed)

    def draw(self, tool: str, args: Sequence[Any]) -> float:
        if not (self.base or self.jitter or self.straggler_rate):
            return 0.0
        key = f"{self.seed}\x00{tool}\x00{args!r}".encode()
        rng = random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
        straggles = rng.random() < self.straggler_rate
        center = self.straggler if straggles else self.base
        return max(0.0, center + rng.uniform(-self.jitter, self.jitter))


NO_LATENCY = Latency()


@dataclass(frozen=True)
class Tool:
    """A callable the planner may use: `name(args...)` in a plan line.

    `description` is shown to the planner as is (write the signature and what the tool returns);
    `func` takes the arguments positionally and may be async; a sync `func` runs in a worker
    thread. `latency` is waited before the call returns.
    """

    name: str
    description: str
    args: tuple[Arg, ...]
    func: Callable[..., Any]
    latency: Latency = field(default=NO_LATENCY)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier() or self.name == "join":
            raise GuidanceError(
                f"tool name {self.name!r} is not usable: expected a Python identifier other "
                "than 'join'"
            )
        if not callable(self.func):
            raise GuidanceError(f"tool {self.name!r}: func is a {type(self.func).__name__}; "
                                "expected a function (sync or async)")
        if not isinstance(self.args, tuple | list) or not all(
                isinstance(arg, Arg) for arg in self.args):
            raise GuidanceError(f"tool {self.name!r}: args is {self.args!r:.80}; expected a "
                                "tuple of Arg(name, kind)")
        object.__setattr__(self, "args", tuple(self.args))  # frozen: a list would stay mutable
        seen_optional = False
        for arg in self.args:
            if seen_optional and arg.required:
                raise GuidanceError(
                    f"tool {self.name!r}: required argument {arg.name!r} follows an optional one"
                )
            seen_optional = seen_optional or not arg.required

    @staticmethod
    def from_function(
        func: Callable[..., Any], name: str | None = None, description: str | None = None,
        latency: Latency = NO_LATENCY,
    ) -> Tool:
        """A tool whose argument kinds come from `func`'s annotations (str, int/float, list).

        >>> def area(width: float, height: float = 1.0) -> float: ...
        >>> Tool.from_function(area).args[1]
        Arg(name='height', kind='number', required=False)
        """
        tool_name = str(name or getattr(func, "__name__", ""))
        signature = inspect.signature(func)
        try:
            hints = typing.get_type_hints(func)
        except (NameError, TypeError):
            hints = {}
        args = tuple(_arg_of(tool_name, param, hints.get(param.name, str))
                     for param in signature.parameters.values() if not _never_passed(param))
        shown = str(description or _describe(tool_name, args, inspect.getdoc(func)))
        return Tool(tool_name, shown, args, func, latency)

    def with_latency(self, latency: Latency) -> Tool:
        return Tool(self.name, self.description, self.args, self.func, latency)

    async def call(self, args: Sequence[Any]) -> Any:
        """Run the tool on positional `args` (already substituted), then wait its latency."""
        missing = [arg.name for arg in self.args[len(args):] if arg.required]
        if missing or len(args) > len(self.args):
            raise GuidanceError(
                f"{self.name}() takes {self._arity()} argument(s); got {len(args)}"
                + (f" (missing {', '.join(missing)})" if missing else "")
            )
        delay = self.latency.draw(self.name, args)
        if _is_async(self.func):
            work: Awaitable[Any] = self.func(*args)
        else:
            work = asyncio.to_thread(self.func, *args)
        if not delay:
            return await work
        # The simulated latency overlaps the real work, as a remote call's latency would.
        result, _ = await asyncio.gather(work, asyncio.sleep(delay))
        return result

    def _arity(self) -> str:
        required = sum(arg.required for arg in self.args)
        total = len(self.args)
        return str(total) if required == total else f"{required} to {total}"


def _is_async(func: Callable[..., Any]) -> bool:
    call = getattr(func, "__call__", None)  # noqa: B004 - an object with `async def __call__`
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(call)


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _never_passed(param: inspect.Parameter) -> bool:
    """`**kwargs` and keyword-only parameters with a default: a plan leaves them alone."""
    return param.kind == inspect.Parameter.VAR_KEYWORD or (
        param.kind == inspect.Parameter.KEYWORD_ONLY and param.default is not param.empty)


def _arg_of(tool: str, param: inspect.Parameter, annotation: Any) -> Arg:
    """The `Arg` for one parameter; a plan passes arguments by position, one value each."""
    if param.kind not in _POSITIONAL:
        shown = f"*{param.name}" if param.kind == param.VAR_POSITIONAL else param.name
        raise GuidanceError(f"tool {tool!r}: parameter {shown} cannot be given in a plan; "
                            "expected positional parameters (or keyword-only ones with defaults)")
    kind = _kind_of(annotation)
    if kind is None:
        raise GuidanceError(
            f"tool {tool!r}: parameter {param.name!r} is annotated {_shown(annotation)}, which "
            "a plan cannot write; expected str, int, float, list or tuple"
        )
    return Arg(param.name, kind, param.default is inspect.Parameter.empty)


def _shown(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def _kind_of(annotation: Any) -> ArgKind | None:
    """The plan kind of an annotation (`X | None` as `X`), or None when a plan cannot write it."""
    origin = typing.get_origin(annotation) or annotation
    if origin in (typing.Union, types.UnionType):
        kinds = {_kind_of(arg) for arg in typing.get_args(annotation) if arg is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if annotation is Any or origin is str:
        return "str"
    if origin in (int, float) and annotation is not bool:
        return "number"
    if origin in (list, tuple, Sequence):
        return "list"
    return None


def _describe(name: str, args: tuple[Arg, ...], doc: str | None) -> str:
    shown = ", ".join(
        f"{arg.name}: {arg.kind}" + ("" if arg.required else " = ...") for arg in args
    )
    return f"{name}({shown})" + (f": {doc.splitlines()[0]}" if doc else "")
