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
import queue
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Generator, Iterator
from typing import Any

from guidance_engine.errors import GuidanceError
from guidance_engine.llms.base import LLM
from guidance_engine.runtime import events as ev
from guidance_engine.runtime.interpreter import Execution, Shared
from guidance_engine.runtime.scopes import ExecState, Variables, copy_state, copy_value
from guidance_engine.template.compiler import compile_template
from guidance_engine.template.instructions import CompiledTemplate

_OPTIONS = ("llm", "silent", "stream", "async_mode", "caching", "await_missing", "log")
_TEXT_EVENTS = (ev.TextEvent, ev.GenChunk, ev.TextReset)


class Program:
    """A compiled template plus its variables, and (once called) the state of one execution."""

    name: str | None = None  # the template's file, for error messages (set by `load`)

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
        self.llm = llm
        self.silent = silent
        self.stream = stream
        self.async_mode = async_mode
        self.caching = caching
        self.await_missing = await_missing
        self._compiled = compile_template(template, name=self.name)
        self._inputs = dict(variables)  # what the caller passed, for re-runs
        self._state: ExecState | None = None  # None: never run
        self._log: list[ev.Event] | bool = [] if log else False
        self._running = False  # a snapshot taken while streaming
        self._offset: int | None = None  # a snapshot's resume offset in the template

    # ------------------------------------------------------------ reading results

    def __getitem__(self, name: str) -> Any:
        values = self._values()
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            raise KeyError(f"{name!r} is not a variable of this program (variables: {known})")
        return values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values()

    def get(self, name: str, default: Any = None) -> Any:
        return self._values().get(name, default)

    def variables(self) -> dict[str, Any]:
        """All variables: those passed in and those the template captured."""
        return dict(self._values())

    @property
    def text(self) -> str:
        """The text produced so far (hidden text excluded); empty before the first run."""
        return self._state.text if self._state is not None else ""

    @property
    def log(self) -> list[ev.Event] | bool:
        """With log=True: each executed command and model call, in order; otherwise False."""
        return self._log

    @property
    def waiting_for(self) -> str | None:
        """The variable a partial program awaits, or None."""
        return self._state.waiting_for if self._state is not None else None

    @property
    def done(self) -> bool:
        return self._state is not None and self._state.done

    def __str__(self) -> str:
        """Text so far plus the template not yet executed, verbatim (a never-run program: its
        template)."""
        if self._state is None:
            return self.template
        if self._state.done:
            return self._state.text
        return self._state.text + self.template[self._resume_offset():]

    def __repr__(self) -> str:
        status = ("never run" if self._state is None else "done" if self._state.done
                  else f"waiting for {self._state.waiting_for!r}" if self._state.waiting_for
                  else "running")
        return f"<Program {status}: {str(self)[:60]!r}>"

    def _repr_html_(self) -> str:
        from guidance_engine.display.html import program_html

        return program_html(self.text, str(self)[len(self.text):], self._running)

    def _values(self) -> dict[str, Any]:
        return self._state.variables.values if self._state is not None else self._inputs

    def _resume_offset(self) -> int:
        assert self._state is not None
        if self._offset is not None:
            return self._offset
        instructions = self._compiled.instructions
        if self._state.pc >= len(instructions):
            return len(self.template)
        return instructions[self._state.pc].span.start

    def partial_parts(self) -> tuple[CompiledTemplate, dict[str, Any]]:
        """What `{{>program}}` needs: the compiled template and its default variables."""
        return self._compiled, dict(self._inputs)

    # ------------------------------------------------------------ running

    def __call__(self, **kwargs: Any) -> Any:
        """Execute (or resume) and return a new Program; with stream=True an iterator of partial
        programs; with async_mode=True an awaitable that `async for` also streams."""
        if self._running:
            raise GuidanceError(
                "this program is a snapshot taken while streaming; call the last program the "
                "stream yields (the finished or suspended one) instead"
            )
        options = {key: kwargs.pop(key) for key in _OPTIONS if key in kwargs}
        new = self._derive(options, kwargs)
        if new.async_mode:
            return AsyncRun(new)
        if new.stream:
            return _iterate_sync(new._stream())
        from guidance_engine.display import jupyter

        if jupyter.should_display(new.silent):
            return jupyter.show_live(_iterate_sync(new._stream()))
        return _run_sync(new._execute(None))

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
        if self._state is not None and not self._state.done:
            state = copy_state(self._state)
            state.waiting_for = None
        else:
            new._inputs = {**self._inputs, **variables}
            state = ExecState(Variables(copy_value(dict(self._inputs))))
        # Copied like the defaults, so a template writing into a loop item (`set 'this.x'`)
        # never changes the caller's lists and dicts.
        for key, value in copy_value(variables).items():
            state.variables.set(key, value)
        new._state = state
        return new

    def _execution(self, sink: ev.EventSink | None) -> Execution:
        assert self._state is not None
        records = self._log if isinstance(self._log, list) else None
        shared = Shared(self._resolve_llm(), sink=sink, records=records)
        return Execution(self._compiled, self._state, shared, await_missing=self.await_missing,
                         name=self.name)

    async def _execute(self, sink: ev.EventSink | None) -> Program:
        execution = self._execution(sink)
        try:
            await execution.run()
        finally:
            execution.shared.close()
        return self

    async def _stream(self) -> AsyncGenerator[Program, None]:
        """Partial programs as text is produced, then the finished (or suspended) program."""
        snapshots: asyncio.Queue[Program | None] = asyncio.Queue()
        holder: list[Execution] = []

        last: list[tuple[str, str]] = []

        def sink(event: ev.Event) -> None:
            # Snapshot now: the execution runs ahead of a slow consumer.
            if isinstance(event, _TEXT_EVENTS):
                snapshot = self._snapshot(holder[0])
                key = (snapshot.text, str(snapshot))
                if last != [key]:  # a gen's commit after its chunks changes nothing shown
                    last[:] = [key]
                    snapshots.put_nowait(snapshot)

        holder.append(self._execution(sink))

        async def run() -> None:
            try:
                await holder[0].run()
            finally:
                holder[0].shared.close()
                snapshots.put_nowait(None)

        task = asyncio.ensure_future(run())
        try:
            while (snapshot := await snapshots.get()) is not None:
                yield snapshot
            await task  # re-raises the execution's error
        finally:
            if not task.done():  # the consumer stopped early
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        yield self

    def _snapshot(self, execution: Execution) -> Program:
        snap = object.__new__(Program)
        snap.__dict__.update(self.__dict__)
        state = execution.state
        text = execution.live_text()
        snap._state = ExecState(state.variables.copy(), state.pc, text)
        snap._running = True
        # Once the current instruction has produced text, the template resumes after its tag.
        if state.pc < len(self._compiled.instructions):
            span = self._compiled.instructions[state.pc].span
            snap._offset = span.end if len(text) > execution.mark else span.start
        return snap

    def _resolve_llm(self) -> LLM | None:
        if self.llm is not None:
            return self.llm
        import guidance_engine  # the module-level default, read at call time

        default: LLM | None = getattr(guidance_engine, "llm", None)
        return default


