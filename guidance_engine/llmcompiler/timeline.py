"""A timeline of an LLMCompiler run: the planner streaming, one bar per task, the joiner, replans.

The value of LLMCompiler is overlap in time (the plan streams, tasks start while it is still
being written, independent tasks run at once), and a picture shows it at a glance. `Timeline`
folds the run's live events (`run_events`) or a finished trace (`Trace`, or the `trace` a
`--logging` store keeps) into bars; `timeline_svg` draws them (its unit, `Bar`, is what this
module makes). In a notebook, `watch` shows the picture growing while the run goes::

    result = await watch(agent.arun("Which has more people, France or Spain?"))
    Timeline.from_trace(result.trace)          # the same picture, from the trace afterwards
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, TypeVar

from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler import run_events as re_
from guidance_engine.llmcompiler.run_events import watching
from guidance_engine.llmcompiler.timeline_svg import Bar, render_html

T = TypeVar("T")
UPDATE_SECONDS = 0.2  # live picture: at most ~5 updates a second


@dataclass
class Timeline:
    """The bars of one run, in lane order: planner, the tasks by number, joiner."""

    question: str = ""
    bars: list[Bar] = field(default_factory=list)
    answer: str | None = None
    done: bool = False
    _clock: tuple[float, float] = (0.0, 0.0)  # (run time, monotonic) of the last event
    _plan_text: str = ""

    # ------------------------------------------------------------ live events

    def feed(self, event: re_.RunEvent) -> None:
        """Update the picture with one live event."""
        self._clock = (event.time, time.monotonic())
        if isinstance(event, re_.PlanStarted):
            self._plan_started(event)
        elif isinstance(event, re_.PlanText):
            self._plan_text += event.text
            if (bar := self._open("planner")) is not None:
                bar.title = _plan_title(bar.round, self._plan_text)
        elif isinstance(event, re_.PlanEnded):
            if (bar := self._open("planner")) is not None and event.start is not None:
                bar.start = event.start
            self._close("planner", event.time, _plan_title(event.round, event.text, event.error))
        elif isinstance(event, re_.TaskStarted):
            self.bars.append(Bar(_task_lane(event.index), event.line, "task", event.time,
                                 title=_task_title(event.line, event.tool, event.args),
                                 round=event.round))
        elif isinstance(event, re_.TaskEnded):
            self._task_ended(event)
        elif isinstance(event, re_.JoinStarted):
            self.bars.append(Bar("joiner", "joiner", "join", event.time, round=event.round))
        elif isinstance(event, re_.JoinEnded):
            if (bar := self._open("joiner")) is not None and event.start is not None:
                bar.start = event.start
            self._close("joiner", event.time, _join_title(event.action, event.argument,
                                                          event.thought))
            if event.action == "Finish":
                self.answer, self.done = event.argument, True

    def _plan_started(self, event: re_.PlanStarted) -> None:
        self._plan_text = ""
        label = "plan" if event.round == 0 else f"replan {event.round}"
        self.bars.append(Bar("planner", label, "plan", event.time,
                             title=_plan_title(event.round, ""), round=event.round))

    def _task_ended(self, event: re_.TaskEnded) -> None:
        bar = self._open(_task_lane(event.index))
        if bar is None:  # never ran (a failed dependency): a bar of no length
            bar = Bar(_task_lane(event.index), event.line, "task", event.start,
                      round=event.round)
            self.bars.append(bar)
        bar.end = event.time
        bar.kind = "error" if event.error else "task"
        bar.title = _task_title(event.line, event.tool, event.args, event.start, event.time,
                                event.observation)

    def _open(self, lane: str) -> Bar | None:
        for bar in reversed(self.bars):
            if bar.lane == lane and bar.end is None:
                return bar
        return None

    def _close(self, lane: str, at: float, title: str) -> None:
        bar = self._open(lane)
        if bar is not None:
            bar.end, bar.title = at, title

    @property
    def replans(self) -> list[float]:
        """When each new plan (replan) started."""
        return [b.start for b in self.bars if b.kind == "plan" and b.round > 0]

    def now(self) -> float:
        """The run's clock now (running bars are drawn up to here)."""
        if self.done:
            return self.end()
        at, seen = self._clock
        return at + (time.monotonic() - seen)

    def end(self) -> float:
        return max([0.0, *(b.end or b.start for b in self.bars), *self.replans])

    def lanes(self) -> list[str]:
        """Lane names top to bottom: planner, tasks by number, joiner."""
        tasks = sorted({b.lane for b in self.bars if b.lane.startswith("task ")},
                       key=lambda lane: int(lane.split()[1]))
        return ["planner", *tasks, "joiner"]

    # ------------------------------------------------------------ finished traces

    @classmethod
    def from_trace(cls, trace: Any) -> Timeline:
        """The picture of a finished run: a `Trace`, or the `trace` dict of a store record."""
        data: Mapping[str, Any] = trace
        if is_dataclass(trace) and not isinstance(trace, type):
            data = asdict(trace)
        timeline = cls(question=str(data.get("question", "")), done=True)
        for number, plan in enumerate(data.get("plans", [])):
            timeline.feed(re_.PlanStarted(number, float(plan["start"])))
            timeline.feed(re_.PlanEnded(number, float(plan["end"]), str(plan["text"]),
                                        plan.get("error"), float(plan["start"])))
        for task in data.get("tasks", []):
            start = float(task["start"] if task.get("start") is not None else task["end"])
            args = tuple(task.get("args", ()))
            timeline.bars.append(Bar(_task_lane(int(task["index"])), str(task["line"]),
                                     "error" if task.get("error") else "task", start,
                                     float(task["end"]), round=int(task.get("plan", 0)),
                                     title=_task_title(str(task["line"]), str(task["tool"]),
                                                       args, start, float(task["end"]),
                                                       str(task.get("observation", "")))))
        for number, join in enumerate(data.get("joins", [])):
            timeline.feed(re_.JoinStarted(number, float(join["start"])))
            timeline.feed(re_.JoinEnded(number, float(join["end"]), str(join["action"]),
                                        str(join["argument"]), str(join.get("thought", "")),
                                        float(join["start"])))
        timeline.done = True
        return timeline

    def _repr_html_(self) -> str:
        return render_html(self)


