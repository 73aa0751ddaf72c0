"""The interpreter on hand-built instruction lists: events, frames, suspension as data."""

from __future__ import annotations

import asyncio

from guidance_engine.errors import Span
from guidance_engine.llms.mock import Mock
from guidance_engine.runtime import events as ev
from guidance_engine.runtime.interpreter import Execution
from guidance_engine.runtime.scopes import ExecState, LoopFrame, Variables
from guidance_engine.runtime.shared import Shared
from guidance_engine.template import instructions as ins
from guidance_engine.template.analysis import analyse
from guidance_engine.template.nodes import BinOp, Call, Keyword, Literal, Var

S = Span(0, 0, 1, 1)


def gen_call(name: str) -> Call:
    return Call(Var("gen", S), (Literal(name, S),), (), S)


def execute(
    instructions: list[ins.Instruction], state: ExecState, llm: Mock | None = None
) -> list[ev.Event]:
    events: list[ev.Event] = []
    template = ins.CompiledTemplate(tuple(instructions), "", analyse(instructions))
    asyncio.run(Execution(template, state, Shared(llm, sink=events.append)).run())
    return events


def test_text_jump_and_gen_events() -> None:
    program: list[ins.Instruction] = [
        ins.Text("Name: ", S),
        ins.Emit(gen_call("name"), ins.CallSite(prev_text="Name: "), S),
        ins.JumpIfFalse(Var("adult", S), 4, S),
        ins.Text("!", S),
    ]
    state = ExecState(Variables({"adult": False}))
    events = execute(program, state, Mock("Bob Smith"))
    assert [e for e in events if not isinstance(e, ev.CommandRecord | ev.ModelCallRecord)] == [
        ev.TextEvent("Name: ", S),
        ev.GenStart("name", S, partial="set"),
        ev.GenChunk("name", 0, "Bob", S),
        ev.GenChunk("name", 0, " Smith", S),
        ev.GenEnd("name", "Bob Smith", S),
        ev.Captured("name", "Bob Smith"),
        ev.TextEvent("Bob Smith", S, "generated", "name"),
    ]
    assert (state.text, state.done, state.pc) == ("Name: Bob Smith", True, 4)


def test_loop_frames_and_else() -> None:
    each = Call(Var("each", S), (Var("xs", S),), (), S)
    program: list[ins.Instruction] = [
        ins.LoopStart("each", each, 3, 4, 5, ins.CallSite(), S),
        ins.Emit(BinOp("*", Var("this", S), Literal(2, S), S), ins.CallSite(), S),
        ins.Text(",", S),
        ins.LoopEnd(0, 5, S),
        ins.Text("none", S),
    ]
    full = ExecState(Variables({"xs": [1, 2]}))
    execute(program, full)
    empty = ExecState(Variables({"xs": []}))
    execute(program, empty)
    assert (full.text, empty.text, full.frames, empty.frames) == ("2,4,", "none", [], [])


def test_suspension_leaves_the_frame_stack_as_data() -> None:
    each = Call(Var("each", S), (Var("xs", S),), (), S)
    await_ = Call(Var("await", S), (Literal("v", S),), (), S)
    program: list[ins.Instruction] = [
        ins.LoopStart("each", each, 3, None, 4, ins.CallSite(), S),
        ins.Emit(Var("this", S), ins.CallSite(), S),
        ins.Emit(await_, ins.CallSite(), S),
        ins.LoopEnd(0, 4, S),
    ]
    state = ExecState(Variables({"xs": ["a", "b"]}))
    events = execute(program, state)
    assert events[-1] == ev.Suspended("v", S)
    assert (state.pc, state.text, state.waiting_for) == (2, "a", "v")
    (frame,) = state.frames
    assert isinstance(frame, LoopFrame)
    assert (frame.start, frame.position, frame.scope["this"]) == (0, 0, "a")
    state.variables.set("v", 1)
    execute(program, state)
    assert (state.pc, state.text, state.waiting_for) == (2, "a1b", "v")


def test_hidden_block_resets_text() -> None:
    block = Call(Var("block", S), (), (), S)
    hidden = Call(Var("block", S), (), (Keyword("hidden", Literal(True, S), S),), S)
    program: list[ins.Instruction] = [
        ins.Text("a", S),
        ins.EnterBlock(hidden, 3, S),
        ins.Text("b", S),
        ins.ExitBlock(1, S),
        ins.EnterBlock(block, 5, S),
        ins.ExitBlock(4, S),
    ]
    state = ExecState(Variables())
    events = [e for e in execute(program, state) if not isinstance(e, ev.CommandRecord)]
    assert events == [ev.TextEvent("a", S), ev.TextEvent("b", S), ev.TextReset(1, S)]
    assert state.text == "a"
