"""The classic Program API: compile once, call to execute, read variables from the result.

Calling a program never changes it; it returns a new, executed program. A program that stopped
at `{{await 'x'}}` resumes from that instruction when called with `x=...`::

    >>> program = Program("Hi {{name}}{{await 'more'}}!", name="Bob")
    >>> partial = program()
    >>> str(partial), partial.text
    ("Hi Bob{{await 'more'}}!", 'Hi Bob')
    >>> str(partial(more="..."))
    'Hi Bob...!'
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any, TypeVar

from guidance_engine import bridge
from guidance_engine.defaults import check_llm, resolve_llm
from guidance_engine.errors import GuidanceError
from guidance_engine.llms.base import LLM
from guidance_engine.runtime import events as ev
from guidance_engine.runtime.interpreter import Execution
from guidance_engine.runtime.options import OPTIONS, check_variables
from guidance_engine.runtime.partial import LiveValues
from guidance_engine.runtime.presenting import presenter
from guidance_engine.runtime.result import ProgramResult
from guidance_engine.runtime.scopes import ExecState, Variables, copy_state, copy_value
from guidance_engine.runtime.shared import Shared
from guidance_engine.runtime.threads import release_thread_pool
from guidance_engine.template.compiler import compile_template
from guidance_engine.template.instructions import CompiledTemplate

_OPTIONS = OPTIONS
_TEXT_EVENTS = (ev.TextEvent, ev.GenChunk, ev.TextReset)
T = TypeVar("T")


class Program(ProgramResult):
    """A compiled template plus its variables, and (once called) the state of one execution;
    reading its results is `ProgramResult`'s."""

    def __init__(
        self,
        template: str,
        llm: LLM | None = None,
        silent: bool | None = None,
        stream: bool | None = None,
        async_mode: bool = False,
        caching: bool | None = None,
        await_missing: bool = False,
        log: bool = False,
        **variables: Any,
    ) -> None:
        if isinstance(template, Program):
            variables = {**template._inputs, **variables}
            template = template.template
        if not isinstance(template, str):
            raise TypeError(f"a template must be a string; found {type(template).__name__}")
        self.template = template
        check_llm(llm)
        self.llm = llm
        self.silent = silent
        self.stream = stream
        self.async_mode = async_mode
        self.caching = caching
        self.await_missing = await_missing
        self._compiled = compile_template(template, name=self.name)
        check_variables(variables, self._compiled, variables)
        self._inputs = dict(variables)  # what the caller passed, for re-runs
        self._state: ExecState | None = None  # None: never run
        self._log: list[ev.Event] | bool = [] if log else False
        self._running = False  # a snapshot taken while streaming
        self._offset: int | None = None  # a snapshot's resume offset in the template
        self.interrupted = False  # the run was stopped before it ended (call again to resume)
        self._history: list[ev.Event] = []  # this run's events (resumed: all runs') for the view
        self._history_len: int | None = None  # a snapshot sees only the first events

    def partial_parts(self) -> tuple[CompiledTemplate, dict[str, Any]]:
        """What `{{>program}}` needs: the compiled template and its default variables."""
        return self._compiled, dict(self._inputs)

    # ------------------------------------------------------------ running

    def __call__(self, **kwargs: Any) -> Any:
        """Execute (or resume) and return a new Program; with stream=True an iterator of partial
        programs; with async_mode=True an awaitable that `async for` also streams."""
        new = self._prepare(kwargs)
        if new.async_mode:
            return AsyncRun(new)
        if new.stream:
            return bridge.iterate(EventStream(new, _partial_programs(), snapshots=True))
        if presenter().live(new.silent, asynchronous=False):
            return presenter().run_live(new, EventStream(new, _event))
        return _finish(bridge.iterate(EventStream(new, _event)))

    def events(self, **kwargs: Any) -> EventStream[ev.Event]:
        """Execute (or resume) like a call, as an async iterator of the run's events, live.

        The last event is `Finished(program)` (completed or suspended), `Interrupted(program)`
        after `stop()`, or `Failed(error, program)` just before the error is raised. Leaving the
        loop early or cancelling the consuming task stops the model within one forward pass::

            async for event in program.events(name="Bob"):
                if isinstance(event, GenChunk):
                    print(event.text, end="", flush=True)
        """
        return EventStream(self._prepare(kwargs), _event)

    def _prepare(self, kwargs: dict[str, Any]) -> Program:
        if self._running:
            raise GuidanceError(
                "this program is a snapshot taken while streaming; call the last program the "
                "stream yields (the finished or suspended one) instead"
            )
        options = {key: kwargs.pop(key) for key in _OPTIONS if key in kwargs}
        check_llm(options.get("llm"))
        check_variables(kwargs, self._compiled, {**self._inputs, **kwargs})
        return self._derive(options, kwargs)

    def _derive(self, options: dict[str, Any], variables: dict[str, Any]) -> Program:
        """A copy ready to run: resume state for a partial program, a fresh state otherwise."""
        new = object.__new__(Program)
        new.__dict__.update(self.__dict__)
        for key, value in options.items():
            if key == "log":
                new._log = [] if value else False
            else:
                setattr(new, key, value)
        if isinstance(new._log, list):
            new._log = []
        new._running = False
        new._offset = None
        new._history_len = None
        new.__dict__.pop("_shown_in", None)
        new.interrupted = False
        if self._state is not None and not self._state.done:
            state = copy_state(self._state)
            state.waiting_for = None
            new._history = self._display_events()  # the view shows the earlier runs' output
        else:
            new._history = []
            new._inputs = {**self._inputs, **variables}
            state = ExecState(Variables(copy_value(dict(self._inputs))))
        # Copied like the defaults, so a template writing into a loop item (`set 'this.x'`)
        # never changes the caller's lists and dicts.
        for key, value in copy_value(variables).items():
            state.variables.set(key, value)
        new._state = state
        return new

    def _execution(self, sink: ev.EventSink) -> Execution:
        assert self._state is not None
        shared = Shared(self._resolve_llm(), sink=sink, caching=self.caching)
        return Execution(self._compiled, self._state, shared, await_missing=self.await_missing,
                         name=self.name)

    async def _channel(
        self, control: RunControl, snapshots: bool
    ) -> AsyncGenerator[tuple[ev.Event, Program | None], None]:
        """The one run loop: the execution as a task, its events as they happen (each with a
        partial-program snapshot when `snapshots`), then Finished, Interrupted or Failed."""
        queue: asyncio.Queue[tuple[ev.Event, Program | None] | None] = asyncio.Queue()
        log = self._log if isinstance(self._log, list) else None
        holder: list[Execution] = []
        live = LiveValues()

        def sink(event: ev.Event) -> None:
            live.feed(event)
            if not isinstance(event, ev.GenChunk):
                if log is not None:
                    log.append(event)  # the log is the event stream minus streamed deltas
                if not isinstance(event, ev.CommandRecord | ev.ModelCallRecord | ev.Captured):
                    self._history.append(event)
            # Snapshot now: the execution runs ahead of a slow consumer.
            take = snapshots and isinstance(event, _TEXT_EVENTS)
            queue.put_nowait((event, self._snapshot(holder[0], live) if take else None))

        holder.append(self._execution(sink))

        async def run() -> None:
            try:
                await holder[0].run()
            finally:
                holder[0].shared.close()  # stops and joins the model worker

        task = asyncio.ensure_future(run())
        # The end marker comes from the task's end, not from run(): a task stopped before it
        # started (a stop button pressed at once) never enters run() at all.
        task.add_done_callback(lambda _: queue.put_nowait(None))
        control.attach(task)
        try:
            while (item := await queue.get()) is not None:
                yield item
            try:
                await task
            except asyncio.CancelledError:
                if not control.stopped:
                    raise
                self.interrupted, self._interrupt_reason = True, control.reason
                yield ev.Interrupted(self, control.reason), None
                return
            except Exception as exc:
                yield ev.Failed(exc, self), None
                raise
            yield ev.Finished(self), None
        finally:
            if not task.done():  # the consumer stopped early or was cancelled
                self.interrupted = True
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _execute(self) -> Program:
        release_thread_pool()  # the awaiting thread's OpenMP team would slow the model worker
        async for _ in self._channel(RunControl(), snapshots=False):
            pass
        return self

    def _snapshot(self, execution: Execution, live: LiveValues) -> Program:
        snap = object.__new__(Program)
        snap.__dict__.update(self.__dict__)
        state = execution.state
        text = execution.live_text()
        variables = state.variables.copy()
        live.apply(variables)  # a streaming gen's variable holds its text so far
        snap._state = ExecState(variables, state.pc, text)
        snap._running = True
        snap._history_len = len(self._history)
        # Once the current instruction has produced text, the template resumes after its tag.
        if state.pc < len(self._compiled.instructions):
            span = self._compiled.instructions[state.pc].span
            snap._offset = span.end if len(text) > execution.mark else span.start
        return snap

    def _resolve_llm(self) -> LLM | None:
        return resolve_llm(self.llm)  # the default model is read at call time