def trace_of_question(store: Mapping[str, Any], path: str, question_id: str) -> Timeline:
    """The timeline of one question of a store file (read by `runner.read_store`)."""
    results = store["results"]
    if question_id not in results:
        known = ", ".join(list(results)[:10]) + (", ..." if len(results) > 10 else "")
        raise GuidanceError(f"{path} has no question {question_id!r} (its questions: "
                            f"{known or 'none'})")
    trace = results[question_id].get("trace")
    if not isinstance(trace, dict):
        raise GuidanceError(f"{path} keeps no trace for question {question_id!r}: the run was "
                            "made without --logging")
    if trace.get("steps") and not trace.get("plans"):
        raise GuidanceError(f"question {question_id!r} of {path} was answered by ReAct; the "
                            "timeline draws LLMCompiler runs")
    timeline = Timeline.from_trace(trace)
    timeline.answer = results[question_id].get("answer")
    return timeline


def _task_lane(index: int) -> str:
    return f"task {index}"


def _plan_title(round_: int, text: str, error: str | None = None) -> str:
    head = "plan" if round_ == 0 else f"replan {round_}"
    tail = f"\nended early: {error}" if error else ""
    return f"{head}\n{text}{tail}" if text else f"{head} (streaming)"


def _task_title(line: str, tool: str, args: tuple[Any, ...], start: float | None = None,
                end: float | None = None, observation: str | None = None) -> str:
    lines = [line, f"tool: {tool}", f"arguments: {', '.join(map(repr, args))}"]
    if start is not None and end is not None:
        lines.append(f"{start:.2f} s → {end:.2f} s ({end - start:.2f} s)")
    if observation is not None:
        lines.append(f"observation: {observation[:300]}")
    return "\n".join(lines)


def _join_title(action: str, argument: str, thought: str) -> str:
    return f"joiner: {action}({argument})" + (f"\nthought: {thought}" if thought else "")


async def watch(run: Awaitable[T], every: float = UPDATE_SECONDS) -> T:
    """Await an agent run (`agent.arun(question)`) while drawing its timeline.

    Inside a Jupyter kernel the picture is one output updated as the run goes; elsewhere the
    run just completes. The events come from the run itself (`run_events`), nothing else."""
    timeline = Timeline()
    with watching(timeline.feed):
        task = asyncio.ensure_future(run)  # the task copies the context: the sink goes along
    from guidance_engine.display import in_kernel

    if not in_kernel():
        return await task
    from IPython.display import HTML, display

    handle = display(HTML(render_html(timeline)), display_id=True)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=every)
            handle.update(HTML(render_html(timeline)))
    finally:
        if not task.done():
            task.cancel()
    timeline.done = True
    handle.update(HTML(render_html(timeline)))
    return task.result()
