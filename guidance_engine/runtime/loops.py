"""Running `each` and `geneach` loops: how an execution handles `LoopStart`, `LoopEnd` and
`{{break}}`.

A running loop is a `LoopFrame` on the execution's frame stack, so a loop suspended by
`{{await}}` resumes like any other state. `LoopStart` binds the block's arguments and either
enters the first iteration or jumps past the loop; `LoopEnd` moves to the next item (for a
geneach without a fixed count, asking the model whether the list goes on) or pops the frame.
Two forms leave no frame behind: `each parallel=True` runs its iterations concurrently on
forked state and merges them in order, and `geneach single_call=True` makes one generation and
splits it into items. The arguments themselves are checked in `library/loops.py`::

    {{#each items}}{{@index}}: {{this}}{{/each}}   # LoopStart, Emit, Text, Emit, LoopEnd
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from guidance_engine.llms.requests import gen_request, select_request
from guidance_engine.runtime import events as ev
from guidance_engine.runtime.library.base import BreakLoop, Suspend
from guidance_engine.runtime.library.gen import list_end_stop
from guidance_engine.runtime.library.loops import (
    BodyPart,
    GeneachOptions,
    each_options,
    geneach_options,
    split_single_call,
)
from guidance_engine.runtime.machine import Machine
from guidance_engine.runtime.prompt import runs_after
from guidance_engine.runtime.scopes import ExecState, LoopFrame
from guidance_engine.runtime.sites import loop_hidden
from guidance_engine.template import instructions as ins_
from guidance_engine.template.instructions import Instruction
from guidance_engine.template.nodes import Call, Literal, Var


async def loop_start(execution: Machine, ins: ins_.LoopStart) -> None:
    """Enter the loop at its first iteration, or jump to its `{{else}}` or past it."""
    execution.site = ins.site
    frame = LoopFrame(execution.state.pc, len(execution.state.text))
    if ins.kind == "each":
        frame.each = await execution.block_arguments(ins.call, "each", each_options)
        frame.position = frame.each.start_index - 1
        if frame.each.parallel:
            await _parallel_each(execution, ins, frame)
            return
        more = _each_advance(frame)
    else:
        options: GeneachOptions = await execution.block_arguments(ins.call, "geneach",
                                                                   geneach_options)
        frame.geneach = options
        if options.list_name not in execution.state.variables:
            execution.state.variables.set(options.list_name, [])
        if options.single_call:
            await _single_call(execution, ins, options)
            return
        more = await _geneach_more(execution, frame, ins)
    execution.state.frames.append(frame)
    if more:
        if frame.geneach is not None:
            _geneach_begin(execution, frame)
        execution.state.pc += 1
    else:
        execution.state.frames.pop()
        execution.state.pc = ins.else_start if ins.else_start is not None else ins.exit


async def loop_end(execution: Machine, ins: ins_.LoopEnd) -> None:
    """Go back for the next iteration, or leave the loop."""
    frame = execution.state.frames[-1]
    assert isinstance(frame, LoopFrame) and frame.start == ins.start, "unbalanced loop frames"
    start = execution.instructions[ins.start]
    assert isinstance(start, ins_.LoopStart)
    if loop_hidden(frame):
        # every hidden iteration sees the context before the loop, as parallel ones do
        execution.truncate(frame.text_start, ins.span)
    if frame.each is not None:
        more = _each_advance(frame)
    else:
        more = await _geneach_more(execution, frame, start)
    if not more:
        _end_loop(execution, frame)
        execution.state.pc = ins.exit
        return
    if frame.geneach is not None:
        execution.append_text(frame.geneach.join, ins.span)
        _geneach_begin(execution, frame)
    execution.state.pc = ins.start + 1


def _end_loop(execution: Machine, frame: LoopFrame) -> None:
    while execution.state.frames and execution.state.frames[-1] is not frame:
        execution.state.frames.pop()
    execution.state.frames.pop()
    if loop_hidden(frame):
        execution.truncate(frame.text_start)


def break_loop(execution: Machine, ins: Instruction) -> None:
    """`{{break}}` raised while running `ins`: leave the innermost loop of this execution."""
    frame = execution.innermost_loop()
    if frame is None:
        raise BreakLoop()  # an enclosing execution (partial, parse) may own the loop
    _end_loop(execution, frame)
    start = execution.instructions[frame.start]
    assert isinstance(start, ins_.LoopStart)
    execution.state.pc = start.exit


def _each_advance(frame: LoopFrame) -> bool:
    """Move to the next item; False when there is none."""
    options = frame.each
    assert options is not None
    frame.position += 1
    if frame.position >= len(options.items):
        return False
    key, value = options.items[frame.position]
    frame.scope = {
        "this": value,
        "@index": frame.position,
        "@first": frame.count == 0,
        "@last": frame.position == len(options.items) - 1,
        options.item_name: value,
    }
    if options.is_mapping:
        frame.scope["@key"] = key
    frame.count += 1
    return True


def _geneach_begin(execution: Machine, frame: LoopFrame) -> None:
    """Start an iteration: a fresh `this` item, appended to the list variable at once."""
    assert frame.geneach is not None
    item: dict[str, Any] = {}
    name = frame.geneach.list_name
    execution.state.variables.append(name, item)
    frame.list_index = len(execution.state.variables.get(name)) - 1
    frame.scope = {"this": item, "@index": frame.count, "@first": frame.count == 0}
    frame.count += 1


async def _geneach_more(execution: Machine, frame: LoopFrame, ins: ins_.LoopStart) -> bool:
    """Whether geneach runs another iteration (asking the model when it must decide)."""
    options = frame.geneach
    assert options is not None
    done = frame.count
    if options.num_iterations is not None:
        return done < options.num_iterations
    if done >= options.max_iterations:
        return False
    # As in 0.0.64, the first item is always generated: the model is asked whether the list
    # ends only after an item, where the stop text can actually follow.
    if options.stop == () or done < max(options.min_iterations, 1):
        return True
    return await _model_continues(execution, frame, ins, options)


async def _model_continues(
    execution: Machine, frame: LoopFrame, ins: ins_.LoopStart, options: GeneachOptions
) -> bool:
    llm = execution.require_llm(ins.span)
    stops = options.stop if options.stop is not None else list_end_stop(ins.site, llm)
    if not stops:
        raise execution.error(
            "geneach cannot tell when the list ends: no stop= given and no text follows "
            "the block; pass stop='...', num_iterations=N or stop=False", ins.call)
    body = execution.instructions[frame.start + 1]
    opening = (options.join if frame.count else "") + (
        body.text if isinstance(body, ins_.Text) else "")
    prompt = execution.prompt_segments()
    if opening and opening not in stops:
        # exact: does the next item's opening text beat every way of ending the list?
        request = select_request(prompt, (opening, *stops))
        return (await execution.model_select(request, ins.span)).choice == opening
    # No fixed opening text to compare with: peek a few tokens and see whether a stop string
    # comes first (0.0.64's test; +2 tokens of slack for whitespace before it).
    probe = gen_request(prompt, llm, stop=stops, max_tokens=max(map(len, stops)) + 2)
    result = await execution.model_gen(probe, None, False, ins.span)
    return not (result.finish_reasons[0] == "stop" and result.stop_texts[0] in stops)


async def _single_call(
    execution: Machine, ins: ins_.LoopStart, options: GeneachOptions
) -> None:
    """geneach single_call=True: one generation for the whole list, split by the body."""
    parts: list[BodyPart] = []
    for body in execution.instructions[execution.state.pc + 1 : ins.end]:
        key = _this_gen_key(body)
        if isinstance(body, ins_.Text):
            parts.append(("text", body.text))
        elif key is not None:
            parts.append(("gen", key or None))
        elif isinstance(body, ins_.Emit) and body.expr == Var("@index", body.expr.span):
            parts.append(("index", None))  # the model writes the item's number itself
        else:
            raise execution.error("geneach single_call=True needs a body of fixed text, "
                              "{{@index}} and {{gen 'this'}} / {{gen 'this.name'}} tags "
                              "only", body)
    llm = execution.require_llm(ins.span)
    request = gen_request(
        execution.prompt_segments(),
        llm,
        stop=options.stop if options.stop is not None else list_end_stop(ins.site, llm),
        max_tokens=options.single_call_max_tokens,
        temperature=options.single_call_temperature,
        top_p=options.single_call_top_p,
    )
    text = (await execution.model_gen(request, options.list_name, not options.hidden,
                                      ins.span)).texts[0]
    limit = options.num_iterations if options.num_iterations is not None else (
        options.max_iterations)
    items, end = split_single_call(text, parts, options.join, limit)
    if len(items) == limit:
        text = text[:end]  # the list is full: what the model wrote after it is dropped
    variables = execution.state.variables
    variables.set(options.list_name, [*variables.get(options.list_name), *items])
    execution.send(ev.Captured(options.list_name, variables.get(options.list_name)))
    if not options.hidden:
        execution.append_text(text, ins.span, "generated", name=options.list_name)
    execution.state.pc = ins.exit


async def _parallel_each(execution: Machine, ins: ins_.LoopStart, frame: LoopFrame) -> None:
    """Run every iteration concurrently, each on its own copy of the context."""
    forks: list[Machine] = []
    while _each_advance(frame):
        frames = [*execution.state.frames, replace(frame, scope=dict(frame.scope))]
        state = ExecState(execution.state.variables.fork(), execution.state.pc + 1,
                          execution.state.text, frames, runs=list(execution.state.runs))
        forks.append(execution.child(state, emit_text=False))
    await asyncio.gather(*(_run_iteration(fork, ins.end) for fork in forks))
    base = len(execution.state.text)
    for fork in forks:
        assert fork.state.variables.journal is not None
        execution.state.variables.replay(fork.state.variables.journal)
        if frame.each is not None and not frame.each.hidden:
            execution.append_runs(fork.state.text[base:], runs_after(fork.state.runs, base),
                                  ins.span)
    if not forks and ins.else_start is not None:
        execution.state.pc = ins.else_start
    else:
        execution.state.pc = ins.exit


async def _run_iteration(execution: Machine, end: int) -> None:
    try:
        await execution.run_range(end)
    except Suspend as signal:
        raise execution.error(f"cannot await {signal.name!r} inside each parallel=True: the "
                              "iterations run concurrently",
                              execution.instructions[execution.state.pc]) from None


def _this_gen_key(instruction: Instruction) -> str | None:
    """For `{{gen 'this'}}` "", for `{{gen 'this.x'}}` "x", for anything else None."""
    if not isinstance(instruction, ins_.Emit) or not isinstance(instruction.expr, Call):
        return None
    call = instruction.expr
    if not (isinstance(call.func, Var) and call.func.name == "gen" and call.args):
        return None
    name = call.args[0]
    if not isinstance(name, Literal) or not isinstance(name.value, str):
        return None
    head, _, key = name.value.partition(".")
    return key if head == "this" else None