class RunControl:
    """Stops a run from any thread: `stop()` cancels the execution task on its event loop."""

    def __init__(self) -> None:
        self.stopped = False
        self.reason = ""
        self._lock = threading.Lock()
        self._task: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, task: asyncio.Future[None]) -> None:
        with self._lock:
            self._task, self._loop = task, asyncio.get_running_loop()
            if self.stopped:
                task.cancel()

    def stop(self, reason: str = "stopped") -> None:
        with self._lock:
            if self.stopped:
                return
            self.stopped, self.reason = True, reason
            if self._task is not None and self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._task.cancel)


class EventStream(AsyncIterator[T]):
    """What `Program.events()` returns: an async iterator of events, produced live.

    Breaking out of it (`aclose()`) or cancelling the task that iterates stops the model;
    `stop()` (callable from any thread) ends the run with an `Interrupted` event.
    """

    def __init__(self, program: Program, pick: Callable[[ev.Event, Program | None], T | None],
                 snapshots: bool = False) -> None:
        # Built on the caller's thread: its OpenMP team, if it ran torch, would halve the model
        # worker's speed (runtime/threads.py); libgomp makes a new one when it is needed again.
        release_thread_pool()
        self.program = program
        self._control = RunControl()
        self._items = program._channel(self._control, snapshots)
        self._pick = pick

    def __aiter__(self) -> EventStream[T]:
        return self

    async def __anext__(self) -> T:
        while True:
            event, snapshot = await self._items.__anext__()
            picked = self._pick(event, snapshot)
            if picked is not None:
                return picked

    async def aclose(self) -> None:
        await self._items.aclose()

    def stop(self, reason: str = "stopped") -> None:
        self._control.stop(reason)


