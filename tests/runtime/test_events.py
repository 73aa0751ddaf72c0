"""The public event stream `Program.events()`: order, spans, stop, close, cancel, failure."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.errors import Span, TemplateRuntimeError
from guidance_engine.llms.mock import Mock
from guidance_engine.runtime import events as ev
from guidance_engine.runtime.program import Program

_RECORDS = (ev.CommandRecord, ev.ModelCallRecord)


def collect(program: Program, **kwargs: Any) -> list[ev.Event]:
    async def main() -> list[ev.Event]:
        return [e async for e in program.events(**kwargs) if not isinstance(e, _RECORDS)]

    return asyncio.run(main())


def test_events_of_a_chat_program_in_order_with_spans() -> None:
    template = ("{{#user}}Hi {{name}}{{/user}}{{#assistant}}{{gen 'reply'}}{{/assistant}}"
                "{{select 'mood' options=['calm', 'glad']}}")
    program = guidance(template, llm=Mock({"": ["Hello there", "glad"]}))
    events = collect(program, name="Ann")
    finished = events.pop()
    assert isinstance(finished, ev.Finished) and finished.program["reply"] == "Hello there"
    gen_span = Span(43, 58, 1, 44)
    select_span = Span(72, 114, 1, 73)
    assert events == [
        ev.RoleStart("user", Span(0, 9, 1, 1)),
        ev.TextEvent("<|im_start|>user\n", Span(0, 9, 1, 1), "markup"),
        ev.TextEvent("Hi ", Span(9, 12, 1, 10), "template"),
        ev.TextEvent("Ann", Span(12, 20, 1, 13), "value"),
        ev.TextEvent("<|im_end|>", Span(20, 29, 1, 21), "markup"),
        ev.RoleEnd("user", Span(20, 29, 1, 21)),
        ev.RoleStart("assistant", Span(29, 43, 1, 30)),
        ev.TextEvent("<|im_start|>assistant\n", Span(29, 43, 1, 30), "markup"),
        ev.GenStart("reply", gen_span, partial="set"),
        ev.GenChunk("reply", 0, "Hello", gen_span),
        ev.GenChunk("reply", 0, " there", gen_span),
        ev.GenEnd("reply", "Hello there", gen_span),
        ev.Captured("reply", "Hello there"),
        ev.TextEvent("Hello there", gen_span, "generated", "reply"),
        ev.TextEvent("<|im_end|>", Span(58, 72, 1, 59), "markup"),
        ev.RoleEnd("assistant", Span(58, 72, 1, 59)),
        ev.Selected("mood", "glad", {"calm": float("-inf"), "glad": 0.0}, select_span),
        ev.Captured("mood", "glad"),
        ev.TextEvent("glad", select_span, "generated", "mood"),
    ]
    assert template[gen_span.start : gen_span.end] == "{{gen 'reply'}}"
    assert template[select_span.start : select_span.end].startswith("{{select 'mood'")


def test_a_suspended_run_ends_with_suspended_then_finished() -> None:
    events = collect(guidance("a{{await 'x'}}b"))
    assert events[:2] == [ev.TextEvent("a", Span(0, 1, 1, 1)),
                          ev.Suspended("x", Span(1, 14, 1, 2))]
    assert isinstance(events[2], ev.Finished) and events[2].program.waiting_for == "x"


def test_a_failing_run_sends_failed_then_raises() -> None:
    def boom() -> None:
        raise ValueError("boom")

    seen: list[ev.Event] = []

    async def main() -> None:
        async for event in guidance("a{{boom}}").events(boom=boom):
            seen.append(event)

    with pytest.raises(TemplateRuntimeError) as info:
        asyncio.run(main())
    failed = seen[-1]
    assert isinstance(failed, ev.Failed) and failed.error is info.value
    assert failed.program.text == "a"


async def _hang() -> None:
    await asyncio.sleep(3600)


def test_stop_ends_the_run_with_interrupted_and_a_resumable_partial_program() -> None:
    program = guidance("{{set 'x' 1}}a{{hang}}b{{gen 'y'}}", llm=Mock("done"))

    async def main() -> list[ev.Event]:
        stream = program.events(hang=_hang)
        out = []
        async for event in stream:
            out.append(event)
            if isinstance(event, ev.TextEvent) and event.text == "a":
                stream.stop("the stop button")
        return out

    events = asyncio.run(main())
    last = events[-1]
    assert isinstance(last, ev.Interrupted) and last.reason == "the stop button"
    partial = last.program
    assert partial.interrupted and not partial.done
    assert (partial.text, partial["x"], str(partial)) == ("a", 1, "a{{hang}}b{{gen 'y'}}")
    assert repr(partial) == "<Program interrupted: \"a{{hang}}b{{gen 'y'}}\">"
    html = partial._repr_html_()
    assert 'data-status="interrupted"' in html
    assert "interrupted (the stop button) at line 1, column 15" in html
    resumed = partial(hang=lambda: "!")
    assert (str(resumed), resumed.interrupted) == ("a!bdone", False)


def test_closing_the_iterator_stops_the_run() -> None:
    ran: list[str] = []

    async def slow() -> str:
        await asyncio.sleep(3600)
        ran.append("finished")  # never reached: closing cancels it
        return ""

    async def main() -> None:
        stream = guidance("a{{slow}}b").events(slow=slow)
        async for event in stream:
            if isinstance(event, ev.TextEvent):
                break
        await stream.aclose()
        assert stream.program.interrupted

    asyncio.run(main())
    assert ran == []


def test_cancelling_the_consuming_task_stops_the_run() -> None:
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def main() -> None:
        started = asyncio.Event()

        async def consume() -> None:
            async for event in guidance("a{{slow}}").events(slow=slow):
                if isinstance(event, ev.TextEvent):
                    started.set()

        task = asyncio.ensure_future(consume())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert cancelled.is_set()


def test_stream_true_is_built_on_the_event_stream_and_closing_it_stops_the_run() -> None:
    calls: list[int] = []

    def count() -> str:
        calls.append(1)
        return "."

    parts = guidance("a{{count}}b{{count}}c")(stream=True, count=count)
    first = next(parts)
    assert first.text == "a"
    parts.close()  # leaving early: the run is stopped and its thread joined
    assert len(calls) <= 2
    assert not [t for t in threading.enumerate() if t.name == "guidance-run"]


def test_a_stop_before_the_run_has_started_ends_it_at_once() -> None:
    async def main() -> list[ev.Event]:
        stream = guidance("a{{gen 'x'}}", llm=Mock("b")).events()
        stream.stop("at once")  # e.g. the stop button pressed as soon as it was shown
        return [event async for event in stream]

    events = asyncio.run(asyncio.wait_for(main(), 10))
    assert [type(e).__name__ for e in events] == ["Interrupted"]
    stopped = events[0]
    assert isinstance(stopped, ev.Interrupted)
    assert (stopped.reason, stopped.program.interrupted, stopped.program.text) == (
        "at once", True, "")
