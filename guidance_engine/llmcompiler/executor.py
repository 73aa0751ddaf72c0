"""The task fetching unit: runs each task the instant its last dependency has resolved.

Every submitted task gets an asyncio future for its result and an asyncio task that awaits the
futures of its dependencies (no polling). `$N` / `${N}` in its arguments, bare, inside strings or
inside lists, are then replaced by the results, and the tool runs (under an optional concurrency
limit and timeout). A failing tool, a timeout, a failed dependency or a reference to a task that
does not exist becomes an error observation; nothing raises out of the unit::

    >>> unit = TaskFetchingUnit({"echo": Tool.from_function(lambda x: x, "echo")})
    >>> unit.submit(parse_line('1. echo("hi")'))
    >>> unit.submit(parse_line('2. echo("$1 there")'))
    >>> asyncio.run(unit.wait())                       # doctest: +SKIP
    >>> unit.records[2].observation
    'hi there'

Dependencies can only point backwards (a task naming itself or a later task gets an error
observation), so cycles cannot form.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from guidance_engine.llmcompiler.plan import REF_IN_TEXT, Ref, Task, Value
from guidance_engine.llmcompiler.run_events import TaskEnded, TaskStarted, emit
from guidance_engine.llmcompiler.tools import Tool
from guidance_engine.llmcompiler.trace import TaskRecord


@dataclass(frozen=True)
class Outcome:
    """A finished task: the tool's result (None on error) and the observation text."""

    value: Any
    observation: str
    error: bool = False


class TaskFetchingUnit:
    """Schedules tasks as they are submitted; `wait()` returns when all of them are done."""

    def __init__(
        self,
        tools: Mapping[str, Tool],
        max_concurrency: int | None = None,
        timeout: float | None = None,
        clock: Callable[[], float] | None = None,
        plan: int = 0,
    ) -> None:
        self.tools = dict(tools)
        self.timeout = timeout
        self.plan = plan
        self._clock = clock or _clock_from(time.perf_counter())
        self._limit = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self._futures: dict[int, asyncio.Future[Outcome]] = {}
        self._running: list[asyncio.Task[None]] = []
        self.records: dict[int, TaskRecord] = {}

    def carry_over(self, earlier: TaskFetchingUnit) -> None:
        """Make an earlier plan's results referable (replans keep numbering and may use them)."""
        self._futures.update(earlier._futures)

    def submit(self, task: Task) -> None:
        """Schedule `task` now; it starts when its dependencies are done (join is not run)."""
        if task.is_join:
            return
        record = TaskRecord(task.index, task.tool, task.line, list(task.args), plan=self.plan)
        self.records[task.index] = record
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        problem = self._check(task)
        if task.index in self._futures:
            problem = f"task number {task.index} is used twice"
        else:
            self._futures[task.index] = future
        if problem is not None:
            self._finish(record, future, Outcome(None, f"Error: {problem}", error=True))
            return
        self._running.append(asyncio.create_task(self._run(task, record, future)))

    async def wait(self) -> dict[int, TaskRecord]:
        """Wait for every submitted task; the records in task order."""
        if self._running:
            await asyncio.gather(*self._running)
        return dict(sorted(self.records.items()))

    def cancel(self) -> None:
        for running in self._running:
            running.cancel()

    def _check(self, task: Task) -> str | None:
        if task.tool not in self.tools:
            return f"unknown tool {task.tool!r}; the tools are {', '.join(self.tools)}"
        for dep in sorted(task.deps):
            if dep >= task.index:
                return f"${dep} refers to a task that does not come before task {task.index}"
            if dep not in self._futures:
                return f"${dep} refers to task {dep}, which does not exist"
        return None

    async def _run(self, task: Task, record: TaskRecord, future: asyncio.Future[Outcome]) -> None:
        deps = {dep: self._futures[dep] for dep in sorted(task.deps)}
        results = dict(zip(deps, await asyncio.gather(*deps.values()), strict=True))
        failed = [dep for dep, outcome in results.items() if outcome.error]
        if failed:
            message = f"Error: not run because task {failed[0]} failed"
            self._finish(record, future, Outcome(None, message, error=True))
            return
        args = [substitute(arg, results) for arg in task.args]
        record.args = args
        if self._limit is not None:
            await self._limit.acquire()
        record.start = self._clock()
        emit(TaskStarted(record.index, self.plan, record.tool, record.line, tuple(args),
                         record.start))
        try:
            outcome = await self._call(self.tools[task.tool], args)
        finally:
            if self._limit is not None:
                self._limit.release()
        self._finish(record, future, outcome)

    async def _call(self, tool: Tool, args: list[Any]) -> Outcome:
        deadline = asyncio.timeout(self.timeout)
        try:
            async with deadline:
                value = await tool.call(args)
        except Exception as error:  # any tool failure is an observation, never a crash
            if isinstance(error, TimeoutError) and deadline.expired():
                return Outcome(None, f"Error: {tool.name} timed out after {self.timeout} s", True)
            return Outcome(None, f"Error: {type(error).__name__}: {error}", error=True)
        return Outcome(value, str(value))

    def _finish(self, record: TaskRecord, future: asyncio.Future[Outcome],
                outcome: Outcome) -> None:
        record.end = self._clock()
        if record.start is None:
            record.start = record.end
        record.observation = outcome.observation
        record.error = outcome.error
        emit(TaskEnded(record.index, self.plan, record.tool, record.line, tuple(record.args),
                       record.start, record.end, record.observation, record.error))
        if not future.done():
            future.set_result(outcome)


def substitute(value: Value, results: Mapping[int, Outcome]) -> Any:
    """Replace references by results: a bare `$N` by the value, `$N` inside text by its text.

        >>> substitute(("$1 and ${2}", Ref(1)), {1: Outcome(5, "5"), 2: Outcome("b", "b")})
        ['5 and b', 5]
    """
    if isinstance(value, Ref):
        return results[value.index].value
    if isinstance(value, str):
        return REF_IN_TEXT.sub(lambda m: results[int(m.group(1) or m.group(2))].observation, value)
    if isinstance(value, tuple):
        return [substitute(item, results) for item in value]
    return value


def _clock_from(origin: float) -> Callable[[], float]:
    return lambda: time.perf_counter() - origin