class AsyncRun(Awaitable[Program]):
    """What an async_mode program call returns: `await` it for the result, `async for` to stream."""

    def __init__(self, program: Program) -> None:
        self._program = program

    def __await__(self) -> Generator[Any, None, Program]:
        return self._program._execute(None).__await__()

    def __aiter__(self) -> AsyncIterator[Program]:
        return self._program._stream()


def load(path: str, **kwargs: Any) -> Program:
    """A program from a template file: `guidance.load("prompts/chat.handlebars")`."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    program = object.__new__(Program)
    program.name = path  # before __init__, so syntax errors name the file
    Program.__init__(program, text, **kwargs)
    return program


# ---------------------------------------------------------------- sync bridges


def _running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run_sync(coroutine: Awaitable[Program]) -> Program:
    """Run to completion; inside a running event loop (Jupyter) use a worker thread."""

    async def main() -> Program:
        return await coroutine

    if not _running_loop():
        return asyncio.run(main())
    box: list[Program] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            box.append(asyncio.run(main()))
        except BaseException as exc:  # handed to the caller's thread below
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    return box[0]


def _iterate_sync(stream: AsyncGenerator[Program, None]) -> Iterator[Program]:
    """Iterate an async stream from synchronous code (in a worker thread if a loop runs here)."""
    if not _running_loop():
        loop = asyncio.new_event_loop()
        try:
            while True:
                try:
                    item = loop.run_until_complete(anext(stream))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            loop.run_until_complete(stream.aclose())  # stops the execution if we left early
            loop.close()
    items: queue.Queue[tuple[str, Any]] = queue.Queue()

    def work() -> None:
        async def drain() -> None:
            async for item in stream:
                items.put(("item", item))

        try:
            asyncio.run(drain())
            items.put(("end", None))
        except BaseException as exc:  # handed to the caller's thread below
            items.put(("error", exc))

    threading.Thread(target=work, daemon=True).start()
    while True:
        kind, value = items.get()
        if kind == "end":
            return
        if kind == "error":
            raise value
        yield value