def _event(event: ev.Event, snapshot: Program | None) -> ev.Event:
    return event


def _partial_programs() -> Callable[[ev.Event, Program | None], Program | None]:
    """Pick the partial programs a stream=True caller sees (unchanged ones skipped), then the
    finished, suspended or interrupted program."""
    last: list[tuple[str, str]] = []

    def pick(event: ev.Event, snapshot: Program | None) -> Program | None:
        if isinstance(event, ev.Finished | ev.Interrupted):
            program: Program = event.program
            return program
        if snapshot is None:
            return None
        key = (snapshot.text, str(snapshot))
        if last == [key]:  # a gen's commit after its chunks changes nothing shown
            return None
        last[:] = [key]
        return snapshot

    return pick


class AsyncRun(Awaitable[Program]):
    """What an async_mode program call returns: `await` it for the result, `async for` to stream."""

    def __init__(self, program: Program) -> None:
        self._program = program

    def __await__(self) -> Generator[Any, None, Program]:
        if presenter().live(self._program.silent, asynchronous=True):
            stream = EventStream(self._program, _event)
            return presenter().run_live_async(self._program, stream).__await__()
        return self._program._execute().__await__()

    def __aiter__(self) -> AsyncIterator[Program]:
        return EventStream(self._program, _partial_programs(), snapshots=True)


def load(path: str, **kwargs: Any) -> Program:
    """A program from a template file: `guidance.load("prompts/chat.handlebars")`."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    program = object.__new__(Program)
    program.name = path  # before __init__, so syntax errors name the file
    Program.__init__(program, text, **kwargs)
    return program


def _finish(events: Iterator[ev.Event]) -> Program:
    """The program a run ends with (finished, suspended or interrupted); errors are raised."""
    program: Program | None = None
    for event in events:
        if isinstance(event, ev.Finished | ev.Interrupted):
            program = event.program
    assert program is not None, "a run ends with Finished, Interrupted or an error"
    return program
