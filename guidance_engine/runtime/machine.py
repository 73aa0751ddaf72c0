"""The machine an execution runs on: text, variables, calls and model calls, apart from the
instructions.

`Machine` holds one execution's state and everything an instruction handler or a command needs:
appending text with its provenance, assigning variables (loop items included), looking names up
(the `Env` of `evaluate`), calling commands and Python callables with positioned errors, and
running the requests the request builder made. The interpreter (`interpreter.py`) adds the
instruction handlers; the loop handlers (`loops.py`) use only this interface::

    machine.append_text("Hi ", span)        # template text, inside the innermost role
    await machine.model_gen(request, "x", stream=True, span=span)
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from guidance_engine.errors import (
    GuidanceError,
    ModelError,
    PositionedError,
    Span,
    TemplateRuntimeError,
    UndefinedVariableError,
)
from guidance_engine.llms.arguments import ArgumentError, unknown_keyword
from guidance_engine.llms.base import (
    LLM,
    GenRequest,
    GenResult,
    Segment,
    SegmentKind,
    SelectRequest,
    SelectResult,
)
from guidance_engine.runtime import events as ev
from guidance_engine.runtime.evaluate import evaluate
from guidance_engine.runtime.library.base import Command, ControlFlow, Suspend
from guidance_engine.runtime.prompt import Run, add_run, cut_runs, segments
from guidance_engine.runtime.scopes import (
    MISSING,
    BlockFrame,
    ExecState,
    LoopFrame,
    get_attr,
    lookup,
    set_path,
)
from guidance_engine.runtime.shared import Shared
from guidance_engine.template.instructions import CallSite, CompiledTemplate, Instruction
from guidance_engine.template.nodes import Call, Expr, GetAttr, GetItem, Var


class IncludeDepthError(TemplateRuntimeError):
    """Partials nested too deeply; the message lists the include chain (not noted per level)."""


class CallContext:
    """The `CommandContext` handed to a command: the execution seen from one call site."""

    def __init__(self, execution: Machine, span: Span, site: CallSite) -> None:
        self._execution = execution
        self._span = span
        self._site = site

    @property
    def span(self) -> Span:
        return self._span

    @property
    def site(self) -> CallSite:
        return self._site

    @property
    def llm(self) -> LLM:
        return self._execution.require_llm(self._span)

    def prompt(self) -> str:
        return self._execution.state.text

    def segments(self) -> tuple[Segment, ...]:
        return self._execution.prompt_segments()

    def append_text(self, text: str, kind: SegmentKind = "value", name: str | None = None) -> None:
        self._execution.append_text(text, self._execution.tag_span(self._span), kind, name=name)

    def has_variable(self, name: str) -> bool:
        return name in self._execution.state.variables

    def get_variable(self, name: str) -> Any:
        return self._execution.state.variables.get(name)

    def set_variable(self, name: str, value: Any) -> None:
        self._execution.assign(name, value)

    def append_variable(self, name: str, value: Any) -> None:
        self._execution.state.variables.append(name, value)
        self._execution.send(ev.Captured(name, self._execution.state.variables.get(name)))

    def pop_variable(self, name: str) -> Any:
        return self._execution.state.variables.pop(name)

    async def gen(self, request: GenRequest, name: str | None, stream: bool,
                  list_append: bool = False) -> GenResult:
        partial: Literal["set", "append"] = "append" if list_append else "set"
        return await self._execution.model_gen(request, name, stream, self._span, partial)

    async def select(self, request: SelectRequest, name: str | None = None) -> SelectResult:
        return await self._execution.model_select(request, self._span, name)

    async def run_template(self, template: CompiledTemplate) -> None:
        await self._execution.run_inline(template, (), self._span, name="<parse>")


class Machine(ABC):
    """One execution's state and the operations on it; `interpreter.Execution` runs the
    instructions (`run_range`), makes children (`child`) and runs other templates inline."""

    instructions: tuple[Instruction, ...]

    def __init__(
        self,
        template: CompiledTemplate,
        state: ExecState,
        shared: Shared,
        *,
        await_missing: bool = False,
        name: str | None = None,
        outer_scopes: Sequence[Mapping[str, Any]] = (),
        emit_text: bool = True,
        includes: tuple[str, ...] = (),
    ) -> None:
        self.template = template
        self.instructions = template.instructions
        self.source = template.source
        self.state = state
        self.shared = shared
        self.await_missing = await_missing
        self.name = name
        self.outer_scopes = list(outer_scopes)
        self.includes = includes  # where each enclosing partial or parsed template was included
        self.emit_text = emit_text  # False for forks whose text the parent merges itself
        self.pending = ""  # streamed text of the gen in progress (sample 0)
        self.mark = 0  # text length when the current instruction started
        self.site = CallSite()  # the running tag's site (text after it, role), for commands

    @abstractmethod
    async def run_range(self, end: int) -> None:
        """Execute instructions from `state.pc` until the counter reaches `end` (or beyond)."""

    @abstractmethod
    def child(self, state: ExecState, emit_text: bool) -> Machine:
        """An execution of the same template on `state` (a fork or a select option)."""

    @abstractmethod
    async def run_inline(
        self, template: CompiledTemplate, scopes: Sequence[Mapping[str, Any]], span: Span,
        name: str | None = None,
    ) -> None:
        """Run another template here, sharing text and variables."""

    # ------------------------------------------------------------ text and variables

    def send(self, event: ev.Event) -> None:
        if self.shared.sink is not None and self.emit_text:
            self.shared.sink(event)

    def append_text(
        self, text: str, span: Span | None, kind: SegmentKind = "template",
        role: str | None = None, name: str | None = None,
    ) -> None:
        """Append `text` of provenance `kind`, inside `role` (None: the innermost role block);
        `name` is the variable a gen or select saved it into."""
        if text:
            add_run(self.state.runs, len(self.state.text), kind, role or self._role())
            self.state.text += text
            self.send(ev.TextEvent(text, span, kind, name))

    def append_runs(self, text: str, runs: list[Run], span: Span | None) -> None:
        """Append `text` whose provenance is `runs` (offsets relative to its start)."""
        bounds = [run.start for run in runs[1:]] + [len(text)]
        for run, end in zip(runs, bounds, strict=True):
            self.append_text(text[run.start : end], span, run.kind, run.role)

    def _role(self) -> str | None:
        for frame in reversed(self.state.frames):
            if isinstance(frame, BlockFrame) and frame.options.role is not None:
                return frame.options.role
        return None

    def prompt_segments(self) -> tuple[Segment, ...]:
        """The text so far as a structured prompt (role and provenance of every run)."""
        return segments(self.state.text, self.state.runs)

    def truncate(self, length: int, span: Span | None = None) -> None:
        if len(self.state.text) > length:
            self.state.text = self.state.text[:length]
            cut_runs(self.state.runs, length)
            self.send(ev.TextReset(length, span))

    def tag_span(self, fallback: Span) -> Span:
        """The whole tag being run (`{{gen 'x'}}`, not just `gen 'x'`), for events."""
        if self.state.pc < len(self.instructions):
            return self.instructions[self.state.pc].span
        return fallback

    def live_text(self) -> str:
        """The text so far including the streamed part of a gen still running."""
        return self.state.text + self.pending

    def scopes(self) -> list[Mapping[str, Any]]:
        loops = [f.scope for f in self.state.frames if isinstance(f, LoopFrame)]
        return [*self.outer_scopes, *loops]

    def assign(self, name: str, value: Any) -> None:
        """Set variable `name`; `this` and dotted names (`this.answer`) write into loop items."""
        head, _, rest = name.partition(".")
        if rest:
            container = lookup(head, self.scopes(), self.state.variables, {})
            if container is MISSING:
                raise ArgumentError(f"cannot set {name!r}: {head!r} is not defined")
            *path, last = rest.split(".")
            for part in path:
                container = get_attr(container, part)
            set_path(container, last, value)
        elif head == "this" and self.innermost_loop() is not None:
            self._assign_this(value)
        else:
            self.state.variables.set(name, value)
        self.send(ev.Captured(name, value))

    def _assign_this(self, value: Any) -> None:
        frame = self.innermost_loop()
        assert frame is not None
        frame.scope["this"] = value
        if frame.geneach is not None:
            items = list(self.state.variables.get(frame.geneach.list_name) or [])
            if 0 <= frame.list_index < len(items):
                items[frame.list_index] = value
                self.state.variables.set(frame.geneach.list_name, items)

    def innermost_loop(self) -> LoopFrame | None:
        for frame in reversed(self.state.frames):
            if isinstance(frame, LoopFrame):
                return frame
        return None

    # ------------------------------------------------------------ Env (for evaluate)

    def lookup(self, var: Var) -> Any:
        if var.name == "@prefix":
            return self.state.text
        value = lookup(var.name, self.scopes(), self.state.variables, self.shared.names)
        if value is MISSING:
            if self.await_missing and not var.name.startswith("@"):
                raise Suspend(var.name)
            raise UndefinedVariableError(
                f"undefined variable {var.name!r}: it was not passed to the program, "
                "not set earlier by the template and is not a built-in",
                var.span,
                self.source,
                name=self.name,
            )
        return value

    def error(self, message: str, node: Any) -> TemplateRuntimeError:
        return TemplateRuntimeError(message, node.span, self.source, name=self.name)

    async def call(self, call: Call, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return await self.invoke(callee_name(call), func, args, kwargs, call)

    async def invoke(
        self, name: str, func: Any, args: list[Any], kwargs: dict[str, Any], node: Any
    ) -> Any:
        """Call a command or Python callable; failures become positioned errors (chained)."""
        if isinstance(func, Command):
            target: Callable[..., Any] = func.func
            full_args = [CallContext(self, node.span, self.site), *args]
        elif callable(func):
            target, full_args = func, list(args)
        else:
            raise self.error(f"{name!r} is not callable; it is {type(func).__name__} {func!r}",
                             node)
        self._check_binding(name, target, full_args, kwargs, node, isinstance(func, Command))
        try:
            result = target(*full_args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        except ControlFlow:
            raise
        except Exception as exc:
            raise self._wrap(name, exc, node) from exc
        if self.shared.recording:
            self.shared.record(ev.CommandRecord(name, tuple(args), dict(kwargs), result,
                                                node.span))
        return result

    def _check_binding(
        self,
        name: str,
        target: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        node: Any,
        skip_first: bool,
    ) -> None:
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):
            return  # some builtins have no signature; the call itself will complain
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            params = list(signature.parameters.values())[1 if skip_first else 0 :]
            names = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
            for keyword in kwargs:
                if keyword not in names and not takes_any:
                    raise self.error(f"bad argument to {name!r}: "
                                     f"{unknown_keyword(keyword, names)}",
                                     argument_node(node, keyword)) from None
            shown = ", ".join(_describe_param(p) for p in params)
            raise self.error(f"bad arguments to {name!r}: {exc}; expected {name}({shown})",
                             node) from None

    def _wrap(self, name: str, exc: Exception, node: Any) -> Exception:
        if isinstance(exc, IncludeDepthError):
            return exc
        if isinstance(exc, PositionedError):
            if exc.span is None:
                return exc.located(node.span, self.source, self.name)
            if exc.source != self.source:  # raised in a parsed string or a partial
                exc.add_note(f"while running {name!r} at {node.span.describe()}")
            return exc
        if isinstance(exc, ModelError):
            exc.add_note(f"while running {name!r} at {node.span.describe()}")
            return exc
        if isinstance(exc, ArgumentError):
            return self.error(f"bad argument to {name!r}: {exc}",
                              argument_node(node, exc.argument))
        if isinstance(exc, GuidanceError):
            return self.error(f"{name!r} failed: {exc}", node)
        return self.error(f"{name!r} failed: {type(exc).__name__}: {exc}", node)

    # ------------------------------------------------------------ model calls

    def require_llm(self, span: Span) -> LLM:
        if self.shared.llm is None:
            raise TemplateRuntimeError(
                "no model to run this command: pass llm=... to guidance(...) or set guidance.llm",
                span, self.source, name=self.name,
            )
        return self.shared.llm

    async def model_gen(
        self, request: GenRequest, name: str | None, stream: bool, span: Span,
        partial: Literal["set", "append"] | None = None,
    ) -> GenResult:
        """Run a request made by the request builder (checked there, once)."""
        session = self.shared.open_session(self.require_llm(span))
        span = self.tag_span(span)

        def on_chunk(index: int, text: str) -> None:
            if index == 0:
                self.pending += text
            self.send(ev.GenChunk(name, index, text, span))

        self.send(ev.GenStart(name, span, partial, request.n))
        try:
            result = await session.gen(request, on_chunk if stream else None)
        finally:
            self.pending = ""
        self.shared.record(ev.ModelCallRecord("gen", request, result, result.stats))
        logprobs = None
        if result.logprobs is not None:
            logprobs = tuple((t.token, t.logprob) for t in result.logprobs[0])
        tokens = result.stats.sampled_tokens + result.stats.forced_tokens
        self.send(ev.GenEnd(name, result.texts[0], span, logprobs, tokens, result.marks))
        return result

    async def model_select(
        self, request: SelectRequest, span: Span, name: str | None = None
    ) -> SelectResult:
        session = self.shared.open_session(self.require_llm(span))
        result = await session.select(request)
        self.shared.record(ev.ModelCallRecord("select", request, result, result.stats))
        self.send(ev.Selected(name, result.choice, dict(result.logprobs), self.tag_span(span)))
        return result

    async def block_arguments(self, call: Call, name: str, func: Callable[..., Any]) -> Any:
        args = [await evaluate(arg, self) for arg in call.args]
        kwargs = {kw.name: await evaluate(kw.value, self) for kw in call.kwargs}
        return await self.invoke(name, func, args, kwargs, call)


def argument_node(node: Any, argument: str | None) -> Any:
    """The keyword `argument` of a call node (so the error points at it), else the node."""
    if isinstance(node, Call) and argument is not None:
        for keyword in node.kwargs:
            if keyword.name == argument:
                return keyword
    return node


def callee_name(call: Call) -> str:
    func: Expr = call.func
    while not isinstance(func, Var):
        if isinstance(func, Call):
            func = func.func
        elif isinstance(func, GetAttr | GetItem):
            func = func.obj  # a.b(...) is reported by its root name
        else:
            return "<expression>"
    return func.name


def _describe_param(param: inspect.Parameter) -> str:
    if param.kind is param.VAR_POSITIONAL:
        return f"*{param.name}"
    if param.kind is param.VAR_KEYWORD:
        return f"**{param.name}"
    if param.default is param.empty:
        return param.name
    default = "MISSING" if param.default is MISSING else repr(param.default)
    return f"{param.name}={default}"

