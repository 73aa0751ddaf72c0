"""The interpreter: runs a compiled template's flat instruction list against one model session.

Its whole state is data (`ExecState`: a program counter, a frame stack, the text so far and the
variables), so an execution suspended by `{{await}}` (even inside a loop) is resumed by running
a copy of that state again. Produced text and values are only ever data: nothing here compiles
a string (the `parse` command is the one way in, and it asks the compiler explicitly). The
`each` / `geneach` loop instructions are run by `loops.py`; text, variables, calls and model
calls are the `Machine`'s (`machine.py`)::

    state = ExecState(Variables({"adult": True}))
    await Execution(compile_template("Hi{{#if adult}}!{{/if}}"), state, Shared(llm)).run()
    state.text  # 'Hi!'
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from itertools import pairwise
from typing import Any

from guidance_engine.errors import (
    PositionedError,
    Span,
)
from guidance_engine.llms.arguments import ArgumentError
from guidance_engine.runtime import events as ev
from guidance_engine.runtime.evaluate import evaluate
from guidance_engine.runtime.library.base import (
    BreakLoop,
    Command,
    Suspend,
)
from guidance_engine.runtime.library.loops import BLOCK_COMMANDS, BlockOptions
from guidance_engine.runtime.library.select import choose
from guidance_engine.runtime.library.static import check_before_run
from guidance_engine.runtime.loops import break_loop, loop_end, loop_start
from guidance_engine.runtime.machine import (
    CallContext,
    IncludeDepthError,
    Machine,
    argument_node,
    callee_name,
)
from guidance_engine.runtime.scopes import (
    BlockFrame,
    ExecState,
)
from guidance_engine.runtime.shared import Shared
from guidance_engine.runtime.sites import running_site
from guidance_engine.template import instructions as ins_
from guidance_engine.template.instructions import CallSite, CompiledTemplate
from guidance_engine.template.nodes import Var

# Each level of partials (and `{{parse}}`) costs a few Python frames; this bound keeps a
# self-including partial a positioned error, far from Python's recursion limit.
MAX_INCLUDE_DEPTH = 50


def _chain(includes: tuple[str, ...]) -> str:
    """`a -> b -> ... (N more) -> y -> z`: the include chain, long runs shortened."""
    if len(includes) > 6:
        hidden = len(includes) - 5
        includes = (*includes[:3], f"... ({hidden} more) ...", *includes[-2:])
    return " -> ".join(includes)


class Execution(Machine):
    """Runs `template` on `state`; one object per program run (plus one per inline child)."""

    def __init__(self, template: CompiledTemplate, state: ExecState, shared: Shared,
                 **options: Any) -> None:
        super().__init__(template, state, shared, **options)
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
        """Check every argument and constraint known before the run (literals, or variables
        passed to the program) with the model, before any model call."""
        if self.shared.llm is not None:
            variables = self.state.variables
            known = {name: variables.get(name) for name in variables}
            check_before_run(self.template, known, self.shared.llm, self.name)

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

    # ------------------------------------------------------------ blocks (loops: loops.py)

    async def _enter_block(self, ins: ins_.EnterBlock) -> None:
        name = callee_name(ins.call)
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
                             argument_node(ins.call, exc.argument)) from exc
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
        label = getattr(program, "name", None) or f"partial {callee_name(ins.call)!r}"
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
            self.template, state, self.shared,
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


