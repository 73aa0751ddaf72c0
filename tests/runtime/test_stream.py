"""Streaming (stream=True), async_mode (await and async for) and the execution log."""

from __future__ import annotations

import asyncio

import pytest

import guidance_engine as guidance
from guidance_engine.errors import GuidanceError, TemplateRuntimeError
from guidance_engine.llms.base import GenRequest, GenResult, Segment, SelectRequest
from guidance_engine.llms.mock import Mock
from guidance_engine.runtime.events import CommandRecord, ModelCallRecord
from guidance_engine.runtime.program import Program

TEMPLATE = "A {{gen 'x'}} B {{gen 'y'}}"


def test_stream_yields_partial_programs_as_text_is_produced() -> None:
    parts = list(guidance(TEMPLATE, llm=Mock(["one two", "three"]))(stream=True))
    assert [str(p) for p in parts] == [
        "A {{gen 'x'}} B {{gen 'y'}}",
        "A one B {{gen 'y'}}",  # streamed chunks of x
        "A one two B {{gen 'y'}}",
        "A one two B {{gen 'y'}}",  # the fixed text " B " is now produced
        "A one two B three",
        "A one two B three",  # the finished program
    ]
    assert [p.text for p in parts] == ["A ", "A one", "A one two", "A one two B ",
                                       "A one two B three", "A one two B three"]
    assert [p.done for p in parts] == [False] * 5 + [True]
    assert parts[-1]["y"] == "three"


def test_stream_partial_programs_expose_variables_so_far() -> None:
    parts = list(guidance(TEMPLATE, llm=Mock(["one", "two"]))(stream=True))
    # x holds its streamed text as soon as it streams (tests/runtime/test_partial.py)
    assert [p.get("x") for p in parts] == [None, "one", "one", "one", "one"]


def test_stream_raises_the_error() -> None:
    def boom() -> None:
        raise ValueError("boom")

    parts = guidance("a{{boom}}")(stream=True, boom=boom)
    with pytest.raises(TemplateRuntimeError):
        list(parts)


def test_async_mode_is_awaitable() -> None:
    async def main() -> Program:
        run = guidance(TEMPLATE, llm=Mock(["1", "2"]), async_mode=True)()
        out: Program = await run
        return out

    assert str(asyncio.run(main())) == "A 1 B 2"


def test_async_for_streams() -> None:
    async def main() -> list[str]:
        program = guidance(TEMPLATE, llm=Mock(["1", "2"]))
        return [p.text async for p in program(async_mode=True)]

    assert asyncio.run(main()) == ["A ", "A 1", "A 1 B ", "A 1 B 2", "A 1 B 2"]


def test_sync_call_inside_a_running_event_loop() -> None:
    async def main() -> str:
        return str(guidance("{{gen 'x'}}", llm=Mock("ok"))())

    assert asyncio.run(main()) == "ok"


def test_sync_stream_inside_a_running_event_loop() -> None:
    async def main() -> list[str]:
        return [p.text for p in guidance("a{{gen 'x'}}", llm=Mock("b"))(stream=True)]

    assert asyncio.run(main()) == ["a", "ab", "ab"]


def test_log_records_commands_and_model_calls() -> None:
    out = guidance("A {{gen 'x' max_tokens=3}}{{select 'c' options=['p', 'q']}}{{add 1 2}}",
                   llm=Mock(["hi", "q"]), log=True)()
    assert isinstance(out.log, list)
    log = [r for r in out.log if isinstance(r, CommandRecord | ModelCallRecord)]
    assert [type(r).__name__ for r in log] == [
        "ModelCallRecord", "CommandRecord", "ModelCallRecord", "CommandRecord", "CommandRecord"]
    gen_call, gen_cmd, select_call, select_cmd, add_cmd = log
    assert isinstance(gen_call, ModelCallRecord) and isinstance(gen_cmd, CommandRecord)
    assert gen_call.request == GenRequest(prompt="A ", max_tokens=3, name="x",
                                          segments=(Segment("A "),))
    assert isinstance(gen_call.result, GenResult) and gen_call.result.texts == ("hi",)
    assert (gen_cmd.name, gen_cmd.args, dict(gen_cmd.kwargs)) == ("gen", ("x",),
                                                                  {"max_tokens": 3})
    assert isinstance(select_call, ModelCallRecord)
    assert select_call.request == SelectRequest(prompt="A hi", options=("p", "q"), segments=(
        Segment("A "), Segment("hi", "generated")))
    assert isinstance(select_cmd, CommandRecord)
    assert dict(select_cmd.kwargs) == {"options": ["p", "q"]}
    assert isinstance(add_cmd, CommandRecord)
    assert (add_cmd.name, add_cmd.args, add_cmd.result) == ("add", (1, 2), 3)


def test_log_of_a_resumed_program_holds_only_its_own_run() -> None:
    partial = guidance("{{gen 'a'}}{{await 'x'}}{{gen 'b'}}", llm=Mock("m"), log=True)()
    out = partial(x="!")
    assert [r.name for r in out.log if isinstance(r, CommandRecord)] == ["await", "gen"]
    assert isinstance(partial.log, list)
    assert [type(r).__name__ for r in partial.log] == [
        "GenStart", "ModelCallRecord", "GenEnd", "Captured", "TextEvent", "CommandRecord",
        "Suspended"]


def test_calling_a_streamed_snapshot_is_refused() -> None:
    first = next(iter(guidance("a{{gen 'x'}}", llm=Mock("b"))(stream=True)))
    with pytest.raises(GuidanceError) as info:
        first()
    assert str(info.value) == (
        "this program is a snapshot taken while streaming; call the last program the stream "
        "yields (the finished or suspended one) instead")


def test_log_of_a_program_without_model_calls_records_its_text() -> None:
    out = guidance("Hi {{name}}{{#if yes}}!{{/if}}", log=True)(name="Bo", yes=True)
    assert isinstance(out.log, list)
    assert [(type(e).__name__, getattr(e, "text", None)) for e in out.log] == [
        ("TextEvent", "Hi "), ("TextEvent", "Bo"), ("TextEvent", "!")]


def test_repr_of_a_long_program_is_its_text_view() -> None:
    out = guidance("{{#user}}Tell me a story.{{/user}}{{#assistant}}{{gen 'story'}}{{/assistant}}",
                   llm=Mock("Once upon a time there was a small model."))()
    assert repr(out) == ("<Program done>\n[user]\nTell me a story.\n\n[assistant]\n"
                         "⟦Once upon a time there was a small model.⟧\n--- done ---")
