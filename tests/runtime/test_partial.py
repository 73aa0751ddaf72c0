"""Live partial values: a streaming gen's variable holds its text so far in partial programs
(Guidance 0.0.64's behaviour); a gen that fails or is stopped leaves no half-written value."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.display.html import render_html
from guidance_engine.display.text import render_text
from guidance_engine.display.view import ProgramView
from guidance_engine.errors import ModelError
from guidance_engine.llms.base import GenRequest, GenResult
from guidance_engine.llms.mock import Mock
from guidance_engine.runtime import events as ev


def parts(template: str, llm: Any, **kwargs: Any) -> list[Any]:
    return list(guidance(template, llm=llm)(stream=True, **kwargs))


def test_the_variable_holds_the_text_so_far_while_the_gen_streams() -> None:
    streamed = parts("A {{gen 'x'}}. {{gen 'y'}}", Mock(["one two three", "four"]))
    assert [(p.text, p.get("x"), p.get("y")) for p in streamed] == [
        ("A ", None, None),
        ("A one", "one", None),
        ("A one two", "one two", None),
        ("A one two three", "one two three", None),
        ("A one two three. ", "one two three", None),
        ("A one two three. four", "one two three", "four"),
        ("A one two three. four", "one two three", "four"),
    ]
    assert streamed[-1].done


def test_list_append_shows_the_list_with_the_text_so_far_last() -> None:
    streamed = parts("{{gen 'l' list_append=True}}", Mock("four five"), l=["z"])
    assert [p.get("l") for p in streamed] == [
        ["z", "four"], ["z", "four five"], ["z", "four five"]]


def test_samples_stream_into_a_list_of_texts() -> None:
    streamed = parts("{{gen 'x' n=2}}", Mock(["a b", "c"]))
    assert [p.get("x") for p in streamed] == [["a", ""], ["a b", ""], ["a b", "c"]]


def test_a_geneach_single_call_never_puts_its_raw_text_in_the_list() -> None:
    template = ("{{#geneach 'items' num_iterations=2 single_call=True}}- {{gen 'this'}}\n"
                "{{/geneach}}")
    streamed = parts(template, Mock("- a\n- b\n"))
    assert [(p.text, p.get("items")) for p in streamed][1:4] == [
        ("- a", []), ("- a\n-", []), ("- a\n- b", [])]
    assert streamed[-1]["items"] == ["a", "b"]


def test_a_snapshot_never_writes_into_the_running_state() -> None:
    streamed = parts("{{gen 'x'}}", Mock("one two"), x="before")
    assert [p["x"] for p in streamed] == ["one", "one two", "one two"]
    assert guidance("{{gen 'x'}}{{await 'go'}}", llm=Mock("u v"))(x="before")["x"] == "u v"


class FailsMidway(Mock):
    """Streams two chunks, then the model call fails."""

    def session(self, asynchronous: bool = False) -> Any:
        inner = super().session(asynchronous)

        class Failing(type(inner)):  # type: ignore[misc]
            async def gen(self, request: GenRequest, on_chunk: Any = None) -> GenResult:
                on_chunk(0, "half")
                on_chunk(0, " written")
                raise ModelError("the server went away")

        return Failing(self)


def run_events(program: Any, stop_at_chunk: bool = False) -> list[ev.Event]:
    async def main() -> list[ev.Event]:
        seen: list[ev.Event] = []
        stream = program.events()
        try:
            async for event in stream:
                seen.append(event)
                if stop_at_chunk and isinstance(event, ev.GenChunk):
                    stream.stop("enough")
        except ModelError:
            pass
        return seen

    return asyncio.run(main())


def test_a_failed_gen_leaves_no_value_and_the_view_says_so() -> None:
    program = guidance("A {{gen 'x'}}.", llm=FailsMidway(), x="old")
    streamed: list[Any] = []
    with pytest.raises(ModelError):
        streamed.extend(program(stream=True))
    events = run_events(program)
    failed = events[-1]
    assert isinstance(failed, ev.Failed)
    assert failed.program["x"] == "old"  # not 'half written'
    live = ProgramView(program.template)
    for event in events:
        live.feed(event)
    assert live.message == ("ModelError: the server went away; 'x' was not saved (its gen "
                            "failed before the end)")
    html = render_html(live)
    assert ('<span class="guidance-cut" data-name="x" title="&#x27;x&#x27; was not saved (its '
            'gen failed before the end): this text was streamed, then dropped" '
            'style="text-decoration: line-through; opacity: 0.55">half written</span>') in html


def test_a_stopped_gen_leaves_no_value_and_the_view_says_so() -> None:
    program = guidance("A {{gen 'x'}}.", llm=Mock("one two three"))
    events = run_events(program, stop_at_chunk=True)
    stopped = events[-1]
    assert isinstance(stopped, ev.Interrupted)
    assert "x" not in stopped.program and stopped.program.interrupted
    # The program's own view (its recorded events, without the streamed chunks).
    assert render_text(stopped.program._view()) == (
        "A \n--- not run yet ---\n{{gen 'x'}}.\n--- interrupted (enough) at line 1, column 3; "
        "'x' was not saved (its gen was stopped before the end) ---")
    assert stopped.program(llm=Mock("again"))["x"] == "again"
