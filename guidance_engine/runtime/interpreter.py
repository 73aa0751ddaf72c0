"""The interpreter: runs a compiled template's flat instruction list against one model session.

Its whole state is data (`ExecState`: a program counter, a frame stack, the text so far and the
variables), so an execution suspended by `{{await}}` (even inside a loop) is resumed by running
a copy of that state again. Produced text and values are only ever data: nothing here compiles
a string (the `parse` command is the one way in, and it asks the compiler explicitly). The
`each` / `geneach` loop instructions are run by `loops.py`::

    state = ExecState(Variables({"adult": True}))
    await Execution(compile_template("Hi{{#if adult}}!{{/if}}"), state, Shared(llm)).run()
    state.text  # 'Hi!'
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from typing import Any, Literal

from guidance_engine.errors import (
    ConstraintError,
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
    Session,
)
from guidance_engine.runtime import events as ev
from guidance_engine.runtime.evaluate import evaluate
from guidance_engine.runtime.library import builtins
from guidance_engine.runtime.library.base import (
    BreakLoop,
    Command,
    ControlFlow,
    Suspend,
)
from guidance_engine.runtime.library.gen import static_constraints
from guidance_engine.runtime.library.loops import BLOCK_COMMANDS, BlockOptions
from guidance_engine.runtime.library.select import choose
from guidance_engine.runtime.library.static import argument_errors
from guidance_engine.runtime.loops import break_loop, loop_end, loop_start
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
from guidance_engine.runtime.sites import running_site
from guidance_engine.template import instructions as ins_
from guidance_engine.template.instructions import CallSite, CompiledTemplate
from guidance_engine.template.nodes import Call, Expr, GetAttr, GetItem, Var

# Each level of partials (and `{{parse}}`) costs a few Python frames; this bound keeps a
# self-including partial a positioned error, far from Python's recursion limit.
MAX_INCLUDE_DEPTH = 50


class IncludeDepthError(TemplateRuntimeError):
    """Partials nested too deeply; the message lists the include chain (not noted per level)."""


def _chain(includes: tuple[str, ...]) -> str:
    """`a -> b -> ... (N more) -> y -> z`: the include chain, long runs shortened."""
    if len(includes) > 6:
        hidden = len(includes) - 5
        includes = (*includes[:3], f"... ({hidden} more) ...", *includes[-2:])
    return " -> ".join(includes)


@dataclass
class Shared:
    """What every execution of one program run shares: the model, its session, log and sink."""

    llm: LLM | None
    sink: ev.EventSink | None = None
    records: list[ev.Event] | None = None  # the log, when logging
    session: Session | None = None
    names: dict[str, Any] = field(default_factory=builtins)
    caching: bool | None = None  # the program's caching=; None: the model's own setting

    def __post_init__(self) -> None:
        if self.llm is not None:
            self.names.setdefault("llm", self.llm)  # 0.0.64 templates read {{llm.xxx}}

    @property
    def recording(self) -> bool:
        return self.records is not None or self.sink is not None

    def open_session(self, llm: LLM) -> Session:
        if self.session is None:
            self.session = llm.session()
            if self.caching if self.caching is not None else llm.caching:
                from guidance_engine.llms.caching import CachedSession

                self.session = CachedSession(self.session, llm)
        return self.session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def record(self, record: ev.CommandRecord | ev.ModelCallRecord) -> None:
        if self.records is not None:
            self.records.append(record)
        if self.sink is not None:
            self.sink(record)


# ---------------------------------------------------------------- command context


class CallContext:
    """The `CommandContext` handed to a command: the execution seen from one call site."""

    def __init__(self, execution: Execution, span: Span, site: CallSite) -> None:
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


# ---------------------------------------------------------------- execution


class Execution:
    """Runs `template` on `state`; one object per program run (plus one per inline child)."""

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
        self._handlers: dict[type, Callable[[Any], Any]] = {
            ins_.Text: self._text,
            ins_.Emit: self._emit,
            ins_.Jump: self._jump,
            ins_.JumpIfFalse: self._jump_if,
            ins_.JumpIfTrue: self._jump_if,
            ins_.LoopStart: partial(loop_start, self),
            ins_.LoopEnd: partial(loop_end, self),
            ins_.EnterBlock: self._enter_block,
            ins_.ExitBlock: self._exit_block,
            ins_.SelectBlock: self._select_block,
            ins_.IncludePartial: self._include_partial,
        }

    # ------------------------------------------------------------ running

    async def run(self) -> None:
        """Run to the end of the template, or until a variable is awaited (then `waiting_for`)."""
        self.validate_constraints()
        try:
            await self.run_range(len(self.instructions))
        except Suspend as signal:
            self.state.waiting_for = signal.name
            self.send(ev.Suspended(signal.name, self.instructions[self.state.pc].span))
            return
        except BreakLoop:
            raise self.error("{{break}} outside of a loop: it can only leave an each or "
                             "geneach block", self.instructions[self.state.pc]) from None
        self.state.waiting_for = None
        self.state.done = True

    async def run_range(self, end: int) -> None:
        """Execute instructions from `state.pc` until the counter reaches `end` (or beyond)."""
        state = self.state
        while state.pc < end:
            instruction = self.instructions[state.pc]
            mark = self.mark = len(state.text)
            try:
                await self._handlers[type(instruction)](instruction)
            except (Suspend, asyncio.CancelledError):
                # The instruction runs again on resume (an interrupted program resumes too),
                # so its partial output is dropped.
                self.truncate(mark, instruction.span)
                raise
            except BreakLoop:
                break_loop(self, instruction)

    def validate_constraints(self) -> None:
        """Check every pattern/schema/grammar known before the run (literals, or variables passed
        to the program) with the model before any model call."""
        llm = self.shared.llm
        if llm is None:
            return
        variables = self.state.variables
        known = {name: variables.get(name) for name in variables}
        for command, error, span in argument_errors(self.instructions, known,
                                                    llm.sampling_kwargs):
            raise TemplateRuntimeError(f"bad argument to {command!r}: {error}", span,
                                       self.source, name=self.name)
        for request, span in static_constraints(self.instructions, known):
            try:
                llm.validate_request(request)
            except ConstraintError as exc:
                if exc.span is not None:
                    raise
                raise ConstraintError(exc.message, span, self.source, name=self.name) from exc

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
        return await self.invoke(_callee_name(call), func, args, kwargs, call)

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
                                     _argument_node(node, keyword)) from None
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
                              _argument_node(node, exc.argument))
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

    # ------------------------------------------------------------ simple instructions

    async def _text(self, ins: ins_.Text) -> None:
        self.append_text(ins.text, ins.span)
        self.state.pc += 1

    async def _emit(self, ins: ins_.Emit) -> None:
        self.site = running_site(ins.site, self.instructions, self.state.pc + 1,
                                 self.state.frames)
        value = await evaluate(ins.expr, self)
        if isinstance(ins.expr, Var) and (isinstance(value, Command) or callable(value)):
            # A bare name naming a command or function is a call without arguments: {{break}}.
            value = await self.invoke(ins.expr.name, value, [], {}, ins.expr)
        if value is not None:
            self.append_text(str(value), ins.span, "value")
        self.state.pc += 1

    async def _jump(self, ins: ins_.Jump) -> None:
        self.state.pc = ins.target

    async def _jump_if(self, ins: ins_.JumpIfFalse | ins_.JumpIfTrue) -> None:
        self.site = CallSite()
        value = bool(await evaluate(ins.cond, self))
        jump = value if isinstance(ins, ins_.JumpIfTrue) else not value
        self.state.pc = ins.target if jump else self.state.pc + 1

    async def block_arguments(self, call: Call, name: str, func: Callable[..., Any]) -> Any:
        args = [await evaluate(arg, self) for arg in call.args]
        kwargs = {kw.name: await evaluate(kw.value, self) for kw in call.kwargs}
        return await self.invoke(name, func, args, kwargs, call)

    # ------------------------------------------------------------ blocks (loops: loops.py)

    async def _enter_block(self, ins: ins_.EnterBlock) -> None:
        name = _callee_name(ins.call)
        factory = BLOCK_COMMANDS.get(name)
        if factory is None:
            known = ", ".join(sorted([*BLOCK_COMMANDS, "each", "geneach", "if", "unless",
                                      "select"]))
            raise self.error(f"unknown block command {name!r}; expected one of: {known}",
                             ins.call)
        self.site = CallSite()
        options: BlockOptions = await self.block_arguments(ins.call, name, factory)
        self.state.frames.append(BlockFrame(self.state.pc, len(self.state.text), options))
        if options.role is not None:
            markup = self.require_llm(ins.span).role_start(options.role, **options.role_kwargs)
            self.send(ev.RoleStart(options.role, ins.span))
            self.append_text(markup, ins.span, "markup")
        self.state.pc += 1

    async def _exit_block(self, ins: ins_.ExitBlock) -> None:
        frame = self.state.frames.pop()
        assert isinstance(frame, BlockFrame) and frame.start == ins.start, "unbalanced blocks"
        options = frame.options
        if options.role is not None:
            self.append_text(self.require_llm(ins.span).role_end(options.role), ins.span,
                             "markup", options.role)
            self.send(ev.RoleEnd(options.role, ins.span))
        if options.name is not None:
            self.assign(options.name, self.state.text[frame.text_start:])
        if options.hidden:
            self.truncate(frame.text_start, ins.span)
        self.state.pc += 1

    async def _select_block(self, ins: ins_.SelectBlock) -> None:
        """Render each option's text (no model calls), then let the model choose one."""
        self.site = ins.site
        settings = await self.block_arguments(ins.call, "select", _select_block_options)
        rendered: list[str] = []
        for start, end in pairwise([*ins.option_starts, ins.end]):
            state = ExecState(self.state.variables, pc=start, frames=list(self.state.frames))
            fork = self.child(state, emit_text=False)
            await fork.run_range(end)
            rendered.append(fork.state.text)
        context = CallContext(self, ins.span, ins.site)
        try:
            await choose(context, tuple(rendered), *settings)
        except ArgumentError as exc:
            raise self.error(f"bad argument to 'select': {exc}",
                             _argument_node(ins.call, exc.argument)) from exc
        self.state.pc = ins.end

    async def _include_partial(self, ins: ins_.IncludePartial) -> None:
        self.site = CallSite()
        program = await evaluate(ins.call.func, self)
        parts = getattr(program, "partial_parts", None)
        if parts is None:
            raise self.error(f"a partial must be a program; found {type(program).__name__}",
                             ins.call.func)
        template, defaults = parts()
        args = [await evaluate(arg, self) for arg in ins.call.args]
        kwargs = {kw.name: await evaluate(kw.value, self) for kw in ins.call.kwargs}
        for arg in args:
            if not isinstance(arg, Mapping):
                raise self.error(f"a partial's positional argument must be a dict of variables; "
                                 f"found {type(arg).__name__} {arg!r}", ins.call)
        label = getattr(program, "name", None) or f"partial {_callee_name(ins.call)!r}"
        try:
            await self.run_inline(template, [defaults, *args, kwargs], ins.span, name=label)
        except PositionedError as exc:
            if exc.source != self.source and not isinstance(exc, IncludeDepthError):
                exc.add_note(f"while including {label} at {ins.span.describe()}")
            raise
        self.state.pc += 1

    async def run_inline(
        self, template: CompiledTemplate, scopes: Sequence[Mapping[str, Any]], span: Span,
        name: str | None = None,
    ) -> None:
        """Run another template here, sharing text and variables (partials and `parse`, the tag
        at `span`); `name` labels the other template in error messages."""
        includes = (*self.includes, f"{self.name or 'the program'} at {span.describe()}")
        if len(includes) > MAX_INCLUDE_DEPTH:
            raise IncludeDepthError(
                f"partials and parsed templates nested too deeply: expected at most "
                f"{MAX_INCLUDE_DEPTH} levels (a partial that includes itself needs a condition "
                f"that ends the recursion); include chain: {_chain(includes)}",
                span, self.source, name=self.name,
            )
        state = ExecState(self.state.variables, text=self.state.text, runs=list(self.state.runs))
        if name is None and template.source == self.source:
            name = self.name
        child = Execution(template, state, self.shared, await_missing=self.await_missing,
                          name=name, outer_scopes=[*self.scopes(), *scopes],
                          emit_text=self.emit_text, includes=includes)
        child.validate_constraints()
        await child.run_range(len(template.instructions))
        self.state.text, self.state.runs = child.state.text, child.state.runs

    def child(self, state: ExecState, emit_text: bool) -> Execution:
        return Execution(
            CompiledTemplate(self.instructions, self.source), state, self.shared,
            await_missing=self.await_missing, name=self.name, outer_scopes=self.outer_scopes,
            emit_text=emit_text, includes=self.includes,
        )


def _select_block_options(
    name: str | None = "selected",
    logprobs: str | None = None,
    list_append: bool = False,
    hidden: bool = False,
    temperature: float = 0.0,
    seed: int | None = None,
) -> tuple[str | None, str | None, bool, bool, float, int | None]:
    return name, logprobs, list_append, hidden, temperature, seed


def _argument_node(node: Any, argument: str | None) -> Any:
    """The keyword `argument` of a call node (so the error points at it), else the node."""
    if isinstance(node, Call) and argument is not None:
        for keyword in node.kwargs:
            if keyword.name == argument:
                return keyword
    return node


def _callee_name(call: Call) -> str:
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
